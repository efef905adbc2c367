"""The page's looks: each preset shown as a small dream of the sample photo, with words for it.

Thumbnails are dreamed by Reverie itself, on the server's own workers (the models its jobs use: no
second copy), and cached in the data folder, named by everything that decides their pixels, so a
new version of Reverie or of a preset makes new ones. A server makes the missing ones once it has
started (:data:`START_DELAY` seconds after), in the background, one at a time and only while no job
waits or runs, so its first visitor sees them at once (each takes seconds on a CPU) and no job
waits for them. A thumbnail asked for before then is made for the asker, or, when it is being made
already, waited for (at most :data:`LOOK_WAIT` seconds), never dreamed twice. The words come from
the model's layer catalogue, the same hints ``reverie layers`` prints.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from reverie.cluster import Outcome
from reverie.errors import ResourceError, ReverieError
from reverie.models import get_spec
from reverie.objectives import parse_layer_spec
from reverie.samples import sample_path
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask
from reverie.version import __version__
from reverie.web.jobs import ServerBusyError

log = logging.getLogger("reverie.web")

#: How thumbnails are dreamed: small and quick, strong enough to show the look.
THUMBNAIL = DreamSettings(max_side=192, steps=8, octaves=3, step_size=0.03, seed=0)
#: Longest a request waits for a thumbnail being made (or for its turn to make one), seconds.
LOOK_WAIT = 60.0
#: How often the background maker looks again whether the queue is empty, seconds.
IDLE_POLL = 1.0
#: Seconds the background maker leaves a new server alone first: the workers take the jobs a
#: restart left queued within a second, and a server started for one job (a script, a test) is
#: not slowed by thumbnails it may never show.
START_DELAY = 3.0


def look_description(model: str, preset: str) -> str:
    """A preset in plain words, from the catalogue hints of its layers: ``"patterns, eyes and fur;
    animal parts: eyes, snouts, feathers"``."""
    spec = get_spec(model)
    hints: list[str] = []
    for layer in parse_layer_spec(spec.presets[preset]).layers:
        hint = spec.layer(layer).hint
        if hint and hint not in hints:
            hints.append(hint)
    return "; ".join(hints)


class LookThumbnails:
    """Dreams and caches one thumbnail per (model, preset) in ``folder``. ``dream`` runs a
    thumbnail's task where the server's jobs run (:meth:`reverie.web.worker.Workers.dream_now`),
    stopping at its next step once its second argument says so; ``busy`` says whether jobs wait
    or run, which the background maker leaves the machine to."""

    def __init__(
        self,
        folder: Path,
        device: str,
        dream: Callable[[DreamTask, Callable[[], bool]], Outcome],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.folder = folder
        self.device = device
        self.dream = dream
        self.busy = busy
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _making
        self._making: dict[Path, threading.Event] = {}  # set once the thumbnail is made (or failed)
        self._dreaming = threading.Lock()  # one thumbnail dreamed at a time, so jobs keep the CPU

    def start(self, models: Iterable[str]) -> None:
        """Make the missing thumbnails of ``models`` in a thread of its own (see the module)."""
        wanted = [(model, preset) for model in models for preset in get_spec(model).presets]
        self.thread = threading.Thread(
            target=self.make_all, args=(wanted,), name="reverie-looks", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop making thumbnails: the one being dreamed stops at its next step."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def make_all(self, wanted: list[tuple[str, str]]) -> None:
        if self.stopping.wait(START_DELAY):
            return
        for model, preset in wanted:
            while self.busy() and not self.stopping.wait(IDLE_POLL):
                pass  # jobs first; a thumbnail asked for meanwhile is made for the asker
            if self.stopping.is_set():
                return
            try:
                self.path(model, preset)
            except ReverieError as error:
                if not self.stopping.is_set():
                    log.warning("the %s look of %s could not be dreamed: %s", preset, model, error)
            except Exception:  # a bug: logged, and the page asks again later
                log.exception("the %s look of %s could not be dreamed", preset, model)

    def file(self, model: str, preset: str) -> Path:
        """Where the thumbnail of ``preset`` of ``model`` is cached (a JPEG)."""
        settings = THUMBNAIL.with_changes(model=model, preset=preset)
        key = hashlib.sha256(f"{__version__} {settings.to_json()}".encode()).hexdigest()[:16]
        return self.folder / f"{model}.{preset}.{key}.jpg"

    def path(self, model: str, preset: str) -> Path:
        """The thumbnail of ``preset`` of ``model``: the cached one, or the one being made once it
        is (a :class:`ServerBusyError` after :data:`LOOK_WAIT` seconds), else made now."""
        path = self.file(model, preset)
        with self._lock:
            if path.exists():
                return path
            made = self._making.get(path)
            if made is None:
                made = self._making[path] = threading.Event()
                mine = True
            else:
                mine = False
        if not mine:
            if not made.wait(LOOK_WAIT):
                raise ServerBusyError(f"the {preset} thumbnail is still being made; try again in a moment")
            if not path.exists():
                raise ResourceError(f"the {preset} thumbnail could not be dreamed now; try again later")
            return path
        try:
            self.make(path, model, preset)
        finally:
            with self._lock:
                del self._making[path]
            made.set()
        return path

    def make(self, path: Path, model: str, preset: str) -> None:
        """Dream one thumbnail into ``path``, once no other is being dreamed."""
        if not self._dreaming.acquire(timeout=LOOK_WAIT):
            raise ServerBusyError(
                f"the {preset} thumbnail waits for others to be made; try again in a moment"
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            settings = THUMBNAIL.with_changes(model=model, preset=preset)
            task = DreamTask(sample_path("chelsea"), path, settings=settings, device=self.device)
            outcome = self.dream(task, self.stopping.is_set)
        finally:
            self._dreaming.release()
        if outcome.failure is not None:
            raise outcome.failure.prefixed(f"the {preset} thumbnail could not be dreamed: ")
        if outcome.error:  # a bug (logged where it ran), stopped, or no worker left: a 503, not a 500
            raise ResourceError(f"the {preset} thumbnail cannot be dreamed now: {outcome.error}")
