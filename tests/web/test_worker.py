"""The web workers: the task a job runs is the one its form was checked as."""

from __future__ import annotations

from pathlib import Path

from reverie.settings import DreamSettings
from reverie.web.jobs import JobStore, new_job_id
from reverie.web.worker import Workers


def test_a_job_runs_with_the_servers_pixel_limit_and_device(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    job = store.add(new_job_id(), DreamSettings(model="efficientnet_lite0", steps=3), "cat.png", (10, 10))
    task = Workers(store, device="cpu", max_pixels=250_000_000).task(job)
    assert (task.max_pixels, task.device, task.settings.steps) == (250_000_000, "cpu", 3)
    assert (task.source, task.output) == (store.upload_path(job.id), store.result_path(job.id))
