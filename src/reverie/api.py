"""The one-call Python API: :func:`dream`, a task built, checked and run as every front end runs one.

``dream("cat.jpg", "dream.png", preset="objects")`` checks everything before a model loads, loads it,
dreams and saves. Pass ``dreamer=Dreamer(...)`` to dream many pictures on one loaded model.
"""

from __future__ import annotations

import os

from reverie.dreamer import Dreamer
from reverie.models import DEFAULT_MODEL
from reverie.render import ProgressCallback
from reverie.settings import DEFAULT_MAX_PIXELS, DreamSettings
from reverie.tasks import DreamResult, DreamTask, Source

PathLike = str | os.PathLike[str]


def dream(
    image: Source,
    output: PathLike | None = None,
    *,
    settings: DreamSettings | None = None,
    dreamer: Dreamer | None = None,
    model: str = DEFAULT_MODEL,
    weights: PathLike | None = None,
    device: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
    **changes: object,
) -> DreamResult:
    """Dream ``image`` (a path, a :class:`reverie.Picture`, an (H, W, 3) array in [0, 1], or a
    :class:`reverie.NoiseCanvas`), and save it to ``output`` (atomically, with its settings) when given.

    ``settings`` (default: the defaults) with ``changes`` applied: ``dream(img, steps=20,
    layers="blocks.9")``. On ``dreamer``, a model already loaded, the settings' model defaults to
    its own and its weights and device are used; otherwise ``model``, ``weights`` and ``device`` say
    which to load. ``max_pixels`` bounds the input (a decompression-bomb guard). The result is at the
    working resolution (the input reduced to ``max_side``); alpha is kept. Every mistake is raised
    before any model loads.
    """
    settings = (settings or DreamSettings()).with_changes(**changes)
    if dreamer is not None:
        settings = settings if settings.model else settings.with_changes(model=dreamer.model_name)
        weights, device = dreamer.weights_path, str(dreamer.device)
    elif not settings.model:
        settings = settings.with_changes(model=model)
    task = DreamTask(
        image, output, settings=settings, weights=str(weights or ""), device=device, max_pixels=max_pixels
    ).check()
    return task.run(dreamer or task.new_dreamer(), progress)
