"""Measures of an animation's quality, for benchmarks and tests: exposure drift and flicker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reverie.animate.coherence import backward_flow, warp
from reverie.animate.segments import Segment
from reverie.colour import luma


@dataclass(frozen=True)
class Drift:
    """How far an animation's exposure and saturation wandered from its first frame, 0..255 units.

    ``luma`` and ``saturation`` hold each frame's mean minus the first frame's; ``max_luma`` and
    ``max_saturation`` are their largest absolute values.
    """

    luma: list[float]
    saturation: list[float]

    @property
    def max_luma(self) -> float:
        return max(abs(value) for value in self.luma)

    @property
    def max_saturation(self) -> float:
        return max(abs(value) for value in self.saturation)


def exposure_drift(frames: list[np.ndarray]) -> Drift:
    """Mean luma and mean saturation (max minus min channel) of each frame relative to the first."""
    if not frames:
        raise ValueError("drift needs at least one frame")
    brightness = [float(luma(frame).mean()) * 255 for frame in frames]
    saturation = [float((frame.max(axis=2) - frame.min(axis=2)).mean()) * 255 for frame in frames]
    return Drift([v - brightness[0] for v in brightness], [v - saturation[0] for v in saturation])


def temporal_flicker(frames: list[np.ndarray], sources: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames after compensating the source's motion,
    in 0..255 units: what a viewer sees as flicker. 0 for fewer than two frames."""
    changes = frame_changes(frames, sources)
    return float(np.mean(changes[1:])) if len(changes) > 1 else 0.0


def frame_changes(frames: list[np.ndarray], sources: list[np.ndarray]) -> list[float]:
    """For each frame, its mean absolute change from the frame before after compensating the
    source's motion (0..255 units; 0 for the first frame)."""
    changes = [0.0]
    for index in range(1, len(frames)):
        flow = backward_flow(sources[index], sources[index - 1])
        changes.append(float(np.abs(frames[index] - warp(frames[index - 1], flow)).mean()) * 255)
    return changes


@dataclass(frozen=True)
class Seams:
    """Flicker where segments meet against flicker within them (0..255 units).

    ``seams`` holds, for each segment after the first, the largest change of a frame in its
    overlap or at its start (where a cross-fade or a cold start would show); ``within`` is the
    median change of the other frames."""

    seams: list[float]
    within: float

    @property
    def worst_ratio(self) -> float:
        """The worst seam against the median within segments (1.0: the seams do not show)."""
        return max(self.seams, default=0.0) / self.within if self.within else float("inf")


def seam_flicker(frames: list[np.ndarray], sources: list[np.ndarray], segments: Sequence[Segment]) -> Seams:
    """How much the seams between ``segments`` show in a video's ``frames`` (float RGB, as shown)."""
    changes = frame_changes(frames, sources)
    at_seams = [range(max(1, s.warm_from), min(s.start + 1, len(frames))) for s in segments[1:]]
    seam_frames = {index for seam in at_seams for index in seam}
    within = [change for index, change in enumerate(changes) if index > 0 and index not in seam_frames]
    seams = [max((changes[index] for index in seam), default=0.0) for seam in at_seams]
    return Seams(seams, float(np.median(within)) if within else 0.0)
