"""GoogLeNet before it is built: its inception configuration, layer catalogue, presets, weights.

Torch-free, so listing models and layers never loads PyTorch; :mod:`reverie.models.googlenet`
builds the network from the same configuration.
"""

from __future__ import annotations

from reverie.models.registry import Deferred, LayerInfo, WeightsSource, register_model

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

#: Grid reductions after an inception block: block -> (pool stage, window); each halves the grid.
POOLS_AFTER = {"inception3b": ("maxpool3", 3), "inception4e": ("maxpool4", 2)}


def inception_channels(config: tuple[int, ...]) -> int:
    """Output channels of an inception block: its four branches side by side."""
    _, ch1x1, _, ch3x3, _, ch5x5, pool_proj = config
    return ch1x1 + ch3x3 + ch5x5 + pool_proj


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


register_model(
    name="googlenet",
    weights=(
        WeightsSource(
            filename="googlenet-1378be20.pth",
            url="https://download.pytorch.org/models/googlenet-1378be20.pth",
            description="torchvision ImageNet weights",
        ),
    ),
    convert_weights=Deferred("reverie.models.googlenet", "convert_googlenet_weights"),
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
    build_network=Deferred("reverie.models.googlenet", "googlenet"),
)
