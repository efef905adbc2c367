"""Background workers that take queued jobs and run their tasks, as the CLI runs them.

Each worker is a thread that claims the oldest queued job and runs its task either here, on one
:class:`reverie.Dreamer` per model shared by the threads (one thread by default: one job at a time
per device is fastest, since a dream already uses every core or the whole GPU), or, with
``serve --ray``, on its own Ray actor (:mod:`reverie.cluster`), which sends progress and previews back
while it dreams. A job reports progress after every step and a preview after every octave;
cancelling or stopping the server is noticed at the next step; a job never stays "running" after
its worker is gone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from reverie.cluster import (
    PROGRESS_TIMEOUT,
    Cancelled,
    Dreamers,
    Outcome,
    RayEngine,
    internal_error,
    preview_jpeg,
    progress_stage,
    run_here,
    write_result,
)
from reverie.errors import ReverieError, one_line, reason
from reverie.io.images import DEFAULT_MAX_PIXELS
from reverie.io.paths import write_bytes_atomically
from reverie.render import Progress
from reverie.settings import VideoSettings, ZoomSettings
from reverie.tasks import DreamTask, Task, VideoTask, ZoomTask
from reverie.web.form import page_words
from reverie.web.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, Job, JobStore, legacy_files

log = logging.getLogger("reverie.web")

#: Seconds between progress writes to the database (octave ends are always written).
REPORT_EVERY = 0.25
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


def page_names(store: JobStore, job: Job) -> dict[Path, str]:
    """How the page's user knows each of a job's files, for messages that name them."""
    what = {"source": f"your {'video' if job.kind == 'video' else 'photo'} {job.name!r}"}
    what.update(guide="your guide image", mask="your mask", result="the result", picture="the photo")
    roles = job.files or legacy_files(job.id)
    return {store.path(job, role): words for role, words in what.items() if role in roles}


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
    ) -> None:
        self.store = store
        self.device = device
        self.count = count
        self.max_pixels = max_pixels
        self.cluster = cluster
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancelled: set[str] = set()
        self.interrupted = 0  # jobs stopped by stop(), for the shutdown message
        self.retried = 0  # jobs run again after their Ray worker was lost
        self.threads: list[threading.Thread] = []
        self.dreamers = Dreamers()
        self._dreamers_lock = threading.Lock()

    def start(self) -> None:
        interrupted = self.store.interrupt_running()
        if interrupted:
            log.warning("marked %d job(s) left running by the last server as interrupted", interrupted)
        if self.cluster is not None:
            self.cluster.start()
            self.count = len(self.cluster.actors)
            #: Each worker thread's own actor (None while one cannot start).
            self.slots: list[Any] = list(self.cluster.actors)
        for slot in range(self.count):
            thread = threading.Thread(
                target=self.run, args=(slot,), name=f"reverie-worker-{slot}", daemon=True
            )
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

    def run(self, slot: int = 0) -> None:
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
            self.dream(job, slot)

    def task(self, job: Job) -> Task:
        """The job's task, as the form's was checked: the stored upload into the result file."""
        return job_task(self.store, job, self.device, self.max_pixels)

    def dream(self, job: Job, slot: int = 0) -> None:
        """Run one claimed job to a finished state; never raises."""
        try:
            status, error = self.ending(job, slot)
        except Exception as error:  # a bug: keep the worker alive, record it, log the traceback
            log.exception("job %s failed unexpectedly", job.id)
            status, error = FAILED, f"internal error: {type(error).__name__}"
        finally:
            self.cancelled.discard(job.id)
        if error and status == FAILED:
            log.warning("job %s failed: %s", job.id, error)
        self.record(job, status, error)

    def ending(self, job: Job, slot: int) -> tuple[str, str]:
        """(status, error in the page's words) of a job once it has run."""
        outcome = self.run_on_cluster(job, slot) if self.cluster else self.run_here(job)
        if outcome.cancelled:
            status = INTERRUPTED if self.stopping.is_set() and job.id not in self.cancelled else CANCELLED
            self.interrupted += status == INTERRUPTED
            return status, "cancelled" if status == CANCELLED else "server stopped"
        if outcome.failure is not None:
            return FAILED, outcome.failure.render(page_words(page_names(self.store, job)))
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

    def checked_task(self, job: Job) -> Task | Outcome:
        """The job's task checked (its upload still there, its settings still good), or why not."""
        try:
            return self.task(job).check()
        except ReverieError as error:
            return Outcome(one_line(error), failure=error)
        except OSError as error:
            return Outcome(reason(error))

    # ------------------------------------------------------------------------------------ here

    def run_here(self, job: Job) -> Outcome:
        task = self.checked_task(job)
        if isinstance(task, Outcome):
            return task
        try:
            with self._dreamers_lock:  # one Dreamer per model, even when two threads want it at once
                self.dreamers.for_task(task)
        except ReverieError as error:
            return Outcome(one_line(error), failure=error)
        except (RuntimeError, MemoryError, OSError) as error:
            return Outcome(reason(error))
        last_report = 0.0

        def progress(event: Progress) -> None:
            nonlocal last_report
            if self.should_stop(job):
                raise Cancelled
            preview = preview_jpeg(event.image) if event.image is not None else b""
            if preview or time.monotonic() - last_report > REPORT_EVERY:
                self.report(job, event.fraction, progress_stage(event), preview)
                last_report = time.monotonic()

        def frame_done(done: int, total: int) -> None:
            if self.should_stop(job):
                raise Cancelled
            self.report(job, done / max(total, 1), f"frame {done}/{total}")

        return run_here(task, self.dreamers, progress if isinstance(task, DreamTask) else frame_done)

    # ------------------------------------------------------------------------------- on a cluster

    def run_on_cluster(self, job: Job, slot: int) -> Outcome:
        """Send the job to this worker's actor and relay its progress until it ends.

        A lost actor is replaced; the job runs again on the fresh one (``cluster.retries`` times),
        then fails with a message (Retry queues it again). A bug in the worker fails the job at once.
        """
        assert self.cluster is not None
        ray = self.cluster.ray
        task = self.checked_task(job)
        if isinstance(task, Outcome):
            return task
        photo = Path(str(task.source)).read_bytes()
        for attempt in range(1 + self.cluster.retries):
            actor = self.actor_for(slot)
            if actor is None:
                return Outcome("no worker could start on the Ray cluster; press Retry later")
            try:
                error, seconds = self.relay(job, actor, task.to_json(), photo, Path(str(task.output)))
            except ray.exceptions.RayTaskError as failure:
                return Outcome(internal_error(failure))
            except ray.exceptions.RayError as lost:  # a lost actor, or one that stopped answering
                self.slots[slot] = self.cluster.replace_actor(actor, shrink=False)
                if attempt == self.cluster.retries:
                    return Outcome(f"the worker running this job was lost ({one_line(lost)}); press Retry")
                log.warning("job %s lost its worker; running it again", job.id)
                self.retried += 1
                self.report(job, 0.0, "the worker was lost: starting again on a fresh one")
                continue
            return Outcome(error, seconds, cancelled=error == "cancelled")
        raise AssertionError("unreachable")

    def actor_for(self, slot: int) -> Any:
        """This worker thread's actor; a new one if the last could not start (None if still none)."""
        if self.slots[slot] is None:
            self.slots[slot] = self.cluster.spawn()  # type: ignore[union-attr]
        return self.slots[slot]

    def relay(self, job: Job, actor: Any, task_json: str, photo: bytes, output: Path) -> tuple[str, float]:
        """Run the job on ``actor``, passing its progress, previews and cancel on; write its result.

        Each run has its own token, so a cancel meant for an earlier run never stops a retried one.
        """
        ray = self.cluster.ray  # type: ignore[union-attr]
        token = f"{job.id}-{uuid.uuid4().hex}"
        result = actor.run.remote(task_json, photo, token)
        seen, asked_to_stop = 0, False
        while not ray.wait([result], timeout=REPORT_EVERY)[0]:
            if self.should_stop(job) and not asked_to_stop:
                actor.cancel.remote(token)
                asked_to_stop = True
            fraction, stage, version, preview = ray.get(
                actor.progress.remote(token, seen), timeout=PROGRESS_TIMEOUT
            )
            if stage:
                self.report(job, fraction, stage, preview)
                seen = version
        error, seconds, data, preview = ray.get(result)
        if not error:
            self.report(job, 1.0, "done", preview)  # the last octave's preview, however quick the job
            error = write_result(output, data)
        return error, seconds
