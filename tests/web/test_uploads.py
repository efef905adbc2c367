"""Reading uploads within one server-wide memory budget: who is admitted, who waits, for how long."""

from __future__ import annotations

import io
import shutil
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import local_client, wait_until

from reverie.errors import PixelLimitError
from reverie.settings import DreamSettings, ServerLimits
from reverie.web import WebConfig, create_app
from reverie.web.app import draft_job
from reverie.web.jobs import DONE, FAILED, JobStore, ServerBusyError
from reverie.web.uploads import (
    BYTES_PER_PIXEL,
    TRANSPARENT_BYTES_PER_PIXEL,
    DecodeBudget,
    Reservation,
    picture_cost,
)
from reverie.web.worker import Workers

MB = 1024 * 1024


def reserve_in_background(
    budget: DecodeBudget, cost: int, admitted: list[Reservation], first: bool = False
) -> threading.Thread:
    """A thread that reserves ``cost`` and appends the reservation to ``admitted`` once it has it."""
    thread = threading.Thread(target=lambda: admitted.append(budget.reserve(cost, first=first)))
    thread.start()
    return thread


def costs(admitted: list[Reservation]) -> list[int]:
    return [reservation.cost for reservation in admitted]


def test_reads_are_admitted_by_their_cost_in_the_order_they_came() -> None:
    budget = DecodeBudget(100, wait=10)
    held = budget.reserve(60)
    admitted: list[Reservation] = []
    big = reserve_in_background(budget, 50, admitted)  # does not fit beside 60: waits
    wait_until(lambda: budget.waiting == 1)
    small = reserve_in_background(budget, 10, admitted)  # would fit, but the big one came first
    wait_until(lambda: budget.waiting == 2)
    time.sleep(0.1)
    assert admitted == [] and budget.used == 60
    held.release()
    for thread in (big, small):
        thread.join(10)
    assert costs(admitted) == [50, 10] and budget.used == 60 and budget.waiting == 0


def test_a_worker_goes_first_and_a_cost_above_the_budget_is_read_alone() -> None:
    budget = DecodeBudget(100, wait=10)
    held = budget.reserve(500)  # clamped to the whole budget
    assert held.cost == 100
    admitted: list[Reservation] = []
    upload = reserve_in_background(budget, 30, admitted)
    wait_until(lambda: budget.waiting == 1)
    worker = reserve_in_background(budget, 90, admitted, first=True)
    wait_until(lambda: budget.waiting == 2)
    held.release()
    held.release()  # given back once, however often
    worker.join(10)
    time.sleep(0.1)
    assert costs(admitted) == [90] and budget.waiting == 1  # 30 does not fit beside the worker's 90
    admitted[0].release()
    upload.join(10)
    assert costs(admitted) == [90, 30] and budget.used == 30


def test_a_read_that_waits_too_long_is_refused_as_busy() -> None:
    budget = DecodeBudget(100, wait=0.3)
    held = budget.reserve(100)
    started = time.monotonic()
    with pytest.raises(ServerBusyError, match=r"busy reading other pictures .*waited 0.3 s"):
        budget.reserve(10)
    assert 0.3 <= time.monotonic() - started < 2
    assert budget.waiting == 0 and budget.used == 100
    held.release()
    with budget.admitted(100):
        assert budget.used == 100
    assert budget.used == 0


def test_a_line_too_long_is_refused_at_once() -> None:
    budget = DecodeBudget(100, wait=10, max_waiting=1)
    held = budget.reserve(100)
    admitted: list[Reservation] = []
    waiting = reserve_in_background(budget, 10, admitted)
    wait_until(lambda: budget.waiting == 1)
    started = time.monotonic()
    with pytest.raises(ServerBusyError, match="too many uploads are waiting"):
        budget.reserve(10)
    assert time.monotonic() - started < 1
    held.release()
    waiting.join(10)
    assert costs(admitted) == [10]


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    data = io.BytesIO()
    Image.new(mode, size).save(data, "PNG")
    return data.getvalue()


