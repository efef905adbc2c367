"""Dreamed videos and zooms on a Ray pool. A video's segments are dreamed side by side, one per
actor at a time; a zoom, sequential by nature, runs on one actor.

The driver decodes the source once, in order, and hands each segment's frames (uint8 RGB, warm-up
frames first, see :mod:`reverie.animate.segments`) to the next idle actor; the actor streams each
dreamed frame back as it is done, and the driver stores it in the job's frames folder at once
(:class:`reverie.animate.frames.FrameStore`). So the cluster needs no shared folder, an interrupted
run resumes from the frames folder like one run in a single process, and a worker lost mid-segment
costs only the frames it had not sent: :meth:`reverie.cluster.RayEngine.on_pool` makes the call again
on another actor, which goes on from the last stored frame with the coherence state it left.

A zoom's frames stream back the same way and wait in a hidden folder beside the output until the
animation is written; a zoom whose worker is lost starts again on another actor.
"""

from __future__ import annotations

import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reverie.animate.coherence import CoherentDreamer
from reverie.animate.segments import Segment
from reverie.animate.zoom import FrameCallback
from reverie.cluster import (
    Cancelled,
    Dreamers,
    Ending,
    FrameDreamed,
    Outcome,
    RayEngine,
    SegmentPiece,
    WorkerBug,
    file_bytes,
    in_memory,
    never,
    on_threads,
    renamed,
    stopping_at,
    travelling,
)
from reverie.errors import ResourceError, ReverieError, out_of_memory
from reverie.io.images import Picture, load_image, save_image, to_uint8
from reverie.io.video import FrameReader, write_animation
from reverie.tasks import AnimationResult, Task, VideoFrames, VideoTask, ZoomTask

#: Most frames in one segment: the frames of a segment wait in Ray's object store while it is
#: dreamed (240 frames of 1024x576 take 420 MB), and more segments than actors share the work out
#: as the actors finish; each costs ``--overlap`` more frames (3% with the default 8).
LONGEST_SEGMENT = 240

#: Called with each frame a worker sends, uint8 RGB: what a page shows as the job's preview.
FrameWatch = Callable[[np.ndarray], None]


def dream_segment_here(
    task: Task,
    files: dict[str, bytes],
    frames: list[np.ndarray],
    piece: SegmentPiece,
    dreamers: Dreamers,
    send: Callable[[Any], None],
    stop: threading.Event,
    worker: str,
) -> Ending:
    """A worker's part of :meth:`reverie.cluster.ClusterWorker.dream_segment`: ``frames`` from
    ``piece.offset`` on dreamed in order, each sent as a :class:`FrameDreamed`."""
    if not isinstance(task, VideoTask):
        raise TypeError(f"a video segment needs a video task, not {type(task).__name__}")

    def dreamed(here: VideoTask) -> Iterator[tuple[int, np.ndarray]]:
        coherent = CoherentDreamer(here.prepare(dreamers.for_task(here)), here.coherence)
        if piece.resume is not None:
            first_source, first_dream, last_source, last_dream = (as_float(rgb) for rgb in piece.resume)
            coherent.start_from((first_source, first_dream), (last_source, last_dream))

        stop_at_next_step = stopping_at(stop.is_set)  # a cancel need not wait for the frame's end
        for position in range(piece.offset, len(frames)):
            yield (
                piece.first_index + position,
                coherent.next_frame(as_float(frames[position]), stop_at_next_step),
            )

    with in_memory(task, files) as (here, public):
        return streamed(dreamed(here), public, send, stop, worker)


def dream_zoom_here(
    task: Task,
    photo: bytes,
    files: dict[str, bytes],
    dreamers: Dreamers,
    send: Callable[[Any], None],
    stop: threading.Event,
    worker: str,
) -> Ending:
    """A worker's part of :meth:`reverie.cluster.ClusterWorker.dream_zoom`: the zoom's frames
    dreamed from ``photo`` (and the guide's and mask's bytes), each sent as a :class:`FrameDreamed`."""
    if not isinstance(task, ZoomTask):
        raise TypeError(f"a zoom needs a zoom task, not {type(task).__name__}")
    with in_memory(task, files, photo) as (here, public):
        return streamed(enumerate(here.frames(dreamers.for_task(here))), public, send, stop, worker)


