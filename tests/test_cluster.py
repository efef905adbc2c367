"""Engines: what a task's ending is, the plan for Ray actors, and batches on a real multi-process
Ray cluster of two nodes, whose workers are killed or stopped mid-batch."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from reverie.batch import Batch, Manifest, collect_items
from reverie.cli import main
from reverie.cluster import (
    ClusterWorker,
    Dreamers,
    LocalEngine,
    Outcome,
    PoolPlan,
    RayEngine,
    import_ray,
    plan_pool,
    run_here,
)
from reverie.errors import DreamFailedError, ImageError, ResourceError
from reverie.io.images import image_bytes, load_image, output_format, save_image
from reverie.recipe import read_settings, recipe
from reverie.settings import DreamSettings
from reverie.tasks import DreamResult, DreamTask, check_engine, task_from_json
from reverie.tensors import resize_picture

SETTINGS = DreamSettings(steps=2, octaves=2, max_side=96)


def test_only_a_users_mistake_or_a_lack_of_memory_fails_a_photo_and_a_bug_is_raised(
    monkeypatch, tmp_path: Path, chelsea_path: Path
) -> None:
    missing = run_here(DreamTask(tmp_path / "gone.png", tmp_path / "out.png"), Dreamers())
    assert isinstance(missing.failure, ImageError) and missing.error == str(missing.failure)
    task = DreamTask(chelsea_path, tmp_path / "out.png", settings=SETTINGS, device="cpu")
    for error in (MemoryError(), torch.OutOfMemoryError("CUDA out of memory")):
        monkeypatch.setattr(Dreamers, "for_task", lambda self, task, error=error: raise_(error))
        ran_out = run_here(task, Dreamers())
        assert isinstance(ran_out.failure, DreamFailedError) and ran_out.error.startswith("out of memory")
    for bug in (RuntimeError("a bug"), OSError("a bug")):
        monkeypatch.setattr(Dreamers, "for_task", lambda self, task, bug=bug: raise_(bug))
        with pytest.raises(type(bug)):
            run_here(task, Dreamers())
        endings: list[Outcome] = []
        LocalEngine().run([task, task], lambda _task, outcome, found=endings: found.append(outcome))
        assert (
            endings == [Outcome(f"internal error: {type(bug).__name__}: a bug", bug=type(bug).__name__)] * 2
        )  # each photo, once


def raise_(error: BaseException) -> Any:
    raise error


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_the_bytes_a_worker_sends_are_the_file_save_image_writes(
    tmp_path: Path, small_cat, suffix: str
) -> None:
    result = DreamResult(small_cat, check_engine(SETTINGS, "", "cpu", 10**8))
    written = save_image(tmp_path / f"here{suffix}", small_cat, recipe(result.settings))
    assert image_bytes(small_cat, output_format(written), recipe(result.settings)) == written.read_bytes()


def test_a_worker_dreams_with_the_guide_and_mask_it_was_sent(
    tmp_path: Path, chelsea_path: Path, coffee_path: Path
) -> None:
    """The driver's guide and mask paths need not exist where the worker runs: their bytes travel."""
    guide, mask = tmp_path / "flowers.png", tmp_path / "sky.png"
    guide.write_bytes(coffee_path.read_bytes())
    save_image(mask, type(load_image(chelsea_path))(np.ones((30, 40, 3), np.float32)))
    settings = SETTINGS.with_changes(guide=str(guide), mask=str(mask))
    task = DreamTask(chelsea_path, tmp_path / "out.png", settings=settings, device="cpu").check()
    files = {"guide": guide.read_bytes(), "mask": mask.read_bytes()}
    elsewhere = tmp_path / "gone"  # the same task as another node sees it: no such files there
    moved = task.settings.with_changes(guide=str(elsewhere / "flowers.png"), mask=str(elsewhere / "sky.png"))
    ending = ClusterWorker(1).finish(
        replace(task_from_json(task.to_json()), settings=moved),
        chelsea_path.read_bytes(),
        files,
        lambda e: None,
    )
    assert ending.outcome == Outcome("", ending.outcome.seconds) and ending.image
    result = tmp_path / "result.png"
    result.write_bytes(ending.image)
    stored = read_settings(result)
    assert (stored.guide, stored.mask) == ("flowers.png", "sky.png")  # named as the user named them
    broken = ClusterWorker(1).finish(
        replace(task_from_json(task.to_json()), settings=moved), b"not a photo", files, lambda e: None
    )
    assert (
        broken.outcome.failure is not None and str(chelsea_path) in broken.outcome.error
    )  # not a /proc path


