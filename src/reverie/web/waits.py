"""How long the wait is: each queued job's place in the queue, and the seconds until a job is done.

- **A running job**: the seconds it has run so far, times the share of its work still to do over the
  share done (its progress: :attr:`reverie.render.Progress.fraction`, which weights each octave by
  its pixels, so the pace holds as the octaves grow; per frame for zooms and videos). Unknown until
  its first step is recorded.
- **A queued job**: the queue played forward. Each busy worker is free when its running job's
  estimate says; each queued job, oldest first (the order workers claim them in), takes the first
  worker free and keeps it for its own work divided by this server's recent speed. A job's work is
  counted in pixel-steps (every octave's pixels times the steps, times the frames of a zoom), the
  speed in pixel-steps per second over the last :data:`RECENT` finished dreams and zooms (their
  model loads included, as a job's time includes them). Unknown with no finished job to tell the
  speed, and behind a video, whose frames are only counted when it runs.

The estimate is the time until the job is *done* (for a queued job: its wait plus its own run), in
seconds from now.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from reverie.errors import UnknownModelError
from reverie.models import DEFAULT_MODEL, get_spec
from reverie.render import octave_sizes
from reverie.web.jobs import QUEUED, RUNNING, Job, JobStore

#: Finished jobs whose pace gives the server's speed.
RECENT = 20


@dataclass(frozen=True)
class Queue:
    """The queue at one moment: queued jobs' places (1-based, oldest first) and the estimates known."""

    places: dict[str, int]
    #: Seconds until each job is done, for the jobs whose estimate is known.
    seconds: dict[str, float]

    def place(self, job_id: str) -> int | None:
        return self.places.get(job_id)

    def eta(self, job_id: str) -> float | None:
        """Seconds until the job is done, rounded to a tenth; None when unknown."""
        seconds = self.seconds.get(job_id)
        return None if seconds is None else round(seconds, 1)


def queue_of(store: JobStore, now: float | None = None) -> Queue:
    """The store's queue now: its queued and running jobs, and the recent finished ones' speed."""
    return queue_now(store.active(), store.recently_done(RECENT), time.time() if now is None else now)


def queue_now(active: Sequence[Job], done: Sequence[Job], now: float) -> Queue:
    """The queue of ``active`` (queued and running jobs, in queue order), with ``done`` (recently
    finished jobs) for the speed, at time ``now`` (seconds since the epoch)."""
    running = [job for job in active if job.status == RUNNING]
    queued = [job for job in active if job.status == QUEUED]
    seconds = {job.id: left for job in running if (left := time_left(job, now)) is not None}
    speed = pixel_steps_per_second(done)
    # When every worker is busy (the only time jobs wait) there is one per running job; with none
    # running, the next job starts now.
    free = [seconds.get(job.id, math.inf) for job in running] or [0.0]
    heapq.heapify(free)
    for job in queued:
        start = heapq.heappop(free)
        cost = work(job)
        end = start + cost / speed if cost is not None and speed is not None else math.inf
        if math.isfinite(end):
            seconds[job.id] = end
        heapq.heappush(free, end)
    return Queue({job.id: place for place, job in enumerate(queued, start=1)}, seconds)


def time_left(job: Job, now: float) -> float | None:
    """Seconds a running job still needs at the pace it has kept, or None before its first step."""
    if job.status != RUNNING or job.started is None or not 0 < job.progress <= 1:
        return None
    elapsed = max(0.0, now - job.started)
    return elapsed * (1 - job.progress) / job.progress


def work(job: Job) -> float | None:
    """A job's work in pixel-steps: the pixels of each of its octaves (at the job's working size)
    times its steps, times a zoom's frames; None for a video (its frames are unknown until it runs)
    or a model this version does not have."""
    if job.kind == "video":
        return None
    settings = job.settings
    try:
        min_side = get_spec(settings.model or DEFAULT_MODEL).min_side
    except UnknownModelError:  # a job of a model this version no longer has
        return None
    sizes = octave_sizes((job.width, job.height), settings.octaves, settings.octave_scale, min_side)
    frames = job.options.get("motion", {}).get("frames", 1) if job.kind == "zoom" else 1
    return float(settings.steps * sum(width * height for width, height in sizes) * frames)


def pixel_steps_per_second(done: Sequence[Job]) -> float | None:
    """The speed of these finished jobs together, or None when they tell none."""
    total_work = total_seconds = 0.0
    for job in done:
        cost = work(job)
        if cost is None or job.started is None or job.finished is None or job.finished <= job.started:
            continue
        total_work += cost
        total_seconds += job.finished - job.started
    return total_work / total_seconds if total_work > 0 and total_seconds > 0 else None
