"""Dream masks: where a dream may change the photo, read from an image and feathered at the edges."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from reverie.colour import luma
from reverie.io.images import DEFAULT_MAX_PIXELS, load_image


def load_mask(
    path: str | os.PathLike[str], size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """A dream mask at ``size`` (width, height): (H, W) float32, 1 where white, 0 where black.

    Its brightness is used (an alpha channel multiplies in), and its edges are feathered with a
    Gaussian blur of about 0.5% of the long side so the dreamed region fades into the photo.
    """
    picture = load_image(path, max_pixels=max_pixels)
    weights = luma(picture.rgb)
    if picture.alpha is not None:
        weights = weights * picture.alpha
    image = Image.fromarray(np.ascontiguousarray(weights, dtype=np.float32), mode="F")
    resized = np.array(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(gaussian_blur(resized, sigma=max(1.0, max(size) / 200)), 0.0, 1.0)


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) array blurred by a Gaussian of ``sigma`` px, cut at 3 sigma (beyond it: exactly 0)."""
    radius = int(3 * sigma) + 1
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    tensor = torch.nn.functional.pad(tensor, (radius, radius, radius, radius), mode="replicate")
    tensor = torch.nn.functional.conv2d(tensor, kernel.view(1, 1, 1, -1))
    tensor = torch.nn.functional.conv2d(tensor, kernel.view(1, 1, -1, 1))
    return tensor[0, 0].numpy()
