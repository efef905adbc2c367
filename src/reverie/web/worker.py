"""Background workers that take queued jobs and run their tasks, as the CLI runs them.

``workers`` threads (one by default: one job at a time per device is fastest, since a dream already
uses every core or the whole GPU) share one :class:`reverie.Dreamer` per model. A job reports
progress after every step and writes a preview after every octave; cancelling or stopping the
server is noticed at the next step.
"""

from __future__ import annotations

import logging
import threading
import time

import torch

from reverie.dreamer import Dreamer
from reverie.errors import ReverieError, one_line
from reverie.io.images import Picture, save_image
from reverie.render import Progress
from reverie.tasks import DreamTask
from reverie.tensors import from_tensor
from reverie.web.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, Job, JobStore

log = logging.getLogger("reverie.web")

#: Seconds between progress writes to the database (octave ends are always written).
REPORT_EVERY = 0.25


class JobStopped(Exception):
    """Raised inside the render loop's progress callback to stop a job; ``status`` says why."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class Workers:
    """The queue's consumers: start them, wake them when a job arrives, cancel, stop."""

    def __init__(self, store: JobStore, device: str = "auto", count: int = 1) -> None:
        self.store = store
        self.device = device
        self.count = count
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancelled: set[str] = set()
        self.interrupted = 0  # jobs stopped by stop(), for the shutdown message
        self.threads: list[threading.Thread] = []
        self._dreamers: dict[str, Dreamer] = {}
        self._dreamers_lock = threading.Lock()

    def dreamer(self, model: str) -> Dreamer:
        """The shared Dreamer of ``model``, loaded on first use."""
        with self._dreamers_lock:
            if model not in self._dreamers:
                self._dreamers[model] = Dreamer(model, device=self.device)
            return self._dreamers[model]

    def start(self) -> None:
        interrupted = self.store.interrupt_running()
        if interrupted:
            log.warning("marked %d job(s) left running by the last server as interrupted", interrupted)
        for index in range(self.count):
            thread = threading.Thread(target=self.run, name=f"reverie-worker-{index}", daemon=True)
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
        return self.interrupted

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def run(self) -> None:
        while not self.stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self.dream(job)

    def dream(self, job: Job) -> None:
        """Run one claimed job to a finished state; never raises."""
        try:
            task = DreamTask(
                self.store.upload_path(job.id), self.store.result_path(job.id), settings=job.settings,
                device=self.device,
            )  # fmt: skip
            task.run(self.dreamer(job.settings.model), self.progress_callback(job))
            self.store.finish(job.id, DONE)
        except JobStopped as stop:
            self.interrupted += stop.status == INTERRUPTED
            self.store.finish(
                job.id, stop.status, "cancelled" if stop.status == CANCELLED else "server stopped"
            )
        except (ReverieError, RuntimeError, MemoryError) as error:
            log.warning("job %s failed: %s", job.id, error)
            self.store.finish(job.id, FAILED, one_line(error))
        except Exception as error:  # a bug: keep the worker alive, record it, log the traceback
            log.exception("job %s failed unexpectedly", job.id)
            self.store.finish(job.id, FAILED, f"internal error: {type(error).__name__}")
        finally:
            self.cancelled.discard(job.id)

    def progress_callback(self, job: Job):
        last_report = 0.0

        def report(event: Progress) -> None:
            nonlocal last_report
            if job.id in self.cancelled:
                raise JobStopped(CANCELLED)
            if self.stopping.is_set():
                raise JobStopped(INTERRUPTED)
            stage = f"octave {event.octave}/{event.octaves}, step {event.step}/{event.steps}"
            if event.image is not None:
                self.write_preview(job, event.image)
                self.store.report(job.id, event.fraction, stage, has_preview=True)
                last_report = time.monotonic()
            elif time.monotonic() - last_report > REPORT_EVERY:
                self.store.report(job.id, event.fraction, stage)
                last_report = time.monotonic()

        return report

    def write_preview(self, job: Job, image: torch.Tensor) -> None:
        """The picture after an octave, as a JPEG at the octave's size (small early, full at the end)."""
        save_image(self.store.preview_path(job.id), Picture(from_tensor(image)))
