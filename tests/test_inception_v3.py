"""InceptionV3: both published weight formats map tensor for tensor, and the model runs as a Backbone.

The weight files are built here from random tensors in the exact published layouts (torchvision's state
dict; Keras 2's ``save_weights`` HDF5), so every tensor's destination is checked by value, offline.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reverie.errors import ReverieError, WeightsMismatchError, WeightsNotFoundError
from reverie.models import Backbone, get_spec, load_model
from reverie.models import inception_v3 as inception

h5py = pytest.importorskip("h5py")

TORCHVISION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"

STEM = {
    "Conv2d_1a_3x3": "conv2d_1a",
    "Conv2d_2a_3x3": "conv2d_2a",
    "Conv2d_2b_3x3": "conv2d_2b",
    "Conv2d_3b_1x1": "conv2d_3b",
    "Conv2d_4a_3x3": "conv2d_4a",
}
BLOCKS = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")


def keras_convs() -> list[tuple[str, tuple[int, int, int, int]]]:
    """(torchvision module, Keras kernel shape (kh, kw, in, out)) in keras.applications' build order.

    Written after keras/applications/inception_v3.py's ``conv2d_bn`` calls, independently of the model.
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


KERAS_CONVS = keras_convs()


def model_prefix(torchvision_name: str) -> str:
    """``Mixed_5b.branch1x1`` -> ``stages.mixed0.branch1x1``; ``Conv2d_1a_3x3`` -> ``stages.conv2d_1a``."""
    top, _, rest = torchvision_name.partition(".")
    stage = STEM.get(top) or f"mixed{BLOCKS.index(top.removeprefix('Mixed_'))}"
    return f"stages.{stage}" + (f".{rest}" if rest else "")


def random_conv_bn(prefix: str, cout: int, cin: int, kh: int, kw: int) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.conv.weight": torch.randn(cout, cin, kh, kw),
        f"{prefix}.bn.weight": torch.rand(cout) + 0.5,
        f"{prefix}.bn.bias": torch.randn(cout),
        f"{prefix}.bn.running_mean": torch.randn(cout),
        f"{prefix}.bn.running_var": torch.rand(cout) + 0.5,
        f"{prefix}.bn.num_batches_tracked": torch.tensor(0),
    }


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """torchvision's ``inception_v3_google`` state dict layout, auxiliary classifier included."""
    torch.manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for name, (kh, kw, cin, cout) in KERAS_CONVS:
        state.update(random_conv_bn(name, cout, cin, kh, kw))
    state.update(random_conv_bn("AuxLogits.conv0", 128, 768, 1, 1))
    state.update(random_conv_bn("AuxLogits.conv1", 768, 128, 5, 5))
    state["AuxLogits.fc.weight"] = torch.randn(1000, 768)
    state["AuxLogits.fc.bias"] = torch.randn(1000)
    state["fc.weight"] = torch.randn(1000, 2048)
    state["fc.bias"] = torch.randn(1000)
    path = tmp_path_factory.mktemp("torchvision") / "inception_v3_google-0cc3c7bd.pth"
    torch.save(state, path)
    return path, state


def keras_name(kind: str, number: int) -> str:
    """Keras's automatic layer names: ``conv2d``, ``conv2d_1``, ... (older Keras starts at ``_1``)."""
    return kind if number == 0 else f"{kind}_{number}"


def keras_layers(
    arrays: dict[str, np.ndarray], conv_base: int = 1, bn_base: int = 1, skip_conv: int | None = None
) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """InceptionV3's layers as Keras 2 saves them, in creation order, with their weights."""
    layers: list[tuple[str, list[tuple[str, np.ndarray]]]] = [("input_1", [])]
    for index in range(len(KERAS_CONVS)):
        conv, norm = (
            keras_name("conv2d", index + conv_base),
            keras_name("batch_normalization", index + bn_base),
        )
        if index != skip_conv:
            layers.append((conv, [(f"{conv}/kernel:0", arrays[f"kernel{index}"])]))
        layers.append(
            (
                norm,
                [
                    (f"{norm}/beta:0", arrays[f"beta{index}"]),
                    (f"{norm}/moving_mean:0", arrays[f"mean{index}"]),
                    (f"{norm}/moving_variance:0", arrays[f"var{index}"]),
                ],
            )
        )
        layers.append((f"activation_{index + 1}", []))
    others = ["max_pooling2d_1", "max_pooling2d_2", "max_pooling2d_3", "max_pooling2d_4", "avg_pool"]
    others += [f"average_pooling2d_{i}" for i in range(1, 10)] + [f"mixed{i}" for i in range(11)]
    others += ["mixed9_0", "mixed9_1", "concatenate_1", "concatenate_2"]
    layers += [(name, []) for name in others]
    layers.append(
        (
            "predictions",
            [("predictions/kernel:0", arrays["dense_kernel"]), ("predictions/bias:0", arrays["dense_bias"])],
        )
    )
    return layers


