"""GoogLeNet (Inception v1), the network the original DeepDream images were made with.

Built exactly as torchvision builds it so torchvision's published ImageNet weights load unchanged:
every convolution is a bias-free conv + batch norm (eps 1e-3) + ReLU, max pools round up
(``ceil_mode``), and the "5x5" branch of each inception block is really a 3x3 convolution (a
torchvision quirk kept for weight compatibility). The auxiliary classifiers only matter in training
and are dropped when the weights are read.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from reverie.models.base import PooledClassifier
from reverie.models.layers import conv_bn_relu
from reverie.models.registry import LayerInfo, Network, WeightsSource, register_model
from reverie.weights import read_torch_state_dict

#: Inception block -> (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), as published.
INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}

# What dreaming on each layer tends to produce, after the many published GoogLeNet dreams.
HINTS = {
    "conv1": "colour noise and edges",
    "maxpool1": "colour noise and edges",
    "conv2": "edges and gradients",
    "conv3": "fine lines and edges",
    "maxpool2": "lines and fine grain",
    "inception3a": "brush strokes and simple textures",
    "inception3b": "swirls and patterns",
    "maxpool3": "swirls and patterns",
    "inception4a": "patterns with the first eyes",
    "inception4b": "eyes and fur",
    "inception4c": "dog faces and eyes",
    "inception4d": "animal parts: snouts, eyes, feathers",
    "inception4e": "animals, buildings and objects",
    "maxpool4": "animals, buildings and objects",
    "inception5a": "whole objects, abstract blends",
    "inception5b": "abstract blends of objects",
}

#: Dropped on conversion: auxiliary classifiers, which only shape training.
AUX_PREFIXES = ("aux1.", "aux2.")


def max_pool(kernel: int, stride: int, padding: int = 0) -> nn.MaxPool2d:
    """GoogLeNet pools round the output size up, so odd sizes keep their last row and column."""
    return nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)


class Inception(nn.Module):
    """Four parallel branches (1x1, 1x1->3x3, 1x1->3x3, pool->1x1) concatenated along channels."""

    def __init__(
        self,
        channels_in: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
    ):
        super().__init__()
        self.branch1 = conv_bn_relu(channels_in, ch1x1, 1)
        self.branch2 = nn.Sequential(
            conv_bn_relu(channels_in, ch3x3_reduce, 1), conv_bn_relu(ch3x3_reduce, ch3x3, 3, padding=1)
        )
        # Named "5x5" after the paper, but 3x3 in the published weights.
        self.branch3 = nn.Sequential(
            conv_bn_relu(channels_in, ch5x5_reduce, 1), conv_bn_relu(ch5x5_reduce, ch5x5, 3, padding=1)
        )
        self.branch4 = nn.Sequential(max_pool(3, 1, padding=1), conv_bn_relu(channels_in, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


#: Grid reductions after an inception block: block -> (pool stage, window); each halves the grid.
POOLS_AFTER = {"inception3b": ("maxpool3", 3), "inception4e": ("maxpool4", 2)}


def inception_channels(config: tuple[int, ...]) -> int:
    """Output channels of an inception block: its four branches side by side."""
    _, ch1x1, _, ch3x3, _, ch5x5, pool_proj = config
    return ch1x1 + ch3x3 + ch5x5 + pool_proj


def googlenet_stages() -> list[tuple[str, nn.Module]]:
    """The feature extractor in run order, under torchvision's attribute names."""
    stages: list[tuple[str, nn.Module]] = [
        ("conv1", conv_bn_relu(3, 64, 7, stride=2, padding=3)),
        ("maxpool1", max_pool(3, 2)),
        ("conv2", conv_bn_relu(64, 64, 1)),
        ("conv3", conv_bn_relu(64, 192, 3, padding=1)),
        ("maxpool2", max_pool(3, 2)),
    ]
    for name, config in INCEPTIONS.items():
        stages.append((name, Inception(*config)))
        if name in POOLS_AFTER:
            pool, window = POOLS_AFTER[name]
            stages.append((pool, max_pool(window, 2)))
    return stages


def googlenet_catalogue() -> list[LayerInfo]:
    """Channels and stride of every stage, from the published configuration (no network built)."""
    stem = [("conv1", 64, 2), ("maxpool1", 64, 4), ("conv2", 64, 4), ("conv3", 192, 4), ("maxpool2", 192, 8)]
    layers = [LayerInfo(name, channels, stride, HINTS[name]) for name, channels, stride in stem]
    stride = 8
    for name, config in INCEPTIONS.items():
        channels = inception_channels(config)
        layers.append(LayerInfo(name, channels, stride, HINTS[name]))
        if name in POOLS_AFTER:
            stride *= 2
            layers.append(LayerInfo(POOLS_AFTER[name][0], channels, stride, HINTS[POOLS_AFTER[name][0]]))
    return layers


def convert_googlenet_weights(path: Path) -> dict[str, Tensor]:
    """Move the published keys under ``stages.``/``head.`` and drop the auxiliary classifiers.

    Keys that name no GoogLeNet module are kept as they are, so a file of another network is
    reported by its own key names.
    """
    stage_names = {"conv1", "conv2", "conv3", *INCEPTIONS}
    renamed: dict[str, Tensor] = {}
    for key, tensor in read_torch_state_dict(path).items():
        if key.startswith(AUX_PREFIXES):
            continue
        if key.split(".", 1)[0] in stage_names:
            key = f"stages.{key}"
        elif key.startswith("fc."):
            key = f"head.{key}"
        renamed[key] = tensor
    return renamed


@register_model(
    weights=(
        WeightsSource(
            filename="googlenet-1378be20.pth",
            url="https://download.pytorch.org/models/googlenet-1378be20.pth",
            description="torchvision ImageNet weights",
        ),
    ),
    convert_weights=convert_googlenet_weights,
    description="GoogLeNet / Inception v1 (the original DeepDream network), 224 px; bring your own weights",
    presets={
        "edges": "conv3",
        "textures": "inception3b",
        "patterns": "inception4c",
        "objects": "inception4d,inception4e",
    },
    default_preset="patterns",
    layers=googlenet_catalogue(),
    input_size=224,
    # Found by trying every size: at 15 px maxpool3 still gets 2 px to pool; at 14 px it gets one
    # pixel, too small for its 3x3 window, and the forward pass fails.
    min_side=15,
    # torchvision feeds it (rgb - 0.5) / 0.5 (its transform_input).
    input_mean=(0.5,) * 3,
    input_std=(0.5,) * 3,
)
def googlenet() -> Network:
    """GoogLeNet's stages and its 1024-channel pooled classifier."""
    return googlenet_stages(), PooledClassifier(1024)