def streamed(
    frames: Iterator[tuple[int, np.ndarray]],
    public: dict[Path, Path],
    send: Callable[[Any], None],
    stop: threading.Event,
    worker: str,
) -> Ending:
    """Each of ``frames`` (its number, float RGB) sent as a :class:`FrameDreamed` as it comes, and
    how they ended: done, cancelled (``stop``, at the next frame), or a user's failure (such as
    running out of memory) naming the user's files; a bug is raised."""
    try:
        for index, rgb in frames:
            send(FrameDreamed(index, to_uint8(rgb), worker))
            if stop.is_set():
                raise Cancelled
    except Cancelled:
        return Ending(Outcome("cancelled", cancelled=True), b"", worker)
    except ReverieError as error:
        return Ending(Outcome.failed(renamed(error, public)), b"", worker)
    except (MemoryError, torch.cuda.OutOfMemoryError):
        return Ending(Outcome.failed(out_of_memory()), b"", worker)
    return Ending(Outcome(""), b"", worker)


def as_float(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB as the float RGB in [0, 1] a decoded frame is (exactly: k/255)."""
    return rgb.astype(np.float32) / 255.0


class SourceFrames:
    """The source decoded once, in order, each segment's frames handed out as the pool asks for
    them (in the plan's order); only frames a segment still to come needs are kept."""

    def __init__(self, reader: FrameReader) -> None:
        self.reader = reader
        self.decoded: Iterator[Any] = iter(reader)
        self.frames: dict[int, np.ndarray] = {}
        #: When each decoded frame is shown: the writer's times.
        self.times: list[float] = []
        self.ended = False

    def take(self, segment: Segment, next_from: int | None) -> list[np.ndarray]:
        """``segment``'s frames, warm-up first (fewer where the source ends early, none past it);
        only frames from ``next_from`` on (where the next segment starts warming up) are kept."""
        while not self.ended and (segment.end is None or len(self.times) < segment.end):
            frame = next(self.decoded, None)
            if frame is None:
                self.ended = True
                break
            self.frames[len(self.times)] = to_uint8(frame.rgb)  # exact: decoded frames are k/255
            self.times.append(frame.time)
        taken = [self.frames[index] for index in segment.frames(len(self.times))]
        keep_from = len(self.times) if next_from is None else next_from
        for index in [index for index in self.frames if index < keep_from]:
            del self.frames[index]
        return taken

    def rest(self) -> None:
        """Decode to the end (a header that counted too many frames planned segments past it)."""
        while not self.ended:
            frame = next(self.decoded, None)
            if frame is None:
                self.ended = True
            else:
                self.times.append(frame.time)


class VideoOnRay:
    """One video task dreamed on ``engine``'s pool, segment by segment, into its frames folder."""

    def __init__(
        self,
        engine: RayEngine,
        task: VideoTask,
        progress: FrameCallback | None,
        stop: Callable[[], bool],
        watch: FrameWatch | None = None,
    ) -> None:
        self.engine = engine
        self.task = task.ready()
        self.progress = progress
        self.stop = stop
        self.watch = watch
        self.lock = threading.Lock()  # the decoder, shared by the pool's threads
        self.reporting = threading.Lock()  # the frame count and the callbacks, one frame at a time
        self.files = file_bytes(self.task.settings)
        self.task_json = travelling(self.task)
        self.job: VideoFrames | None = None
        self.count = 0

    def run(self) -> AnimationResult:
        """Dream every unfinished frame on the pool, then assemble the video (as in one process)."""
        self.engine.start()
        weights, actors = self.task.weights_path(), self.engine.fast_actors()
        job = self.job = self.task.open_frames(weights, segments=actors, longest=LONGEST_SEGMENT)
        self.count = sum(job.store.finished_in(segment) for segment in job.segments)
        source = SourceFrames(FrameReader(self.task.source, job.size))
        todo = deque(job.segments)
        failures: list[Outcome] = []
        stopping = threading.Event()

        def work() -> None:
            while not stopping.is_set():
                with self.lock:
                    if not todo:
                        return
                    segment = todo.popleft()
                    frames = source.take(segment, todo[0].warm_from if todo else None)
                    count, finished = len(frames), job.store.finished_in(segment) >= len(frames)
                    # into Ray's object store (spilled to disk when it fills), and no copy kept here
                    shipped = self.engine.ray.put(frames) if frames and not finished else None
                    del frames
                outcome = self.dream(segment, shipped, count, stop=lambda: stopping.is_set() or self.stop())
                if outcome.error:
                    failures.append(outcome)
                    stopping.set()

        on_threads(min(self.engine.fast_actors(), len(job.segments)), work, stopping)
        if failures:
            ended(failures[0])
        source.rest()
        return job.finish(source.times, source.reader.cut_short)

    def dream(self, segment: Segment, shipped: Any, count: int, stop: Callable[[], bool]) -> Outcome:
        """``segment`` dreamed on the pool from its first unfinished frame, each frame stored as it
        comes back; a lost worker's call is made again from the last stored frame. ``shipped``: the
        segment's ``count`` source frames in Ray's object store (a call made again reads them again)."""
        assert self.job is not None
        store = self.job.store
        done = [store.finished_in(segment)]
        if not count or done[0] >= count:
            return Outcome("")

        def stored(position: int) -> np.ndarray:
            index = segment.warm_from + position
            return to_uint8(store.load(index, segment.warming(index)))

        def call(actor: Any) -> Any:
            offset = done[0]
            resume = None
            if offset:
                sources = self.engine.ray.get(shipped)  # read in place from the object store
                resume = (sources[0], stored(0), sources[offset - 1], stored(offset - 1))
            piece = SegmentPiece(segment.warm_from, offset, resume)
            options = actor.dream_segment.options(num_returns="streaming", max_task_retries=0)
            return options.remote(self.task_json, self.files, shipped, piece)

        def heard(event: Any) -> Outcome | None:
            if isinstance(event, Ending):
                return event.outcome
            if isinstance(event, FrameDreamed):
                store.save(event.index, as_float(event.rgb), segment.warming(event.index))
                done[0] = event.index - segment.warm_from + 1
                self.counted(event.rgb)
            return None

        name = f"{self.task.source} frames {segment.warm_from}+"
        return self.engine.on_pool(name, call, heard, stop=stop, gpus_only=True)

    def counted(self, rgb: np.ndarray) -> None:
        """One more frame stored (``rgb``): progress as (frames stored, frames to dream, warm-ups
        included), and the frame to watch; one frame at a time, from any of the pool's threads."""
        assert self.job is not None
        with self.reporting:
            self.count += 1
            if self.progress is not None:
                total = self.job.frames + sum(s.start - s.warm_from for s in self.job.segments)
                self.progress(self.count, max(total, self.count))
            if self.watch is not None:
                self.watch(rgb)


def dream_video(
    engine: RayEngine,
    task: VideoTask,
    progress: FrameCallback | None = None,
    stop: Callable[[], bool] = never,
    watch: FrameWatch | None = None,
) -> AnimationResult:
    """Dream ``task`` (a video) on ``engine``'s pool in as many segments as it has actors (a folder a
    run started keeps its segments); the video written as :meth:`VideoTask.run` writes it.
    ``progress`` hears (frames stored, frames to dream, warm-ups included); ``watch`` sees each
    frame stored; ``stop`` cancels (:class:`reverie.cluster.Cancelled` is raised)."""
    return VideoOnRay(engine, task, progress, stop, watch).run()


def dream_zoom(
    engine: RayEngine,
    task: ZoomTask,
    progress: FrameCallback | None = None,
    stop: Callable[[], bool] = never,
    watch: FrameWatch | None = None,
) -> AnimationResult:
    """Dream ``task`` (a zoom) on one actor of ``engine``'s pool and write its animation here, as
    :meth:`ZoomTask.run` writes it. ``progress`` hears (frames done, frames); ``watch`` sees each
    frame; ``stop`` cancels (:class:`reverie.cluster.Cancelled` is raised)."""
    task = task.ready()
    output = Path(str(task.output))
    engine.start()
    shipped = (travelling(task), Path(str(task.source)).read_bytes(), file_bytes(task.settings))
    total = task.motion.frames
    with tempfile.TemporaryDirectory(prefix=f".{output.name}-", dir=output.parent) as folder:
        frames = Path(folder)

        def call(actor: Any) -> Any:
            return actor.dream_zoom.options(num_returns="streaming", max_task_retries=0).remote(*shipped)

        def heard(event: Any) -> Outcome | None:
            if isinstance(event, Ending):
                return event.outcome
            if isinstance(event, FrameDreamed):  # a zoom that lost its worker starts again: overwritten
                save_image(frames / f"{event.index:06d}.png", Picture(as_float(event.rgb)))
                if progress is not None:
                    progress(event.index + 1, total)
                if watch is not None:
                    watch(event.rgb)
            return None

        outcome = engine.on_pool(str(task.source), call, heard, stop=stop, gpus_only=True)
        ended(outcome)
        written = (load_image(frames / f"{index:06d}.png").rgb for index in range(total))
        count = write_animation(output, written, task.motion.frame_rate)
    return AnimationResult(output, count)


def ended(outcome: Outcome) -> None:
    """Raise what ended a job that did not finish: Cancelled, the user's failure, or the error."""
    if outcome.cancelled:
        raise Cancelled
    if outcome.failure is not None:
        raise outcome.failure
    if outcome.bug:
        raise WorkerBug(outcome)  # reported as the bug it is, by each front end
    if outcome.error:  # its workers were lost, again and again, or none are left
        raise ResourceError(outcome.error)