def write_keras_h5(path: Path, layers: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> Path:
    """Keras 2 ``save_weights`` layout; ``layer_names`` shuffled, as Keras lists layers by graph depth."""
    names = [name for name, _ in layers]
    random.Random(0).shuffle(names)
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = np.array([name.encode() for name in names])
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.1.6"
        for name, weights in sorted(layers):
            group = file.create_group(name)
            group.attrs["weight_names"] = np.array([weight.encode() for weight, _ in weights])
            for weight, value in weights:
                group.create_dataset(weight, data=value)
    return path


@pytest.fixture(scope="module")
def keras_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for index, (_, shape) in enumerate(KERAS_CONVS):
        arrays[f"kernel{index}"] = rng.standard_normal(shape, dtype=np.float32)
        channels = shape[3]
        arrays[f"beta{index}"] = rng.standard_normal(channels, dtype=np.float32)
        arrays[f"mean{index}"] = rng.standard_normal(channels, dtype=np.float32)
        arrays[f"var{index}"] = rng.random(channels, dtype=np.float32) + 0.5
    arrays["dense_kernel"] = rng.standard_normal((2048, 1000), dtype=np.float32)
    arrays["dense_bias"] = rng.standard_normal(1000, dtype=np.float32)
    return arrays


@pytest.fixture(scope="module")
def random_model() -> Backbone:
    torch.manual_seed(0)
    return get_spec("inception_v3").build().freeze()


def test_torchvision_weights_map_every_tensor(torchvision_file):
    path, state = torchvision_file
    model = load_model("inception_v3", weights=path)
    loaded = model.state_dict()
    used = set()
    for key, tensor in state.items():
        if key.startswith("AuxLogits."):
            continue
        if key.startswith("fc."):
            target = f"head.{key}"
        else:
            module, layer, leaf = key.rsplit(".", 2)
            target = f"{model_prefix(module)}.{layer}.{leaf}"
        assert torch.equal(loaded[target], tensor), key
        used.add(target)
    pools = {key for key in loaded if key.endswith("count_include_pad")}
    assert used | pools == set(loaded)
    assert len(pools) == 9 and all(loaded[key].item() == 1.0 for key in pools)
    assert torch.equal(loaded["head.fc.weight"], state["fc.weight"])
    assert torch.equal(
        loaded["stages.mixed10.branch3x3dbl_3b.conv.weight"], state["Mixed_7c.branch3x3dbl_3b.conv.weight"]
    )


def test_converter_drops_only_the_aux_classifier(torchvision_file):
    path, state = torchvision_file
    converted = inception.convert_inception_v3_weights(path)
    kept = {key for key in state if not key.startswith("AuxLogits.")}
    assert len(converted) == len(kept) + 9
    assert not any("AuxLogits" in key for key in converted)


@pytest.mark.parametrize(("conv_base", "bn_base"), [(1, 1), (0, 4)], ids=["keras2-names", "tf2-offset"])
def test_keras_weights_map_every_tensor(tmp_path, keras_arrays, conv_base, bn_base):
    layers = keras_layers(keras_arrays, conv_base, bn_base)
    path = write_keras_h5(tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", layers)
    model = load_model("inception_v3", weights=path)
    loaded = model.state_dict()
    for index, (name, _) in enumerate(KERAS_CONVS):
        prefix = model_prefix(name)
        kernel = torch.from_numpy(keras_arrays[f"kernel{index}"]).permute(3, 2, 0, 1)
        assert torch.equal(loaded[f"{prefix}.conv.weight"], kernel), name
        assert torch.equal(loaded[f"{prefix}.bn.bias"], torch.from_numpy(keras_arrays[f"beta{index}"]))
        assert torch.equal(
            loaded[f"{prefix}.bn.running_mean"], torch.from_numpy(keras_arrays[f"mean{index}"])
        )
        assert torch.equal(loaded[f"{prefix}.bn.running_var"], torch.from_numpy(keras_arrays[f"var{index}"]))
        assert torch.all(loaded[f"{prefix}.bn.weight"] == 1)
    assert torch.equal(loaded["head.fc.weight"], torch.from_numpy(keras_arrays["dense_kernel"]).T)
    assert torch.equal(loaded["head.fc.bias"], torch.from_numpy(keras_arrays["dense_bias"]))
    pools = [value for key, value in loaded.items() if key.endswith("count_include_pad")]
    assert len(pools) == 9 and all(value.item() == 0.0 for value in pools)


def test_keras_order_lands_in_the_right_modules(keras_arrays):
    """Spot checks where neighbouring convolutions have equal shapes, so only the order tells them apart."""
    assert model_prefix(KERAS_CONVS[6][0]) == "stages.mixed0.branch5x5_1"
    assert KERAS_CONVS[6][1] == (1, 1, 192, 48)
    assert model_prefix(KERAS_CONVS[-1][0]) == "stages.mixed10.branch_pool"
    model = inception.skeleton()
    assert inception.keras_conv_order(model) == [model_prefix(name) for name, _ in KERAS_CONVS]


def test_keras_file_missing_a_conv_is_refused(tmp_path, keras_arrays):
    path = write_keras_h5(tmp_path / "bad.h5", keras_layers(keras_arrays, skip_conv=40))
    with pytest.raises(WeightsMismatchError, match="93 convolutions and 94 batch norms"):
        inception.convert_inception_v3_weights(path)


def test_keras_file_with_wrong_shapes_is_refused(tmp_path):
    tiny = {key: np.zeros((1, 1, 1, 1), np.float32) for key in (f"kernel{i}" for i in range(94))}
    tiny.update(
        {f"{kind}{i}": np.zeros(1, np.float32) for kind in ("beta", "mean", "var") for i in range(94)}
    )
    tiny.update(dense_kernel=np.zeros((2048, 1000), np.float32), dense_bias=np.zeros(1000, np.float32))
    path = write_keras_h5(tmp_path / "tiny.h5", keras_layers(tiny))
    with pytest.raises(WeightsMismatchError, match=r"conv2d_1 has kernel \(1, 1, 1, 1\)"):
        inception.convert_inception_v3_weights(path)


def test_non_hdf5_h5_file_is_refused(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(WeightsMismatchError, match="not an HDF5 file"):
        inception.convert_inception_v3_weights(path)


def test_missing_h5py_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ReverieError, match="pip install h5py"):
        inception.convert_inception_v3_weights(path)


def test_wrong_architecture_torch_file_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3), "classifier.weight": torch.zeros(10, 8)}, path)
    with pytest.raises(WeightsMismatchError, match="does not fit inception_v3"):
        load_model("inception_v3", weights=path)


