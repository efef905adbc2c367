"""Where tasks run: in this process (:class:`LocalEngine`) or on a Ray cluster (:class:`RayEngine`).

Both load a model once per worker and run many tasks on it, and both report each task's ending as
an :class:`Outcome`: a user's mistake (a corrupt photo) fails that task alone. On Ray, every actor is
a process holding its own :class:`reverie.Dreamer`; the driver checks each task, ships the photo's
bytes with the task's JSON, and writes the returned image atomically, so the cluster needs no shared
folder for photos and results (weights, guide and mask files must be at the same paths on every
node). An actor that dies mid-task (its process killed, its node gone) costs that task a retry on a
fresh actor, never the batch: every task ends done or failed exactly once.

Ray is an optional extra (``pip install 'reverie[ray]'``), imported only when asked for.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reverie.errors import ReverieError, SettingsError, one_line
from reverie.io.images import Picture, image_bytes
from reverie.io.paths import write_bytes_atomically
from reverie.render import Progress, ProgressCallback
from reverie.settings import LOCAL_RAY
from reverie.tasks import DreamTask, task_from_json
from reverie.tensors import from_tensor

#: CPUs each Ray actor asks for on CPU-only clusters: torch runs one actor's convolutions on them.
CPUS_PER_ACTOR = 4


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``error`` is empty when it was dreamed; ``cancelled`` when its progress
    callback stopped it."""

    error: str = ""
    seconds: float = 0.0
    cancelled: bool = False
    #: The user's mistake that ended it, whole, for a front end to word (the web names uploads).
    failure: ReverieError | None = None


class Cancelled(Exception):
    """Raised by a progress callback to stop the dream it watches."""


#: Called by an engine as each task ends, in the order they end.
OutcomeCallback = Callable[[DreamTask, Outcome], None]


class Engine:
    """Runs dream tasks somewhere and reports each one's ending exactly once."""

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Give back what the engine holds (workers, a cluster it started)."""


class Dreamers:
    """One loaded :class:`reverie.Dreamer` per model, weights and device, made on first use."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Any] = {}

    def for_task(self, task: DreamTask) -> Any:
        from reverie.dreamer import Dreamer

        key = (task.settings.model, task.weights, task.device)
        if key not in self._loaded:
            self._loaded[key] = Dreamer.for_task(task)
        return self._loaded[key]


def run_here(task: DreamTask, dreamers: Dreamers, progress: ProgressCallback | None = None) -> Outcome:
    """Check and run one task in this process; a user's mistake or a torch failure is its outcome.

    The seconds are the dream's own: loading a model the first time is not counted.
    """
    started = time.perf_counter()
    try:
        checked = task.ready()  # a task checked by the caller is not checked again
        dreamer = dreamers.for_task(checked)
        started = time.perf_counter()
        checked.run(dreamer, progress)
    except Cancelled:
        return Outcome("cancelled", time.perf_counter() - started, cancelled=True)
    except ReverieError as error:
        return Outcome(one_line(error), time.perf_counter() - started, failure=error)
    except (RuntimeError, MemoryError, OSError) as error:
        return Outcome(one_line(error), time.perf_counter() - started)
    return Outcome("", time.perf_counter() - started)


class LocalEngine(Engine):
    """Tasks one after another in this process, each model loaded once (the default: no Ray needed)."""

    def __init__(self) -> None:
        self.dreamers = Dreamers()

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        for task in tasks:
            report(task, run_here(task, self.dreamers))


# ------------------------------------------------------------------------------------------- Ray


