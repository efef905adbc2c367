"""Brightness and colour: luma, keeping a photo's colours under a dream, matching colour statistics."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.colour import LUMA_WEIGHTS, ColourStats, keep_colours, luma, match_colour_stats
from reverie.io.images import Picture, load_image
from reverie.samples import sample_path
from reverie.tensors import resize_picture


@pytest.fixture(scope="module")
def coffee(small_cat: Picture) -> Picture:
    """The coffee photo at the small cat's size, to pair with it."""
    return resize_picture(load_image(sample_path("coffee")), small_cat.size)


def chroma(rgb: np.ndarray) -> np.ndarray:
    return rgb - luma(rgb)[..., None]


def test_luma():
    assert LUMA_WEIGHTS.sum() == pytest.approx(1.0)
    colours = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]], np.float32)
    assert np.allclose(luma(colours), [1.0, 0.0, 0.299, 0.587, 0.114, 0.5])
    assert luma(np.zeros((4, 5, 3), np.float32)).shape == (4, 5)


def test_keep_colours_takes_chroma_from_the_original_and_luma_from_the_dream(small_cat, coffee):
    dreamed, original = coffee.rgb, small_cat.rgb
    kept = keep_colours(dreamed, original)
    assert kept.shape == original.shape and kept.dtype == np.float32
    assert kept.min() >= 0.0 and kept.max() <= 1.0
    unclipped = ((kept > 0.0) & (kept < 1.0)).all(axis=2)
    assert unclipped.mean() > 0.75  # the checks below cover most of the picture
    assert np.allclose(luma(kept)[unclipped], luma(dreamed)[unclipped], atol=1e-5)
    assert np.allclose(chroma(kept)[unclipped], chroma(original)[unclipped], atol=1e-5)
    assert np.abs(chroma(kept) - chroma(dreamed)).mean() > 0.02  # the dream's own colours are gone


def test_keep_colours_on_known_values():
    original = np.array([[[0.6, 0.4, 0.3]]], np.float32)  # a warm brown, luma 0.4484
    dreamed = np.array([[[0.2, 0.2, 0.9]]], np.float32)  # blue, luma 0.2798
    kept = keep_colours(dreamed, original)
    assert np.allclose(kept, [[[0.4314, 0.2314, 0.1314]]], atol=1e-4)  # brown, as dark as the dream
    assert np.allclose(keep_colours(original, original), original, atol=1e-6)
    grey = np.full((1, 1, 3), 0.5, np.float32)
    assert np.allclose(keep_colours(original, grey), luma(original))  # a grey photo stays grey


def test_matched_statistics_equal_the_target(small_cat: Picture) -> None:
    mean = small_cat.rgb.mean(axis=2, keepdims=True)
    faded = 0.7 * (0.5 * small_cat.rgb + 0.5 * mean) + 0.1  # darker, flatter, less saturated
    target = ColourStats.of(faded)
    matched = match_colour_stats(small_cat.rgb, target)
    assert matched.shape == small_cat.rgb.shape and matched.dtype == np.float32
    got = ColourStats.of(matched)
    assert np.allclose(got.mean, target.mean, atol=0.005) and np.allclose(got.std, target.std, atol=0.005)
    assert np.allclose(matched, faded, atol=0.02)  # a linear fade is undone exactly
    flat = np.full((10, 10, 3), 0.3, np.float32)
    flattened = match_colour_stats(flat, target)
    assert np.isfinite(flattened).all()
    assert np.allclose(flattened, flattened[0, 0])  # a flat plane is shifted, not stretched into noise
    assert np.allclose(ColourStats.of(flattened).mean, target.mean, atol=0.01)


def test_colour_stats_of_known_values():
    stats = ColourStats.of(np.array([[[0.2, 0.2, 0.2], [0.6, 0.6, 0.6]]], np.float32))
    assert np.allclose(stats.mean, [0.4, 0.0, 0.0], atol=1e-6)  # grey: no chroma
    assert np.allclose(stats.std, [0.2, 0.0, 0.0], atol=1e-6)


def test_shifted_statistics_follow_the_change():
    before = ColourStats(np.array([0.5, 0.0, 0.0]), np.array([0.2, 0.1, 0.1]))
    after = ColourStats(np.array([0.6, 0.05, 0.0]), np.array([0.1, 0.1, 0.2]))
    anchor = ColourStats(np.array([0.4, 0.0, 0.1]), np.array([0.3, 0.05, 0.0]))
    shifted = anchor.shifted(before, after)
    assert np.allclose(shifted.mean, [0.5, 0.05, 0.1])
    assert np.allclose(shifted.std, [0.15, 0.05, 0.0])