@pytest.mark.parametrize("size", [(75, 75), (120, 97)])
def test_forward_channels_match_the_catalogue(random_model, size):
    assert random_model.min_input_side == 75
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        found = random_model(x, ["mixed0", "mixed10"])
        logits = random_model.classify(x)
    assert set(found) == {"mixed0", "mixed10"}
    for name, activation in found.items():
        assert activation.shape[:2] == (1, random_model.layer(name).channels)
    assert logits.shape == (1, 1000)


def test_catalogue_strides_and_channels_at_training_size(random_model):
    assert random_model.input_size == 299
    with torch.no_grad():
        found = random_model(torch.rand(1, 3, 299, 299), random_model.layer_names)
    expected = {"mixed0": 256, "mixed2": 288, "mixed3": 768, "mixed7": 768, "mixed8": 1280, "mixed10": 2048}
    for name, channels in expected.items():
        assert random_model.layer(name).channels == channels
    for info in random_model.layer_infos:
        activation = found[info.name]
        assert activation.shape[1] == info.channels, info.name
        assert info.stride <= 299 / activation.shape[-1] < 2 * info.stride, info.name
        assert info.hint, info.name


def test_one_pixel_smaller_than_min_side_fails(random_model):
    with torch.no_grad(), pytest.raises(RuntimeError):
        random_model(torch.rand(1, 3, 74, 74), ["mixed10"])


def test_early_stop_skips_later_stages(random_model):
    def fail(*_):
        raise AssertionError("mixed1 ran although only mixed0 was asked for")

    handle = random_model.stages["mixed1"].register_forward_pre_hook(fail)
    try:
        with torch.no_grad():
            found = random_model(torch.rand(1, 3, 80, 80), ["mixed0"])
    finally:
        handle.remove()
    assert list(found) == ["mixed0"]


def test_pool_branch_follows_each_frameworks_border_convention():
    pool = inception.PoolBranchAverage()
    x = torch.rand(1, 4, 6, 5)
    assert torch.allclose(pool(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=True))
    pool.count_include_pad.fill_(0.0)
    assert torch.allclose(pool(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))


def test_missing_weights_names_the_file_and_url(tmp_path, monkeypatch):
    for variable in ("REVERIE_WEIGHTS_DIR", "TORCH_HOME", "HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as error:
        load_model("inception_v3")
    assert "inception_v3_google-0cc3c7bd.pth" in str(error.value)
    assert TORCHVISION_URL in str(error.value)


def test_registration(random_model):
    spec = get_spec("inception_v3")
    assert [source.filename for source in spec.weights] == [
        "inception_v3_google-0cc3c7bd.pth",
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    ]
    assert spec.default_preset == "patterns" and spec.presets["patterns"] == "mixed3,mixed5"
    for layers in spec.presets.values():
        for layer in layers.split(","):
            random_model.layer(layer)
    assert random_model.input_mean.flatten().tolist() == [0.5] * 3
    assert random_model.input_std.flatten().tolist() == [0.5] * 3
