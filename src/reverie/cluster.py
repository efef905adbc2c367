"""Where tasks run: in this process (:class:`LocalEngine`) or on a Ray cluster (:class:`RayEngine`).

Both load a model once per worker and run many tasks on it, and both report each task's ending as
an :class:`Outcome`. Only a :class:`reverie.errors.ReverieError` (a corrupt photo, a missing weight
file) or running out of memory is a user's failure, which fails that task alone; anything else is a
bug, reported as ``internal error: ...`` once and never retried.

On Ray, every actor is a process holding its own :class:`reverie.Dreamer`, and Ray does what Ray
knows: it restarts an actor whose process dies (``max_restarts``), queues calls to an actor while it
restarts (``max_task_retries=-1``), streams each photo's progress back (a generator method) and
cancels (``ray.cancel``). This module adds what Ray cannot know: the driver checks each task, ships
the bytes of the photo and of its guide and mask images with the task's JSON, and writes the
returned image atomically (so the cluster needs no shared folder for any of them; weight files must
be at the same paths on every node); a photo whose worker is lost runs again on the next idle actor, up to
``retries`` times (``--retries``; a bug, raised in the worker, is never run again); and every wait
has a deadline: a photo that reports no progress for ``stall_timeout`` seconds (a hung driver, a
stopped process) has its actor killed, which Ray restarts. When the alive nodes no longer hold the
pool (a node left), such an actor leaves the pool instead. Workers hold photos in memory only, so a
worker killed mid-photo leaves no copy of a user's photo on its node.

Ray is an optional extra (``pip install 'reverie[ray]'``), imported only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from reverie.devices import resolve_device
from reverie.errors import (
    File,
    ImageError,
    OutputPathError,
    ResourceError,
    ReverieError,
    internal_error,
    one_line,
    out_of_memory,
    reason,
)
from reverie.io.images import Picture, image_bytes, output_format
from reverie.io.paths import file_in_memory, write_bytes_atomically
from reverie.recipe import FILE_SETTINGS, recipe
from reverie.render import TILE_MEMORY_BUDGET, Progress, ProgressCallback
from reverie.settings import LOCAL_RAY, ClusterOptions, DreamSettings
from reverie.tasks import DreamTask, NoiseCanvas, Task, task_from_json
from reverie.tensors import from_tensor

log = logging.getLogger("reverie.cluster")
TaskT = TypeVar("TaskT", bound=Task)

#: CPUs each Ray actor asks for on CPU-only clusters: torch runs one actor's convolutions on them.
CPUS_PER_ACTOR = 4
#: Seconds a photo may go without progress before its actor is killed and the photo runs again.
STALL_TIMEOUT: float = ClusterOptions.stall_timeout
#: Seconds an actor may take to start (or, after a loss, to restart) before it leaves the pool.
ACTOR_START_TIMEOUT = 120.0
#: Seconds between looks at a stop request and a stall while waiting for a photo's next event.
WAIT_STEP = 0.25


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``error`` (one line) is empty when it was dreamed; ``cancelled`` when its
    progress callback stopped it; ``failure`` is the user's mistake it failed on, whole, so that a
    front end can word it its own way (None when it was dreamed, cancelled or hit a bug)."""

    error: str = ""
    seconds: float = 0.0
    cancelled: bool = False
    failure: ReverieError | None = None
    #: The type of the exception a bug raised (``error`` then says ``internal error: ...``): a web page
    #: names only that, its log the rest.
    bug: str = ""

    @classmethod
    def of_bug(cls, error: BaseException) -> Outcome:
        """A task a bug ended: ``internal error: ...`` in one line, not the user's failure."""
        cause = getattr(error, "cause", None) or error  # a Ray worker's exception, unwrapped
        return cls(internal_error(cause), bug=type(cause).__name__)

    @classmethod
    def failed(cls, failure: ReverieError, seconds: float = 0.0) -> Outcome:
        return cls(one_line(failure), seconds, failure=failure)


class Cancelled(Exception):
    """Raised by a progress callback to stop the dream it watches."""


