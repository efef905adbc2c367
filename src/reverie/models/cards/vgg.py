"""VGG16 and VGG19 before they are built: the ``features`` layout, layer catalogue, presets, weights.

Torch-free, so listing models and layers never loads PyTorch; :mod:`reverie.models.vgg` builds the
networks from the same layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from reverie.models.registry import Deferred, LayerInfo, WeightsSource, register_model

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


def vgg_catalogue(variant: str) -> list[LayerInfo]:
    """Every conv, relu and pool stage of ``variant`` with its channels and stride."""
    return [
        LayerInfo(layer.name, layer.channels, layer.stride, BLOCK_HINTS[layer.block - 1])
        for layer in feature_layers(variant)
    ]


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
        convert_weights=Deferred("reverie.models.vgg", "convert_vgg_weights", (variant,)),
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
        build_network=Deferred("reverie.models.vgg", "build_vgg", (variant,)),
    )


register_vgg("vgg16", "vgg16-397923af.pth", "138M", deepest_conv=3)
register_vgg("vgg19", "vgg19-dcbb9e9d.pth", "144M", deepest_conv=4)
