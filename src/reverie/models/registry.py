"""Model registry: what Reverie knows about each network before building it.

Each architecture's card (:mod:`reverie.models.cards`) registers its variants with
:func:`register_model`: the builder, where the weights come from and how to read them, presets, and
the catalogue (every dreamable layer with its channels and stride, the input size and the smallest
side every layer accepts). Listing layers or models, and checking a layer name, reads the catalogue
and never builds a network; nothing else keeps a list of model names. Cards and this module never
import PyTorch (builders and weight converters are :class:`Deferred`), so ``reverie layers`` and
``reverie models`` start at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reverie.errors import UnknownLayerError, UnknownModelError, did_you_mean

if TYPE_CHECKING:
    from torch import Tensor, nn

    from reverie.models.base import Backbone

    #: What a builder returns: the named stages in run order and the classifier head.
    Network = tuple[list[tuple[str, nn.Module]], nn.Module]
else:
    Network = tuple  # the precise alias needs PyTorch; only type checkers read it


@dataclass(frozen=True)
class Deferred:
    """A function of a module that needs PyTorch, named instead of imported, so the catalogue loads
    without it; calling this imports the module and calls ``function(*args, *more)``."""

    module: str
    function: str
    args: tuple[Any, ...] = ()

    def __call__(self, *more: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.function)(*self.args, *more)


@dataclass(frozen=True)
class LayerInfo:
    """A tap point: a stage output one can dream on.

    ``stride`` is the spatial reduction relative to the network input (an activation of a 512 px image
    at stride 16 is 32 px across); ``hint`` says in a few words what dreaming on it tends to produce.
    """

    name: str
    channels: int
    stride: int
    hint: str = ""


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
    build_network: Callable[[], Network]
    #: Reads a published weight file and returns a state dict keyed like the built Backbone.
    convert_weights: Callable[[Path], dict[str, Tensor]]
    weights: tuple[WeightsSource, ...]
    description: str
    #: Preset name -> layer specification (see :mod:`reverie.objectives`).
    presets: Mapping[str, str]
    default_preset: str
    #: Every dreamable layer, shallow to deep.
    layers: tuple[LayerInfo, ...]
    #: Resolution the network was trained at (``classify`` uses it), in pixels.
    input_size: int
    #: Smallest image side every layer accepts; smaller pictures are dreamed enlarged.
    min_side: int
    #: Per-channel mean and spread that map [0, 1] RGB to the input the weights were trained on.
    input_mean: tuple[float, float, float]
    input_std: tuple[float, float, float]
    #: Tile side that dreams fastest on a CPU when memory would allow more (0: the whole picture).
    #: Networks of depthwise and elementwise work are memory-bound and run faster on tiles that stay
    #: in cache; dense ones run fastest whole, with no tile margins (bench/VERSUS.md, tile choice).
    preferred_tile: int = 0

    @property
    def embedded(self) -> bool:
        """True when the weights install with Reverie itself (no user file needed)."""
        return any(source.package for source in self.weights)

    @property
    def layer_names(self) -> list[str]:
        """Names of the dreamable layers, shallow to deep."""
        return [info.name for info in self.layers]

    def layer(self, name: str) -> LayerInfo:
        """The catalogue entry of ``name``; a clear error listing the valid names otherwise."""
        for info in self.layers:
            if info.name == name:
                return info
        hint = did_you_mean(name, self.layer_names)
        raise UnknownLayerError(
            f"unknown layer {name!r}{hint}; valid layers: {', '.join(self.layer_names)}",
            field="layers", value=name, limits={"enum": self.layer_names},
        )  # fmt: skip

    def build(self) -> Backbone:
        """The network with freshly initialised weights (:func:`reverie.models.load_model` loads them)."""
        from reverie.models.base import Backbone

        stages, head = self.build_network()
        return Backbone(stages, head, self)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    *,
    name: str,
    build_network: Callable[[], Network],
    weights: tuple[WeightsSource, ...],
    convert_weights: Callable[[Path], dict[str, Tensor]],
    description: str,
    presets: Mapping[str, str],
    default_preset: str,
    layers: Sequence[LayerInfo],
    input_size: int,
    min_side: int,
    input_mean: tuple[float, float, float],
    input_std: tuple[float, float, float],
    preferred_tile: int = 0,
) -> ModelSpec:
    """Register a model under ``name``; its presets must name layers of its catalogue."""
    spec = ModelSpec(
        name=name,
        build_network=build_network,
        convert_weights=convert_weights,
        weights=weights,
        description=description,
        presets=dict(presets),
        default_preset=default_preset,
        layers=tuple(layers),
        input_size=input_size,
        min_side=min_side,
        input_mean=input_mean,
        input_std=input_std,
        preferred_tile=preferred_tile,
    )
    if default_preset not in presets:
        raise ValueError(f"{name}: default preset {default_preset!r} is not a preset")
    for text in presets.values():
        for layer_name in text.split(","):
            spec.layer(layer_name)
    _REGISTRY[name] = spec
    return spec


def registry() -> dict[str, ModelSpec]:
    """Every registered spec by name, the cards read on first use."""
    if not _REGISTRY:
        importlib.import_module("reverie.models.cards")
    return _REGISTRY


def model_names() -> list[str]:
    """Registered model names, embedded models first."""
    specs = sorted(registry().values(), key=lambda spec: (not spec.embedded, spec.name))
    return [spec.name for spec in specs]


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``, or an error listing the valid names."""
    try:
        return registry()[name]
    except KeyError:
        hint = did_you_mean(name, model_names())
        raise UnknownModelError(
            f"unknown model {name!r}{hint}; valid models: {', '.join(model_names())}",
            field="model",
            value=name,
            limits={"enum": model_names()},
        ) from None
