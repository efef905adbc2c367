"""Pictures as tensors, and resizing: the bridge between image files and the render loop.

The render loop works on (1, 3, H, W) float32 tensors in [0, 1]; pictures are (H, W, 3) arrays. Sizes
are (width, height), Pillow's order, everywhere outside the loop.
"""

from __future__ import annotations

import numpy as np
import torch

from reverie.errors import DreamFailedError
from reverie.io.images import Picture, fit_within, resized_colour


def fit_around(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """(width, height) scaled up, never down, so the short side is at least ``min_side`` pixels.

    The size a picture too small for a network is dreamed at before it returns to its own size.
    """
    width, height = size
    short_side = min(width, height)
    if short_side >= min_side:
        return width, height
    scale = min_side / short_side
    return max(min_side, round(width * scale)), max(min_side, round(height * scale))


def working_picture(picture: Picture, max_side: int) -> Picture:
    """``picture`` with its long side reduced to ``max_side`` (0: as it is): what a dream works on."""
    return resize_picture(picture, fit_within(picture.size, max_side))


def resize_picture(picture: Picture, size: tuple[int, int]) -> Picture:
    """The picture resampled to (width, height) with Lanczos, in float (no 8-bit rounding).

    Colour is resized premultiplied by alpha, so transparent pixels' hidden colour does not bleed
    into the edges; alpha is resized alongside. Results are clipped to [0, 1] (Lanczos overshoots).
    The same size returns the picture itself.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"resize size must be at least 1x1 pixels, got {width}x{height}")
    if size == picture.size:
        return picture
    rgb, alpha = resized_colour(lambda index: picture.rgb[:, :, index].copy(), picture.alpha, size)
    return Picture(rgb=rgb, alpha=alpha, source=picture.source)


def to_tensor(rgb: np.ndarray, share: bool = False) -> torch.Tensor:
    """(H, W, 3) array -> (1, 3, H, W) float32 tensor, a copy (not sharing memory with ``rgb``).

    With ``share`` it is a view of ``rgb`` instead (channels-last strides, which convolutions on
    the CPU prefer): no copy, which matters for gigapixel dreams; the caller must not modify it.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    array = np.ascontiguousarray(rgb, dtype=np.float32)
    view = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return view if share else view.contiguous()


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor -> (H, W, 3) float32 array clamped to [0, 1].

    NaN or infinity is a :class:`DreamFailedError`, not black or white: such a picture is a failed dream.
    """
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got shape {tuple(t.shape)}")
    values = t.detach().to("cpu", torch.float32)
    if not bool(values.isfinite().all()):
        raise DreamFailedError("the picture holds values that are not finite numbers")
    values = values.clamp(0.0, 1.0)
    return np.ascontiguousarray(values.permute(1, 2, 0).numpy(), dtype=np.float32)
