"""Zoom animations with the real model on the real cat: motion, stabilised colour, written files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverie import Dreamer, DreamSettings, dream
from reverie.animate.metrics import exposure_drift
from reverie.animate.zoom import zoom_and_rotate
from reverie.io.images import Picture
from reverie.io.video import probe_video
from reverie.settings import ZoomSettings
from reverie.tasks import ZoomTask

QUICK = DreamSettings(steps=6, octaves=2, step_size=0.02, max_side=128)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_zoom_and_rotate_moves_pixels_about_the_centre() -> None:
    rgb = np.zeros((41, 41, 3), np.float32)
    rgb[20, 30] = 1.0  # 10 px right of the centre
    assert np.allclose(zoom_and_rotate(rgb, 0.0, 0.0), rgb, atol=1e-5)
    zoomed = zoom_and_rotate(rgb, 20.0, 0.0)
    assert np.unravel_index(zoomed[..., 0].argmax(), (41, 41)) == (20, 32)  # 10 px * 1.2
    turned = zoom_and_rotate(rgb, 0.0, 90.0)
    assert np.unravel_index(turned[..., 0].argmax(), (41, 41)) == (10, 20)  # counter-clockwise: up


@pytest.mark.slow
def test_stabilised_zoom_holds_exposure_and_saturation(dreamer: Dreamer, small_cat: Picture) -> None:
    """Fed-back zooms drift; with the statistics match the drift all but vanishes."""
    steady = list(
        ZoomTask(small_cat, motion=ZoomSettings(frames=12, zoom=3.0), settings=QUICK).frames(dreamer)
    )
    free_motion = ZoomSettings(frames=12, zoom=3.0, stabilise=False)
    drifting = list(ZoomTask(small_cat, motion=free_motion, settings=QUICK).frames(dreamer))
    assert len(steady) == 12 and steady[0].shape == (80, 120, 3)
    held, free = exposure_drift(steady), exposure_drift(drifting)
    assert held.max_luma < 0.5 and held.max_saturation < 3.0
    assert free.max_saturation > 3 * held.max_saturation
    assert np.abs(steady[-1] - steady[0]).mean() > 0.05  # it did move and dream


def test_each_frame_takes_its_own_seed(dreamer: Dreamer, small_cat: Picture) -> None:
    """Frame i is the dream of frame i - 1 (zoom 0: not moved) with seed + i."""
    motion = ZoomSettings(frames=2, zoom=0.0, stabilise=False)
    first, second = ZoomTask(small_cat, motion=motion, settings=QUICK).frames(dreamer)
    assert np.array_equal(first, dream(small_cat, settings=QUICK, dreamer=dreamer).picture.rgb)
    assert np.array_equal(
        second, dream(Picture(first), settings=QUICK.with_changes(seed=1), dreamer=dreamer).picture.rgb
    )
    assert not np.array_equal(second, dream(Picture(first), settings=QUICK, dreamer=dreamer).picture.rgb)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_zoom_writes_every_frame(tmp_path: Path, dreamer: Dreamer, small_cat: Picture, suffix: str) -> None:
    output = tmp_path / f"zoom{suffix}"
    seen = []
    task = ZoomTask(small_cat, output, ZoomSettings(frames=4, fps=8), settings=QUICK.with_changes(steps=2))
    result = task.run(dreamer, lambda done, total: seen.append((done, total)))
    assert (result.frames, result.path) == (4, output) and seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    if suffix == ".gif":
        with Image.open(output) as image:
            assert image.n_frames == 4 and image.size == (120, 80) and abs(image.info["duration"] - 125) <= 10
    else:
        info = probe_video(output)
        assert (info.frames, float(info.fps), info.width, info.height) == (4, 8.0, 120, 80)
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]
