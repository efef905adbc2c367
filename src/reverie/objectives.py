"""What to maximise: layers, channels, ImageNet classes and guide images, composable with + and *.

A layer specification is the user-facing text form, shared by the CLI, the Python API and saved
metadata: comma-separated terms, each with an optional ``=WEIGHT``:

- ``LAYER[:CHANNELS]``: the mean activation of a layer, or of some channels (``blocks.10:37+40``);
- ``class:NAME_OR_INDEX``: the ImageNet logit of a class (``class:tabby``, ``class:281``);
- ``guide:LAYER``: how well a layer's features match those of a guide image (``--guide IMAGE``).

Examples: ``mixed3,mixed5``; ``blocks.8=0.5,blocks.11:3+7=2``; ``blocks.11,class:espresso=0.5``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import Tensor

from reverie.errors import SettingsError, UnknownLayerError, did_you_mean
from reverie.models.base import LOGITS
from reverie.models.registry import LayerInfo


class Catalogue(Protocol):
    """What checking an objective needs of a model: its layer catalogue (a ModelSpec or a Backbone)."""

    def layer(self, name: str) -> LayerInfo: ...


@dataclass(frozen=True)
class LayerTerm:
    """The mean activation of one layer (optionally of some channels only), times a weight."""

    layer: str
    channels: tuple[int, ...] = ()
    weight: float = 1.0

    def score(self, activation: Tensor) -> Tensor:
        """Mean over batch, space and the chosen channels: the tutorial's per-layer loss.

        A mean, not a sum, so that a wide, high-resolution layer does not drown a narrow deep one.
        """
        if self.channels:
            activation = activation[:, list(self.channels)]
        return self.weight * activation.mean()

    def spec(self) -> str:
        """This term in the text form :func:`parse_layer_spec` reads."""
        text = self.layer
        if self.channels:
            text += ":" + "+".join(str(channel) for channel in self.channels)
        return text + weight_suffix(self.weight)

    def check(self, model: Catalogue) -> None:
        info = model.layer(self.layer)
        for channel in self.channels:
            if not 0 <= channel < info.channels:
                raise UnknownLayerError(
                    f"layer {self.layer} has channels 0..{info.channels - 1}; got {channel}"
                )


@dataclass(frozen=True)
class ClassTerm:
    """The logit of one ImageNet class (0..999), times a weight: dream the class into the picture."""

    index: int
    weight: float = 1.0
    layer: str = LOGITS

    def score(self, logits: Tensor) -> Tensor:
        return self.weight * logits[:, self.index].mean()

    def spec(self) -> str:
        return f"class:{self.index}" + weight_suffix(self.weight)

    def check(self, model: Catalogue) -> None:
        if not 0 <= self.index < 1000:
            raise UnknownLayerError(f"ImageNet classes are 0..999; got {self.index}")


@dataclass(frozen=True)
class GuideTerm:
    """Match a guide image's features at a layer, as in Google's original DeepDream notebook.

    Each position of the dreamed activation is pulled towards the guide feature vector it already
    resembles most (largest dot product), so the dream borrows the guide's motifs where they fit.
    ``features`` is the guide's activation, (channels, positions); the Dreamer binds it when a dream
    starts, after the task has checked that a guide image was given.
    """

    layer: str
    weight: float = 1.0
    features: Tensor | None = None

    def score(self, activation: Tensor) -> Tensor:
        if self.features is None:
            raise SettingsError(f"guide:{self.layer} needs a guide image (--guide IMAGE)")
        positions = activation.flatten(2).transpose(1, 2)  # (N, HW, C)
        guide = self.features.to(activation.dtype)
        similarity = positions @ guide  # (N, HW, M)
        best = similarity.detach().argmax(dim=-1, keepdim=True)
        return self.weight * similarity.gather(-1, best).mean() / activation.shape[1]

    def spec(self) -> str:
        return f"guide:{self.layer}" + weight_suffix(self.weight)

    def check(self, model: Catalogue) -> None:
        model.layer(self.layer)


Term = LayerTerm | ClassTerm | GuideTerm


def weight_suffix(weight: float) -> str:
    return "" if weight == 1.0 else f"={weight:g}"


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms; ``a + b``, ``2 * a`` and ``-a`` build new objectives."""

    terms: tuple[Term, ...]

    @property
    def layers(self) -> list[str]:
        """Layers the network must return for this objective (each once, in first-use order)."""
        return list(dict.fromkeys(term.layer for term in self.terms))

    def __call__(self, activations: Mapping[str, Tensor]) -> Tensor:
        total = torch.zeros((), device=next(iter(activations.values())).device)
        for term in self.terms:
            total = total + term.score(activations[term.layer])
        return total

    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms)

    def __mul__(self, factor: float) -> Objective:
        return Objective(tuple(replace(term, weight=term.weight * factor) for term in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)

    def spec(self) -> str:
        """The text form of this objective."""
        return ",".join(term.spec() for term in self.terms)

    def check(self, model: Catalogue) -> None:
        """Raise a clear error when a layer, channel or class does not exist in ``model``'s catalogue."""
        for term in self.terms:
            term.check(model)

    @property
    def guide_layers(self) -> list[str]:
        """Layers whose guide features still have to be computed from a guide image."""
        return [term.layer for term in self.terms if isinstance(term, GuideTerm)]

    def as_guided(self) -> Objective:
        """Every plain layer term turned into a guide term on the same layer (``--guide`` alone)."""
        return Objective(
            tuple(GuideTerm(t.layer, t.weight) if isinstance(t, LayerTerm) else t for t in self.terms)
        )

    def with_guide(self, features: Mapping[str, Tensor]) -> Objective:
        """A copy whose guide terms carry the guide image's ``features`` (layer -> (C, positions))."""
        return Objective(
            tuple(
                replace(term, features=features[term.layer]) if isinstance(term, GuideTerm) else term
                for term in self.terms
            )
        )


def layer(name: str, channels: tuple[int, ...] | int = (), weight: float = 1.0) -> Objective:
    """Objective of one layer (or some of its channels): ``layer("mixed4", 97)``."""
    if isinstance(channels, int):
        channels = (channels,)
    return Objective((LayerTerm(name, tuple(channels), weight),))


def imagenet_class(name_or_index: str | int, weight: float = 1.0) -> Objective:
    """Objective of one ImageNet class's logit: ``imagenet_class("tabby")`` or ``imagenet_class(281)``."""
    return Objective((ClassTerm(class_index(name_or_index), weight),))


def guide(layer_name: str, weight: float = 1.0) -> Objective:
    """Objective matching a guide image's features at a layer (the Dreamer binds the guide image)."""
    return Objective((GuideTerm(layer_name, weight),))


def class_index(name_or_index: str | int) -> int:
    """An ImageNet class index from its index or (case-insensitive) name, e.g. ``"tabby"`` -> 281."""
    from reverie.classify import imagenet_class_names

    text = str(name_or_index).strip()
    if text.isdigit():
        index = int(text)
        if index >= 1000:
            raise SettingsError(f"ImageNet classes are 0..999; got {index}")
        return index
    matches = [i for i, name in enumerate(imagenet_class_names()) if name.lower() == text.lower()]
    if not matches:
        hint = did_you_mean(text, imagenet_class_names())
        raise SettingsError(
            f"unknown ImageNet class {text!r}{hint}; use a class index 0..999 or a name like 'tabby'"
        )
    if len(matches) > 1:
        raise SettingsError(f"ImageNet class name {text!r} is ambiguous; use one of the indices {matches}")
    return matches[0]


def parse_layer_spec(text: str) -> Objective:
    """Parse a layer specification (see the module docstring); :class:`SettingsError` if malformed."""
    terms = [parse_term(part.strip()) for part in text.split(",") if part.strip()]
    if not terms:
        raise SettingsError("no layers given; use e.g. --layers blocks.8,blocks.11")
    return Objective(tuple(terms))


def parse_term(text: str) -> Term:
    """One term: ``LAYER[:CHANNELS]``, ``class:NAME_OR_INDEX`` or ``guide:LAYER``, each ``[=WEIGHT]``."""
    body, has_weight, weight_text = text.partition("=")
    name, has_detail, detail = body.partition(":")
    name, detail = name.strip(), detail.strip()
    if (has_weight and not weight_text.strip()) or (has_detail and not detail):
        raise SettingsError(f"layer term {text!r} ends in ':' or '=' with nothing after it")
    try:
        weight = float(weight_text) if weight_text else 1.0
    except ValueError:
        weight = math.nan
    if not math.isfinite(weight):
        raise SettingsError(f"cannot read the weight of {text!r}; expected a number after '='")
    if name == "class":
        return ClassTerm(class_index(detail), weight)
    if name == "guide":
        if not detail:
            raise SettingsError(f"guide term {text!r} names no layer; use e.g. guide:blocks.11")
        return GuideTerm(detail, weight)
    try:
        channels = tuple(int(c) for c in detail.split("+")) if detail else ()
    except ValueError:
        raise SettingsError(
            f"cannot read layer term {text!r}; expected LAYER[:CHANNEL[+CHANNEL...]][=WEIGHT]"
        ) from None
    if not name:
        raise SettingsError(f"layer term {text!r} has no layer name")
    return LayerTerm(name, channels, weight)
