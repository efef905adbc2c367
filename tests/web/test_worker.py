"""The web workers: the task a job runs is the one its form was checked as."""

from __future__ import annotations

from pathlib import Path

from reverie.settings import DreamSettings, ZoomSettings
from reverie.tasks import DreamTask, ZoomTask
from reverie.web.app import draft_job
from reverie.web.jobs import JobStore, new_job_id
from reverie.web.worker import Workers


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
