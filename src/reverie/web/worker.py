"""Background workers that take queued jobs and run their tasks, as the CLI runs them.

Each worker is a thread that claims the oldest queued job and runs its task either here, on one
:class:`reverie.Dreamer` per model shared by the threads (one thread by default: one job at a time
per device is fastest, since a dream already uses every core or the whole GPU), or, with
``serve --ray``, on the Ray pool (one thread per actor): a photo or a zoom on an idle actor, a video
in segments on every idle actor (:mod:`reverie.cluster_video`), streaming progress and previews
back while they dream. A job reports progress
after every step and a preview when the render loop offers one (its first step, then as each octave
grows: :func:`reverie.render.offers_preview`), at most one every :data:`PREVIEW_EVERY` seconds;
cancelling or stopping the server is noticed at the next step (on Ray, ``ray.cancel`` delivers
it); a job never stays "running" after its worker is gone. The page's look thumbnails dream on the
same models: the jobs' Dreamers here, an actor on Ray.
A job dreamed here reads its pictures within the server's decoding budget
(:class:`reverie.web.uploads.DecodeBudget`), as uploads are read.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from reverie.cluster import (
    Cancelled,
    Dreamers,
    Outcome,
    RayEngine,
    Update,
    WorkerBug,
    never,
    run_here,
    stopping_at,
    update_of,
)
from reverie.cluster_video import dream_video, dream_zoom
from reverie.errors import ReverieError, one_line
from reverie.io.images import DEFAULT_MAX_PIXELS, Picture, image_bytes
from reverie.io.paths import write_bytes_atomically
from reverie.render import Progress
from reverie.settings import VideoSettings, ZoomSettings
from reverie.tasks import DreamTask, Task, VideoTask, ZoomTask
from reverie.web.form import page_words
from reverie.web.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, Job, JobStore
from reverie.web.uploads import (
    DecodeBudget,
    Reservation,
    default_budget,
    picture_cost,
    release_freed_memory,
)

log = logging.getLogger("reverie.web")

#: Seconds between progress writes to the database (previews and starts are always written).
REPORT_EVERY = 0.25
#: Least seconds between two previews of a job: the page shows the dream growing without the worker
#: spending its time on JPEGs (a preview offered sooner is dropped, here before it is encoded).
PREVIEW_EVERY = 1.0
#: Longest wait, seconds, between tries to reach a job database that failed (a full disk, say).
STORE_RETRY_MAX = 10.0


def job_task(store: JobStore, job: Job, device: str, max_pixels: int) -> Task:
    """The task a job runs: its stored upload (and guide and mask) into its result file."""
    files = {role: str(store.path(job, role)) for role in ("guide", "mask") if role in job.files}
    uploaded = job.options.get("names", {})  # the result's recipe names files as they were uploaded
    common: dict[str, Any] = {
        "settings": job.settings.with_changes(**files), "device": device, "max_pixels": max_pixels,
        "file_names": {role: uploaded[role] for role in files if role in uploaded},
    }  # fmt: skip
    source, output = store.path(job, "source"), store.path(job, "result")
    if job.kind == "zoom":
        return ZoomTask(source, output, ZoomSettings.from_dict(job.options.get("motion", {})), **common)
    if job.kind == "video":
        return VideoTask(source, output, VideoSettings.from_dict(job.options.get("coherence", {})), **common)
    return DreamTask(source, output, **common)


def bug_on_the_page(kind: str) -> str:
    """A bug as the page tells it: its kind only (its message may name the server's files); the
    server's log has the rest."""
    return f"internal error ({kind}); the server's log has the details"


def page_names(store: JobStore, job: Job) -> dict[Path, str]:
    """How the page's user knows each of a job's files, for messages that name them."""
    what = {"source": f"your {'video' if job.kind == 'video' else 'photo'} {job.name!r}"}
    what.update(guide="your guide image", mask="your mask", result="the result", picture="the photo")
    return {store.path(job, role): words for role, words in what.items() if role in job.files}


class Workers:
    """The queue's consumers: start them, wake them when a job arrives, cancel, stop.

    ``cluster``: run jobs on its Ray actors, one worker thread per actor, instead of here.
    """

    def __init__(
        self,
        store: JobStore,
        device: str = "auto",
        count: int = 1,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        cluster: RayEngine | None = None,
        budget: DecodeBudget | None = None,
    ) -> None:
        self.store = store
        self.budget = budget or default_budget()
        self.device = device
        self.count = count
        self.max_pixels = max_pixels
        self.cluster = cluster
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancelled: set[str] = set()
        self.interrupted = 0  # jobs stopped by stop(), for the shutdown message
        self.threads: list[threading.Thread] = []
        self.dreamers = Dreamers()

    def start(self) -> None:
        interrupted = self.store.interrupt_running()
        if interrupted:
            log.warning("marked %d job(s) left running by the last server as interrupted", interrupted)
        if self.cluster is not None:
            self.cluster.start()
            self.count = len(self.cluster.actors)
        for slot in range(self.count):
            thread = threading.Thread(target=self.run, name=f"reverie-worker-{slot}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 30.0) -> int:
        """Stop taking jobs; the running ones stop at their next step and are marked interrupted.

        Returns how many were interrupted.
        """
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)
        if self.cluster is not None:
            self.cluster.close()
        return self.interrupted

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def run(self) -> None:
        """Take jobs until stopped. Nothing a job or the store does ends this loop: a job's error
        fails that job, and a store that cannot be read or written is tried again, more slowly."""
        delay = 0.0
        while not self.stopping.is_set():
            try:
                job = self.store.claim_next()
            except Exception as error:  # a full disk, a locked or damaged database
                delay = min(max(delay * 2, 0.5), STORE_RETRY_MAX)
                log.error(
                    "could not take a job from the queue (%s); trying again in %.1f s", one_line(error), delay
                )
                self.stopping.wait(delay)
                continue
            delay = 0.0
            if job is None:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self.dream(job)

    def task(self, job: Job) -> Task:
        """The job's task, as the form's was checked: the stored upload into the result file."""
        return job_task(self.store, job, self.device, self.max_pixels)

    def dream(self, job: Job) -> None:
        """Run one claimed job to a finished state; never raises."""
        try:
            status, error = self.ending(job)
        except Exception as bug:  # keep the worker alive, record it, log the traceback
            log.exception("job %s failed unexpectedly", job.id)
            status, error = FAILED, bug_on_the_page(type(bug).__name__)
        finally:
            self.cancelled.discard(job.id)
        if error and status == FAILED:
            log.warning("job %s failed: %s", job.id, error)
        self.record(job, status, error)

    def ending(self, job: Job) -> tuple[str, str]:
        """(status, error in the page's words) of a job once it has run."""
        outcome = self.run_on_cluster(job) if self.cluster else self.run_here(job)
        if outcome.cancelled:
            status = INTERRUPTED if self.stopping.is_set() and job.id not in self.cancelled else CANCELLED
            self.interrupted += status == INTERRUPTED
            return status, "cancelled" if status == CANCELLED else "server stopped"
        if outcome.failure is not None:
            return FAILED, outcome.failure.render(page_words(page_names(self.store, job)))
        if outcome.bug:
            log.error("job %s: %s", job.id, outcome.error)
            return FAILED, bug_on_the_page(outcome.bug)
        return (FAILED, outcome.error) if outcome.error else (DONE, "")

    def record(self, job: Job, status: str, error: str) -> None:
        """Write a job's ending, trying again while the store fails (never leaving it "running"
        once the store works again). A server stopped meanwhile leaves it to the next one, which
        marks it interrupted."""
        delay = 0.5
        while True:
            try:
                self.store.finish(job.id, status, error)
                return
            except Exception as failure:
                log.error(
                    "could not record job %s as %s (%s); trying again", job.id, status, one_line(failure)
                )
                if self.stopping.wait(delay):
                    return
                delay = min(delay * 2, STORE_RETRY_MAX)

    def should_stop(self, job: Job) -> bool:
        return job.id in self.cancelled or self.stopping.is_set()

    def report(self, job: Job, fraction: float, stage: str, preview: bytes = b"") -> None:
        """Record a job's progress, and its latest preview (a JPEG) when there is one. Progress is
        for watching only: a failure to write it is logged and the job goes on."""
        try:
            if preview:
                write_bytes_atomically(self.store.path(job, "preview"), preview)
            self.store.report(job.id, fraction, stage, has_preview=True if preview else None)
        except Exception as error:
            log.warning("could not record the progress of job %s: %s", job.id, one_line(error))

    def watcher(self, job: Job) -> Watch:
        """What records one job's updates, here or from a Ray actor."""
        return Watch(lambda fraction, stage, preview: self.report(job, fraction, stage, preview))

    def checked_task(self, job: Job) -> Task | Outcome:
        """The job's task checked (its upload still there, its settings still good), or why not."""
        try:
            return self.task(job).check()
        except ReverieError as error:
            return Outcome.failed(error)

    def dream_now(self, task: DreamTask, stop: Callable[[], bool] = never) -> Outcome:
        """Run a small task at once, beside the queue's jobs, on this server's models: the jobs'
        Dreamers here, any actor on Ray (the page's look thumbnails: no second copy of a model).
        ``stop`` cancels it at its next step."""
        if self.cluster is not None:
            return self.cluster.dream(task, shared=True, stop=stop)
        return run_here(task, self.dreamers, stopping_at(stop))

    # ------------------------------------------------------------------------------------ here

    def run_here(self, job: Job) -> Outcome:
        task = self.checked_task(job)
        if isinstance(task, Outcome):
            return task
        try:
            reading = self.room_to_read(job)
        except ReverieError as error:
            return Outcome.failed(error)
        watch = self.watcher(job)

        def progress(event: Progress) -> None:
            reading.release()  # the pictures are read once the dream reports
            if self.should_stop(job):
                raise Cancelled
            if event.image is not None and not watch.wants_preview():
                event = replace(event, image=None)  # not encoded: it would be dropped
            watch(update_of(event))

        def frame_done(done: int, total: int) -> None:
            reading.release()
            if self.should_stop(job):
                raise Cancelled
            self.report(job, done / max(total, 1), f"frame {done}/{total}")

        try:
            return run_here(task, self.dreamers, progress if isinstance(task, DreamTask) else frame_done)
        finally:
            reading.release()
            release_freed_memory()

    def room_to_read(self, job: Job) -> Reservation:
        """Room in the decoding budget for the largest of the job's pictures (read one after
        another), taken before any of them is read, ahead of the uploads waiting. A video's frames
        are read one at a time at the working size, and cost no more than the dream around them."""
        roles = [role for role in ("source", "guide", "mask") if role in job.files]
        if job.kind == "video":
            roles.remove("source")
        costs = [picture_cost(self.store.path(job, role), self.max_pixels)[0] for role in roles]
        return self.budget.reserve(max(costs, default=0), first=True, who="the job")

    # ------------------------------------------------------------------------------- on a cluster

    def run_on_cluster(self, job: Job) -> Outcome:
        """The job dreamed on the pool, its updates recorded as they come: a photo on an idle actor,
        a zoom on one actor frame after frame, a video in segments on every idle actor
        (:mod:`reverie.cluster_video`). A cancel or the server's stop reaches the actors through
        Ray; a lost or stalled worker is restarted by Ray and its work runs again
        (``cluster.retries`` times), then fails with a message (Retry queues it again); a bug in
        the worker fails it at once."""
        assert self.cluster is not None
        task = self.checked_task(job)
        if isinstance(task, Outcome):
            return task
        stop = lambda: self.should_stop(job)  # noqa: E731
        if isinstance(task, DreamTask):
            return self.cluster.dream(task, self.watcher(job), stop)
        watch, latest = self.watcher(job), [0, 1]

        def frame_done(done: int, total: int) -> None:
            latest[:] = [done, total]

        def frame_seen(rgb: Any) -> None:
            done, total = latest
            preview = (
                image_bytes(Picture(rgb.astype("float32") / 255), "JPEG") if watch.wants_preview() else b""
            )
            watch(Update(done / max(total, 1), f"frame {done}/{total}", preview))

        started = time.perf_counter()
        try:
            if isinstance(task, VideoTask):
                dream_video(self.cluster, task, frame_done, stop, watch=frame_seen)
            else:
                assert isinstance(task, ZoomTask)
                dream_zoom(self.cluster, task, frame_done, stop, watch=frame_seen)
        except Cancelled:
            return Outcome("cancelled", time.perf_counter() - started, cancelled=True)
        except ReverieError as error:
            return Outcome.failed(error, time.perf_counter() - started)
        except WorkerBug as bug:  # the page names its kind, the log the rest
            return bug.outcome
        return Outcome("", time.perf_counter() - started)


class Watch:
    """What records one job's updates (``record(fraction, stage, preview)``): every (re)start
    (progress 0: the page says so at once), a preview at most every :data:`PREVIEW_EVERY` seconds
    (the first one at once), and the progress of steps at most every :data:`REPORT_EVERY` seconds."""

    def __init__(self, record: Callable[[float, str, bytes], None]) -> None:
        self.record = record
        self.last_report = -math.inf
        self.last_preview = -math.inf

    def wants_preview(self) -> bool:
        """Whether a preview offered now would be recorded."""
        return time.monotonic() - self.last_preview >= PREVIEW_EVERY

    def __call__(self, update: Update) -> None:
        now = time.monotonic()
        preview = update.preview if update.preview and self.wants_preview() else b""
        if preview or update.fraction == 0.0 or now - self.last_report > REPORT_EVERY:
            self.record(update.fraction, update.stage, preview)
            self.last_report = now
            self.last_preview = now if preview else self.last_preview
