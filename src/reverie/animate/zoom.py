"""Zoom animations: dream, zoom in a little (and turn), dream again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from reverie.colour import ColourStats, match_colour_stats
from reverie.io.images import Picture
from reverie.settings import ZoomSettings

if TYPE_CHECKING:
    from reverie.dreamer import PreparedDream

#: Called after each finished frame with (frames done, frames in all).
FrameCallback = Callable[[int, int], None]


def zoom_and_rotate(rgb: np.ndarray, zoom: float, degrees: float) -> np.ndarray:
    """``rgb`` scaled by ``1 + zoom / 100`` and rotated ``degrees`` about its centre, same size.

    Edges that come into view when zooming out or rotating mirror the picture rather than go black.
    """
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), degrees, 1 + zoom / 100)
    moved = cv2.warpAffine(
        rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
    )
    return np.clip(moved, 0.0, 1.0).astype(np.float32)


def zoom_sequence(
    prepared: PreparedDream, picture: Picture, motion: ZoomSettings, on_frame: FrameCallback | None = None
) -> Iterator[np.ndarray]:
    """Frames of a zoom as float RGB (H, W, 3) in [0, 1], at the dream's working size.

    Frame *i* uses seed ``settings.seed + i`` so the jitter differs from frame to frame; with
    ``motion.stabilise`` every frame's colour statistics are held to the first frame's.
    """
    current, reference = picture, None
    for index in range(motion.frames):
        if index:
            current = Picture(zoom_and_rotate(current.rgb, motion.zoom, motion.rotate))
        dreamed = prepared.dream(current, seed=prepared.settings.seed + index).rgb
        if motion.stabilise:
            reference = reference or ColourStats.of(dreamed)
            dreamed = match_colour_stats(dreamed, reference)
        current = Picture(dreamed)
        if on_frame is not None:
            on_frame(index + 1, motion.frames)
        yield dreamed
