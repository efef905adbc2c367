"""Reverie: DeepDream for photos, offline, from Python or the shell.

Public API::

    from reverie import dream, Dreamer, load_model, list_models
    dream("cat.jpg", "dream.png", preset="objects", steps=20)
"""

from __future__ import annotations

__version__ = "0.1.0"

from reverie.classify import Prediction, classify, imagenet_class_names
from reverie.dreamer import Dreamer, DreamResult, dream, read_settings
from reverie.errors import (
    ImageError,
    PixelLimitError,
    ReverieError,
    SettingsError,
    UnknownLayerError,
    UnknownModelError,
    VideoError,
    WeightsMismatchError,
    WeightsNotFoundError,
)
from reverie.imaging import Picture, load_image, save_image
from reverie.models import list_models, load_model
from reverie.objectives import Objective, layer, parse_layer_spec
from reverie.render import Progress
from reverie.settings import DreamSettings

__all__ = [
    "DreamResult",
    "DreamSettings",
    "Dreamer",
    "ImageError",
    "Objective",
    "Picture",
    "PixelLimitError",
    "Prediction",
    "Progress",
    "ReverieError",
    "SettingsError",
    "UnknownLayerError",
    "UnknownModelError",
    "VideoError",
    "WeightsMismatchError",
    "WeightsNotFoundError",
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
]
