"""The shape every dreamable network takes: named stages run in order, stopping early.

A :class:`Backbone` is a frozen ImageNet classifier cut into an ordered list of named stages. Dreaming
on a layer means running the stages up to that layer and no further (a dream on ``mixed3`` must not pay
for ``mixed10``), so the model itself returns the requested activations: no forward hooks. What it
knows about itself (layer catalogue, input size, minimum side, input normalisation) is its registry
entry, :class:`reverie.models.registry.ModelSpec`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from reverie.models.registry import LayerInfo, ModelSpec

#: Pseudo-layer name for the network's ImageNet logits (class objectives dream on it).
LOGITS = "logits"


class PooledClassifier(nn.Module):
    """Global average pool and the ImageNet linear layer, the head of most backbones here.

    Its weights are ``head.fc.weight``/``head.fc.bias``; dropout before it is a no-op in eval mode.
    """

    def __init__(self, channels: int, classes: int = 1000):
        super().__init__()
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(dim=(2, 3)))


def stage_key(layer_name: str) -> str:
    """Module key of a layer: torch forbids "." in module names, so ``blocks.3`` -> ``blocks_3``."""
    return layer_name.replace(".", "_")


class Backbone(nn.Module):
    """A frozen classifier exposing named intermediate layers.

    Inputs are RGB tensors in [0, 1], shape (N, 3, H, W); the spec says how to normalise them for
    the weights, so callers never need to know.
    """

    def __init__(self, stages: Iterable[tuple[str, nn.Module]], head: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        stages = list(stages)
        self.spec = spec
        #: Layer names in run order; module keys replace "." (which torch forbids) by "_".
        self.stage_names: tuple[str, ...] = tuple(name for name, _ in stages)
        self.stages = nn.ModuleDict({stage_key(name): module for name, module in stages})
        self.head = head
        unknown = [info.name for info in spec.layers if info.name not in self.stage_names]
        if unknown:
            raise ValueError(f"layer catalogue names unknown stages: {unknown}")
        self.register_buffer("input_mean", torch.tensor(spec.input_mean).view(1, 3, 1, 1), False)
        self.register_buffer("input_std", torch.tensor(spec.input_std).view(1, 3, 1, 1), False)

    @property
    def layer_names(self) -> list[str]:
        """Names of the dreamable layers, shallow to deep."""
        return self.spec.layer_names

    @property
    def min_side(self) -> int:
        """Smallest image side every layer accepts, px."""
        return self.spec.min_side

    @property
    def input_size(self) -> int:
        """Resolution the network was trained at, px."""
        return self.spec.input_size

    def layer(self, name: str) -> LayerInfo:
        """The catalogue entry of ``name``; a clear error listing the valid names otherwise."""
        return self.spec.layer(name)

    def freeze(self) -> Backbone:
        """Eval mode and no weight gradients: dreams differentiate w.r.t. the image only."""
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self

    def normalise(self, rgb: Tensor) -> Tensor:
        """Map [0, 1] RGB to the input range the weights were trained with."""
        return (rgb - self.input_mean) / self.input_std

    def forward(self, rgb: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Activations of ``layers`` for ``rgb``, running no stage past the deepest one asked for.

        The pseudo-layer ``logits`` (:data:`LOGITS`) asks for the ImageNet logits, i.e. the whole
        network and its head. Names are not checked here, on every tile of every step: objectives
        are checked against the catalogue once, when a task is checked. A name that is no stage
        still fails clearly, after the run.
        """
        wanted = set(layers) - {LOGITS}
        whole = LOGITS in layers
        found: dict[str, Tensor] = {}
        x = self.normalise(rgb)
        for name, stage in zip(self.stage_names, self.stages.values(), strict=True):
            if not whole and len(found) == len(wanted):
                break
            x = stage(x)
            if name in wanted:
                found[name] = x
        if len(found) < len(wanted):
            for name in sorted(wanted - set(found)):
                self.layer(name)
        if whole:
            found[LOGITS] = self.head(x)
        return found

    def classify(self, rgb: Tensor) -> Tensor:
        """ImageNet logits, shape (N, 1000)."""
        return self(rgb, [LOGITS])[LOGITS]
