"""A video in segments: contiguous runs of frames that can be dreamed at the same time.

A flow-coherent dream carries each frame's dream into the next (:mod:`reverie.animate.coherence`),
so a run of frames that starts cold, from its first frame's own dream, would pop where the run
before it ends: the two runs grew different patterns. Each segment after the first therefore starts
``overlap`` frames early. Those warm-up frames are dreamed by both segments, and the video shows a
cross-fade between the two over them, from all the earlier segment to all the later one, so the
change at the seam is spread over the overlap.

One segment is the whole video dreamed in one go, exactly as without segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from reverie.animate.coherence import CoherentDreamer
    from reverie.animate.frames import FrameStore

#: Fewest frames of its own a segment is given: shorter ones would spend most of their work warming up.
MIN_SEGMENT_FRAMES = 8


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` up to ``end`` (exclusive; None: to the video's end), dreamed from
    ``warm_from`` on: the frames before ``start`` only warm it up, and are faded into the segment
    before it."""

    start: int
    end: int | None
    warm_from: int

    def covers(self, index: int) -> bool:
        """Whether this segment dreams frame ``index`` (as its own or as a warm-up)."""
        return self.warm_from <= index and (self.end is None or index < self.end)

    def warming(self, index: int) -> bool:
        """Whether frame ``index`` is one of this segment's warm-up frames."""
        return index < self.start

    def fade(self, index: int) -> float:
        """The weight of this segment's warm-up dream of frame ``index`` in the video: rising over
        the overlap, from 1/(n+1) at its first frame to n/(n+1) at its last, for n warm-up frames."""
        return (index - self.warm_from + 1) / (self.start - self.warm_from + 1)

    def frames(self, total: int) -> range:
        """The frames this segment dreams, warm-up included, in a video of ``total`` frames."""
        return range(self.warm_from, total if self.end is None else min(self.end, total))


def plan_segments(frames: int, count: int, overlap: int, longest: int = 0) -> tuple[Segment, ...]:
    """``frames`` split into ``count`` segments of near-equal length (fewer, where segments would
    hold under :data:`MIN_SEGMENT_FRAMES` of their own; more, where they would hold over ``longest``,
    if given), each after the first warming up over the ``overlap`` frames before it (never before
    the previous segment's start). The last segment runs to the video's end, however many frames that
    turns out to be (a header may count wrong)."""
    if longest:
        count = max(count, -(-frames // longest))
    count = max(1, min(count, frames // MIN_SEGMENT_FRAMES))
    return segments_from([round(part * frames / count) for part in range(count)], overlap)


def segments_from(starts: Sequence[int], overlap: int) -> tuple[Segment, ...]:
    """The segments that begin at ``starts`` (ascending, the first 0) with ``overlap`` warm-up frames:
    how a frames folder's recorded plan is read back."""
    if not starts or starts[0] != 0 or any(b <= a for a, b in pairwise(starts)):
        raise ValueError(f"segment starts must rise from 0; got {list(starts)}")
    ends: list[int | None] = [*starts[1:], None]
    return tuple(
        Segment(start, end, start if part == 0 else max(starts[part - 1], start - overlap))
        for part, (start, end) in enumerate(zip(starts, ends, strict=True))
    )


def follower(segments: Sequence[Segment], index: int) -> Segment | None:
    """The segment that warms up over frame ``index``, if any."""
    return next((segment for segment in segments if segment.covers(index) and segment.warming(index)), None)


def cross_faded(own: np.ndarray, warm_up: np.ndarray, weight: float) -> np.ndarray:
    """A seam frame: the earlier segment's dream ``own`` faded into the later one's ``warm_up``
    (uint8 RGB both), ``weight`` of the later; uint8 again, rounded."""
    mixed = (1.0 - weight) * own.astype(np.float32) + weight * warm_up.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


class SegmentRun:
    """One segment dreamed in this process as its frames come, in order, into a frames store;
    it reads back the frames an earlier run finished and goes on from the last of them."""

    def __init__(self, segment: Segment, coherent: CoherentDreamer, store: FrameStore) -> None:
        self.segment = segment
        self.coherent = coherent
        self.store = store
        #: Frames of this segment (warm-up first) an earlier run finished.
        self.done = store.finished_in(segment)
        self.first: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, index: int, source: np.ndarray) -> bool:
        """Dream frame ``index`` (float RGB ``source``) if this segment covers it and it is not
        finished yet; whether it was dreamed."""
        segment = self.segment
        if not segment.covers(index):
            return False
        warm = segment.warming(index)
        if index < segment.warm_from + self.done:  # resuming: read back, not dreamed again
            if index == segment.warm_from:
                self.first = (source, self.store.load(index, warm))
            if index == segment.warm_from + self.done - 1 and self.first is not None:
                self.coherent.start_from(self.first, (source, self.store.load(index, warm)))
            return False
        self.store.save(index, self.coherent.next_frame(source), warm)
        return True
