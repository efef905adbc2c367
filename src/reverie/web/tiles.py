"""The studio's channel picker: what each channel of a layer (and each ImageNet class) responds to
most, dreamed from noise in Fourier space (an atlas's tiles), so a channel is chosen by its picture
rather than by its number.

The page asks for a page of a layer's tiles (``POST``), and follows them (``GET``) as they are made.
One thread makes them, one at a time, on the server's own workers (the models its jobs use: no
second copy), the newest asked first, so the layer a visitor looks at now comes before the one they
left; a tile nobody asks about or looks at any more is dropped. Each is cached in the data folder
under a name made of everything that decides its pixels, in a folder of this version of Reverie (a
new version makes new ones and removes the old), and keeps its settings, so ``reverie dream
--from-noise --size 128x128 --settings-from TILE`` makes it again. Unlike the looks, tiles do not
wait for the queue to empty: someone is looking at the picker, and a tile takes about a second on a
CPU. At most :data:`MAX_WAITING` tiles wait at once, over every visitor, and a model has only so
many channels, so the work is bounded.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from reverie.atlas import Tile, tile_task
from reverie.classify import imagenet_class_names
from reverie.cluster import Outcome
from reverie.errors import ResourceError, ReverieError
from reverie.models import get_spec
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask
from reverie.version import __version__
from reverie.web.form import page_words
from reverie.web.jobs import ServerBusyError

log = logging.getLogger("reverie.web")

#: How a picker's tile is dreamed: 40 Adam steps in Fourier space, about a second at 128 px on a CPU.
TILE_SETTINGS = DreamSettings(steps=10, octaves=4, seed=0, param="fft")
#: A tile's side, px.
TILE_SIDE = 128
#: Most tiles asked for and not made yet, over every visitor; one more is a 429.
MAX_WAITING = 512
#: Seconds a waiting tile stays wanted without being asked for or looked at again (the page looks
#: each second while it shows it).
INTEREST = 30.0
#: Seconds a failed tile is reported failed before it may be asked for again.
FAILURE_MEMORY = 60.0
#: Most tiles one request asks for or reports.
MAX_PAGE = 64
#: Where a cached tile is read from: ``/api/tiles/files/NAME``.
FILE_NAME = re.compile(r"[A-Za-z0-9_.=+-]+\.png")

TileState = Literal["waiting", "ready", "failed", "not asked"]
First = Annotated[int, Query(ge=0, description="The first channel of the page")]
Count = Annotated[int, Query(ge=1, le=MAX_PAGE, description="How many channels")]


class TileMaker:
    """Makes and caches picker tiles in ``folder`` (a folder per version of Reverie inside it: a
    start-up removes the others'). ``dream`` runs a tile's task where the server's jobs run
    (:meth:`reverie.web.worker.Workers.dream_now`), stopping at its next step once its second
    argument says so.

    A waiting tile nobody has asked about or looked at for :data:`INTEREST` seconds (a page closed,
    a layer passed over) is dropped, not made; a failure is remembered for :data:`FAILURE_MEMORY`
    seconds, so a page does not ask again in a loop and a passing failure (no worker left) is tried
    again later."""

    def __init__(
        self, folder: Path, device: str, dream: Callable[[DreamTask, Callable[[], bool]], Outcome]
    ) -> None:
        self.root = folder
        self.folder = folder / __version__
        self.device = device
        self.dream = dream
        self.stopping = threading.Event()
        self._changed = threading.Condition()  # guards the four below; notified when one is asked
        self._waiting: list[tuple[str, str]] = []  # (model, term), the next to make first
        self._seen: dict[tuple[str, str], float] = {}  # when a waiting tile was last asked or looked at
        self._making: tuple[str, str] | None = None
        self._failed: dict[tuple[str, str], tuple[str, float]] = {}  # why, and when
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.make_all, name="reverie-tiles", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop making tiles: the one being dreamed stops at its next step."""
        self.stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self.thread is not None:
            self.thread.join(timeout)

    def file(self, model: str, term: str) -> Path:
        """Where the tile of ``term`` (``blocks.11:37``, ``class:281``) of ``model`` is cached."""
        settings = TILE_SETTINGS.with_changes(model=model, layers=term)
        key = hashlib.sha256(f"{TILE_SIDE} {settings.to_json()}".encode()).hexdigest()[:16]
        return self.folder / f"{model}.{term.replace(':', '_')}.{key}.png"

    def state(self, model: str, term: str) -> tuple[TileState, str]:
        """Whether the tile is ready, waiting (or being made), failed (and why) or not asked for;
        a waiting tile looked at counts as still wanted."""
        key = (model, term)
        if self.file(model, term).exists():
            return "ready", ""
        with self._changed:
            if key in self._seen or self._making == key:
                self._seen[key] = time.monotonic()
                return "waiting", ""
            if key in self._failed and not self.forgotten(key):
                return "failed", self._failed[key][0]
        # made between the first look and the lock
        return ("ready", "") if self.file(model, term).exists() else ("not asked", "")

    def forgotten(self, key: tuple[str, str]) -> bool:
        """Whether a failure is old enough to try again (called under the lock)."""
        if time.monotonic() - self._failed[key][1] < FAILURE_MEMORY:
            return False
        del self._failed[key]
        return True

    def ask(self, model: str, terms: list[str]) -> None:
        """Make the tiles of ``terms`` missing from the cache, before any asked for earlier; a
        :class:`ServerBusyError` when that would be more than :data:`MAX_WAITING` waiting."""
        missing = [(model, term) for term in terms if not self.file(model, term).exists()]
        now = time.monotonic()
        with self._changed:
            missing = [
                key for key in missing
                if (key not in self._failed or self.forgotten(key)) and key != self._making
            ]  # fmt: skip
            for key in [key for key in self._waiting if now - self._seen[key] >= INTEREST]:
                self._waiting.remove(key)  # nobody wants it any more: no room kept for it
                del self._seen[key]
            others = [key for key in self._waiting if key not in missing]
            if len(others) + len(missing) > MAX_WAITING:
                raise ServerBusyError(
                    f"{len(others)} pictures are being made for the picker; try again in a moment"
                )
            self._waiting = missing + others
            self._seen.update(dict.fromkeys(missing, now))
            self._changed.notify_all()

    def next_tile(self) -> tuple[str, str] | None:
        """The tile to make next, waited for (those nobody wants any more are dropped); None once
        stopping."""
        with self._changed:
            while not self.stopping.is_set():
                while self._waiting:
                    key = self._waiting.pop(0)
                    if time.monotonic() - self._seen.pop(key) < INTEREST:
                        self._making = key
                        return key
                self._changed.wait()
            return None

    def make_all(self) -> None:
        self.remove_other_versions()
        while (key := self.next_tile()) is not None:
            try:
                self.make(*key)
            except ReverieError as error:
                self.failed(key, error.render(page_words()))
            except Exception:  # a bug: logged, and the tile says it could not be made
                log.exception("the picker's tile %s of %s could not be dreamed", key[1], key[0])
                self.failed(key, "a bug stopped it (the server's log says more)")
            finally:
                with self._changed:
                    self._making = None

    def remove_other_versions(self) -> None:
        """Tiles of other versions of Reverie (no page asks for them again) leave the data folder."""
        if self.root.is_dir():
            for other in self.root.iterdir():
                if other == self.folder:
                    continue
                if other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
                else:
                    other.unlink(missing_ok=True)

    def failed(self, key: tuple[str, str], why: str) -> None:
        if not self.stopping.is_set():
            with self._changed:
                self._failed[key] = (why, time.monotonic())

    def make(self, model: str, term: str) -> None:
        """Dream one tile into its cache file (written whole or not at all)."""
        path = self.file(model, term)
        if path.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        settings = TILE_SETTINGS.with_changes(model=model)
        task = tile_task(Tile(term, term, path), settings, TILE_SIDE, device=self.device)
        outcome = self.dream(task, self.stopping.is_set)
        if outcome.failure is not None:
            raise outcome.failure
        if outcome.error:  # a bug (logged where it ran), stopped, or no worker left
            raise ResourceError(f"the picture could not be dreamed now: {outcome.error}")


class TileView(BaseModel):
    """One tile: the term it adds to Layers, its label, and its picture once made."""

    term: str
    label: str
    state: TileState
    url: str | None = None
    error: str = ""


class TilePage(BaseModel):
    """Some channels of one layer, in order from ``first``, with how many the layer has."""

    model: str
    layer: str
    channels: int
    first: int
    tiles: list[TileView]


def tile_router(maker: TileMaker, installed: Callable[[], list[str]]) -> APIRouter:
    """The picker's routes: a page of a layer's channels, a class's tile, and the tiles' files."""
    router = APIRouter()

    def view(model: str, term: str, label: str) -> TileView:
        state, error = maker.state(model, term)
        url = f"/api/tiles/files/{maker.file(model, term).name}" if state == "ready" else None
        return TileView(term=term, label=label, state=state, url=url, error=error)

    def layer_page(model: str, layer: str, first: int, count: int, asking: bool) -> TilePage:
        known_model(model)
        try:
            total = get_spec(model).layer(layer).channels
        except ReverieError as error:
            raise HTTPException(404, str(error)) from None
        channels = list(range(first, min(first + count, total)))
        if not channels:
            raise HTTPException(404, f"layer {layer} has channels 0..{total - 1}; asked from {first}")
        terms = [f"{layer}:{channel}" for channel in channels]
        if asking:
            maker.ask(model, terms)
        tiles = [view(model, term, str(channel)) for term, channel in zip(terms, channels, strict=True)]
        return TilePage(model=model, layer=layer, channels=total, first=first, tiles=tiles)

    def class_tile(model: str, index: int, asking: bool) -> TileView:
        known_model(model)
        names = imagenet_class_names()
        if not 0 <= index < len(names):
            raise HTTPException(404, f"ImageNet classes are 0..{len(names) - 1}; got {index}")
        if asking:
            maker.ask(model, [f"class:{index}"])
        return view(model, f"class:{index}", names[index])

    def known_model(model: str) -> None:
        if model not in installed():
            raise HTTPException(404, f"no model {model!r} is installed on this server")

    @router.get(
        "/api/tiles/{model}/layers/{layer}", response_model=TilePage, summary="A page of a layer's tiles"
    )
    def layer_tiles(model: str, layer: str, first: First = 0, count: Count = 24) -> TilePage:
        return layer_page(model, layer, first, count, asking=False)

    @router.post(
        "/api/tiles/{model}/layers/{layer}",
        response_model=TilePage,
        summary="Ask for a page of a layer's tiles (made in the background, newest asked first)",
    )
    def ask_layer_tiles(model: str, layer: str, first: First = 0, count: Count = 24) -> TilePage:
        return layer_page(model, layer, first, count, asking=True)

    @router.get("/api/tiles/{model}/classes/{index}", response_model=TileView, summary="A class's tile")
    def class_tile_view(model: str, index: int) -> TileView:
        return class_tile(model, index, asking=False)

    @router.post(
        "/api/tiles/{model}/classes/{index}", response_model=TileView, summary="Ask for a class's tile"
    )
    def ask_class_tile(model: str, index: int) -> TileView:
        return class_tile(model, index, asking=True)

    @router.get("/api/tiles/files/{name}", summary="A tile's picture (PNG, with its settings)")
    def tile_file(name: str) -> FileResponse:
        path = maker.folder / name
        if not FILE_NAME.fullmatch(name) or not path.is_file():
            raise HTTPException(404, "no such tile")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=86400"})

    return router
