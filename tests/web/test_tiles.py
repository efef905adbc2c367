"""The channel picker's tiles: asked for a page at a time, made in the background newest-asked first,
bounded, cached across restarts, served only from their folder, and each the same pixels as the dream
command its settings name."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from web_client import local_client, wait_until

from reverie.cli import main
from reverie.cluster import Outcome
from reverie.errors import SettingsError
from reverie.io.images import load_image
from reverie.recipe import read_settings
from reverie.tasks import DreamTask
from reverie.version import __version__
from reverie.web import WebConfig, create_app
from reverie.web.jobs import ServerBusyError
from reverie.web.tiles import TileMaker

MODEL = "efficientnet_lite0"


class FakeDreams:
    """Stands for the server's workers: writes each tile's file, in the order asked, holding the
    first until ``release`` is set, and failing the terms in ``bad``."""

    def __init__(self, bad: tuple[str, ...] = ()) -> None:
        self.made: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.bad = bad

    def __call__(self, task: DreamTask, stop) -> Outcome:
        self.started.set()
        while not self.release.wait(0.01):
            if stop():
                return Outcome("cancelled", cancelled=True)
        term = task.settings.layers
        if term in self.bad:
            return Outcome.failed(SettingsError(f"cannot dream {term}"))
        self.made.append(term)
        Path(str(task.output)).write_bytes(b"a tile")
        return Outcome()


@contextmanager
def running(folder: Path, dreams: FakeDreams) -> Iterator[TileMaker]:
    """A started tile maker on ``dreams``; at the end the held dream is let go and the maker stopped."""
    tiles = TileMaker(folder, "cpu", dreams)
    tiles.start()
    try:
        yield tiles
    finally:
        dreams.release.set()
        tiles.stop()


@pytest.fixture
def maker(tmp_path: Path):
    dreams = FakeDreams()
    with running(tmp_path, dreams) as tiles:
        yield tiles, dreams


def test_the_newest_asked_are_made_first_each_once(maker) -> None:
    tiles, dreams = maker
    tiles.ask(MODEL, ["blocks.11:0", "blocks.11:1", "blocks.11:2"])
    assert dreams.started.wait(5)  # blocks.11:0 is being made
    tiles.ask(MODEL, ["blocks.8:5", "blocks.11:2"])  # another layer looked at now
    assert tiles.state(MODEL, "blocks.11:0") == ("waiting", "")
    dreams.release.set()
    wait_until(lambda: len(dreams.made) == 4)
    assert dreams.made == ["blocks.11:0", "blocks.8:5", "blocks.11:2", "blocks.11:1"]
    tiles.ask(MODEL, ["blocks.11:1"])  # made already: nothing waits
    assert tiles.state(MODEL, "blocks.11:1") == ("ready", "")
    time.sleep(0.1)
    assert len(dreams.made) == 4


def test_a_failed_tile_says_why_and_is_not_asked_for_again(maker) -> None:
    tiles, dreams = maker
    dreams.bad = ("blocks.11:9",)
    dreams.release.set()
    tiles.ask(MODEL, ["blocks.11:9", "blocks.11:10"])
    wait_until(lambda: tiles.state(MODEL, "blocks.11:10")[0] == "ready")
    assert tiles.state(MODEL, "blocks.11:9") == ("failed", "cannot dream blocks.11:9")
    tiles.ask(MODEL, ["blocks.11:9"])
    assert tiles.state(MODEL, "blocks.11:9")[0] == "failed"
    assert tiles.state(MODEL, "blocks.11:11") == ("not asked", "")


def test_the_waiting_tiles_are_bounded_over_every_visitor(maker, monkeypatch) -> None:
    tiles, _ = maker
    monkeypatch.setattr("reverie.web.tiles.MAX_WAITING", 10)
    tiles.ask(MODEL, [f"head:{channel}" for channel in range(10)])
    tiles.ask(MODEL, [f"head:{channel}" for channel in range(5)])  # asked again: no more waiting
    with pytest.raises(ServerBusyError, match="pictures are being made"):
        tiles.ask(MODEL, ["head:100", "head:101"])


def test_a_tile_nobody_looks_at_any_more_is_dropped_not_made(maker, monkeypatch) -> None:
    tiles, dreams = maker
    tiles.ask(MODEL, ["blocks.11:0"])
    assert dreams.started.wait(5)  # blocks.11:0 is being made
    tiles.ask(MODEL, ["blocks.8:1", "blocks.8:2"])
    monkeypatch.setattr("reverie.web.tiles.INTEREST", 0.3)
    time.sleep(0.4)
    assert tiles.state(MODEL, "blocks.8:2") == ("waiting", "")  # looked at: still wanted
    time.sleep(0.1)
    dreams.release.set()
    wait_until(lambda: tiles.state(MODEL, "blocks.8:2")[0] == "ready")
    assert dreams.made == ["blocks.11:0", "blocks.8:2"]
    assert tiles.state(MODEL, "blocks.8:1") == ("not asked", "")  # passed over: dropped


def test_a_failure_is_remembered_for_a_while_then_tried_again(maker, monkeypatch) -> None:
    tiles, dreams = maker
    dreams.bad = ("blocks.11:9",)
    dreams.release.set()
    tiles.ask(MODEL, ["blocks.11:9"])
    wait_until(lambda: tiles.state(MODEL, "blocks.11:9")[0] == "failed")
    monkeypatch.setattr("reverie.web.tiles.FAILURE_MEMORY", 0.0)
    dreams.bad = ()
    assert tiles.state(MODEL, "blocks.11:9") == ("not asked", "")
    tiles.ask(MODEL, ["blocks.11:9"])
    wait_until(lambda: tiles.state(MODEL, "blocks.11:9")[0] == "ready")


def test_tiles_of_other_versions_leave_the_data_folder(tmp_path: Path) -> None:
    old = tmp_path / "0.0.1" / "efficientnet_lite0.blocks.11_0.0123456789abcdef.png"
    old.parent.mkdir()
    old.write_bytes(b"an old tile")
    dreams = FakeDreams()
    dreams.release.set()
    with running(tmp_path, dreams) as tiles:  # started after the old tile is there
        tiles.ask(MODEL, ["blocks.11:0"])
        wait_until(lambda: tiles.state(MODEL, "blocks.11:0")[0] == "ready")
        assert sorted(path.name for path in tmp_path.iterdir()) == [__version__]


def test_stopping_stops_the_tile_being_made(tmp_path: Path) -> None:
    dreams = FakeDreams()
    tiles = TileMaker(tmp_path, "cpu", dreams)
    tiles.start()
    tiles.ask(MODEL, ["blocks.11:0"])
    assert dreams.started.wait(5)
    tiles.stop(timeout=5)
    assert tiles.thread is not None and not tiles.thread.is_alive()
    assert tiles.state(MODEL, "blocks.11:0")[0] != "ready"


def test_the_api_makes_real_tiles_that_the_dream_command_repeats(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with local_client(create_app(WebConfig(data_dir=data))) as client:
        url = f"/api/tiles/{MODEL}/layers/blocks.0?first=2&count=2"
        asked = client.post(url)
        assert asked.status_code == 200, asked.text
        page = asked.json()
        assert (page["channels"], page["first"]) == (16, 2)
        assert [tile["term"] for tile in page["tiles"]] == ["blocks.0:2", "blocks.0:3"]
        assert [tile["label"] for tile in page["tiles"]] == ["2", "3"]
        deadline = time.monotonic() + 120
        while any(tile["state"] != "ready" for tile in page["tiles"]):
            assert time.monotonic() < deadline, page
            time.sleep(0.2)
            page = client.get(url).json()
        picture = client.get(page["tiles"][0]["url"])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        klass = client.post(f"/api/tiles/{MODEL}/classes/281").json()
        assert (klass["term"], klass["label"]) == ("class:281", "tabby")
    tile = data / "tiles" / __version__ / page["tiles"][0]["url"].rsplit("/", 1)[1]
    settings = read_settings(tile)
    assert (settings.layers, settings.param, settings.seed) == ("blocks.0:2", "fft", 0)
    again = tmp_path / "again.png"
    command = ["dream", "--from-noise", "--size", "128x128", "--settings-from", str(tile), "-o", str(again)]
    assert main([*command, "--quiet"]) == 0
    assert np.array_equal(load_image(again).rgb, load_image(tile).rgb)

    with local_client(create_app(WebConfig(data_dir=data))) as client:  # a restart finds them cached
        states = [tile["state"] for tile in client.get(url).json()["tiles"]]
        assert states == ["ready", "ready"]


def test_the_api_refuses_what_is_not_there(tmp_path: Path) -> None:
    with local_client(create_app(WebConfig(data_dir=tmp_path))) as client:
        assert client.get(f"/api/tiles/{MODEL}/layers/blocks.99").status_code == 404
        assert "did you mean blocks.9" in client.get(f"/api/tiles/{MODEL}/layers/blocks.99").text
        assert client.get(f"/api/tiles/{MODEL}/layers/blocks.0?first=16").status_code == 404
        assert client.get(f"/api/tiles/{MODEL}/layers/blocks.0?count=65").status_code == 422
        assert client.get(f"/api/tiles/{MODEL}/layers/blocks.0?first=-1").status_code == 422
        assert client.get("/api/tiles/nomodel/layers/blocks.0").status_code == 404
        assert client.get(f"/api/tiles/{MODEL}/classes/1000").status_code == 404
        (tmp_path / "secret.png").write_bytes(b"not a tile")
        tiles = tmp_path / "tiles" / __version__
        tiles.mkdir(parents=True)
        (tiles / "notes.txt").write_bytes(b"not a tile")  # in the folder, but not a tile's name
        (tiles / "a tile.png").write_bytes(b"not a tile")
        for name in ["..%2Fsecret.png", "../secret.png", "missing.png", "notes.txt", "a%20tile.png"]:
            assert client.get(f"/api/tiles/files/{name}").status_code == 404
        foreign = client.post(
            f"/api/tiles/{MODEL}/layers/blocks.0", headers={"Origin": "https://elsewhere.example"}
        )
        assert foreign.status_code == 403
