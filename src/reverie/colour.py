"""Colour: brightness (luma) and colour (chroma) in BT.601, keeping a photo's colours under a dream,
and the colour statistics that stop fed-back animations from drifting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: BT.601 weights turning RGB into luma (brightness), shared by masks, colour keeping and animation.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: RGB -> (luma, blue-difference, red-difference) chroma, BT.601 (JPEG's YCbCr without offsets).
RGB_TO_YCC = np.array(
    [LUMA_WEIGHTS, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)
YCC_TO_RGB = np.linalg.inv(RGB_TO_YCC).astype(np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (...) brightness, same range."""
    return rgb @ LUMA_WEIGHTS


def keep_colours(dreamed: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``dreamed``'s brightness with ``original``'s colour (BT.601 luma/chroma), both (H, W, 3).

    DeepDream tints photos with the network's favourite hues; keeping the chroma of the photo
    leaves only the dreamed shapes.
    """
    chroma = original - luma(original)[..., None]
    return np.clip(luma(dreamed)[..., None] + chroma, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class ColourStats:
    """Mean and standard deviation of a picture's luma and two chroma planes, each (3,).

    Luma holds exposure and contrast, the chroma spreads hold saturation: matching these three
    pairs holds what drifts in fed-back dreams, which per-RGB-channel statistics do not (a picture
    can keep every channel's spread and still grow more saturated).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> ColourStats:
        planes = (rgb.reshape(-1, 3) @ RGB_TO_YCC.T).astype(np.float64)
        return cls(planes.mean(axis=0), planes.std(axis=0))

    def shifted(self, before: ColourStats, after: ColourStats) -> ColourStats:
        """These statistics changed the way ``before`` became ``after`` (offset mean, scaled std)."""
        scale = after.std / np.maximum(before.std, 1e-3)
        return ColourStats(self.mean + after.mean - before.mean, self.std * scale)


def match_colour_stats(rgb: np.ndarray, target: ColourStats) -> np.ndarray:
    """``rgb`` with luma and chroma means and spreads moved to ``target``'s, clipped to [0, 1].

    A flat plane (std near 0) is only shifted, never stretched into noise.
    """
    planes = rgb.reshape(-1, 3) @ RGB_TO_YCC.T
    current = ColourStats.of(rgb)
    scale = np.where(current.std > 1e-3, target.std / np.maximum(current.std, 1e-3), 1.0)
    matched = (planes - current.mean) * scale + target.mean
    return np.clip(matched @ YCC_TO_RGB.T, 0.0, 1.0).reshape(rgb.shape).astype(np.float32)