def test_the_pool_follows_the_clusters_resources() -> None:
    assert plan_pool([{"CPU": 2.0}], None) == PoolPlan(1, 2.0, 0.0)
    assert plan_pool([{"CPU": 16.0}], None) == PoolPlan(4, 4.0, 0.0)
    assert plan_pool([{"CPU": 1.0}, {"CPU": 1.0}], None) == PoolPlan(2, 1.0, 0.0)  # one per node
    assert plan_pool([{"CPU": 16.0}, {"CPU": 2.0}], None) == PoolPlan(9, 2.0, 0.0)  # fits the small node
    assert plan_pool([{"CPU": 2.0}], 4) == PoolPlan(4, 0.5, 0.0)
    assert plan_pool([{"CPU": 0.0}, {"CPU": 8.0}], None) == PoolPlan(2, 4.0, 0.0)  # a head without CPUs
    assert plan_pool([{"CPU": 16.0}, {"CPU": 2.0}], 20) == PoolPlan(19, 0.9, 0.0)  # capped at what fits
    assert plan_pool([{"CPU": 32.0, "GPU": 2.0}], None) == PoolPlan(2, 1.0, 1.0)  # one per GPU
    assert plan_pool([{"CPU": 32.0, "GPU": 1.0}], 2) == PoolPlan(2, 1.0, 0.5)
    assert plan_pool([{"GPU": 1.0, "CPU": 4}, {"GPU": 1.0, "CPU": 4}], 3) == PoolPlan(
        3, 1.0, 0.5
    )  # halves fit
    assert plan_pool([{"CPU": 8.0, "GPU": 2.0}], None, "cpu") == PoolPlan(2, 4.0, 0.0)  # --device cpu
    assert plan_pool([{"CPU": 0.0}], None).actors == 0


def test_a_mixed_cluster_runs_gpu_actors_beside_cpu_ones_unless_the_device_says_otherwise() -> None:
    mixed = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 8.0}, {"CPU": 4.0}]
    assert plan_pool(mixed, None) == PoolPlan(2, 1.0, 1.0, cpu_actors=3, cpu_share=4.0)  # auto: both
    assert plan_pool(mixed, None).total == 5
    assert plan_pool(mixed, None, "cuda") == PoolPlan(2, 1.0, 1.0)  # GPUs only
    assert plan_pool(mixed, None, "cpu") == PoolPlan(7, 4.0, 0.0)  # every node's CPUs, GPUs left alone
    assert plan_pool(mixed, 4) == PoolPlan(2, 1.0, 1.0, cpu_actors=2, cpu_share=4.0)  # GPUs first
    assert plan_pool(mixed, 2) == PoolPlan(2, 1.0, 1.0)
    assert plan_pool([{"CPU": 8.0}], None, "cuda").total == 0  # start() says the cluster has no GPU


class PoolOfFour(RayEngine):
    """A pool of four stand-in actors, two with a GPU, without Ray: what borrowing hands out."""

    def __init__(self) -> None:
        self.actors, self.gpu_actors = ["gpu0", "gpu1", "cpu0", "cpu1"], {"gpu0", "gpu1"}
        self.idle = __import__("queue").SimpleQueue()
        for actor in ["cpu0", "gpu0", "cpu1", "gpu1"]:
            self.idle.put(actor)


def test_videos_and_zooms_keep_to_the_gpu_actors_of_a_mixed_pool() -> None:
    pool = PoolOfFour()
    assert pool.fast_actors() == 2
    assert [pool.borrow(never_stop, gpus_only=True) for _ in range(2)] == ["gpu0", "gpu1"]
    assert {pool.borrow(never_stop) for _ in range(2)} == {"cpu0", "cpu1"}  # photos take any
    pool.gpu_actors = set()
    assert pool.fast_actors() == 4  # a CPU-only pool: every actor takes segments


def never_stop() -> bool:
    return False


def test_without_ray_the_option_names_the_extra(
    monkeypatch, tmp_path: Path, chelsea_path: Path, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ResourceError, match=r"pip install 'reverie\[ray\]'"):
        import_ray()
    code = main(["batch", str(chelsea_path), "-o", str(tmp_path / "out"), "--ray"])
    assert (
        code == 1
        and capsys.readouterr().err == "reverie: error: --ray needs Ray: pip install 'reverie[ray]'\n"
    )


def worker_pids(engine: RayEngine) -> list[int]:
    """The process ids of the engine's actors, asked through Ray's own ``__ray_call__``."""
    return engine.ray.get([actor.__ray_call__.remote(lambda _worker: os.getpid()) for actor in engine.actors])


