"""torchvision's published weight files (GoogLeNet, InceptionV3, VGG16/19), rebuilt from random tensors.

Each layout lists every key of the published file with its shape, auxiliary classifiers included,
restated from torchvision's model definitions rather than imported from the code under test, so a
renaming slip in a converter shows up as a tensor landing in the wrong place or not at all. The
tensors are random but scaled like trained ones (He-initialised convolutions, positive variances),
so activations stay finite and varied through every layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

Layout = Iterator[tuple[str, tuple[int, ...]]]

#: The batch-norm counter that files saved before PyTorch 0.4.1 lack (only training reads it).
BATCHES_TRACKED = "num_batches_tracked"

FILENAMES = {
    "googlenet": "googlenet-1378be20.pth",
    "inception_v3": "inception_v3_google-0cc3c7bd.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}

#: GoogLeNet's inception blocks: (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection).
GOOGLENET_INCEPTIONS = {
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

#: torchvision's VGG configurations "D" and "E": output channels per convolution, "M" a 2x2 max pool.
VGG_CFGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4, "M"],
}

#: torchvision's InceptionV3 stem modules -> Reverie's stage names; ``Mixed_*`` blocks are ``mixed0``...
INCEPTION_STEM = {
    "Conv2d_1a_3x3": "conv2d_1a",
    "Conv2d_2a_3x3": "conv2d_2a",
    "Conv2d_2b_3x3": "conv2d_2b",
    "Conv2d_3b_1x1": "conv2d_3b",
    "Conv2d_4a_3x3": "conv2d_4a",
}
INCEPTION_BLOCKS = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")


def inception_convs() -> list[tuple[str, tuple[int, int, int, int]]]:
    """(torchvision module, Keras kernel shape (kh, kw, in, out)) of every InceptionV3 convolution.

    In keras.applications' build order (its ``conv2d_bn`` calls), which numbers Keras's layers;
    torchvision's attribute order is the same.
    """
    convs: list[tuple[str, tuple[int, int, int, int]]] = []

    def conv(name: str, cin: int, cout: int, kh: int, kw: int) -> None:
        convs.append((name, (kh, kw, cin, cout)))

    conv("Conv2d_1a_3x3", 3, 32, 3, 3)
    conv("Conv2d_2a_3x3", 32, 32, 3, 3)
    conv("Conv2d_2b_3x3", 32, 64, 3, 3)
    conv("Conv2d_3b_1x1", 64, 80, 1, 1)
    conv("Conv2d_4a_3x3", 80, 192, 3, 3)
    cin = 192
    for block, pool in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        conv(f"{block}.branch1x1", cin, 64, 1, 1)
        conv(f"{block}.branch5x5_1", cin, 48, 1, 1)
        conv(f"{block}.branch5x5_2", 48, 64, 5, 5)
        conv(f"{block}.branch3x3dbl_1", cin, 64, 1, 1)
        conv(f"{block}.branch3x3dbl_2", 64, 96, 3, 3)
        conv(f"{block}.branch3x3dbl_3", 96, 96, 3, 3)
        conv(f"{block}.branch_pool", cin, pool, 1, 1)
        cin = 64 + 64 + 96 + pool
    conv("Mixed_6a.branch3x3", 288, 384, 3, 3)
    conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1)
    conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3)
    conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)
    for block, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        conv(f"{block}.branch1x1", 768, 192, 1, 1)
        conv(f"{block}.branch7x7_1", 768, c7, 1, 1)
        conv(f"{block}.branch7x7_2", c7, c7, 1, 7)
        conv(f"{block}.branch7x7_3", c7, 192, 7, 1)
        conv(f"{block}.branch7x7dbl_1", 768, c7, 1, 1)
        conv(f"{block}.branch7x7dbl_2", c7, c7, 7, 1)
        conv(f"{block}.branch7x7dbl_3", c7, c7, 1, 7)
        conv(f"{block}.branch7x7dbl_4", c7, c7, 7, 1)
        conv(f"{block}.branch7x7dbl_5", c7, 192, 1, 7)
        conv(f"{block}.branch_pool", 768, 192, 1, 1)
    conv("Mixed_7a.branch3x3_1", 768, 192, 1, 1)
    conv("Mixed_7a.branch3x3_2", 192, 320, 3, 3)
    conv("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1)
    conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    conv("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)
    for block, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        conv(f"{block}.branch1x1", cin, 320, 1, 1)
        conv(f"{block}.branch3x3_1", cin, 384, 1, 1)
        conv(f"{block}.branch3x3_2a", 384, 384, 1, 3)
        conv(f"{block}.branch3x3_2b", 384, 384, 3, 1)
        conv(f"{block}.branch3x3dbl_1", cin, 448, 1, 1)
        conv(f"{block}.branch3x3dbl_2", 448, 384, 3, 3)
        conv(f"{block}.branch3x3dbl_3a", 384, 384, 1, 3)
        conv(f"{block}.branch3x3dbl_3b", 384, 384, 3, 1)
        conv(f"{block}.branch_pool", cin, 192, 1, 1)
    return convs


INCEPTION_CONVS = inception_convs()


def conv_bn(prefix: str, channels_out: int, channels_in: int, kh: int, kw: int | None = None) -> Layout:
    """Keys and shapes of torchvision's ``BasicConv2d``: a bias-free convolution, then batch norm."""
    yield f"{prefix}.conv.weight", (channels_out, channels_in, kh, kh if kw is None else kw)
    for leaf in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}.bn.{leaf}", (channels_out,)
    yield f"{prefix}.bn.{BATCHES_TRACKED}", ()


