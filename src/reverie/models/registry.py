"""Model registry: name -> builder, where its weights come from, how to read them, its presets.

Each architecture file registers its variants with :func:`register_model`; nothing else keeps a list
of model names, so adding a model is adding one decorated function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from reverie.errors import UnknownModelError
from reverie.models.base import Backbone


@dataclass(frozen=True)
class WeightsSource:
    """One published form of a model's weights.

    ``package`` names an installed Python package that ships the file (the embedded models); for
    bring-your-own models ``url`` says where the file is published so the error message can tell the
    user exactly what to fetch.
    """

    filename: str
    url: str = ""
    package: str = ""
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """Everything Reverie knows about one model before building it."""

    name: str
    build: Callable[[], Backbone]
    #: Reads a published weight file and returns a state dict keyed like ``build()``'s module.
    convert_weights: Callable[[Path], dict[str, Tensor]]
    weights: tuple[WeightsSource, ...]
    description: str
    #: Preset name -> layer specification (see :mod:`reverie.objectives`).
    presets: Mapping[str, str] = field(default_factory=dict)
    default_preset: str = ""

    @property
    def embedded(self) -> bool:
        """True when the weights install with Reverie itself (no user file needed)."""
        return any(source.package for source in self.weights)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    *,
    weights: tuple[WeightsSource, ...],
    convert_weights: Callable[[Path], dict[str, Tensor]],
    description: str,
    presets: Mapping[str, str],
    default_preset: str,
    name: str = "",
) -> Callable[[Callable[[], Backbone]], Callable[[], Backbone]]:
    """Decorator registering a zero-argument builder under ``name`` (default: the function name)."""

    def decorate(build: Callable[[], Backbone]) -> Callable[[], Backbone]:
        model_name = name or build.__name__
        if default_preset not in presets:
            raise ValueError(f"{model_name}: default preset {default_preset!r} is not a preset")
        _REGISTRY[model_name] = ModelSpec(
            name=model_name,
            build=build,
            convert_weights=convert_weights,
            weights=weights,
            description=description,
            presets=dict(presets),
            default_preset=default_preset,
        )
        return build

    return decorate


def model_names() -> list[str]:
    """Registered model names, embedded models first."""
    specs = sorted(_REGISTRY.values(), key=lambda spec: (not spec.embedded, spec.name))
    return [spec.name for spec in specs]


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``, or an error listing the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; valid models: {', '.join(model_names())}") from None
