"""Dream masks: white dreams, black keeps the photo, soft edges in between."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reverie.errors import ImageError, PixelLimitError
from reverie.masks import gaussian_blur, load_mask

SIZE = (200, 100)  # (width, height): the feather is max(1, 200 / 200) = 1 px, cut at 4 px


def save_mask(path, pixels: np.ndarray, mode: str) -> str:
    Image.fromarray(pixels, mode).save(path)
    return str(path)


def test_white_dreams_and_black_keeps(tmp_path):
    pixels = np.zeros((100, 200), np.uint8)
    pixels[:, :100] = 255  # left half white
    mask = load_mask(save_mask(tmp_path / "half.png", pixels, "L"), SIZE)
    assert mask.shape == (100, 200) and mask.dtype == np.float32
    assert np.allclose(mask[:, :95], 1.0, atol=1e-5)  # beyond the feather: untouched
    assert np.array_equal(mask[:, 105:], np.zeros((100, 95), np.float32))  # exactly 0: the photo is kept
    edge = mask[50, 95:105]
    assert np.all(np.diff(edge) <= 0) and 0.3 < edge[4] < 0.95 and 0.05 < edge[5] < 0.7  # a soft edge


def test_a_mask_is_resized_to_the_picture(tmp_path):
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, 20:] = 255  # right half white
    mask = load_mask(save_mask(tmp_path / "small.png", pixels, "L"), SIZE)
    assert mask.shape == (100, 200)
    assert np.all(mask[:, :80] == 0.0) and np.allclose(mask[:, 120:], 1.0, atol=1e-5)
    assert 0.3 < mask[50, 100] < 0.7


def test_grey_dreams_partly_whatever_its_colour(tmp_path):
    grey = np.full((100, 200), 128, np.uint8)
    assert np.allclose(load_mask(save_mask(tmp_path / "grey.png", grey, "L"), SIZE), 128 / 255, atol=1e-5)
    colour = np.zeros((100, 200, 3), np.uint8)
    colour[..., 1] = 255  # pure green: its luma, 0.587
    assert np.allclose(load_mask(save_mask(tmp_path / "green.png", colour, "RGB"), SIZE), 0.587, atol=1e-3)


def test_alpha_multiplies_in(tmp_path):
    rgba = np.full((100, 200, 4), 255, np.uint8)  # white everywhere
    rgba[:, 100:, 3] = 0  # right half transparent
    rgba[:50, :100, 3] = 128  # top-left half covered
    mask = load_mask(save_mask(tmp_path / "alpha.png", rgba, "RGBA"), SIZE)
    assert np.allclose(mask[60:, :95], 1.0, atol=1e-5)
    assert np.allclose(mask[:45, :95], 128 / 255, atol=1e-5)
    assert np.all(mask[:, 105:] == 0.0)


def test_mask_errors(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_mask(tmp_path / "missing.png", SIZE)
    path = save_mask(tmp_path / "big.png", np.zeros((100, 200), np.uint8), "L")
    with pytest.raises(PixelLimitError, match="raise the limit with max_pixels"):
        load_mask(path, SIZE, max_pixels=1000)


def test_gaussian_blur():
    flat = np.full((9, 12), 0.7, np.float32)
    assert np.allclose(gaussian_blur(flat, 2.0), 0.7, atol=1e-6)  # constant stays constant, edges too
    impulse = np.zeros((41, 41), np.float32)
    impulse[20, 20] = 1.0
    blurred = gaussian_blur(impulse, 2.0)  # cut at 3 sigma: radius int(6) + 1 = 7 px
    assert blurred.shape == (41, 41) and blurred.dtype == np.float32
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    assert blurred[20, 20] == blurred.max()
    assert np.allclose(blurred, blurred.T) and np.allclose(blurred, blurred[::-1, ::-1])
    assert blurred[20, 27] > 0.0 and np.all(blurred[:, 28:] == 0.0) and np.all(blurred[:13] == 0.0)
    expected_row = np.exp(-(np.arange(-7, 8) ** 2) / 8.0)
    expected_row /= expected_row.sum()
    assert np.allclose(blurred[20, 13:28], expected_row * expected_row[7], atol=1e-6)