class WorkerBug(RuntimeError):
    """A bug a worker raised while dreaming a video or a zoom, as its :class:`Outcome` tells it."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error.removeprefix("internal error: "))
        self.outcome = outcome


#: Called by an engine as each task ends, in the order they end.
OutcomeCallback = Callable[[DreamTask, Outcome], None]


class Engine:
    """Runs dream tasks somewhere and reports each one's ending exactly once."""

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Give back what the engine holds (workers, a cluster it started)."""


class Dreamers:
    """One loaded :class:`reverie.Dreamer` per model, weights and device, made on first use.

    Threads share it (a web job and a look's thumbnail dream on one model at once); the lock makes
    sure two of them asking for a model at once load it once.
    """

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def for_task(self, task: Task) -> Any:
        key = (task.settings.model, task.weights, task.device)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = task.new_dreamer()
            return self._loaded[key]


def dreamed_here(
    task: Task, dreamers: Dreamers, progress: ProgressCallback | None = None
) -> tuple[Outcome, Any]:
    """The outcome of checking and running ``task`` in this process, and what its run returned
    (None unless it ran to the end). A user's failure is an outcome; a bug is raised.

    The seconds are the dream's own: loading a model the first time is not counted.
    """
    started = time.perf_counter()
    try:
        checked = task.ready()  # a task checked by the caller is not checked again
        dreamer = dreamers.for_task(checked)
        started = time.perf_counter()
        result = checked.run(dreamer, progress)
    except Cancelled:
        return Outcome("cancelled", time.perf_counter() - started, cancelled=True), None
    except ReverieError as error:
        return Outcome.failed(error, time.perf_counter() - started), None
    except (MemoryError, torch.cuda.OutOfMemoryError):  # torch.OutOfMemoryError's older name
        return Outcome.failed(out_of_memory(), time.perf_counter() - started), None
    return Outcome("", time.perf_counter() - started), result


def run_here(task: Task, dreamers: Dreamers, progress: ProgressCallback | None = None) -> Outcome:
    """Check and run one task in this process: how it ended (see :func:`dreamed_here`)."""
    return dreamed_here(task, dreamers, progress)[0]


#: Threads each dream of a batch gets when this machine's cores are shared between several dreams:
#: on 2 cores two one-thread dreams beat one two-thread dream (bench/LOCAL.md).
THREADS_PER_LOCAL_WORKER = 1
#: Memory one dream of a local batch may take: the render loop's activation budget and the picture.
LOCAL_WORKER_MEMORY = TILE_MEMORY_BUDGET + 512 * 1024**2


#: Held while a local batch has changed torch's (process-wide) thread count.
THREADS_SHARED = threading.Lock()


def local_workers(device: str) -> int:
    """How many dreams a batch runs side by side in this process (``--workers`` unset): one on a
    GPU (it is busy with one); on CPUs one per :data:`THREADS_PER_LOCAL_WORKER` of torch's threads
    (the cores it may use: ``OMP_NUM_THREADS`` lowers it), no more than the memory available holds
    (:data:`LOCAL_WORKER_MEMORY` each)."""
    if resolve_device(device).type != "cpu":
        return 1
    cores = torch.get_num_threads()
    room = available_memory()
    by_memory = room // LOCAL_WORKER_MEMORY if room is not None else cores
    return max(1, min(cores // THREADS_PER_LOCAL_WORKER, by_memory))


def available_memory(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """Bytes of memory available to new work: Linux's MemAvailable, no more than what this process's
    cgroup (a container's limit) has left; None where unknown."""
    found: list[int] = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, min(found)) if found else None


class LocalEngine(Engine):
    """Tasks in this process, each model loaded once (the default: no Ray needed).

    ``workers`` dreams run side by side on threads of their own, sharing the loaded models, with
    torch's threads split between them (``threads`` each, by default the cores over the workers):
    PyTorch releases the GIL in its kernels, so two one-thread dreams keep two cores busy with less
    waiting than one two-thread dream (bench/LOCAL.md). ``workers=1`` runs them one after another
    on every thread torch has. Reports come one at a time, in the order the tasks end; Ctrl-C (or a
    report that raises) stops the dreams still running at their next step, unreported.
    """

    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        self.dreamers = Dreamers()
        self.workers = max(1, workers)
        self.threads = threads

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        if self.workers == 1 and self.threads is None:
            for task in tasks:
                report(task, self.outcome(task))
            return

        def dreamed(task: DreamTask, stop: Callable[[], bool]) -> Outcome:
            return self.outcome(task, stopping_at(stop))

        with THREADS_SHARED:  # torch's thread count is the process's: one local batch at a time sets it
            saved = torch.get_num_threads()
            torch.set_num_threads(self.threads or max(1, saved // self.workers))
            try:
                side_by_side(tasks, dreamed, report, self.workers, "reverie-local")
            finally:
                torch.set_num_threads(saved)

    def outcome(self, task: DreamTask, progress: ProgressCallback | None = None) -> Outcome:
        """``task`` run here: how it ended; a bug fails this task alone, once, and is logged."""
        try:
            return run_here(task, self.dreamers, progress)
        except Exception as error:
            log.exception("internal error dreaming %s", task.source)
            return Outcome.of_bug(error)


# ------------------------------------------------------------------------------------------- Ray


def import_ray() -> Any:
    """Ray, or a one-line error that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ResourceError("--ray needs Ray: pip install 'reverie[ray]'") from None
    return ray


@dataclass(frozen=True)
class Update:
    """A dream's progress: the share of its work done (0..1), the stage in words, a preview (a JPEG)
    when the render loop offers one (:func:`reverie.render.offers_preview`), and the worker process
    that sent it."""

    fraction: float
    stage: str
    preview: bytes = b""
    worker: str = ""


@dataclass(frozen=True)
class Ending:
    """How a photo ended on a worker: its outcome and, when dreamed, the output file's bytes."""

    outcome: Outcome
    image: bytes
    worker: str


@dataclass(frozen=True)
class FrameDreamed:
    """A video frame dreamed on a worker: its number in the video and its pixels (uint8 RGB)."""

    index: int
    rgb: Any
    worker: str


@dataclass(frozen=True)
class SegmentPiece:
    """What a worker dreams of a video segment: the segment's first frame's number, where in its
    frames to go on from (0: its start), and, going on, the coherence state the finished frames
    left: (source, dream) of the segment's first frame and of the last finished one, uint8 RGB."""

    first_index: int
    offset: int = 0
    resume: tuple[Any, Any, Any, Any] | None = None


@dataclass(frozen=True)
class Lost:
    """Why a photo lost its worker (it runs again elsewhere, up to the retries allowed)."""

    why: str


def update_of(event: Progress, worker: str = "") -> Update:
    """A progress event as an :class:`Update` to relay."""
    preview = image_bytes(Picture(from_tensor(event.image)), "JPEG") if event.image is not None else b""
    stage = f"octave {event.octave}/{event.octaves}, step {event.step}/{event.steps}"
    return Update(event.fraction, stage, preview, worker)


class ClusterWorker:
    """The body of a Ray actor: a process that loads models once and dreams many photos.

    It keeps nothing that a restart would miss: Ray restarts it when its process dies, and the
    driver sends the photo it held again. A photo arrives as bytes and its dream leaves as bytes,
    both held in memory (:func:`reverie.io.paths.file_in_memory`), so a worker killed mid-photo
    leaves no copy of anyone's photo on its node.
    """

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(max(1, threads))
        self.dreamers = Dreamers()
        #: Names this process in the driver's logs and messages (where to look for its own logs).
        self.name = f"pid {os.getpid()} on {socket.gethostname()}"

    def dream(
        self, task_json: str, photo: bytes, files: dict[str, bytes] | None = None
    ) -> Iterator[Update | Ending]:
        """One photo dreamed: an :class:`Update` as it starts and one per step, then its
        :class:`Ending`, each streamed to the driver as it comes (call with ``num_returns="streaming"``).
        ``files``: the bytes of the task's guide and mask images, by setting."""
        task = task_from_json(task_json)
        assert isinstance(task, DreamTask)

        def work(send: Callable[[Any], None], stop: threading.Event) -> Ending:
            stop_at_next_step = stopping_at(stop.is_set)

            def progress(event: Progress) -> None:
                stop_at_next_step(event)
                send(update_of(event, self.name))

            return self.finish(task, photo, files or {}, progress)

        yield from self.relayed(work)

    def dream_segment(
        self, task_json: str, files: dict[str, bytes], frames: list[Any], piece: SegmentPiece
    ) -> Iterator[Update | FrameDreamed | Ending]:
        """A video segment's frames dreamed in order from ``piece.offset`` on (the earlier ones were
        finished before, and ``piece.resume`` holds the coherence state they left): a
        :class:`FrameDreamed` streamed as each is done, then an :class:`Ending` without an image.
        ``frames``: the segment's source frames (uint8 RGB), warm-up first."""
        from reverie.cluster_video import dream_segment_here

        task = task_from_json(task_json)

        def work(send: Callable[[Any], None], stop: threading.Event) -> Ending:
            return dream_segment_here(task, files, frames, piece, self.dreamers, send, stop, self.name)

        yield from self.relayed(work)

    def dream_zoom(
        self, task_json: str, photo: bytes, files: dict[str, bytes]
    ) -> Iterator[Update | FrameDreamed | Ending]:
        """A zoom's frames dreamed in order from the photo's bytes, each streamed as a
        :class:`FrameDreamed` as it is done, then an :class:`Ending` without an image: the driver
        writes the animation."""
        from reverie.cluster_video import dream_zoom_here

        task = task_from_json(task_json)

        def work(send: Callable[[Any], None], stop: threading.Event) -> Ending:
            return dream_zoom_here(task, photo, files, self.dreamers, send, stop, self.name)

        yield from self.relayed(work)

    def relayed(self, work: Callable[[Callable[[Any], None], threading.Event], Ending]) -> Iterator[Any]:
        """Run ``work(send, stop)`` on a thread of its own and stream what it sends, then its
        :class:`Ending`; a bug it raises is raised here (Ray reports it as the task's error).

        Meanwhile this generator watches for ``ray.cancel`` and sets ``stop``, which ``work`` heeds
        at its next step."""
        import ray

        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = threading.Event()

        def run() -> None:
            try:
                events.put(work(events.put, stop))
            except BaseException as bug:  # raised again below
                events.put(bug)

        threading.Thread(target=run, name="reverie-dream", daemon=True).start()
        try:
            yield Update(0.0, "starting", worker=self.name)  # alive, before a first model load
            while True:
                if ray.get_runtime_context().is_canceled():
                    stop.set()
                try:
                    event = events.get(timeout=WAIT_STEP)
                except queue.Empty:
                    continue
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, Ending):
                    return
        finally:
            stop.set()  # the driver went away or Ray closed the stream: the work stops too

    def finish(
        self, task: DreamTask, photo: bytes, files: dict[str, bytes], progress: ProgressCallback
    ) -> Ending:
        """The photo dreamed from memory (its guide and mask too: the driver's paths need not exist
        here), and its dream as the bytes of the task's output file."""
        canvas = isinstance(task.source, NoiseCanvas)  # made here from its seed: no bytes came
        names = {name: Path(getattr(task.settings, name)).name for name in files} | task.file_names
        with in_memory(task, files, None if canvas else photo) as (here, public):
            outcome, result = dreamed_here(replace(here, file_names=names), self.dreamers, progress)
        if outcome.failure is not None:  # it names the private copies: name the user's files instead
            outcome = Outcome.failed(renamed(outcome.failure, public), outcome.seconds)
        image = b""
        if result is not None:  # the bytes save_image would write, recipe and all
            image_format = output_format(Path(str(task.output)))
            image = image_bytes(result.picture, image_format, recipe(result.settings, names))
        return Ending(outcome, image, self.name)


def renamed(error: ReverieError, public: dict[Path, Path]) -> ReverieError:
    """``error`` naming each file by its ``public`` path where it names a worker's private copy."""
    parts = [
        File(public.get(part.path, part.path)) if isinstance(part, File) else part for part in error.parts
    ]
    return type(error)(*parts, field=error.field, value=error.value, limits=error.limits)


@contextlib.contextmanager
def in_memory(
    task: TaskT, files: dict[str, bytes], photo: bytes | None = None
) -> Iterator[tuple[TaskT, dict[Path, Path]]]:
    """``task`` as a worker runs it: reading its guide and mask (and, when ``photo`` is given, its
    source) from copies in memory (:func:`reverie.io.paths.file_in_memory`), with no output (the
    driver writes it); and the path the user knows each copy by, for messages (:func:`renamed`)."""
    with contextlib.ExitStack() as held:
        copies = {name: held.enter_context(file_in_memory(data)) for name, data in files.items()}
        public = {copies[name]: Path(getattr(task.settings, name)) for name in copies}
        settings = task.settings.with_changes(**{name: str(path) for name, path in copies.items()})
        changes: dict[str, Any] = {"settings": settings, "output": None}
        if photo is not None:
            changes["source"] = held.enter_context(file_in_memory(photo))
            public[changes["source"]] = Path(str(task.source))
        yield replace(task, **changes), public


def file_bytes(settings: DreamSettings) -> dict[str, bytes]:
    """The bytes of the guide and mask images ``settings`` name, by setting: what a worker gets
    instead of paths (the cluster needs no shared folder)."""
    return {name: Path(path).read_bytes() for name in FILE_SETTINGS if (path := getattr(settings, name))}


def stopping_at(stop: Callable[[], bool]) -> ProgressCallback:
    """A progress callback that stops the dream it watches (raises :class:`Cancelled`) at the step
    after ``stop`` says so."""

    def stop_at_next_step(_event: Progress) -> None:
        if stop():
            raise Cancelled

    return stop_at_next_step


@dataclass(frozen=True)
class PoolPlan:
    """How many actors, and what each asks Ray for: ``actors`` of ``cpus`` CPUs and ``gpus`` GPUs
    each and, on a mixed cluster, ``cpu_actors`` more of ``cpu_share`` CPUs on the nodes without
    GPUs."""

    actors: int
    cpus: float
    gpus: float
    cpu_actors: int = 0
    cpu_share: float = 0.0

    @property
    def total(self) -> int:
        return self.actors + self.cpu_actors


def plan_pool(nodes: Sequence[dict[str, float]], workers: int | None, device: str = "auto") -> PoolPlan:
    """Actors the alive nodes can hold: one per GPU where there are GPUs (unless ``device`` is
    "cpu"), and one per :data:`CPUS_PER_ACTOR` CPUs of each node without a GPU (with ``device``
    "auto"; "cuda" wants GPUs only, and gets no actor on a cluster without one). ``workers`` asks for
    a number, which is capped at what fits: a whole GPU each first, then CPU actors on the nodes
    without GPUs, or (where there are none) shares of the GPUs. Nodes without CPUs (a Ray head kept
    for scheduling) take no actor."""
    with_gpus = [node for node in nodes if node.get("GPU", 0.0) > 0] if device != "cpu" else []
    cpu_only = [node for node in nodes if node.get("GPU", 0.0) <= 0] if with_gpus else list(nodes)
    if device.startswith("cuda"):
        cpu_only = []
    if not with_gpus:
        return cpu_plan(cpu_only, workers)
    gpus = [node["GPU"] for node in with_gpus]
    whole = sum(int(count + 1e-9) for count in gpus)
    sharing = workers and not (cpu_plan(cpu_only, None).actors and workers > whole)  # else CPUs take the rest
    share = 1.0
    if sharing and workers:  # the largest share of a GPU that gives every worker one on some node
        split = next(
            (k for k in range(1, workers + 1) if sum(int(g * k + 1e-9) for g in gpus) >= workers), workers
        )
        share = 1.0 / split
    fits = sum(int(count / share + 1e-9) for count in gpus)
    actors = min(workers or fits, fits)
    rest = cpu_plan(cpu_only, (workers - actors) if workers else None)
    if workers and workers <= actors:
        rest = PoolPlan(0, 1.0, 0.0)
    return PoolPlan(actors, 1.0, share, rest.actors, rest.cpus if rest.actors else 0.0)


def cpu_plan(nodes: Sequence[dict[str, float]], workers: int | None) -> PoolPlan:
    """CPU actors on ``nodes``: one per :data:`CPUS_PER_ACTOR` CPUs (fewer CPUs each where the
    smallest node has fewer, or ``workers`` asks for more actors)."""
    cpu_nodes = [node.get("CPU", 0.0) for node in nodes if node.get("CPU", 0.0) >= 1]
    if not cpu_nodes:
        return PoolPlan(0, 1.0, 0.0)
    share = min(CPUS_PER_ACTOR, min(cpu_nodes))
    if workers:
        share = min(share, sum(cpu_nodes) / workers)
    fits = sum(int(cpus / share + 1e-9) for cpus in cpu_nodes)
    return PoolPlan(min(workers or fits, fits), share, 0.0)


def on_threads(
    count: int, work: Callable[[], None], stopping: threading.Event, name: str = "reverie-ray"
) -> None:
    """``work`` run on ``count`` threads (one per actor or worker it keeps busy) until each returns;
    an exception in one (Ctrl-C included) sets ``stopping``, which the others heed, and is raised
    here."""
    with ThreadPoolExecutor(max(1, count), thread_name_prefix=name) as threads:
        runs = [threads.submit(work) for _ in range(max(1, count))]
        try:
            wait(runs, return_when=FIRST_EXCEPTION)  # the first failure stops the others at once
            for each in runs:
                each.result()
        finally:
            stopping.set()


def side_by_side(
    tasks: Sequence[DreamTask],
    dreamed: Callable[[DreamTask, Callable[[], bool]], Outcome],
    report: OutcomeCallback,
    count: int,
    name: str = "reverie-ray",
) -> None:
    """``tasks`` taken in order by ``count`` threads, each ``dreamed(task, stop)`` and reported one at
    a time; Ctrl-C or a report that raises stops the others (``stop`` says so), and the tasks it
    cancels are not reported."""
    todo, stopping, reporting = deque(tasks), threading.Event(), threading.Lock()

    def work() -> None:
        while not stopping.is_set():
            try:
                task = todo.popleft()
            except IndexError:
                return
            outcome = dreamed(task, stopping.is_set)
            if outcome.cancelled and stopping.is_set():
                return
            with reporting:
                report(task, outcome)

    on_threads(min(count, len(tasks)), work, stopping, name)


def never() -> bool:
    """A stop request that never comes."""
    return False


class RayEngine(Engine):
    """Tasks spread over a pool of Ray actors: ``address`` joins a cluster (``None``: start one here,
    or join RAY_ADDRESS's). ``retries``: how often one task may lose its worker before it is reported
    failed. ``device``: the tasks' device; "cpu" asks Ray for no GPUs. ``stall_timeout``: seconds a
    photo may go without progress before its worker is killed (default :data:`STALL_TIMEOUT`).

    Ray's ``ActorPool`` is not used: it hands an actor back at its first result, and a photo's
    result here is a stream of progress that ends in the image.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        retries: int = 2,
        device: str = "auto",
        stall_timeout: float | None = None,
    ) -> None:
        self.ray = import_ray()
        self.started_here = not self.ray.is_initialized()
        if self.started_here:
            connect(self.ray, address)
        self.retries = retries
        self.stall_timeout = STALL_TIMEOUT if stall_timeout is None else stall_timeout
        self.workers = workers
        self.device = device
        self.plan = plan_pool(alive_node_resources(self.ray), workers, device)
        #: The pool: every actor that Ray keeps alive (and restarts) for us.
        self.actors: list[Any] = []
        #: The actors dreaming nothing, for the next photo.
        self.idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: The actors with a GPU, on a cluster that has GPUs: videos and zooms keep to them.
        self.gpu_actors: set[Any] = set()
        #: Actors that Ray is restarting (killed, or their process died), until they answer again.
        self.restarting: set[Any] = set()
        self._lock = threading.Lock()  # the web's worker threads and a batch's share the pool
        self._turn = 0
        #: Photos that lost their worker and ran again, for reports and tests.
        self.retried = 0

    def start(self) -> None:
        """Start the planned actors; a :class:`ResourceError` when none can start."""
        missing = self.plan.total - len(self.actors)
        if missing > 0:
            planned = [(self.plan.actors, self.plan.cpus, self.plan.gpus)]
            planned.append((self.plan.cpu_actors, self.plan.cpu_share, 0.0))
            for count, cpus, gpus in planned:
                have = sum(1 for actor in self.actors if (actor in self.gpu_actors) == (gpus > 0))
                for actor in self.started([self.new_actor(cpus, gpus) for _ in range(count - have)]):
                    with self._lock:
                        self.actors.append(actor)
                        if gpus > 0:
                            self.gpu_actors.add(actor)
                    self.idle.put(actor)
        if not self.actors:
            if self.device.startswith("cuda"):
                raise ResourceError(f"--device {self.device}: the Ray cluster has no GPU free for an actor")
            raise ResourceError("no Ray actor could start: the cluster has no CPU (or GPU) free for one")

    def new_actor(self, cpus: float, gpus: float) -> Any:
        """An actor asking Ray for ``cpus`` CPUs (torch runs that many threads) and ``gpus`` GPUs.

        Tasks reach it with the device "auto" (:meth:`ship`): it dreams on the GPU Ray gave it, or on
        its CPUs, whatever the driver's own machine has."""
        options = self.ray.remote(ClusterWorker).options(
            num_cpus=cpus,
            num_gpus=gpus,
            max_restarts=-1,  # a photo's own retries bound the work; the actor itself comes back always
            max_concurrency=3,  # a job, a look's thumbnail beside it, and Ray's own calls
        )
        return options.remote(max(1, int(cpus)))

    def started(self, actors: list[Any]) -> list[Any]:
        """The actors that came up within :data:`ACTOR_START_TIMEOUT`; the others are killed (Ray
        had no room for them: a node left, or the plan outgrew the cluster)."""
        pings = {actor.__ray_ready__.remote(): actor for actor in actors}
        ready, _ = self.ray.wait(list(pings), num_returns=len(pings), timeout=ACTOR_START_TIMEOUT)
        alive = []
        for ping, actor in pings.items():
            try:
                if ping in ready:
                    self.ray.get(ping, timeout=ACTOR_START_TIMEOUT)
                    alive.append(actor)
                    continue
            except self.ray.exceptions.RayError:
                pass
            self.ray.kill(actor, no_restart=True)
        return alive

    def run(self, tasks: Sequence[DreamTask], report: OutcomeCallback) -> None:
        """Dream ``tasks`` on the pool, one per idle actor at a time, and ``report`` each ending
        (one at a time). Ctrl-C, or a report that raises, cancels the photos still dreaming: they
        are not reported, so a rerun of a batch dreams them."""
        if not tasks:
            return
        self.start()
        side_by_side(tasks, lambda task, stop: self.dream(task, stop=stop), report, len(self.actors))

    def dream(
        self,
        task: DreamTask,
        watch: Callable[[Update], None] | None = None,
        stop: Callable[[], bool] = never,
        shared: bool = False,
    ) -> Outcome:
        """Dream one photo on the pool and write its result: checked here, shipped as bytes, its
        updates passed to ``watch`` as they come; ``stop`` (asked every :data:`WAIT_STEP` seconds)
        cancels it. An actor of its own, waiting for one to be idle; ``shared``: any actor, even one
        dreaming another photo (a small task, such as a look's thumbnail, that should not wait).

        A photo that loses its worker (its process killed, stopped, its node gone) runs again on the
        next idle actor, ``retries`` times, then fails with a message."""
        shipped = self.ship(task)
        if isinstance(shipped, Outcome):
            return shipped

        def call(actor: Any) -> Any:
            return actor.dream.options(num_returns="streaming", max_task_retries=0).remote(*shipped)

        def heard(event: Any) -> Outcome | None:
            if isinstance(event, Ending):
                return self.written(task, event)
            if watch is not None:
                watch(event)
            return None

        return self.on_pool(str(task.source), call, heard, watch, stop, shared)

    def on_pool(
        self,
        name: str,
        call: Callable[[Any], Any],
        heard: Callable[[Any], Outcome | None],
        watch: Callable[[Update], None] | None = None,
        stop: Callable[[], bool] = never,
        shared: bool = False,
        gpus_only: bool = False,
    ) -> Outcome:
        """Run a streamed call on an actor of the pool until ``heard`` makes an outcome of one of
        its events: ``call(actor)`` starts the stream (on an idle actor; ``shared``: any), ``heard``
        gets every event in order. A call whose worker is lost is made again, by calling ``call``
        once more (so it can go on from what was heard), up to ``retries`` times; ``name`` says what
        ran in the log. ``stop`` cancels it; ``watch`` hears that the worker was lost; ``gpus_only``
        keeps it to actors with a GPU where the pool has any."""
        lost = 0
        while True:
            actor = self.any_actor() if shared else self.borrow(stop, gpus_only)
            if actor is None:
                return Outcome("cancelled", cancelled=True) if stop() else Outcome("no Ray workers are left")
            try:
                ending = self.awake(actor) or self.follow(actor, call, heard, stop, name)
            finally:
                if not shared and actor in self.actors:
                    self.idle.put(actor)
            if isinstance(ending, Outcome):
                return ending
            if stop():  # cancelled while its worker was being lost: not run again
                return Outcome("cancelled", cancelled=True)
            lost += 1
            if lost > self.retries:
                return Outcome(f"the worker running this job was lost {lost} times; last: {ending.why}")
            log.warning("%s: %s; running it again", name, ending.why)
            with self._lock:
                self.retried += 1
            if watch is not None:
                watch(Update(0.0, "the worker was lost: starting again"))

    def awake(self, actor: Any) -> Lost | None:
        """None once ``actor`` answers; else why not. A call with ``max_task_retries=-1`` waits while
        Ray restarts an actor instead of failing at once; one that Ray is restarting has
        :data:`ACTOR_START_TIMEOUT` seconds to come back or it leaves the pool (its node may have
        left); any other that does not answer within ``stall_timeout`` is killed (:meth:`stalled`).
        One gone for good leaves the pool."""
        restarting = actor in self.restarting
        ping = actor.__ray_ready__.options(max_task_retries=-1).remote()
        try:
            self.ray.get(ping, timeout=ACTOR_START_TIMEOUT if restarting else self.stall_timeout)
        except self.ray.exceptions.GetTimeoutError:
            if restarting:
                self.evict(actor)
                return Lost(f"its worker did not come back within {ACTOR_START_TIMEOUT:.0f} s")
            self.stalled(actor, "a Ray worker")
            return Lost(f"its worker did not answer for {self.stall_timeout:.0f} s")
        except self.ray.exceptions.RayError as gone:
            self.evict(actor)
            return Lost(f"its worker is gone ({type(gone).__name__})")
        self.restarting.discard(actor)
        return None

    def follow(
        self,
        actor: Any,
        call: Callable[[Any], Any],
        heard: Callable[[Any], Outcome | None],
        stop: Callable[[], bool],
        name: str,
    ) -> Outcome | Lost:
        """``call`` streamed on ``actor`` until ``heard`` makes an outcome of an event, or why it
        lost its worker. The stream must move every ``stall_timeout`` seconds, or its actor is killed
        (:meth:`stalled`).

        Ray does not make the call again itself (``max_task_retries=0``): its finite retries are
        spent while the actor restarts, not on lost workers alone (ray-project/ray#44719), and a
        retried stream resumes after the last event the driver saw, so the retry's first steps, a
        restart and a model load show no progress and would look like a stall."""
        ray = self.ray
        stream = call(actor)
        last_heard, worker, cancelled = time.monotonic(), "its worker", False
        while True:
            if not cancelled and stop():
                ray.cancel(stream)
                cancelled = True
            if not ray.wait([stream], timeout=WAIT_STEP)[0]:
                if time.monotonic() - last_heard > self.stall_timeout:
                    self.stalled(actor, worker)
                    return Lost(f"{worker} sent nothing for {self.stall_timeout:.0f} s")
                continue
            try:
                event = ray.get(next(stream), timeout=self.stall_timeout)
            except StopIteration:
                return Outcome("internal error: the worker ended the job without its result")
            except ray.exceptions.TaskCancelledError:
                return Outcome("cancelled", cancelled=True)
            except ray.exceptions.RayTaskError as bug:  # raised by the worker's code: never run again
                log.error("internal error dreaming %s on the cluster:\n%s", name, bug)
                return Outcome.of_bug(bug)
            except ray.exceptions.RayError as gone:  # its process died (Ray restarts it), its node left
                self.restarting.add(actor)
                return Lost(f"{worker} ended ({type(gone).__name__})")
            last_heard, worker = time.monotonic(), event.worker
            try:
                outcome = heard(event)
            except BaseException:  # the driver failed (a full disk, Ctrl-C): the worker stops too
                ray.cancel(stream)
                raise
            if outcome is not None:
                return outcome

    def stalled(self, actor: Any, worker: str) -> None:
        """Kill an actor that went ``stall_timeout`` seconds without a word: Ray restarts it. Where
        the alive nodes no longer hold the pool (a node left), it leaves the pool for good instead."""
        log.warning("%s sent nothing for %.0f s: killing it", worker, self.stall_timeout)
        if len(self.actors) > plan_pool(alive_node_resources(self.ray), self.workers, self.device).total:
            self.evict(actor)
        else:
            self.ray.kill(actor, no_restart=False)
            self.restarting.add(actor)

    def evict(self, actor: Any) -> None:
        """Take ``actor`` out of the pool for good (killed, and not restarted)."""
        with self._lock:
            member = actor in self.actors
            self.actors = [other for other in self.actors if other is not actor]
            self.restarting.discard(actor)
            self.gpu_actors.discard(actor)
        if member:
            self.ray.kill(actor, no_restart=True)

    def borrow(self, stop: Callable[[], bool], gpus_only: bool = False) -> Any | None:
        """An idle actor of the pool (``gpus_only``: one with a GPU, where the pool has any), waiting
        while all are busy; None once ``stop`` says so or the pool is empty."""
        while self.actors and not stop():
            try:
                actor = self.idle.get(timeout=WAIT_STEP)
            except queue.Empty:
                continue
            if actor not in self.actors:  # an actor that left the pool meanwhile is dropped
                continue
            if gpus_only and self.gpu_actors and actor not in self.gpu_actors:
                self.idle.put(actor)  # for a photo; this job waits for a GPU
                time.sleep(WAIT_STEP)
                continue
            return actor
        return None

    def fast_actors(self) -> int:
        """How many actors a video or a zoom runs on: those with a GPU, where the pool has any (a
        CPU actor beside them would hold back the segment it took), else all."""
        return len(self.gpu_actors & set(self.actors)) or len(self.actors)

    def any_actor(self) -> Any | None:
        """An actor of the pool, busy or not (each in turn); None when the pool is empty."""
        with self._lock:
            self._turn += 1
            return self.actors[self._turn % len(self.actors)] if self.actors else None

    def ship(self, task: DreamTask) -> tuple[str, bytes, dict[str, bytes]] | Outcome:
        """The task as JSON with its photo's bytes and its guide's and mask's, checked here first (a
        bad photo fails at once): the cluster needs no shared folder for any of them."""
        try:
            checked = task.ready()  # a task its front end checked is not checked again
            files = file_bytes(checked.settings)
            canvas = isinstance(checked.source, NoiseCanvas)  # made on the worker from its seed
            photo = b"" if canvas else Path(str(checked.source)).read_bytes()
            return travelling(checked), photo, files
        except ReverieError as error:
            return Outcome.failed(error)
        except OSError as error:
            return Outcome.failed(ImageError("cannot read ", File(task.source), f": {reason(error)}"))

    def written(self, task: DreamTask, ending: Ending) -> Outcome:
        """A worker's ending, its image written atomically to the task's output when it was dreamed."""
        if ending.outcome.error:
            return ending.outcome
        path = Path(str(task.output))
        try:
            write_bytes_atomically(path, ending.image)
        except OSError as error:
            return Outcome.failed(OutputPathError("could not write ", File(path), f": {reason(error)}"))
        return ending.outcome

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_here:
            self.ray.shutdown()


def travelling(task: Task) -> str:
    """A checked task as the JSON an actor receives: its device "auto", so each actor dreams on the
    GPU Ray gave it or on its CPUs (:meth:`RayEngine.new_actor`)."""
    return replace(task, device="auto").to_json()


def ray_engine(
    option: str | None, workers: int | None, retries: int, device: str, stall_timeout: float | None = None
) -> RayEngine:
    """The engine for a ``--ray`` option's value: ``"local"`` (``--ray`` alone) or an address."""
    return RayEngine(None if option == LOCAL_RAY else option, workers, retries, device, stall_timeout)


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
        raise ResourceError(f"cannot reach {where}: {one_line(error)}") from None


def alive_node_resources(ray: Any) -> list[dict[str, float]]:
    """The resources of every alive node of the cluster."""
    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]
