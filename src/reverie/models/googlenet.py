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
from reverie.models.cards.googlenet import INCEPTIONS, POOLS_AFTER
from reverie.models.layers import conv_bn_relu
from reverie.models.registry import Network
from reverie.weights import read_torch_state_dict

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


def googlenet() -> Network:
    """GoogLeNet's stages and its 1024-channel pooled classifier."""
    return googlenet_stages(), PooledClassifier(1024)