def googlenet_layout() -> Layout:
    """Every key of ``googlenet-1378be20.pth`` with its shape."""
    yield from conv_bn("conv1", 64, 3, 7)
    yield from conv_bn("conv2", 64, 64, 1)
    yield from conv_bn("conv3", 192, 64, 3)
    for name, (cin, c1, c3r, c3, c5r, c5, pool) in GOOGLENET_INCEPTIONS.items():
        yield from conv_bn(f"{name}.branch1", c1, cin, 1)
        yield from conv_bn(f"{name}.branch2.0", c3r, cin, 1)
        yield from conv_bn(f"{name}.branch2.1", c3, c3r, 3)
        yield from conv_bn(f"{name}.branch3.0", c5r, cin, 1)
        yield from conv_bn(f"{name}.branch3.1", c5, c5r, 3)
        yield from conv_bn(f"{name}.branch4.1", pool, cin, 1)
    for aux, channels_in in (("aux1", 512), ("aux2", 528)):
        yield from conv_bn(f"{aux}.conv", 128, channels_in, 1)
        yield f"{aux}.fc1.weight", (1024, 2048)
        yield f"{aux}.fc1.bias", (1024,)
        yield f"{aux}.fc2.weight", (1000, 1024)
        yield f"{aux}.fc2.bias", (1000,)
    yield "fc.weight", (1000, 1024)
    yield "fc.bias", (1000,)


def inception_layout() -> Layout:
    """Every key of ``inception_v3_google-0cc3c7bd.pth`` with its shape."""
    for name, (kh, kw, cin, cout) in INCEPTION_CONVS:
        yield from conv_bn(name, cout, cin, kh, kw)
    yield from conv_bn("AuxLogits.conv0", 128, 768, 1)
    yield from conv_bn("AuxLogits.conv1", 768, 128, 5)
    yield "AuxLogits.fc.weight", (1000, 768)
    yield "AuxLogits.fc.bias", (1000,)
    yield "fc.weight", (1000, 2048)
    yield "fc.bias", (1000,)


def vgg_conv_names(name: str) -> dict[int, str]:
    """``features`` index -> Reverie stage name of every convolution, walking torchvision's cfg."""
    names, index, block, conv = {}, 0, 1, 1
    for item in VGG_CFGS[name]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
        else:
            names[index] = f"conv{block}_{conv}"
            index, conv = index + 2, conv + 1
    return names


def vgg_layout(name: str) -> Layout:
    """Every key of the published VGG file with its shape."""
    channels_in = 3
    conv_indices = iter(vgg_conv_names(name))
    for item in VGG_CFGS[name]:
        if isinstance(item, int):
            index = next(conv_indices)
            yield f"features.{index}.weight", (item, channels_in, 3, 3)
            yield f"features.{index}.bias", (item,)
            channels_in = item
    for index, shape in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        yield f"classifier.{index}.weight", shape
        yield f"classifier.{index}.bias", shape[:1]


LAYOUTS: dict[str, Callable[[], Layout]] = {
    "googlenet": googlenet_layout,
    "inception_v3": inception_layout,
    "vgg16": lambda: vgg_layout("vgg16"),
    "vgg19": lambda: vgg_layout("vgg19"),
}

#: Prefixes of the auxiliary classifiers, which only shape training and must be dropped.
AUX_PREFIXES = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}


def inception_prefix(module: str) -> str:
    """``Mixed_5b.branch1x1`` -> ``stages.mixed0.branch1x1``; ``Conv2d_1a_3x3`` -> ``stages.conv2d_1a``."""
    top, _, rest = module.partition(".")
    stage = INCEPTION_STEM.get(top) or f"mixed{INCEPTION_BLOCKS.index(top.removeprefix('Mixed_'))}"
    return f"stages.{stage}" + (f".{rest}" if rest else "")


def expected_key(name: str, key: str) -> str | None:
    """Where a published key of ``name``'s file must land in Reverie's model; None if it is dropped."""
    if key.startswith(AUX_PREFIXES.get(name, ())):
        return None
    if key.startswith(("fc.", "classifier.")):
        return f"head.{key}"
    if name == "googlenet":
        return f"stages.{key}"
    if name == "inception_v3":
        module, layer, leaf = key.rsplit(".", 2)
        return f"{inception_prefix(module)}.{layer}.{leaf}"
    _, index, leaf = key.split(".")
    return f"stages.{vgg_conv_names(name)[int(index)]}.{leaf}"


def random_tensor(key: str, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """A random tensor for ``key`` scaled like a trained one, so deep activations stay finite and varied.

    Convolution and linear weights are He-initialised; batch-norm scales and variances are positive.
    """
    if key.endswith(BATCHES_TRACKED):
        return torch.randint(1, 1000, shape, generator=generator)
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        return torch.randn(shape, generator=generator) * math.sqrt(2 / fan_in)
    module, _, leaf = key.rpartition(".")
    is_norm = module.rpartition(".")[2].lstrip("_").startswith("bn")
    if leaf == "running_var" or (is_norm and leaf == "weight"):
        return torch.rand(shape, generator=generator) + 0.5
    return torch.randn(shape, generator=generator) * 0.1


def random_state(keys_and_shapes: Layout, seed: int) -> dict[str, Tensor]:
    """:func:`random_tensor` values for ``keys_and_shapes``; the same seed gives the same values."""
    generator = torch.Generator().manual_seed(seed)
    return {key: random_tensor(key, tuple(shape), generator) for key, shape in keys_and_shapes}


def write_published(name: str, folder: Path) -> Path:
    """A random file of ``name``'s published layout, under its published file name."""
    path = folder / FILENAMES[name]
    torch.save(random_state(LAYOUTS[name](), seed=sorted(FILENAMES).index(name)), path)
    return path