def import_ray() -> Any:
    """Ray, or a one-line error that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise SettingsError("--ray needs Ray: pip install 'reverie[ray]'") from None
    return ray


@dataclass
class JobState:
    """What a running job on an actor has reported: progress, and the latest preview (a JPEG)."""

    fraction: float = 0.0
    stage: str = ""
    version: int = 0
    preview: bytes = b""
    cancelled: bool = False


class ClusterWorker:
    """The body of a Ray actor: a process that loads models once and dreams many tasks.

    Photos arrive as bytes and results leave as bytes, through a private temporary folder, so the
    task runs exactly as it would here (checked, dreamed, saved with its recipe). A task run with a
    job id can be watched (:meth:`progress`) and stopped (:meth:`cancel`) from another thread of
    the actor while it runs: the web app's jobs.
    """

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.dreamers = Dreamers()
        self.jobs: dict[str, JobState] = {}
        #: Jobs cancelled before they started here (while the model was loading, say).
        self.cancelled: set[str] = set()

    def pid(self) -> int:
        return os.getpid()

    def run(self, task_json: str, photo: bytes, job_id: str = "") -> tuple[str, float, bytes, bytes]:
        """(error or "", seconds, the written output's bytes, the last preview) of one task; the
        error is "cancelled" when it was stopped."""
        task = task_from_json(task_json)
        assert isinstance(task, DreamTask)
        watcher = self.watch(job_id) if job_id else None
        try:
            with tempfile.TemporaryDirectory(prefix="reverie-") as folder:
                source = Path(folder) / f"photo{Path(task.source).suffix}"
                output = Path(folder) / f"dream{Path(str(task.output)).suffix}"
                source.write_bytes(photo)
                outcome = run_here(replace(task, source=source, output=output), self.dreamers, watcher)
                result = b"" if outcome.error else output.read_bytes()
        finally:
            state = self.jobs.pop(job_id, JobState())
            self.cancelled.discard(job_id)
        return outcome.error, outcome.seconds, result, state.preview

    def watch(self, job_id: str) -> ProgressCallback:
        """A progress callback that records a job's state and stops it once it is cancelled."""
        state = self.jobs[job_id] = JobState(cancelled=job_id in self.cancelled)

        def report(event: Progress) -> None:
            if state.cancelled:
                raise Cancelled
            state.fraction, state.stage = event.fraction, progress_stage(event)
            if event.image is not None:
                state.preview = preview_jpeg(event.image)
                state.version += 1

        return report

    def progress(self, job_id: str, seen: int) -> tuple[float, str, int, bytes]:
        """(fraction, stage, preview version, the preview if newer than ``seen``) of a running job."""
        state = self.jobs.get(job_id, JobState())
        return state.fraction, state.stage, state.version, state.preview if state.version > seen else b""

    def cancel(self, job_id: str) -> None:
        """Stop a job at its next step, or before its first one if it has not started yet."""
        self.cancelled.add(job_id)
        if job_id in self.jobs:
            self.jobs[job_id].cancelled = True


def progress_stage(event: Progress) -> str:
    """A progress event in words: ``octave 2/4, step 3/10``."""
    return f"octave {event.octave}/{event.octaves}, step {event.step}/{event.steps}"


def preview_jpeg(image: Any) -> bytes:
    """A preview tensor (1, 3, H, W) as JPEG bytes."""
    return image_bytes(Picture(from_tensor(image)), "JPEG")


@dataclass(frozen=True)
class PoolPlan:
    """How many actors, and what each asks Ray for."""

    actors: int
    cpus: float
    gpus: float


def plan_pool(nodes: Sequence[dict[str, float]], workers: int | None, use_gpus: bool = True) -> PoolPlan:
    """Actors the alive nodes can hold: one per GPU where there are GPUs (unless ``use_gpus`` is
    off), else one per :data:`CPUS_PER_ACTOR` CPUs of each node; ``workers`` asks for a number, which
    is capped at what fits. Nodes without CPUs (a Ray head kept for scheduling) take no actor."""
    gpu_nodes = [node.get("GPU", 0.0) for node in nodes if node.get("GPU", 0.0) > 0] if use_gpus else []
    if gpu_nodes:
        share = 1.0 if not workers else min(1.0, sum(gpu_nodes) / workers)
        fits = sum(int(gpus / share + 1e-9) for gpus in gpu_nodes)
        return PoolPlan(min(workers or fits, fits), 1.0, share)
    cpu_nodes = [node.get("CPU", 0.0) for node in nodes if node.get("CPU", 0.0) >= 1]
    if not cpu_nodes:
        return PoolPlan(0, 1.0, 0.0)
    share = min(CPUS_PER_ACTOR, min(cpu_nodes))
    if workers:
        share = min(share, sum(cpu_nodes) / workers)
    fits = sum(int(cpus / share + 1e-9) for cpus in cpu_nodes)
    return PoolPlan(min(workers or fits, fits), share, 0.0)


#: Seconds an actor may take to start and load before it is given up on (Ray may have no room).
ACTOR_START_TIMEOUT = 120.0
#: Seconds a running job's actor may take to answer a progress question before it counts as lost.
PROGRESS_TIMEOUT = 30.0


class RayEngine(Engine):
    """Tasks spread over Ray actors: ``address`` joins a cluster (``None``: start one here, or join
    RAY_ADDRESS's). ``retries``: how often one task may lose its worker before it is reported failed.
    ``device``: the tasks' device; "cpu" asks Ray for no GPUs.
    """

    #: The actors' class (a benchmark or test may give a subclass).
    worker_class: type[ClusterWorker] = ClusterWorker

    def __init__(
        self, address: str | None = None, workers: int | None = None, retries: int = 2, device: str = "auto"
    ) -> None:
        self.ray = import_ray()
        self.started_here = not self.ray.is_initialized()
        if self.started_here:
            connect(self.ray, address)
        self.retries = retries
        self.workers = workers
        self.use_gpus = device != "cpu"
        self.plan = plan_pool(alive_node_resources(self.ray), workers, self.use_gpus)
        self.actors: list[Any] = []
        self._actor_class: Any = None
        self._lock = threading.Lock()  # web worker threads replace actors at the same time
        #: Tasks that lost a worker and ran again, for reports and tests.
        self.retried = 0

    def new_actor(self) -> Any:
        if self._actor_class is None:
            self._actor_class = self.ray.remote(self.worker_class).options(
                num_cpus=self.plan.cpus,
                num_gpus=self.plan.gpus,
                max_restarts=0,
                max_task_retries=0,
                max_concurrency=2,  # a job's progress is asked for while it runs
            )
        return self._actor_class.remote(max(1, int(self.plan.cpus)))

    def started(self, actors: list[Any]) -> list[Any]:
        """The actors that came up within :data:`ACTOR_START_TIMEOUT`; the others are killed (Ray
        had no room for them: a node left, or the plan outgrew the cluster)."""
        pings = {actor.pid.remote(): actor for actor in actors}
        ready, _ = self.ray.wait(list(pings), num_returns=len(pings), timeout=ACTOR_START_TIMEOUT)
        alive = []
        for ping, actor in pings.items():
            try:
                if ping in ready:
                    self.ray.get(ping)
                    alive.append(actor)
                    continue
            except self.ray.exceptions.RayError:
                pass
            self.ray.kill(actor, no_restart=True)
        return alive

    def worker_pids(self) -> list[int]:
        """The process ids of the actors (for tests that kill one)."""
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def start(self) -> None:
        """Start the planned actors; a :class:`SettingsError` when none can start."""
        wanted = [self.new_actor() for _ in range(self.plan.actors - len(self.actors))]
        self.actors += self.started(wanted)
        if not self.actors:
            raise SettingsError("no Ray actor could start: the cluster has no CPU (or GPU) free for one")

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        ray = self.ray
        self.start()
        waiting: deque[tuple[DreamTask, int]] = deque((task, 1) for task in tasks)
        idle = list(self.actors)
        running: dict[Any, tuple[Any, DreamTask, int]] = {}
        while waiting or running:
            while waiting and idle:
                task, attempt = waiting.popleft()
                shipped = self.ship(task)
                if isinstance(shipped, Outcome):
                    report(task, shipped)
                    continue
                actor = idle.pop()
                running[actor.run.remote(*shipped)] = (actor, task, attempt)
            if not running:
                continue
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, task, attempt = running.pop(ref)
            try:
                error, seconds, data, _ = ray.get(ref)
            except ray.exceptions.RayTaskError as failure:  # a bug in the worker, not a lost worker
                idle.append(actor)
                report(task, Outcome(internal_error(failure)))
                continue
            except ray.exceptions.RayError as lost:
                fresh = self.replace_actor(actor)
                if fresh is not None:
                    idle.append(fresh)
                if attempt > self.retries:
                    report(task, Outcome(f"worker lost {attempt} times ({one_line(lost)})"))
                else:
                    self.retried += 1
                    waiting.appendleft((task, attempt + 1))
                if not self.actors:  # the whole cluster is gone: what is left fails, once each
                    while waiting:
                        report(waiting.popleft()[0], Outcome("no Ray workers are left on the cluster"))
                continue
            idle.append(actor)
            if not error:
                error = write_result(Path(str(task.output)), data)
            report(task, Outcome(error, seconds))

    def ship(self, task: DreamTask) -> tuple[str, bytes] | Outcome:
        """The task as JSON with its photo's bytes, checked here first (a bad photo fails at once)."""
        try:
            checked = task.check()
            return checked.to_json(), Path(str(checked.source)).read_bytes()
        except (ReverieError, OSError) as error:
            return Outcome(one_line(error))

    def replace_actor(self, dead: Any, shrink: bool = True) -> Any | None:
        """A fresh actor in place of one that died, or None: with ``shrink``, the pool shrinks when
        the alive nodes no longer hold as many actors (a node left); and an actor that cannot start
        is given up on."""
        self.ray.kill(dead, no_restart=True)
        with self._lock:
            if shrink:
                nodes = alive_node_resources(self.ray)
                if len(self.actors) > plan_pool(nodes, self.workers, self.use_gpus).actors:
                    self.actors = [actor for actor in self.actors if actor is not dead]
                    return None
            self.actors = [actor for actor in self.actors if actor is not dead]
        return self.spawn()

    def spawn(self) -> Any | None:
        """One more started actor in the pool, or None when Ray has no room for it."""
        fresh = next(iter(self.started([self.new_actor()])), None)
        if fresh is not None:
            with self._lock:
                self.actors.append(fresh)
        return fresh

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_here:
            self.ray.shutdown()


def ray_engine(option: str | None, workers: int | None, retries: int, device: str) -> RayEngine:
    """The engine for a ``--ray`` option's value: ``"local"`` (``--ray`` alone) or an address."""
    return RayEngine(None if option == LOCAL_RAY else option, workers, retries, device)


def internal_error(failure: BaseException) -> str:
    """What went wrong inside a worker, in one line: the exception it raised, not Ray's wrapping."""
    cause = getattr(failure, "cause", None) or failure
    return f"internal error: {type(cause).__name__}: {one_line(cause)}"


def write_result(path: Path, data: bytes) -> str:
    """Write a returned image atomically; the error text, or "" when it was written."""
    try:
        write_bytes_atomically(path, data)
    except OSError as error:
        return f"could not write {path}: {one_line(error)}"
    return ""


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` (or RAY_ADDRESS's), else start a Ray instance of our own
    (never an unnamed ``ray start`` cluster that happens to run on this machine); quietly."""
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
        where = "a local Ray instance" if address == "local" else f"the Ray cluster at {address}"
        raise SettingsError(f"cannot reach {where}: {one_line(error)}") from None


def alive_node_resources(ray: Any) -> list[dict[str, float]]:
    """The resources of every alive node of the cluster."""
    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]
