"""InceptionV3, the network of the TensorFlow DeepDream tutorial, with its layers ``mixed0``..``mixed10``.

The architecture is torchvision's, module for module (``Mixed_5b`` is ``mixed0``, ..., ``Mixed_7c`` is
``mixed10``), without the auxiliary classifier, which plays no part in inference. Keras's
``keras.applications.InceptionV3`` has the same layers: its stride-1 convolutions pad "same"
(symmetric for odd kernels, so equal to torchvision's explicit padding) and its stride-2 ones "valid".
So one PyTorch model takes either published weight file; :func:`convert_inception_v3_weights` reads both.

Both files expect RGB in [-1, 1]: Keras's ``preprocess_input`` is ``x / 127.5 - 1`` and torchvision's
pretrained model sets ``transform_input``, which amounts to ``(x - 0.5) / 0.5``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reverie.errors import File, ReverieError, WeightsMismatchError
from reverie.models.base import Backbone, PooledClassifier
from reverie.models.layers import ConvBnRelu, Kernel, conv_bn_relu
from reverie.models.registry import Network, get_spec
from reverie.weights import read_torch_state_dict

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def same(channels_in: int, channels_out: int, kernel: Kernel) -> ConvBnRelu:
    """Stride-1 convolution keeping the grid size (Keras "same", odd kernels only)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return conv_bn_relu(channels_in, channels_out, (kh, kw), padding=(kh // 2, kw // 2))


def reduce(channels_in: int, channels_out: int) -> ConvBnRelu:
    """3x3 stride-2 unpadded convolution: how every grid reduction starts."""
    return conv_bn_relu(channels_in, channels_out, 3, stride=2)


class PoolBranchAverage(nn.Module):
    """The 3x3 stride-1 average pool feeding a pool branch, in either framework's border convention.

    torchvision divides every window by 9, padded zeros included; Keras pads "same" and divides by the
    number of real pixels (``count_include_pad=False``). They differ on the one-pixel border only, but
    weights see it that way at every block, so each file should run as it was trained. The convention
    is therefore data, not configuration: ``count_include_pad`` is a persistent buffer (1.0 torchvision,
    0.0 Keras) that each weight converter writes into the state dict, and one registered model loads
    both files. It is a float blended arithmetically, so reading it never syncs a GPU.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count_include_pad", torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        pooled = F.avg_pool2d(x, 3, 1, 1, count_include_pad=True)
        # Share of each window that is image rather than padding: 1 inside, 6/9 on edges, 4/9 at corners.
        coverage = F.avg_pool2d(x.new_ones((1, 1, *x.shape[-2:])), 3, 1, 1, count_include_pad=True)
        include = self.count_include_pad
        return pooled * (include + (1 - include) / coverage)


def max_pool(x: Tensor) -> Tensor:
    """3x3 stride-2 unpadded max pool (the stem and the grid reductions)."""
    return F.max_pool2d(x, 3, 2)


# Each block lists its convolutions in ``keras_order``: the order keras.applications.inception_v3 builds
# them, which numbers Keras's layers and so says which ``conv2d_N`` is which module. It happens to be
# torchvision's attribute order too.


class InceptionA(nn.Module):
    """35x35 block (``mixed0``-``mixed2``): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    keras_order = (
        "branch1x1",
        "branch5x5_1",
        "branch5x5_2",
        "branch3x3dbl_1",
        "branch3x3dbl_2",
        "branch3x3dbl_3",
        "branch_pool",
    )

    def __init__(self, channels_in: int, pool_channels: int):
        super().__init__()
        self.branch1x1 = same(channels_in, 64, 1)
        self.branch5x5_1 = same(channels_in, 48, 1)
        self.branch5x5_2 = same(48, 64, 5)
        self.branch3x3dbl_1 = same(channels_in, 64, 1)
        self.branch3x3dbl_2 = same(64, 96, 3)
        self.branch3x3dbl_3 = same(96, 96, 3)
        self.avg_pool = PoolBranchAverage()
        self.branch_pool = same(channels_in, pool_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(self.avg_pool(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction (``mixed3``): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    keras_order = ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")

    def __init__(self, channels_in: int):
        super().__init__()
        self.branch3x3 = reduce(channels_in, 384)
        self.branch3x3dbl_1 = same(channels_in, 64, 1)
        self.branch3x3dbl_2 = same(64, 96, 3)
        self.branch3x3dbl_3 = reduce(96, 96)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), branch3x3dbl, max_pool(x)], 1)


class InceptionC(nn.Module):
    """17x17 block (``mixed4``-``mixed7``) with 7x7 convolutions factored into 1x7 and 7x1."""

    keras_order = (
        "branch1x1",
        "branch7x7_1",
        "branch7x7_2",
        "branch7x7_3",
        "branch7x7dbl_1",
        "branch7x7dbl_2",
        "branch7x7dbl_3",
        "branch7x7dbl_4",
        "branch7x7dbl_5",
        "branch_pool",
    )

    def __init__(self, channels_in: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = same(channels_in, 192, 1)
        self.branch7x7_1 = same(channels_in, c7, 1)
        self.branch7x7_2 = same(c7, c7, (1, 7))
        self.branch7x7_3 = same(c7, 192, (7, 1))
        self.branch7x7dbl_1 = same(channels_in, c7, 1)
        self.branch7x7dbl_2 = same(c7, c7, (7, 1))
        self.branch7x7dbl_3 = same(c7, c7, (1, 7))
        self.branch7x7dbl_4 = same(c7, c7, (7, 1))
        self.branch7x7dbl_5 = same(c7, 192, (1, 7))
        self.avg_pool = PoolBranchAverage()
        self.branch_pool = same(channels_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for conv in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(self.avg_pool(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction (``mixed8``): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    keras_order = (
        "branch3x3_1",
        "branch3x3_2",
        "branch7x7x3_1",
        "branch7x7x3_2",
        "branch7x7x3_3",
        "branch7x7x3_4",
    )

    def __init__(self, channels_in: int):
        super().__init__()
        self.branch3x3_1 = same(channels_in, 192, 1)
        self.branch3x3_2 = reduce(192, 320)
        self.branch7x7x3_1 = same(channels_in, 192, 1)
        self.branch7x7x3_2 = same(192, 192, (1, 7))
        self.branch7x7x3_3 = same(192, 192, (7, 1))
        self.branch7x7x3_4 = reduce(192, 192)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = x
        for conv in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = conv(branch7x7x3)
        return torch.cat([branch3x3, branch7x7x3, max_pool(x)], 1)


class InceptionE(nn.Module):
    """8x8 block (``mixed9``, ``mixed10``) whose 3x3 branches split into parallel 1x3 and 3x1 halves."""

    keras_order = (
        "branch1x1",
        "branch3x3_1",
        "branch3x3_2a",
        "branch3x3_2b",
        "branch3x3dbl_1",
        "branch3x3dbl_2",
        "branch3x3dbl_3a",
        "branch3x3dbl_3b",
        "branch_pool",
    )

    def __init__(self, channels_in: int):
        super().__init__()
        self.branch1x1 = same(channels_in, 320, 1)
        self.branch3x3_1 = same(channels_in, 384, 1)
        self.branch3x3_2a = same(384, 384, (1, 3))
        self.branch3x3_2b = same(384, 384, (3, 1))
        self.branch3x3dbl_1 = same(channels_in, 448, 1)
        self.branch3x3dbl_2 = same(448, 384, 3)
        self.branch3x3dbl_3a = same(384, 384, (1, 3))
        self.branch3x3dbl_3b = same(384, 384, (3, 1))
        self.avg_pool = PoolBranchAverage()
        self.branch_pool = same(channels_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        branch_pool = self.branch_pool(self.avg_pool(x))
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], 1)


class MaxPool(nn.Module):
    """The stem's 3x3 stride-2 max pool as a stage of its own (a stage must be a module)."""

    def forward(self, x: Tensor) -> Tensor:
        return max_pool(x)


#: torchvision's top-level module name -> stage name here (the tutorial's for the mixed blocks).
TORCHVISION_STAGES = {
    "Conv2d_1a_3x3": "conv2d_1a",
    "Conv2d_2a_3x3": "conv2d_2a",
    "Conv2d_2b_3x3": "conv2d_2b",
    "Conv2d_3b_1x1": "conv2d_3b",
    "Conv2d_4a_3x3": "conv2d_4a",
    **{
        f"Mixed_{block}": f"mixed{index}"
        for index, block in enumerate(("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"))
    },
}


def inception_stages() -> list[tuple[str, nn.Module]]:
    """The stem (convolutions and max pools as separate stages) then the eleven mixed blocks."""
    return [
        ("conv2d_1a", conv_bn_relu(3, 32, 3, stride=2)),
        ("conv2d_2a", conv_bn_relu(32, 32, 3)),
        ("conv2d_2b", conv_bn_relu(32, 64, 3, padding=1)),
        ("maxpool1", MaxPool()),
        ("conv2d_3b", conv_bn_relu(64, 80, 1)),
        ("conv2d_4a", conv_bn_relu(80, 192, 3)),
        ("maxpool2", MaxPool()),
        ("mixed0", InceptionA(192, 32)),
        ("mixed1", InceptionA(256, 64)),
        ("mixed2", InceptionA(288, 64)),
        ("mixed3", InceptionB(288)),
        ("mixed4", InceptionC(768, 128)),
        ("mixed5", InceptionC(768, 160)),
        ("mixed6", InceptionC(768, 160)),
        ("mixed7", InceptionC(768, 192)),
        ("mixed8", InceptionD(768)),
        ("mixed9", InceptionE(1280)),
        ("mixed10", InceptionE(2048)),
    ]


def keras_conv_order(model: Backbone) -> list[str]:
    """Module paths of every :class:`ConvBnRelu` in the order Keras builds (and numbers) them."""
    paths = []
    for key, stage in model.stages.items():
        if isinstance(stage, ConvBnRelu):
            paths.append(f"stages.{key}")
        paths.extend(f"stages.{key}.{branch}" for branch in getattr(stage, "keras_order", ()))
    return paths


def pool_mode_state(model: nn.Module, include_padding: bool) -> dict[str, Tensor]:
    """The ``count_include_pad`` buffers, set to a weight file's own pooling convention."""
    value = torch.tensor(1.0 if include_padding else 0.0)
    return {key: value.clone() for key in model.state_dict() if key.endswith(".count_include_pad")}


def skeleton() -> Backbone:
    """The architecture on the meta device: names and shapes without allocating 95 MB."""
    with torch.device("meta"):
        return get_spec("inception_v3").build()


def convert_torchvision_weights(path: Path) -> dict[str, Tensor]:
    """torchvision's state dict renamed to the stage names; the auxiliary classifier is dropped."""
    state: dict[str, Tensor] = {}
    for key, tensor in read_torch_state_dict(path).items():
        top, _, rest = key.partition(".")
        if top == "AuxLogits":
            continue
        if top == "fc":
            key = f"head.fc.{rest}"
        elif top in TORCHVISION_STAGES:
            key = f"stages.{TORCHVISION_STAGES[top]}.{rest}"
        state[key] = tensor
    state.update(pool_mode_state(skeleton(), include_padding=True))
    return state


def is_hdf5(path: Path) -> bool:
    """True for files Keras would have written: an HDF5 signature, or an ``.h5``/``.hdf5`` name."""
    if path.suffix.lower() in (".h5", ".hdf5"):
        return True
    try:
        with path.open("rb") as file:
            return file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def import_h5py() -> Any:
    """h5py, imported only for Keras files so the torchvision path never needs it."""
    try:
        import h5py
    except ImportError:
        raise ReverieError("reading Keras .h5 weights needs h5py: pip install h5py") from None
    return h5py


def attribute_names(attrs: Any, name: str) -> list[str]:
    """A Keras name-list attribute, decoded; Keras splits long ones into ``name0``, ``name1``..."""
    chunks = [attrs[name]] if name in attrs else list(attribute_chunks(attrs, name))
    return [
        item.decode("utf8") if isinstance(item, bytes) else str(item) for chunk in chunks for item in chunk
    ]


def attribute_chunks(attrs: Any, name: str) -> Iterator[Any]:
    """``name0``, ``name1``, ... until one is missing (Keras's split of attributes over 64 KB)."""
    index = 0
    while f"{name}{index}" in attrs:
        yield attrs[f"{name}{index}"]
        index += 1


def weight_key(weight_name: str) -> str:
    """``conv2d_1/kernel:0`` -> ``kernel``: the variable's role, whatever the layer is called."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def read_keras_layers(path: Path) -> dict[str, dict[str, Tensor]]:
    """Layer name -> {kernel, bias, beta, ...} from a Keras 2 ``save_weights`` (or ``save``) HDF5 file."""
    h5py = import_h5py()
    with path.open("rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise WeightsMismatchError(File(path), " is not an HDF5 file, so not Keras weights")
    try:
        with h5py.File(path, "r") as file:
            root = file.get("model_weights", file)  # model.save() nests the weights
            names = attribute_names(root.attrs, "layer_names")
            if not names:
                raise WeightsMismatchError(
                    f"{path} has no Keras 'layer_names'; expected a Keras 2 save_weights .h5 file"
                )
            layers = {}
            for name in names:
                group = root[name]
                weights = attribute_names(group.attrs, "weight_names")
                layers[name] = {weight_key(w): torch.from_numpy(group[w][()]).float() for w in weights}
            return layers
    except (OSError, KeyError) as error:
        raise WeightsMismatchError(File(path), f" is not a readable Keras weights file ({error})") from None


def layer_number(name: str) -> int:
    """Keras's creation counter in a layer name: ``conv2d_12`` -> 12, ``conv2d`` -> 0."""
    found = re.search(r"_(\d+)$", name)
    return int(found.group(1)) if found else 0


def keras_layers_by_role(layers: dict[str, dict[str, Tensor]]) -> tuple[list[str], list[str], list[str]]:
    """Names of the convolutions and batch norms in creation order, and of the dense layers.

    The file lists layers in Keras's topological (depth) order, which interleaves branches; the
    numbers in the names count creation, so sorting by them recovers the order the source builds them.
    Convolutions and batch norms are sorted separately: their counters can be offset from each other.
    """
    convs = [name for name, w in layers.items() if "kernel" in w and w["kernel"].dim() == 4]
    norms = [name for name, w in layers.items() if "moving_mean" in w]
    dense = [name for name, w in layers.items() if "kernel" in w and w["kernel"].dim() == 2]
    return sorted(convs, key=layer_number), sorted(norms, key=layer_number), dense


def convert_keras_conv(path: Path, name: str, weights: dict[str, Tensor], target: Tensor) -> Tensor:
    """Keras kernel (kh, kw, in, out) -> torch (out, in, kh, kw), checked against the module's shape."""
    kernel = weights["kernel"].permute(3, 2, 0, 1).contiguous()
    if kernel.shape != target.shape:
        expected = tuple(target.permute(2, 3, 1, 0).shape)
        raise WeightsMismatchError(
            f"{path}: Keras layer {name} has kernel {tuple(weights['kernel'].shape)} where InceptionV3 "
            f"has {expected}; is it the right model?"
        )
    return kernel


def convert_keras_norm(path: Path, name: str, weights: dict[str, Tensor], channels: int) -> dict[str, Tensor]:
    """Keras batch norm -> torch's; InceptionV3 has ``scale=False``, so gamma is 1 unless stored."""
    state = {
        "weight": weights.get("gamma", torch.ones(channels)),
        "bias": weights.get("beta", torch.zeros(channels)),
        "running_mean": weights.get("moving_mean"),
        "running_var": weights.get("moving_variance"),
    }
    for key, value in state.items():
        if value is None or value.shape != (channels,):
            raise WeightsMismatchError(
                f"{path}: Keras layer {name} has no {channels}-channel {key}; is it the right model?"
            )
    return {**state, "num_batches_tracked": torch.tensor(0)}


def convert_keras_weights(path: Path) -> dict[str, Tensor]:
    """keras.applications InceptionV3 weights (``.h5`` with the top) as this model's state dict."""
    layers = read_keras_layers(path)
    convs, norms, dense = keras_layers_by_role(layers)
    model = skeleton()
    targets = keras_conv_order(model)
    if len(convs) != len(targets) or len(norms) != len(targets):
        raise WeightsMismatchError(
            f"{path} has {len(convs)} convolutions and {len(norms)} batch norms where InceptionV3 has "
            f"{len(targets)} of each; is it the right model?"
        )
    if len(dense) != 1:
        raise WeightsMismatchError(
            f"{path} has no single 'predictions' layer; use the file with the top, not '_notop'"
        )
    state: dict[str, Tensor] = {}
    for target, conv_name, norm_name in zip(targets, convs, norms, strict=True):
        module = model.get_submodule(target)
        kernel = convert_keras_conv(path, conv_name, layers[conv_name], module.conv.weight)
        state[f"{target}.conv.weight"] = kernel
        norm = convert_keras_norm(path, norm_name, layers[norm_name], kernel.shape[0])
        state.update({f"{target}.bn.{key}": value for key, value in norm.items()})
    predictions = layers[dense[0]]
    state["head.fc.weight"] = predictions["kernel"].t().contiguous()
    state["head.fc.bias"] = predictions.get("bias", torch.zeros(predictions["kernel"].shape[1]))
    state.update(pool_mode_state(model, include_padding=False))
    return state


def convert_inception_v3_weights(path: Path) -> dict[str, Tensor]:
    """Either published file: Keras HDF5 (by signature or ``.h5`` name), otherwise torchvision's."""
    path = Path(path)
    if is_hdf5(path):
        return convert_keras_weights(path)
    return convert_torchvision_weights(path)


def inception_v3() -> Network:
    """The stem and the eleven mixed blocks, with the 2048-channel pooled classifier."""
    return inception_stages(), PooledClassifier(2048)
