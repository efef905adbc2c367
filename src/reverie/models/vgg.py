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

from reverie.models.registry import LayerInfo, Network, WeightsSource, register_model
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


def vgg_catalogue(variant: str) -> list[LayerInfo]:
    """Every conv, relu and pool stage of ``variant`` with its channels and stride."""
    return [
        LayerInfo(layer.name, layer.channels, layer.stride, BLOCK_HINTS[layer.block - 1])
        for layer in feature_layers(variant)
    ]


def build_vgg(variant: str) -> Network:
    """``variant``'s stages, one per conv, relu and pool, and torchvision's classifier."""
    stages: list[tuple[str, nn.Module]] = []
    channels_in = 3
    for layer in feature_layers(variant):
        stages.append((layer.name, stage_module(layer, channels_in)))
        channels_in = layer.channels
    return stages, Classifier()


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


def register_vgg(variant: str, filename: str, params: str, deepest_conv: int) -> None:
    """Register ``variant`` with torchvision's published file; presets use each block's last relu."""
    last = f"relu{{}}_{deepest_conv}"
    register_model(
        name=variant,
        weights=(
            WeightsSource(
                filename=filename,
                url=f"https://download.pytorch.org/models/{filename}",
                description="torchvision ImageNet weights",
            ),
        ),
        convert_weights=vgg_converter(variant),
        description=f"{variant.upper()}, {params} params, 224 px; dense painterly textures, slow on CPU; "
        "bring your own weights",
        presets={
            "edges": "relu2_2",
            "textures": last.format(3),
            "patterns": f"relu4_2,{last.format(4)}",
            "objects": f"relu5_2,{last.format(5)}",
        },
        default_preset="patterns",
        layers=vgg_catalogue(variant),
        input_size=224,
        # Five 2x2 pools: 32 px leaves pool5 one pixel; the head's adaptive pool copes with any size.
        min_side=32,
        input_mean=(0.485, 0.456, 0.406),
        input_std=(0.229, 0.224, 0.225),
    )(lambda: build_vgg(variant))


register_vgg("vgg16", "vgg16-397923af.pth", "138M", deepest_conv=3)
register_vgg("vgg19", "vgg19-dcbb9e9d.pth", "144M", deepest_conv=4)