@contextlib.contextmanager
def ray_job(address: str, temporary: Path) -> Iterator[Any]:
    """This process joined to the cluster as a Ray job whose workers keep their temporary files in
    ``temporary`` (TMPDIR), to be looked at afterwards."""
    ray = import_ray()
    ray.init(address=address, runtime_env={"env_vars": {"TMPDIR": str(temporary)}}, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_the_stall_timeout_is_for_ray_workers(tmp_path: Path, chelsea_path: Path, capsys) -> None:
    for command in (["batch", str(chelsea_path), "-o", str(tmp_path / "out")], ["serve"]):
        assert main([*command, "--stall-timeout", "10"]) == 2
        assert "--stall-timeout is about Ray workers: give --ray too" in capsys.readouterr().err
    for typed in (["--retries", "3"], ["--stall-timeout", "9"]):
        assert main(["sweep", str(chelsea_path), "-o", "s.png", "--vary", "seed=1,2", *typed]) == 2
        assert f"{typed[0]} is about Ray workers: give --ray too" in capsys.readouterr().err
    batch = ["batch", str(chelsea_path), "-o", str(tmp_path / "out"), "--ray", "--stall-timeout", "0"]
    assert main(batch) == 1
    refused = "reverie: error: --stall-timeout must be between 1 and 86400 s; got 0.0\n"
    assert capsys.readouterr().err == refused
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, chelsea_path: Path, coffee_path: Path) -> Path:
    """Six small photos: crops of the two samples."""
    folder = tmp_path_factory.mktemp("photos")
    for index in range(6):
        picture = load_image(chelsea_path if index % 2 else coffee_path)
        left = 20 * index
        crop = picture.rgb[:, left : left + 280]
        save_image(folder / f"photo{index}.png", resize_picture(type(picture)(crop), (140, 100)))
    return folder


def test_a_killed_worker_costs_a_retry_not_the_batch(
    ray_cluster: str, photo_folder: Path, tmp_path: Path
) -> None:
    out, temporary = tmp_path / "out", tmp_path / "worker-tmp"
    out.mkdir()
    temporary.mkdir()
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    items = collect_items([photo_folder], out, False, ".png")
    with ray_job(ray_cluster, temporary):
        engine = RayEngine(ray_cluster, retries=2)
        try:
            assert engine.plan == PoolPlan(2, 1.0, 0.0)  # one actor on each node
            engine.start()
            victims = worker_pids(engine)
            where = engine.ray.get(
                engine.actors[0].__ray_call__.remote(lambda _worker: tempfile.gettempdir())
            )
            assert where == str(temporary)  # the workers' temporary folder is the one looked at below
            endings: list[str] = []
            dream, killed = engine.dream, threading.Event()

            def dream_and_kill_mid_photo(task, watch=None, stop=None, shared=False):
                def watching(update) -> None:
                    # the second photo's first step: it is mid-dream, so its worker's death costs a
                    # retry (a kill timed by a photo's end could find both actors between photos)
                    if update.stage.startswith("octave") and endings and not killed.is_set():
                        killed.set()
                        for pid in victims:
                            os.kill(pid, signal.SIGKILL)

                return dream(task, watching, stop or (lambda: False), shared)

            engine.dream = dream_and_kill_mid_photo
            summary = Batch(items, out, settings, device="cpu").run(
                engine, lambda task, outcome: endings.append(Path(str(task.output)).name)
            )
        finally:
            engine.close()
    assert engine.retried >= 1
    assert list(temporary.iterdir()) == []  # the killed workers left no copy of a photo behind
    assert (summary.done, summary.failed) == (6, 0)
    assert sorted(endings) == sorted(f"photo{i}.png" for i in range(6))  # each ended exactly once
    lines = Manifest(out).path.read_text().splitlines()
    assert len(lines) == 6 and all('"done"' in line for line in lines)
    assert sorted(p.name for p in out.iterdir()) == sorted([*endings, "manifest.jsonl"])  # no temporaries
    # The cluster dreams exactly what this process dreams with the actors' one thread each (float
    # sums in another order are amplified by the ascent, so thread counts must match to compare).
    local = tmp_path / "local"
    local.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Batch(items, local, settings, device="cpu").run(LocalEngine())
    finally:
        torch.set_num_threads(threads)
    for item in items:
        here, there = load_image(local / item.relative).rgb, load_image(out / item.relative).rgb
        assert here.shape == there.shape and np.abs(here - there).max() <= 1 / 255 + 1e-6


