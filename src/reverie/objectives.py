"""What to maximise: weighted layer and channel activations, composable with ``+`` and ``*``.

A layer specification is the user-facing text form, shared by the CLI, the web app and saved
metadata: comma-separated terms ``LAYER[:CHANNELS][=WEIGHT]``, where CHANNELS is one index or several
joined by ``+``. Examples: ``mixed3,mixed5``; ``blocks.10:37``; ``blocks.8=0.5,blocks.11:3+7=2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from reverie.errors import SettingsError, UnknownLayerError
from reverie.models.base import Backbone


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
        if self.weight != 1.0:
            text += f"={self.weight:g}"
        return text


@dataclass(frozen=True)
class Objective:
    """A weighted sum of layer terms; ``a + b``, ``2 * a`` and ``-a`` build new objectives."""

    terms: tuple[LayerTerm, ...]

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

    def check(self, model: Backbone) -> None:
        """Raise a clear error when a layer or channel does not exist in ``model``."""
        for term in self.terms:
            info = model.layer(term.layer)
            for channel in term.channels:
                if not 0 <= channel < info.channels:
                    raise UnknownLayerError(
                        f"layer {term.layer} has channels 0..{info.channels - 1}; got {channel}"
                    )


def layer(name: str, channels: tuple[int, ...] | int = (), weight: float = 1.0) -> Objective:
    """Objective of one layer (or some of its channels): ``layer("mixed4", 97)``."""
    if isinstance(channels, int):
        channels = (channels,)
    return Objective((LayerTerm(name, tuple(channels), weight),))


def parse_layer_spec(text: str) -> Objective:
    """Parse ``LAYER[:C1+C2][=WEIGHT],...`` into an objective; :class:`SettingsError` if malformed."""
    terms = [parse_term(part.strip()) for part in text.split(",") if part.strip()]
    if not terms:
        raise SettingsError("no layers given; use e.g. --layers blocks.8,blocks.11")
    return Objective(tuple(terms))


def parse_term(text: str) -> LayerTerm:
    """One ``LAYER[:CHANNELS][=WEIGHT]`` term."""
    body, _, weight_text = text.partition("=")
    name, _, channel_text = body.partition(":")
    try:
        weight = float(weight_text) if weight_text else 1.0
        channels = tuple(int(c) for c in channel_text.split("+")) if channel_text else ()
    except ValueError:
        raise SettingsError(
            f"cannot read layer term {text!r}; expected LAYER[:CHANNEL[+CHANNEL...]][=WEIGHT]"
        ) from None
    if not name.strip():
        raise SettingsError(f"layer term {text!r} has no layer name")
    return LayerTerm(name.strip(), channels, weight)
