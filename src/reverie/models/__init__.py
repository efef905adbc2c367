"""Models: the registry of dreamable networks and :func:`load_model`.

The catalogue (:mod:`reverie.models.registry`, filled by :mod:`reverie.models.cards`) loads without
PyTorch; the networks (one module per architecture) are imported when a model is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from reverie.models.registry import LayerInfo, ModelSpec, WeightsSource, get_spec, model_names

if TYPE_CHECKING:
    import torch

    from reverie.models.base import Backbone

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
    from reverie.weights import apply_state_dict, find_weights

    spec = get_spec(name)
    path = find_weights(spec, weights)
    model = spec.build()
    apply_state_dict(model, spec.convert_weights(path), path, spec.name)
    return model.freeze().to(device)


def __getattr__(name: str) -> Any:
    """``Backbone`` (a torch module) is imported on first use, so the catalogue stays torch-free."""
    if name == "Backbone":
        from reverie.models.base import Backbone

        return Backbone
    raise AttributeError(f"module 'reverie.models' has no attribute {name!r}")
