"""Flow-coherent video: each frame continues the previous frame's dream along the source's motion.

Video frames are made coherent by warping the previous *dreamed* frame along the optical flow of
the *source* (OpenCV's Farneback) and carrying its dream detail (dream minus its source) into the
current frame, scaled by ``blend``. Carrying detail instead of blending whole pictures, plus the
colour statistics match, keeps the blend from adding up frame after frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reverie.colour import ColourStats, luma, match_colour_stats
from reverie.io.images import Picture, to_uint8
from reverie.settings import VideoSettings

if TYPE_CHECKING:
    from reverie.dreamer import PreparedDream
    from reverie.render import ProgressCallback


def grey(rgb: np.ndarray) -> np.ndarray:
    """8-bit luma of an RGB picture, what the flow estimator reads."""
    return to_uint8(luma(rgb))


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow from ``current`` to ``previous`` (float RGB): pixel p of the current frame
    was at p + flow[p] in the previous one."""
    import cv2

    return cv2.calcOpticalFlowFarneback(
        grey(current), grey(previous), None, pyr_scale=0.5, levels=3, winsize=15,
        iterations=3, poly_n=5, poly_sigma=1.2, flags=0,
    )  # fmt: skip


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) from the previous frame moved into the current one along ``flow``."""
    import cv2

    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        image.astype(np.float32),
        columns + flow[..., 0],
        rows + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def quantised(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as it reads back from an 8-bit PNG: fresh and resumed runs continue from equal frames."""
    return to_uint8(rgb).astype(np.float32) / 255.0


class CoherentDreamer:
    """Dreams a sequence of frames so that each continues the last one's dream.

    With ``blend`` b > 0, frame t is made in three steps:

    1. start from the source frame plus b times the previous frame's dream detail (dream minus
       source), moved along the flow, so the dream goes on growing the same patterns;
    2. dream it, then mix in the previous dreamed frame, moved along the flow, with weight b: a
       temporal filter that removes the flicker the fresh dream steps add;
    3. match its colour statistics to the source frame's, shifted by what dreaming did to frame 0.

    Frames after the first may take fewer steps or octaves (``follow_steps``, ``follow_octaves``):
    they start from a dream already grown, so they only need to carry it on.
    """

    def __init__(self, prepared: PreparedDream, coherence: VideoSettings) -> None:
        self.prepared = prepared
        self.coherence = coherence
        self.previous_source: np.ndarray | None = None
        self.previous_dream: np.ndarray | None = None
        self.first_change: tuple[ColourStats, ColourStats] | None = None

    def start_from(self, first: tuple[np.ndarray, np.ndarray], last: tuple[np.ndarray, np.ndarray]) -> None:
        """Continue after finished frames (resume): (source, dream) of the first and of the last."""
        self.first_change = (ColourStats.of(first[0]), ColourStats.of(first[1]))
        self.previous_source, self.previous_dream = last

    def next_frame(self, source: np.ndarray, progress: ProgressCallback | None = None) -> np.ndarray:
        """The dream of ``source`` (float RGB), quantised to 8 bits as it is stored; ``progress``
        watches its steps (and may stop it by raising)."""
        blend = self.coherence.blend
        if self.previous_dream is None or self.previous_source is None or blend == 0:
            dreamed = self.prepared.dream(Picture(source), progress).rgb
        else:
            flow = backward_flow(source, self.previous_source) if self.coherence.flow else None
            moved_source = self.moved(self.previous_source, flow)
            moved_dream = self.moved(self.previous_dream, flow)
            start = np.clip(source + blend * (moved_dream - moved_source), 0.0, 1.0)
            steps, octaves = self.coherence.later_frames(
                self.prepared.settings.steps, self.prepared.settings.octaves
            )
            dreamed = self.prepared.dream(
                Picture(start.astype(np.float32)), progress, steps=steps, octaves=octaves
            ).rgb
            dreamed = (1 - blend) * dreamed + blend * moved_dream
        if self.first_change is not None:
            dreamed = match_colour_stats(dreamed, ColourStats.of(source).shifted(*self.first_change))
        dreamed = quantised(np.clip(dreamed, 0.0, 1.0))
        if self.first_change is None:
            self.first_change = (ColourStats.of(source), ColourStats.of(dreamed))
        self.previous_source, self.previous_dream = source, dreamed
        return dreamed

    @staticmethod
    def moved(image: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        """``image`` of the previous frame moved along ``flow`` (unmoved without flow)."""
        return image if flow is None else warp(image, flow)
