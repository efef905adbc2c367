"""Reverie: DeepDream for photos, offline, from Python or the shell.

Public API::

    from reverie import dream, Dreamer, load_model, list_models
    dream("cat.jpg", "dream.png", preset="objects", steps=20)

Every job is a task (:class:`DreamTask`, :class:`SheetTask`, :class:`ZoomTask`, :class:`VideoTask`)
that checks itself once and runs on a :class:`Dreamer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reverie.version import __version__

if TYPE_CHECKING:
    from reverie.api import dream
    from reverie.classify import Prediction, classify, imagenet_class_names
    from reverie.dreamer import Dreamer, PreparedDream
    from reverie.errors import (
        DreamFailedError,
        ImageError,
        OutputPathError,
        PixelLimitError,
        ResourceError,
        ReverieError,
        SettingsError,
        UnknownLayerError,
        UnknownModelError,
        UnsupportedImageError,
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

#: Where each public name lives. They are imported on first use (PEP 562), so ``reverie --help``
#: and the model catalogue start without loading PyTorch.
_HOMES = {
    "Prediction": "reverie.classify",
    "classify": "reverie.classify",
    "imagenet_class_names": "reverie.classify",
    "Dreamer": "reverie.dreamer",
    "PreparedDream": "reverie.dreamer",
    "dream": "reverie.api",
    "DreamFailedError": "reverie.errors",
    "ImageError": "reverie.errors",
    "OutputPathError": "reverie.errors",
    "PixelLimitError": "reverie.errors",
    "ResourceError": "reverie.errors",
    "ReverieError": "reverie.errors",
    "SettingsError": "reverie.errors",
    "UnknownLayerError": "reverie.errors",
    "UnknownModelError": "reverie.errors",
    "UnsupportedImageError": "reverie.errors",
    "VideoError": "reverie.errors",
    "WeightsMismatchError": "reverie.errors",
    "WeightsNotFoundError": "reverie.errors",
    "Picture": "reverie.io.images",
    "load_image": "reverie.io.images",
    "save_image": "reverie.io.images",
    "list_models": "reverie.models",
    "load_model": "reverie.models",
    "Objective": "reverie.objectives",
    "layer": "reverie.objectives",
    "parse_layer_spec": "reverie.objectives",
    "read_settings": "reverie.recipe",
    "Progress": "reverie.render",
    "DreamSettings": "reverie.settings",
    "VideoSettings": "reverie.settings",
    "ZoomSettings": "reverie.settings",
    "AnimationResult": "reverie.tasks",
    "DreamResult": "reverie.tasks",
    "DreamTask": "reverie.tasks",
    "NoiseCanvas": "reverie.tasks",
    "SheetTask": "reverie.tasks",
    "VideoTask": "reverie.tasks",
    "ZoomTask": "reverie.tasks",
    "task_from_json": "reverie.tasks",
}

__all__ = [
    "AnimationResult",
    "DreamFailedError",
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
    "ResourceError",
    "ReverieError",
    "SettingsError",
    "SheetTask",
    "UnknownLayerError",
    "UnknownModelError",
    "UnsupportedImageError",
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


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'reverie' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
