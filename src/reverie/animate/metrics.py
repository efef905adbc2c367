"""Measures of an animation's quality, for benchmarks and tests: exposure drift and flicker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reverie.animate.coherence import backward_flow, warp
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
    changes = []
    for index in range(1, len(frames)):
        flow = backward_flow(sources[index], sources[index - 1])
        changes.append(float(np.abs(frames[index] - warp(frames[index - 1], flow)).mean()) * 255)
    return float(np.mean(changes)) if changes else 0.0
