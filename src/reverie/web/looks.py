"""The page's looks: each preset shown as a small dream of the sample photo, with words for it.

A thumbnail is dreamed by Reverie itself the first time the page asks for it (a second or two on a
CPU), on the server's own workers (the models its jobs use: no second copy), and cached in the data
folder, named by everything that decides its pixels, so a new version of Reverie or of a preset
makes new ones. The words come from the model's layer catalogue, the
same hints ``reverie layers`` prints.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from reverie.cluster import Outcome
from reverie.errors import ResourceError
from reverie.models import get_spec
from reverie.objectives import parse_layer_spec
from reverie.samples import sample_path
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask
from reverie.version import __version__

#: How thumbnails are dreamed: small and quick, strong enough to show the look.
THUMBNAIL = DreamSettings(max_side=192, steps=8, octaves=3, step_size=0.03, seed=0)


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
    """Dreams and caches one thumbnail per (model, preset) in ``folder``. ``dream`` runs a thumbnail's
    task where the server's jobs run (:meth:`reverie.web.worker.Workers.dream_now`)."""

    def __init__(self, folder: Path, device: str, dream: Callable[[DreamTask], Outcome]) -> None:
        self.folder = folder
        self.device = device
        self.dream = dream
        self._lock = threading.Lock()  # one thumbnail dreamed at a time; the others wait for the cache

    def path(self, model: str, preset: str) -> Path:
        """The thumbnail of ``preset`` of ``model`` (a JPEG), dreamed if it is not cached yet."""
        settings = THUMBNAIL.with_changes(model=model, preset=preset)
        key = hashlib.sha256(f"{__version__} {settings.to_json()}".encode()).hexdigest()[:16]
        path = self.folder / f"{model}.{preset}.{key}.jpg"
        with self._lock:
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                task = DreamTask(sample_path("chelsea"), path, settings=settings, device=self.device)
                outcome = self.dream(task)
                if outcome.failure is not None:
                    raise outcome.failure.prefixed(f"the {preset} thumbnail could not be dreamed: ")
                if outcome.error:  # a bug (logged where it ran), or no worker left: a 503, not a 500
                    raise ResourceError(f"the {preset} thumbnail cannot be dreamed now: {outcome.error}")
        return path
