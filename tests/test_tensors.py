"""Sizes, resizing and the bridge between pictures and tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.errors import DreamFailedError
from reverie.io.images import Picture, load_image
from reverie.samples import sample_path
from reverie.tensors import fit_around, fit_within, from_tensor, resize_picture, to_tensor


@pytest.fixture(scope="module")
def chelsea() -> Picture:
    return load_image(sample_path("chelsea"))


def half_transparent(picture: Picture) -> Picture:
    """The picture with alpha ramping 0 -> 1 from left to right."""
    ramp = np.linspace(0.0, 1.0, picture.width, dtype=np.float32)
    return Picture(picture.rgb, np.tile(ramp, (picture.height, 1)))


# -------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((451, 300), None, (451, 300)),
        ((451, 300), 0, (451, 300)),
        ((451, 300), 1000, (451, 300)),
        ((451, 300), 451, (451, 300)),
        ((451, 300), 200, (200, 133)),
        ((300, 451), 200, (133, 200)),
        ((4000, 3), 100, (100, 1)),
        ((3, 4000), 10, (1, 10)),
        ((500, 500), 7, (7, 7)),
    ],
)
def test_fit_within(size, max_side, expected):
    assert fit_within(size, max_side) == expected


def test_fit_within_rejects_a_negative_side():
    with pytest.raises(ValueError, match="-3"):
        fit_within((10, 10), -3)


@pytest.mark.parametrize(
    ("size", "min_side", "expected"),
    [
        ((451, 300), 224, (451, 300)),  # big enough: unchanged
        ((451, 300), 300, (451, 300)),
        ((451, 300), 600, (902, 600)),
        ((300, 451), 600, (600, 902)),
        ((20, 10), 75, (150, 75)),
        ((10, 20), 75, (75, 150)),
        ((50, 50), 75, (75, 75)),
        ((7, 3), 32, (75, 32)),  # 74.67 rounds up
        ((1, 1000), 32, (32, 32000)),
    ],
)
def test_fit_around(size, min_side, expected):
    assert fit_around(size, min_side) == expected


def test_fit_around_never_shrinks_and_keeps_the_aspect():
    for size in ((3, 5), (17, 4), (600, 400), (1, 2)):
        width, height = fit_around(size, 64)
        assert min(width, height) >= 64
        assert width >= size[0] and height >= size[1]
        assert abs(width / height - size[0] / size[1]) < 0.02 * size[0] / size[1]


# ----------------------------------------------------------------------------------------- resizing


def test_resize_picture(chelsea):
    small = resize_picture(chelsea, (200, 133))
    assert small.size == (200, 133) and small.rgb.dtype == np.float32
    assert small.alpha is None and small.source == chelsea.source
    assert small.rgb.min() >= 0.0 and small.rgb.max() <= 1.0
    assert abs(float(small.rgb.mean()) - float(chelsea.rgb.mean())) < 0.01
    big = resize_picture(half_transparent(chelsea), (902, 600))
    assert big.size == (902, 600)
    assert big.alpha is not None and big.alpha.shape == (600, 902) and big.alpha.dtype == np.float32
    assert big.alpha[:, 0].max() < 0.01 and big.alpha[:, -1].min() > 0.99
    assert np.allclose(big.alpha[:, 451], 0.5, atol=0.01)  # the ramp stays a ramp


def test_the_same_size_returns_the_picture_itself(chelsea):
    assert resize_picture(chelsea, chelsea.size) is chelsea


def test_resize_needs_a_real_size(chelsea):
    for size in ((0, 10), (10, 0), (-5, 5)):
        with pytest.raises(ValueError, match="at least 1x1"):
            resize_picture(chelsea, size)


def test_resize_stays_in_float():
    flat = Picture(np.full((10, 10, 3), 0.3003, np.float32))  # between two 8-bit levels
    resized = resize_picture(flat, (7, 13))
    assert np.allclose(resized.rgb, 0.3003, atol=1e-5)


def test_resize_ignores_colour_hidden_under_transparency():
    rgb = np.zeros((8, 8, 3), np.float32)
    rgb[:, :4] = (1.0, 0.0, 0.0)  # invisible red
    rgb[:, 4:] = (0.0, 0.0, 1.0)  # visible blue
    alpha = np.zeros((8, 8), np.float32)
    alpha[:, 4:] = 1.0
    resized = resize_picture(Picture(rgb, alpha), (5, 5))
    visible = resized.alpha > 0.05
    assert visible.any() and not visible.all()
    assert resized.rgb[visible][:, 0].max() < 0.02  # no red fringe on the blue edge
    assert resized.rgb[visible][:, 2].min() > 0.98
    assert rgb[0, 0, 0] == 1.0 and rgb[0, 7, 2] == 1.0  # the picture resized is left as it was


# ------------------------------------------------------------------------------------------ tensors


def test_tensor_round_trip(chelsea):
    tensor = to_tensor(chelsea.rgb)
    assert tensor.shape == (1, 3, 300, 451) and tensor.dtype == torch.float32
    assert tensor.is_contiguous()
    assert torch.equal(tensor[0, :, 5, 7], torch.from_numpy(chelsea.rgb[5, 7]))
    back = from_tensor(tensor)
    assert back.dtype == np.float32 and np.array_equal(back, chelsea.rgb)
    assert np.array_equal(from_tensor(tensor[0]), chelsea.rgb)  # (3, H, W) too


def test_to_tensor_copies_unless_asked_to_share():
    rgb = np.zeros((4, 5, 3), np.float32)
    copied, shared = to_tensor(rgb), to_tensor(rgb, share=True)
    rgb[1, 2] = (0.1, 0.2, 0.3)
    assert copied.abs().sum() == 0
    assert torch.allclose(shared[0, :, 1, 2], torch.tensor([0.1, 0.2, 0.3]))
    assert shared.shape == (1, 3, 4, 5)


def test_from_tensor_clamps_and_refuses_nan():
    values = torch.tensor([[[[-1.0]], [[0.5]], [[2.0]]]], dtype=torch.float64)
    clamped = from_tensor(values)
    assert clamped.dtype == np.float32 and clamped.tolist() == [[[0.0, 0.5, 1.0]]]
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(DreamFailedError, match="not finite"):
            from_tensor(torch.tensor([[[bad]], [[1.0]], [[0.25]]]))
    grad = torch.zeros(1, 3, 2, 2, requires_grad=True)
    assert from_tensor(grad * 2).shape == (2, 2, 3)  # detached, no autograd error


def test_tensor_shapes_are_checked():
    for shape in ((4, 4), (4, 4, 4), (4, 4, 1)):
        with pytest.raises(ValueError, match="RGB array"):
            to_tensor(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="batch of one"):
        from_tensor(torch.zeros(2, 3, 4, 4))
    for shape in ((1, 4, 4, 4), (4, 4), (1, 1, 3, 4, 4)):
        with pytest.raises(ValueError):
            from_tensor(torch.zeros(shape))
