"""The looks' thumbnails: made in the background once a server has started, each dreamed once, a
request for one being made waiting for it (within a deadline), jobs first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from web_client import local_client, wait_until

from reverie.cluster import Outcome
from reverie.models import get_spec
from reverie.tasks import DreamTask
from reverie.web import WebConfig, create_app
from reverie.web.jobs import ServerBusyError
from reverie.web.looks import LookThumbnails

MODEL = "efficientnet_lite0"
PRESETS = list(get_spec(MODEL).presets)


class FakeDreams:
    """Stands for the server's workers: writes a thumbnail file per task, counting them, and holds
    the ones named in ``held`` until released (or told to stop)."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.held: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}

    def hold(self, preset: str) -> threading.Event:
        self.started[preset] = threading.Event()
        self.held[preset] = threading.Event()
        return self.held[preset]

    def __call__(self, task: DreamTask, stop) -> Outcome:
        preset = task.settings.preset
        if preset in self.held:
            self.started[preset].set()
            while not self.held[preset].wait(0.01):
                if stop():
                    return Outcome("cancelled", cancelled=True)
        self.made.append(preset)
        Path(str(task.output)).write_bytes(b"a thumbnail")
        return Outcome()


@pytest.fixture(autouse=True)
def no_start_delay(monkeypatch) -> None:
    monkeypatch.setattr("reverie.web.looks.START_DELAY", 0.0)


def test_missing_thumbnails_are_made_in_the_background_once(tmp_path: Path) -> None:
    dreams = FakeDreams()
    looks = LookThumbnails(tmp_path, "cpu", dreams)
    looks.start([MODEL])
    looks.thread.join(10)
    assert sorted(dreams.made) == sorted(PRESETS)
    assert all(looks.file(MODEL, preset).exists() for preset in PRESETS)
    again = LookThumbnails(tmp_path, "cpu", dreams)  # the next start finds them cached
    again.start([MODEL])
    again.thread.join(10)
    assert sorted(dreams.made) == sorted(PRESETS)
    assert again.path(MODEL, PRESETS[0]) == looks.file(MODEL, PRESETS[0])


def test_a_request_for_a_thumbnail_being_made_waits_for_it_and_no_second_is_dreamed(tmp_path: Path) -> None:
    dreams = FakeDreams()
    first = PRESETS[0]
    release = dreams.hold(first)
    looks = LookThumbnails(tmp_path, "cpu", dreams)
    looks.start([MODEL])
    dreams.started[first].wait(10)
    answers: list[Path] = []
    asker = threading.Thread(target=lambda: answers.append(looks.path(MODEL, first)))
    asker.start()
    time.sleep(0.2)
    assert answers == []  # waiting for the background's dream
    release.set()
    asker.join(10)
    looks.thread.join(10)
    assert answers == [looks.file(MODEL, first)] and dreams.made.count(first) == 1


def test_a_request_waits_for_a_thumbnail_only_so_long(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("reverie.web.looks.LOOK_WAIT", 0.3)
    dreams = FakeDreams()
    release = dreams.hold(PRESETS[0])
    looks = LookThumbnails(tmp_path, "cpu", dreams)
    looks.start([MODEL])
    dreams.started[PRESETS[0]].wait(10)
    with pytest.raises(ServerBusyError, match="still being made"):
        looks.path(MODEL, PRESETS[0])
    with pytest.raises(ServerBusyError, match="waits for others to be made"):
        looks.path(MODEL, PRESETS[1])  # one dreamed at a time
    release.set()
    looks.thread.join(10)
    assert looks.path(MODEL, PRESETS[1]).exists()


def test_jobs_go_first_and_a_thumbnail_asked_for_meanwhile_is_made_for_the_asker(tmp_path: Path) -> None:
    dreams = FakeDreams()
    busy = threading.Event()
    busy.set()
    looks = LookThumbnails(tmp_path, "cpu", dreams, busy=busy.is_set)
    looks.start([MODEL])
    time.sleep(0.3)
    assert dreams.made == []  # a job waits or runs: the background leaves the machine to it
    assert looks.path(MODEL, PRESETS[2]).exists() and dreams.made == [PRESETS[2]]
    busy.clear()
    looks.thread.join(10)
    assert sorted(dreams.made) == sorted(PRESETS)


def test_stopping_ends_the_thumbnail_being_dreamed(tmp_path: Path) -> None:
    dreams = FakeDreams()
    dreams.hold(PRESETS[0])  # never released: only a stop ends it
    looks = LookThumbnails(tmp_path, "cpu", dreams)
    looks.start([MODEL])
    dreams.started[PRESETS[0]].wait(10)
    started = time.monotonic()
    looks.stop()
    assert not looks.thread.is_alive() and time.monotonic() - started < 2
    assert dreams.made == [] and not looks.file(MODEL, PRESETS[0]).exists()


@pytest.mark.slow
def test_a_server_has_its_looks_before_anyone_asks(tmp_path: Path, monkeypatch) -> None:
    from reverie.tasks import Task

    loaded: list[str] = []
    load = Task.new_dreamer
    monkeypatch.setattr(Task, "new_dreamer", lambda task: loaded.append(task.settings.model) or load(task))
    app = create_app(WebConfig(tmp_path / "data", device="cpu"))
    looks = app.state.looks
    with local_client(app) as client:
        wait_until(lambda: all(looks.file(MODEL, preset).exists() for preset in PRESETS), timeout=300)
        answer = client.get(f"/api/looks/{MODEL}/{PRESETS[0]}.jpg")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert loaded.count(MODEL) == 1  # on the server's own model, loaded once
