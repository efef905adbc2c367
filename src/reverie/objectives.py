"""What to maximise: layers, channels, ImageNet classes and guide images, composable with + and *.

A layer specification is the user-facing text form, shared by the CLI, the Python API and saved
metadata: comma-separated terms, each with an optional ``=WEIGHT``:

- ``LAYER[:CHANNELS]``: the mean activation of a layer, or of some channels (``blocks.10:37+40``);
- ``class:NAME_OR_INDEX``: the ImageNet logit of a class (``class:tabby``, ``class:281``);
- ``guide:LAYER``: how well a layer's features match those of a guide image (``--guide IMAGE``).

Examples: ``mixed3,mixed5``; ``blocks.8=0.5,blocks.11:3+7=2``; ``blocks.11,class:espresso=0.5``.

Term kinds other than plain layers are registered by the prefix that names them
(:func:`term_kind`): a new kind is one class with ``parse``, ``score``, ``spec`` and ``check``, and
the parser reads it without being edited.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, Self

import torch
from torch import Tensor

from reverie.errors import SettingsError, UnknownLayerError, did_you_mean
from reverie.models.base import LOGITS
from reverie.models.registry import LayerInfo
from reverie.schema import Knob, in_range, range_text

#: A term's weight (``blocks.8=0.5``; negative suppresses). Only ratios between terms matter (the
#: gradient is normalised), and the bound keeps the objective far inside float32, where a weight of
#: 1e39 would overflow the loss and dream a black picture.
TERM_WEIGHT = Knob("Weight of a layer term; negative suppresses.", minimum=-1000, maximum=1000)


class Catalogue(Protocol):
    """What checking an objective needs of a model: its layer catalogue (a ModelSpec or a Backbone)."""

    def layer(self, name: str) -> LayerInfo: ...


class Term(Protocol):
    """One weighted part of an objective, computed from one layer's activation (or the logits)."""

    layer: str
    weight: float

    def score(self, activation: Tensor) -> Tensor: ...

    def spec(self) -> str: ...

    def check(self, model: Catalogue) -> None: ...


#: Term kinds by the prefix that names them in a layer specification: ``PREFIX:DETAIL[=WEIGHT]``
#: is read by ``TERM_KINDS[PREFIX](DETAIL, WEIGHT)``.
TERM_KINDS: dict[str, Callable[[str, float], Term]] = {}


def term_kind(prefix: str) -> Callable[[type], type]:
    """Register a term class under ``prefix`` (its ``parse(detail, weight)`` classmethod reads it)."""

    def register(term_class: type) -> type:
        TERM_KINDS[prefix] = term_class.parse
        return term_class

    return register


def layers_error(text: str, *, value: object = None) -> SettingsError:
    """A mistake in the layers setting."""
    return SettingsError(text, field="layers", value=value)


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
                    f"layer {self.layer} has channels 0..{info.channels - 1}; got {channel}",
                    field="layers", value=channel, limits={"minimum": 0, "maximum": info.channels - 1},
                )  # fmt: skip

    @classmethod
    def parse(cls, name: str, detail: str, weight: float, text: str) -> Self:
        """``LAYER[:CHANNEL[+CHANNEL...]]``."""
        try:
            channels = tuple(int(c) for c in detail.split("+")) if detail else ()
        except ValueError:
            raise layers_error(
                f"cannot read layer term {text!r}; expected LAYER[:CHANNEL[+CHANNEL...]][=WEIGHT]", value=text
            ) from None
        if not name:
            raise layers_error(f"layer term {text!r} has no layer name", value=text)
        return cls(name, channels, weight)


@term_kind("class")
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
            raise UnknownLayerError(
                f"ImageNet classes are 0..999; got {self.index}", field="layers", value=self.index,
                limits={"minimum": 0, "maximum": 999},
            )  # fmt: skip

    @classmethod
    def parse(cls, detail: str, weight: float) -> Self:
        """``class:NAME_OR_INDEX``."""
        return cls(class_index(detail), weight)


@term_kind("guide")
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
        if self.features is None:  # the task checks for a guide image; a caller may have skipped it
            raise SettingsError(f"guide:{self.layer} needs a guide image", field="guide")
        positions = activation.flatten(2).transpose(1, 2)  # (N, HW, C)
        guide = self.features.to(activation.dtype)
        similarity = positions @ guide  # (N, HW, M)
        best = similarity.detach().argmax(dim=-1, keepdim=True)
        return self.weight * similarity.gather(-1, best).mean() / activation.shape[1]

    def spec(self) -> str:
        return f"guide:{self.layer}" + weight_suffix(self.weight)

    def check(self, model: Catalogue) -> None:
        model.layer(self.layer)

    @classmethod
    def parse(cls, detail: str, weight: float) -> Self:
        """``guide:LAYER``."""
        return cls(detail, weight)


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
            raise SettingsError(
                f"ImageNet classes are 0..999; got {index}", field="layers", value=index,
                limits={"minimum": 0, "maximum": 999},
            )  # fmt: skip
        return index
    matches = [i for i, name in enumerate(imagenet_class_names()) if name.lower() == text.lower()]
    if not matches:
        hint = did_you_mean(text, imagenet_class_names())
        raise layers_error(
            f"unknown ImageNet class {text!r}{hint}; use a class index 0..999 or a name like 'tabby'",
            value=text,
        )
    if len(matches) > 1:
        raise layers_error(
            f"ImageNet class name {text!r} is ambiguous; use one of the indices {matches}", value=text
        )
    return matches[0]


def parse_layer_spec(text: str) -> Objective:
    """Parse a layer specification (see the module docstring); :class:`SettingsError` if malformed."""
    terms = [parse_term(part.strip()) for part in text.split(",") if part.strip()]
    if not terms:
        raise layers_error("no layers given; use e.g. blocks.8,blocks.11", value=text)
    return Objective(tuple(terms))


def parse_term(text: str) -> Term:
    """One term: ``LAYER[:CHANNELS]`` or ``PREFIX:DETAIL`` of a registered kind (:data:`TERM_KINDS`),
    each ``[=WEIGHT]``."""
    body, has_weight, weight_text = text.partition("=")
    name, has_detail, detail = body.partition(":")
    name, detail = name.strip(), detail.strip()
    if (has_weight and not weight_text.strip()) or (has_detail and not detail):
        raise layers_error(f"layer term {text!r} ends in ':' or '=' with nothing after it", value=text)
    weight = parse_weight(text, weight_text)
    if name in TERM_KINDS:
        if not detail:
            raise layers_error(f"{name} term {text!r} names nothing after '{name}:'", value=text)
        return TERM_KINDS[name](detail, weight)
    return LayerTerm.parse(name, detail, weight, text)


def parse_weight(text: str, weight_text: str) -> float:
    """The ``=WEIGHT`` of a term (1 without one), a number within :data:`TERM_WEIGHT`."""
    try:
        weight = float(weight_text) if weight_text else 1.0
    except ValueError:
        weight = math.nan
    if not math.isfinite(weight):
        raise layers_error(f"cannot read the weight of {text!r}; expected a number after '='", value=text)
    if not in_range(weight, TERM_WEIGHT):
        raise SettingsError(
            f"the weight of {text!r} must be {range_text(TERM_WEIGHT)} (only ratios between terms matter)",
            field="layers", value=text, limits=TERM_WEIGHT.limits(),
        )  # fmt: skip
    return weight
