"""Models: the registry of dreamable networks and :func:`load_model`.

Importing this package registers every architecture (one module each).
"""

from __future__ import annotations

import os

import torch

from reverie.models import efficientnet_lite, googlenet, inception_v3, vgg  # noqa: F401  (registers them)
from reverie.models.base import Backbone
from reverie.models.registry import LayerInfo, ModelSpec, WeightsSource, get_spec, model_names
from reverie.weights import apply_state_dict, find_weights

__all__ = [
    "DEFAULT_MODEL",
    "Backbone",
    "LayerInfo",
    "ModelSpec",
    "WeightsSource",
    "get_spec",
    "list_models",
    "load_model",
]

DEFAULT_MODEL = "efficientnet_lite0"


def list_models() -> list[str]:
    """Every registered model name, embedded models first."""
    return model_names()


def load_model(
    name: str = DEFAULT_MODEL,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> Backbone:
    """Build ``name``, load its weights (``weights`` or the default search) and freeze it."""
    spec = get_spec(name)
    path = find_weights(spec, weights)
    model = spec.build()
    apply_state_dict(model, spec.convert_weights(path), path, spec.name)
    return model.freeze().to(device)
