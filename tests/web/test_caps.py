"""What one server keeps: at most so many queued jobs (429), so many bytes in its data folder (507),
and finished jobs for so many days (``reverie serve --max-queued``, ``--max-data-gb``, ``--keep-days``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_client import local_client

from reverie.settings import DreamSettings, ServerLimits
from reverie.web import WebConfig, create_app
from reverie.web.app import draft_job
from reverie.web.jobs import DONE, FAILED, QUEUED, JobStore, Pruner, new_job_id

QUICK = {"steps": "1", "octaves": "1", "max_side": "96"}
TINY = DreamSettings(model="efficientnet_lite0", steps=1, octaves=1, max_side=96)
DAY = 86_400


def photo(path: Path) -> dict:
    return {"image": ("cat.png", path.read_bytes(), "image/png")}


def idle_client(config: WebConfig) -> TestClient:
    """A client of an app whose workers never start (no lifespan): its jobs stay queued."""
    return local_client(create_app(config))


def job_files(data: Path) -> list[str]:
    return sorted(path.name for sub in ("uploads", "pictures", "results") for path in (data / sub).iterdir())


def test_the_caps_are_declared_serve_settings_and_shown_to_the_page(tmp_path: Path) -> None:
    config = WebConfig.serving(tmp_path / "data", ServerLimits(max_queued=5, max_data_gb=0.5, keep_days=3))
    assert (config.max_queued, config.max_data_bytes, config.keep_days) == (5, 512 * 1024**2, 3)
    defaults = WebConfig(tmp_path / "data")
    assert (defaults.max_queued, defaults.max_data_bytes, defaults.keep_days) == (100, 20 * 1024**3, 0)
    shown = idle_client(config).get("/api/server").json()
    assert shown["queued_jobs"] == 0 and shown["max_queued_jobs"] == 5
    assert shown["max_data_gb"] == 0.5 and shown["keep_days"] == 3


def test_a_full_queue_refuses_new_jobs_with_429_until_one_leaves(tmp_path: Path, chelsea_path: Path) -> None:
    client = idle_client(WebConfig(tmp_path / "data", device="cpu", max_queued=2))
    first, second = (client.post("/api/jobs", files=photo(chelsea_path), data=QUICK) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 201)
    files = job_files(tmp_path / "data")
    refused = client.post("/api/jobs", files=photo(chelsea_path), data=QUICK)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert refused.json()["detail"] == "the queue is full (2 jobs are waiting); try again when some have run"
    assert job_files(tmp_path / "data") == files  # nothing of the refused job stays
    assert client.post(f"/api/jobs/{first.json()['id']}/again").status_code == 429
    assert client.get("/api/server").json()["queued_jobs"] == 2
    assert client.post(f"/api/jobs/{second.json()['id']}/cancel").json()["status"] == "cancelled"
    assert client.post("/api/jobs", files=photo(chelsea_path), data=QUICK).status_code == 201
    assert client.post(f"/api/jobs/{second.json()['id']}/retry").status_code == 429  # full again
    assert len(client.get("/api/jobs").json()) == 3


def test_a_full_data_folder_refuses_new_jobs_with_507_and_says_what_to_do(
    tmp_path: Path, chelsea_path: Path
) -> None:
    data = tmp_path / "data"
    room = JobStore(data).bytes_used() + chelsea_path.stat().st_size // 2  # less than one upload
    client = idle_client(WebConfig(data, device="cpu", max_data_bytes=room))
    refused = client.post("/api/jobs", files=photo(chelsea_path), data=QUICK)
    assert refused.status_code == 507, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("the server's storage is full (") and "delete finished jobs" in detail
    assert str(tmp_path) not in detail and "--" not in detail
    assert job_files(data) == [] and client.get("/api/jobs").json() == []
    (data / "results" / "someone-elses.bin").write_bytes(bytes(room))  # already over the cap
    not_even_read = client.post("/api/jobs", files={"image": ("x.png", b"not a picture", "image/png")})
    assert not_even_read.status_code == 507  # refused before the upload is read (else a 415)


def add_job(store: JobStore, photo_path: Path, status: str, finished_days_ago: float | None) -> str:
    """A job with its upload and a result file, put in ``status``, finished so many days ago."""
    job_id = new_job_id()
    source = store.new_path(job_id, "source", ".png")
    shutil.copyfile(photo_path, source)
    store.add(draft_job(job_id, "dream", TINY, {}, {"source": source.name}, "cat.png", (96, 64), ""))
    store.path(store.get(job_id), "result").write_bytes(b"a result")  # type: ignore[arg-type]
    finished = None if finished_days_ago is None else time.time() - finished_days_ago * DAY
    with store.connect() as db:
        db.execute(
            "UPDATE jobs SET status = ?, finished = ?, created = ? WHERE id = ?",
            (status, finished, time.time() - 30 * DAY, job_id),
        )
    return job_id


def test_keep_days_deletes_old_finished_jobs_and_their_files_at_start(
    tmp_path: Path, chelsea_path: Path
) -> None:
    store = JobStore(tmp_path / "data")
    old_done = add_job(store, chelsea_path, DONE, 10)
    old_failed = add_job(store, chelsea_path, FAILED, 8)
    recent = add_job(store, chelsea_path, DONE, 6)
    waiting = add_job(store, chelsea_path, QUEUED, None)  # queued for 30 days: never pruned
    old_paths = [store.path(store.get(old_done), role) for role in ("source", "result")]  # type: ignore[arg-type]
    assert all(path.exists() for path in old_paths)
    with local_client(create_app(WebConfig(tmp_path / "data", device="cpu", keep_days=7))) as client:
        left = {job["id"] for job in client.get("/api/jobs").json()}
    assert left == {recent, waiting}
    assert not any(path.exists() for path in old_paths)
    assert store.get(old_failed) is None and store.get(old_done) is None


def test_the_pruner_keeps_pruning_and_keep_days_0_keeps_everything(
    tmp_path: Path, chelsea_path: Path
) -> None:
    store = JobStore(tmp_path / "data")
    kept = add_job(store, chelsea_path, DONE, 1000)
    forever = Pruner(store, keep_days=0, every=0.05)
    forever.start()
    time.sleep(0.2)
    forever.stop()
    assert store.get(kept) is not None and not forever.thread.is_alive()
    pruner = Pruner(store, keep_days=2, every=0.05)
    pruner.start()
    try:
        later = add_job(store, chelsea_path, DONE, 3)  # finished past the limit after the first pass
        deadline = time.monotonic() + 10
        while store.get(later) is not None:
            assert time.monotonic() < deadline, "the pruner never came back"
            time.sleep(0.05)
    finally:
        pruner.stop()
    assert not pruner.thread.is_alive()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--max-queued", "0", "--max-queued must be between 1 and 1000000; got 0"),
        ("--max-data-gb", "-1", "--max-data-gb must be 0 (no limit) or between 0.001 and 1000000 GB"),
        ("--keep-days", "-2", "--keep-days must be 0 (keep forever) or between 1 and 36500 days; got -2"),
    ],
)
def test_caps_out_of_range_are_one_line_naming_the_option(
    tmp_path: Path, capsys, option: str, value: str, words: str
) -> None:
    from reverie.cli import main

    assert main(["serve", "--data-dir", str(tmp_path / "data"), option, value]) == 1
    assert words in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
