"""Engines: the plan for Ray actors, and batches on a real multi-process Ray cluster of two nodes,
one of whose workers is killed mid-batch."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from reverie.batch import Batch, Manifest, collect_items
from reverie.cli import main
from reverie.cluster import ClusterWorker, LocalEngine, Outcome, PoolPlan, RayEngine, import_ray, plan_pool
from reverie.errors import SettingsError
from reverie.io.images import load_image, save_image
from reverie.settings import DreamSettings
from reverie.tasks import check_engine
from reverie.tensors import resize_picture

SETTINGS = DreamSettings(steps=2, octaves=2, max_side=96)


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
    assert plan_pool([{"GPU": 1.0, "CPU": 4}, {"GPU": 1.0, "CPU": 4}], 3).actors == 2  # 2/3 GPU: one each
    assert plan_pool([{"CPU": 8.0, "GPU": 2.0}], None, use_gpus=False) == PoolPlan(
        2, 4.0, 0.0
    )  # --device cpu
    assert plan_pool([{"CPU": 0.0}], None).actors == 0


def test_without_ray_the_option_names_the_extra(
    monkeypatch, tmp_path: Path, chelsea_path: Path, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SettingsError, match=r"pip install 'reverie\[ray\]'"):
        import_ray()
    code = main(["batch", str(chelsea_path), "-o", str(tmp_path / "out"), "--ray"])
    assert (
        code == 1
        and capsys.readouterr().err == "reverie: error: --ray needs Ray: pip install 'reverie[ray]'\n"
    )


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
    out = tmp_path / "out"
    out.mkdir()
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    items = collect_items([photo_folder], out, False, ".png")
    engine = RayEngine(ray_cluster, retries=2)
    try:
        assert engine.plan == PoolPlan(2, 1.0, 0.0)  # one actor on each node
        engine.start()
        victims = engine.worker_pids()
        endings: list[str] = []

        def kill_once(task, outcome: Outcome) -> None:
            endings.append(Path(str(task.output)).name)
            if len(endings) == 1:  # one actor is mid-photo, the other just finished: both die
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)

        summary = Batch(items, out, settings, device="cpu").run(engine, kill_once)
    finally:
        engine.close()
    assert engine.retried >= 1
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


class FakeRay:
    """Just enough of Ray for the pool's bookkeeping: its nodes can be changed, kills are recorded."""

    def __init__(self, nodes: list[dict[str, float]]) -> None:
        self.alive = nodes
        self.killed: list[object] = []

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": resources} for resources in self.alive]

    def kill(self, actor: object, no_restart: bool) -> None:
        self.killed.append(actor)


def test_a_lost_worker_is_replaced_unless_its_node_left() -> None:
    engine = RayEngine.__new__(RayEngine)
    engine.ray, engine.workers, engine.actors = FakeRay([{"CPU": 1.0}, {"CPU": 1.0}]), None, ["a", "b"]
    engine.use_gpus, engine._lock = True, threading.Lock()
    engine.new_actor = lambda: "fresh"  # type: ignore[method-assign]
    engine.started = lambda actors: actors  # type: ignore[method-assign]
    assert engine.replace_actor("a") == "fresh" and engine.actors == ["b", "fresh"]  # both nodes still there
    engine.ray.alive = [{"CPU": 1.0}]  # a node left: the pool shrinks to what the cluster holds
    assert engine.replace_actor("b") is None and engine.actors == ["fresh"]
    assert engine.replace_actor("fresh", shrink=False) == "fresh"  # the web keeps one actor per thread
    engine.ray.alive = []
    assert engine.replace_actor("fresh") is None and engine.actors == []
    assert engine.ray.killed == ["a", "b", "fresh", "fresh"]
    engine.started = lambda actors: []  # type: ignore[method-assign]  # Ray has no room
    engine.ray.alive, engine.actors = [{"CPU": 1.0}], ["x"]
    assert engine.replace_actor("x", shrink=False) is None and engine.actors == []


def test_a_bug_in_the_worker_fails_each_photo_once_without_retries(
    ray_cluster: str, photo_folder: Path, tmp_path: Path
) -> None:
    class BuggyWorker(ClusterWorker):  # defined here, so Ray ships the class itself to its workers
        """A worker whose code is broken: every run raises."""

        def run(self, task_json: str, photo: bytes, job_id: str = "") -> tuple[str, float, bytes, bytes]:
            raise TypeError("a bug")

    out = tmp_path / "out"
    out.mkdir()
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    engine = RayEngine(ray_cluster)
    engine.worker_class = BuggyWorker
    try:
        summary = Batch(collect_items([photo_folder], out, False, ".png")[:3], out, settings).run(engine)
    finally:
        engine.close()
    assert (summary.done, summary.failed, engine.retried) == (0, 3, 0)
    errors = [r.error for r in Manifest(out).records().values()]
    assert all("internal error" in e and "a bug" in e for e in errors), errors
