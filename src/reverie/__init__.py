"""Reverie: DeepDream for photos, offline, from Python or the shell.

Public API::

    from reverie import dream, Dreamer, load_model, list_models
    dream("cat.jpg", "dream.png", preset="objects", steps=20)

Every job is a task (:class:`DreamTask`, :class:`SheetTask`, :class:`ZoomTask`, :class:`VideoTask`)
that checks itself once and runs on a :class:`Dreamer`.
"""

from __future__ import annotations

from reverie.classify import Prediction, classify, imagenet_class_names
from reverie.dreamer import Dreamer, PreparedDream, dream
from reverie.errors import (
    ImageError,
    OutputPathError,
    PixelLimitError,
    ReverieError,
    SettingsError,
    UnknownLayerError,
    UnknownModelError,
    VideoError,
    WeightsMismatchError,
    WeightsNotFoundError,
)
from reverie.io.images import Picture, load_image, save_image
from reverie.models import list_models, load_model
from reverie.objectives import Objective, layer, parse_layer_spec
from reverie.recipe import read_settings
from reverie.render import Progress
from reverie.settings import DreamSettings, VideoSettings, ZoomSettings
from reverie.tasks import (
    AnimationResult,
    DreamResult,
    DreamTask,
    NoiseCanvas,
    SheetTask,
    VideoTask,
    ZoomTask,
    task_from_json,
)
from reverie.version import __version__

__all__ = [
    "AnimationResult",
    "DreamResult",
    "DreamSettings",
    "DreamTask",
    "Dreamer",
    "ImageError",
    "NoiseCanvas",
    "Objective",
    "OutputPathError",
    "Picture",
    "PixelLimitError",
    "Prediction",
    "PreparedDream",
    "Progress",
    "ReverieError",
    "SettingsError",
    "SheetTask",
    "UnknownLayerError",
    "UnknownModelError",
    "VideoError",
    "VideoSettings",
    "VideoTask",
    "WeightsMismatchError",
    "WeightsNotFoundError",
    "ZoomSettings",
    "ZoomTask",
    "__version__",
    "classify",
    "dream",
    "imagenet_class_names",
    "layer",
    "list_models",
    "load_image",
    "load_model",
    "parse_layer_spec",
    "read_settings",
    "save_image",
    "task_from_json",
]