def test_the_batch_command_on_the_cluster(
    ray_cluster: str, photo_folder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = ["batch", str(photo_folder), "-o", str(out), "--steps", "1", "--octaves", "1", "--max-side", "64"]
    assert main([*args, "--ray", ray_cluster]) == 0
    assert "dreamed 6 photos" in capsys.readouterr().out
    assert {record.status for record in Manifest(out).records().values()} == {"done"}
    assert main([*args, "--ray", ray_cluster]) == 0  # a rerun of a finished batch does no dreaming
    assert "dreamed 0 photos" in capsys.readouterr().out


def test_a_sweep_on_the_cluster_matches_one_here(
    ray_cluster: str, chelsea_path: Path, tmp_path: Path
) -> None:
    args = [
        "sweep",
        str(chelsea_path),
        "--vary",
        "seed=1,2",
        "--steps",
        "1",
        "--octaves",
        "1",
        "--max-side",
        "64",
    ]
    assert main([*args, "-o", str(tmp_path / "ray.png"), "--ray", ray_cluster, "-q"]) == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the actors run (see above)
    try:
        assert main([*args, "-o", str(tmp_path / "here.png"), "-q"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert np.abs(load_image(tmp_path / "ray.png").rgb - load_image(tmp_path / "here.png").rgb).max() < 1e-6


def test_a_stopped_worker_costs_a_retry_not_the_batch(
    ray_cluster: str, photo_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    items = collect_items([photo_folder], out, False, ".png")
    engine = RayEngine(ray_cluster, retries=2, stall_timeout=10)
    stopped: list[int] = []
    try:
        engine.start()
        victims = worker_pids(engine)
        endings: list[str] = []

        def stop_once(task, outcome: Outcome) -> None:
            endings.append(Path(str(task.output)).name)
            if len(endings) == 1:  # one actor is mid-photo, the other about to start one: both hang
                for pid in victims:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)

        summary = Batch(items, out, settings, device="cpu").run(engine, stop_once)
    finally:
        engine.close()
        for pid in stopped:  # killed by the engine already; never leave a stopped process behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
    assert engine.retried >= 1
    assert (summary.done, summary.failed) == (6, 0)
    assert sorted(endings) == sorted(f"photo{i}.png" for i in range(6))  # each ended exactly once
    records = [line for line in Manifest(out).path.read_text().splitlines()]
    assert len(records) == 6 and all('"done"' in line for line in records)


class FakeRay:
    """Just enough of Ray for the pool's bookkeeping: its nodes can be changed, kills are recorded."""

    def __init__(self, nodes: list[dict[str, float]]) -> None:
        self.alive = nodes
        self.killed: list[tuple[object, bool]] = []

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": resources} for resources in self.alive]

    def kill(self, actor: object, no_restart: bool) -> None:
        self.killed.append((actor, no_restart))


def test_a_stalled_worker_is_restarted_unless_its_node_left() -> None:
    engine = RayEngine.__new__(RayEngine)
    engine.ray, engine.workers, engine.actors = FakeRay([{"CPU": 1.0}, {"CPU": 1.0}]), None, ["a", "b"]
    engine.device, engine.stall_timeout, engine._lock, engine.restarting = (
        "auto",
        10.0,
        threading.Lock(),
        set(),
    )
    engine.gpu_actors = set()
    engine.stalled("a", "pid 1")  # both nodes still there: Ray restarts it in place
    assert engine.actors == ["a", "b"] and engine.ray.killed == [("a", False)] and engine.restarting == {"a"}
    engine.ray.alive = [{"CPU": 1.0}]  # a node left: the pool shrinks to what the cluster holds
    engine.stalled("b", "pid 2")
    assert engine.actors == ["a"] and engine.ray.killed[-1] == ("b", True)
    engine.stalled("a", "pid 3")  # the pool fits again
    assert engine.actors == ["a"] and engine.ray.killed[-1] == ("a", False)


def test_a_bug_in_the_worker_fails_each_photo_once_without_retries(
    ray_cluster: str, photo_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    photos = collect_items([photo_folder], out, False, ".png")[:3]
    broken = tmp_path / "broken.png"  # its header is whole, so the driver's check passes; the rest is cut
    broken.write_bytes((photo_folder / "photo0.png").read_bytes()[:3000])
    engine = RayEngine(ray_cluster)
    try:
        engine.start()
        endings: dict[str, Outcome] = {}
        Batch(collect_items([broken], out, False, ".png"), out, settings).run(
            engine, lambda task, outcome: endings.setdefault(str(task.source), outcome)
        )
        failure = endings[str(broken)].failure  # a user's mistake, in their words (their file's name)
        assert isinstance(failure, ImageError) and str(broken) in str(failure) and "/proc" not in str(failure)

        def break_worker(worker: Any) -> None:  # defined here, so Ray ships it whole to the workers
            class Broken:
                def for_task(self, task: object) -> None:
                    raise TypeError("a bug")

            worker.dreamers = Broken()

        engine.ray.get([actor.__ray_call__.remote(break_worker) for actor in engine.actors])
        summary = Batch(photos, out, settings).run(engine)
    finally:
        engine.close()
    assert (summary.done, summary.failed, engine.retried) == (0, 3, 0)
    errors = [r.error for r in Manifest(out).records().values() if r.input != str(broken)]
    assert len(errors) == 3 and all("internal error" in e and "a bug" in e for e in errors), errors
