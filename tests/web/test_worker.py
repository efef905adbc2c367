"""The web workers: the task a job runs is the one its form was checked as."""

from __future__ import annotations

from pathlib import Path

from reverie.cluster import Update
from reverie.settings import DreamSettings, ZoomSettings
from reverie.tasks import DreamTask, ZoomTask
from reverie.web.app import draft_job
from reverie.web.jobs import JobStore, new_job_id
from reverie.web.worker import Watch, Workers


def test_a_job_runs_with_the_servers_pixel_limit_and_device(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    settings = DreamSettings(model="efficientnet_lite0", steps=3)
    job_id = new_job_id()
    files = {"source": f"{job_id}.jpg"}
    job = store.add(draft_job(job_id, "dream", settings, {}, files, "cat.jpg", (9, 9), ""))
    task = Workers(store, device="cpu", max_pixels=250_000_000).task(job)
    assert isinstance(task, DreamTask)
    assert (task.max_pixels, task.device, task.settings.steps) == (250_000_000, "cpu", 3)
    assert task.source == tmp_path / "uploads" / f"{job_id}.jpg"
    assert task.output == tmp_path / "results" / f"{job_id}.png"


def test_a_zoom_job_runs_its_motion_with_its_guide(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    job_id = new_job_id()
    files = {"source": f"{job_id}.png", "guide": f"{job_id}.guide.jpg"}
    options = {"motion": ZoomSettings(frames=7, zoom=3.0).to_dict()}
    job = store.add(draft_job(job_id, "zoom", DreamSettings(), options, files, "cat.png", (9, 9), "gif"))
    task = Workers(store, device="cpu").task(job)
    assert isinstance(task, ZoomTask) and (task.motion.frames, task.motion.zoom) == (7, 3.0)
    assert task.settings.guide == str(tmp_path / "uploads" / f"{job_id}.guide.jpg")
    assert task.output == tmp_path / "results" / f"{job_id}.gif"


def test_previews_are_recorded_at_most_one_a_second_and_starts_at_once(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("reverie.web.worker.time.monotonic", lambda: clock[0])
    recorded: list[tuple[float, float, str, bytes]] = []
    watch = Watch(lambda fraction, stage, preview: recorded.append((clock[0], fraction, stage, preview)))
    for at, fraction, preview in [
        (100.0, 0.0, b""),  # the start: at once
        (100.1, 0.01, b"first"),  # the first preview: at once
        (100.2, 0.02, b"dropped"),  # too soon after the first
        (100.3, 0.03, b""),  # progress too soon after the last report
        (100.6, 0.05, b""),  # progress: a quarter of a second on
        (101.1, 0.2, b"second"),  # a second after the first preview
    ]:
        clock[0] = at
        if preview:
            assert watch.wants_preview() == (preview != b"dropped")
        watch(Update(fraction, f"at {at}", preview))
    assert [(at, preview) for at, _, _, preview in recorded] == [
        (100.0, b""), (100.1, b"first"), (100.6, b""), (101.1, b"second"),
    ]  # fmt: skip
