"""The shape every dreamable network takes: named stages run in order, stopping early.

A :class:`Backbone` is a frozen ImageNet classifier cut into an ordered list of named stages. Dreaming
on a layer means running the stages up to that layer and no further (a dream on ``mixed3`` must not pay
for ``mixed10``), so the model itself returns the requested activations: no forward hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reverie.errors import UnknownLayerError


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


class PooledClassifier(nn.Module):
    """Global average pool and the ImageNet linear layer, the head of most backbones here.

    Its weights are ``head.fc.weight``/``head.fc.bias``; dropout before it is a no-op in eval mode.
    """

    def __init__(self, channels: int, classes: int = 1000):
        super().__init__()
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(dim=(2, 3)))


#: Pseudo-layer name for the network's ImageNet logits (class objectives dream on it).
LOGITS = "logits"


def stage_key(layer_name: str) -> str:
    """Module key of a layer: torch forbids "." in module names, so ``blocks.3`` -> ``blocks_3``."""
    return layer_name.replace(".", "_")


class Backbone(nn.Module):
    """A frozen classifier exposing named intermediate layers.

    Inputs are RGB tensors in [0, 1], shape (N, 3, H, W); each architecture states how it normalises
    them (``input_mean``/``input_std`` in the same [0, 1] units) so callers never need to know.
    """

    #: Resolution the network was trained at (used by ``classify``), in pixels.
    input_size: int = 224
    #: Smallest image side every stage accepts; smaller octaves are skipped by the renderer.
    min_input_side: int = 32

    def __init__(
        self,
        stages: Iterable[tuple[str, nn.Module]],
        head: nn.Module,
        layers: Sequence[LayerInfo],
        input_mean: Sequence[float],
        input_std: Sequence[float],
    ) -> None:
        super().__init__()
        stages = list(stages)
        #: Layer names in run order; module keys replace "." (which torch forbids) by "_".
        self.stage_names: tuple[str, ...] = tuple(name for name, _ in stages)
        self.stages = nn.ModuleDict({stage_key(name): module for name, module in stages})
        self.head = head
        self.layer_infos: tuple[LayerInfo, ...] = tuple(layers)
        unknown = [info.name for info in self.layer_infos if info.name not in self.stage_names]
        if unknown:
            raise ValueError(f"layer catalogue names unknown stages: {unknown}")
        self.register_buffer("input_mean", torch.tensor(input_mean).view(1, 3, 1, 1), False)
        self.register_buffer("input_std", torch.tensor(input_std).view(1, 3, 1, 1), False)

    @property
    def layer_names(self) -> list[str]:
        """Names of the dreamable layers, shallow to deep."""
        return [info.name for info in self.layer_infos]

    def layer(self, name: str) -> LayerInfo:
        """The catalogue entry of ``name``; a clear error listing the valid names otherwise."""
        for info in self.layer_infos:
            if info.name == name:
                return info
        raise UnknownLayerError(f"unknown layer {name!r}; valid layers: {', '.join(self.layer_names)}")

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
        network and its head.
        """
        wanted = set(layers) - {LOGITS}
        for name in wanted:
            self.layer(name)
        whole = LOGITS in layers
        found: dict[str, Tensor] = {}
        x = self.normalise(rgb)
        for name, stage in zip(self.stage_names, self.stages.values(), strict=True):
            if not whole and len(found) == len(wanted):
                break
            x = stage(x)
            if name in wanted:
                found[name] = x
        if whole:
            found[LOGITS] = self.head(x)
        return found

    def classify(self, rgb: Tensor) -> Tensor:
        """ImageNet logits, shape (N, 1000)."""
        x = self.normalise(rgb)
        for stage in self.stages.values():
            x = stage(x)
        return self.head(x)