def test_a_pictures_cost_comes_from_its_header(tmp_path: Path) -> None:
    opaque, clear = tmp_path / "opaque.png", tmp_path / "clear.png"
    opaque.write_bytes(png((300, 200)))
    clear.write_bytes(png((300, 200), "RGBA"))
    assert picture_cost(opaque, 10**6) == (300 * 200 * BYTES_PER_PIXEL, ".png")
    assert picture_cost(clear, 10**6) == (300 * 200 * TRANSPARENT_BYTES_PER_PIXEL, ".png")
    with pytest.raises(PixelLimitError):
        picture_cost(opaque, 300 * 200 - 1)


def test_the_budget_is_a_declared_serve_setting(tmp_path: Path) -> None:
    assert WebConfig(tmp_path).decode_budget_bytes == ServerLimits().decode_budget_mb * MB
    config = WebConfig.serving(tmp_path, ServerLimits(decode_budget_mb=64, decode_wait=5))
    assert (config.decode_budget_bytes, config.decode_wait) == (64 * MB, 5.0)
    app = create_app(config)
    assert (app.state.budget.budget, app.state.budget.wait) == (64 * MB, 5.0)


@pytest.fixture
def client(tmp_path: Path):
    with local_client(create_app(WebConfig(tmp_path / "data", device="cpu", decode_wait=1.0))) as client:
        yield client


def test_an_upload_waiting_for_room_is_shown_then_refused_with_when_to_retry(
    client: TestClient, chelsea_path: Path
) -> None:
    budget: DecodeBudget = client.app.state.budget
    held = budget.reserve(budget.budget)  # the server is busy reading something else
    answers = []
    upload = threading.Thread(
        target=lambda: answers.append(
            client.post("/api/jobs", files={"image": ("cat.png", chelsea_path.read_bytes(), "image/png")})
        )
    )
    upload.start()
    wait_until(lambda: client.get("/api/server").json()["waiting_uploads"] == 1)
    upload.join(30)
    held.release()
    (refused,) = answers
    assert refused.status_code == 503 and refused.headers["retry-after"] == "60"
    assert refused.json()["detail"] == (
        "the server is busy reading other pictures (the upload waited 1 s for room to be read); "
        "try again in a minute"
    )
    assert client.get("/api/server").json()["waiting_uploads"] == 0
    assert client.get("/api/jobs").json() == []
    assert [p.name for p in (client.app.state.store.folder / "uploads").iterdir()] == []  # nothing left


def test_a_job_reads_its_picture_within_the_budget(tmp_path: Path, chelsea_path: Path) -> None:
    store = JobStore(tmp_path / "data")
    source = store.new_path("Job0000000000000000000", "source", ".png")
    shutil.copyfile(chelsea_path, source)
    settings = DreamSettings(model="efficientnet_lite0", steps=1, octaves=1, max_side=96)
    job = draft_job(
        "Job0000000000000000000", "dream", settings, {}, {"source": source.name}, "cat.png", (96, 64), ""
    )
    store.add(job)
    budget = DecodeBudget(64 * MB, wait=0.5)
    held = budget.reserve(budget.budget)  # uploads being read take all the room
    workers = Workers(store, device="cpu", budget=budget)
    workers.start()
    try:
        wait_until(lambda: store.get(job.id).status == FAILED, timeout=30)  # type: ignore[union-attr]
        assert store.get(job.id).error == (  # type: ignore[union-attr]
            "the server is busy reading other pictures (the job waited 0.5 s for room to be read); "
            "try again in a minute"
        )
        held.release()
        assert store.requeue(job.id)
        workers.wake.set()
        wait_until(lambda: store.get(job.id).status == DONE, timeout=60)  # type: ignore[union-attr]
        assert budget.used == 0  # given back once the picture was read
    finally:
        workers.stop()
