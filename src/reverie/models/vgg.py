"""VGG16 and VGG19 (no batch norm), as torchvision builds them, for its published ImageNet weights.

VGG's plain stack of 3x3 convolutions gives the painterly, densely textured dreams of many style
transfer and DeepDream examples. torchvision keeps the layers in one ``features`` Sequential indexed
by position; here every convolution, ReLU and pool is its own named stage (``conv4_2``, ``relu4_2``,
``pool4``) so both pre- and post-activation outputs can be dreamt on, and the converter walks the same
layout to map ``features.N`` to its stage. ReLUs are not in place, or they would overwrite the
convolution outputs a dream asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reverie.models.base import Backbone, LayerInfo
from reverie.models.registry import WeightsSource, register_model
from reverie.weights import read_torch_state_dict

#: Output channels of the five blocks, shared by every VGG.
BLOCK_CHANNELS = (64, 128, 256, 512, 512)

#: name -> convolutions in each block; torchvision's configurations "D" and "E".
VARIANTS = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}

#: What dreaming on each block's convolutions tends to produce.
BLOCK_HINTS = (
    "colour noise and edges",
    "edges and fine grain",
    "textures",
    "patterns and eyes",
    "object parts",
)


@dataclass(frozen=True)
class FeatureLayer:
    """One entry of torchvision's ``features`` Sequential, with the stage name Reverie gives it."""

    index: int
    kind: Literal["conv", "relu", "pool"]
    name: str
    block: int
    channels: int
    stride: int


def feature_layers(variant: str) -> Iterator[FeatureLayer]:
    """The ``features`` layout of ``variant``: conv, relu per convolution, a 2x2 pool per block."""
    index = 0
    for block, (convs, channels) in enumerate(zip(VARIANTS[variant], BLOCK_CHANNELS, strict=True), 1):
        stride = 2 ** (block - 1)
        for conv in range(1, convs + 1):
            yield FeatureLayer(index, "conv", f"conv{block}_{conv}", block, channels, stride)
            yield FeatureLayer(index + 1, "relu", f"relu{block}_{conv}", block, channels, stride)
            index += 2
        yield FeatureLayer(index, "pool", f"pool{block}", block, channels, stride * 2)
        index += 1


def stage_module(layer: FeatureLayer, channels_in: int) -> nn.Module:
    """The torch module of one ``features`` entry."""
    if layer.kind == "conv":
        return nn.Conv2d(channels_in, layer.channels, 3, padding=1)
    if layer.kind == "relu":
        return nn.ReLU()
    return nn.MaxPool2d(2, 2)


class Classifier(nn.Module):
    """Pool to 7x7 and torchvision's three fully connected layers (its dropouts are no-ops in eval)."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 1000),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 7), 1))


def build_vgg(variant: str) -> Backbone:
    """Assemble ``variant`` as a :class:`Backbone` with one stage per conv, relu and pool."""
    stages: list[tuple[str, nn.Module]] = []
    layers: list[LayerInfo] = []
    channels_in = 3
    for layer in feature_layers(variant):
        stages.append((layer.name, stage_module(layer, channels_in)))
        layers.append(LayerInfo(layer.name, layer.channels, layer.stride, BLOCK_HINTS[layer.block - 1]))
        channels_in = layer.channels
    backbone = Backbone(
        stages,
        Classifier(),
        layers,
        input_mean=(0.485, 0.456, 0.406),
        input_std=(0.229, 0.224, 0.225),
    )
    backbone.input_size = 224
    # Five 2x2 pools: 32 px leaves pool5 one pixel; the head's adaptive pool copes with any size.
    backbone.min_input_side = 32
    return backbone


def vgg_converter(variant: str) -> Callable[[Path], dict[str, Tensor]]:
    """A ``convert_weights`` for ``variant``: ``features.N.*`` -> its conv stage, ``classifier.*`` -> head.

    Keys that name no convolution of ``variant`` (such as a VGG16 file's indices read against VGG19)
    are kept as they are, so the mismatch is reported by the file's own key names.
    """
    conv_names = {
        f"features.{layer.index}": layer.name for layer in feature_layers(variant) if layer.kind == "conv"
    }

    def convert(path: Path) -> dict[str, Tensor]:
        renamed: dict[str, Tensor] = {}
        for key, tensor in read_torch_state_dict(path).items():
            module, _, leaf = key.rpartition(".")
            if module in conv_names:
                key = f"stages.{conv_names[module]}.{leaf}"
            elif key.startswith("classifier."):
                key = f"head.{key}"
            renamed[key] = tensor
        return renamed

    return convert


def _torchvision_source(filename: str) -> tuple[WeightsSource, ...]:
    return (
        WeightsSource(
            filename=filename,
            url=f"https://download.pytorch.org/models/{filename}",
            description="torchvision ImageNet weights",
        ),
    )


@register_model(
    weights=_torchvision_source("vgg16-397923af.pth"),
    convert_weights=vgg_converter("vgg16"),
    description="VGG16, 138M params, 224 px; dense painterly textures, slow on CPU; bring your own weights",
    presets={
        "edges": "relu2_2",
        "textures": "relu3_3",
        "patterns": "relu4_2,relu4_3",
        "objects": "relu5_2,relu5_3",
    },
    default_preset="patterns",
)
def vgg16() -> Backbone:
    return build_vgg("vgg16")


@register_model(
    weights=_torchvision_source("vgg19-dcbb9e9d.pth"),
    convert_weights=vgg_converter("vgg19"),
    description="VGG19, 144M params, 224 px; dense painterly textures, slow on CPU; bring your own weights",
    presets={
        "edges": "relu2_2",
        "textures": "relu3_4",
        "patterns": "relu4_2,relu4_4",
        "objects": "relu5_2,relu5_4",
    },
    default_preset="patterns",
)
def vgg19() -> Backbone:
    return build_vgg("vgg19")
