"""InceptionV3: both published weight formats map tensor for tensor, each with its pooling convention.

The weight files are built from random tensors in the exact published layouts (torchvision's state
dict in torchvision_files.py; Keras 2's ``save_weights`` HDF5 here), so every tensor's destination is
checked by value, offline. What every model promises (catalogue against activations, early stop,
minimum side, weight errors) is in test_contract.py.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision_files import AUX_PREFIXES, INCEPTION_CONVS, expected_key, inception_prefix

from reverie.errors import ReverieError, WeightsMismatchError
from reverie.models import get_spec, load_model
from reverie.models import inception_v3 as inception

h5py = pytest.importorskip("h5py")

KERAS_FILENAME = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"


def keras_name(kind: str, number: int) -> str:
    """Keras's automatic layer names: ``conv2d``, ``conv2d_1``, ... (older Keras starts at ``_1``)."""
    return kind if number == 0 else f"{kind}_{number}"


def keras_layers(
    arrays: dict[str, np.ndarray], conv_base: int = 1, bn_base: int = 1, skip_conv: int | None = None
) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """InceptionV3's layers as Keras 2 saves them, in creation order, with their weights."""
    layers: list[tuple[str, list[tuple[str, np.ndarray]]]] = [("input_1", [])]
    for index in range(len(INCEPTION_CONVS)):
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
    for index, (_, shape) in enumerate(INCEPTION_CONVS):
        arrays[f"kernel{index}"] = rng.standard_normal(shape, dtype=np.float32)
        channels = shape[3]
        arrays[f"beta{index}"] = rng.standard_normal(channels, dtype=np.float32)
        arrays[f"mean{index}"] = rng.standard_normal(channels, dtype=np.float32)
        arrays[f"var{index}"] = rng.random(channels, dtype=np.float32) + 0.5
    arrays["dense_kernel"] = rng.standard_normal((2048, 1000), dtype=np.float32)
    arrays["dense_bias"] = rng.standard_normal(1000, dtype=np.float32)
    return arrays


def test_torchvision_weights_map_every_tensor(published_file, published_model):
    file_state = torch.load(published_file("inception_v3"), map_location="cpu", weights_only=True, mmap=True)
    loaded = published_model("inception_v3").state_dict()
    landed = set()
    for key, tensor in file_state.items():
        target = expected_key("inception_v3", key)
        if target is not None:
            assert torch.equal(loaded[target], tensor), key
            landed.add(target)
    pools = {key for key in loaded if key.endswith("count_include_pad")}
    assert landed | pools == set(loaded) and not landed & pools
    assert len(pools) == 9 and all(loaded[key].item() == 1.0 for key in pools)
    last_conv = "branch3x3dbl_3b.conv.weight"
    assert torch.equal(loaded[f"stages.mixed10.{last_conv}"], file_state[f"Mixed_7c.{last_conv}"])


def test_converter_drops_only_the_aux_classifier(published_file):
    path = published_file("inception_v3")
    file_state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    converted = inception.convert_inception_v3_weights(path)
    kept = [key for key in file_state if not key.startswith(AUX_PREFIXES["inception_v3"])]
    assert len(kept) < len(file_state)
    assert set(converted) == {expected_key("inception_v3", key) for key in kept} | {
        key for key in converted if key.endswith(".count_include_pad")
    }
    assert not any("AuxLogits" in key for key in converted)


@pytest.mark.parametrize(("conv_base", "bn_base"), [(1, 1), (0, 4)], ids=["keras2-names", "tf2-offset"])
def test_keras_weights_map_every_tensor(tmp_path, keras_arrays, conv_base, bn_base):
    layers = keras_layers(keras_arrays, conv_base, bn_base)
    path = write_keras_h5(tmp_path / KERAS_FILENAME, layers)
    model = load_model("inception_v3", weights=path)
    loaded = model.state_dict()
    for index, (name, _) in enumerate(INCEPTION_CONVS):
        prefix = inception_prefix(name)
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


def test_keras_order_lands_in_the_right_modules():
    """Spot checks where neighbouring convolutions have equal shapes, so only the order tells them apart."""
    assert inception_prefix(INCEPTION_CONVS[6][0]) == "stages.mixed0.branch5x5_1"
    assert INCEPTION_CONVS[6][1] == (1, 1, 192, 48)
    assert inception_prefix(INCEPTION_CONVS[-1][0]) == "stages.mixed10.branch_pool"
    model = inception.skeleton()
    assert inception.keras_conv_order(model) == [inception_prefix(name) for name, _ in INCEPTION_CONVS]


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


def test_catalogue_channels_are_the_published_ones():
    expected = {"mixed0": 256, "mixed2": 288, "mixed3": 768, "mixed7": 768, "mixed8": 1280, "mixed10": 2048}
    spec = get_spec("inception_v3")
    assert {name: spec.layer(name).channels for name in expected} == expected
    assert spec.input_size == 299


def test_pool_branch_follows_each_frameworks_border_convention():
    pool = inception.PoolBranchAverage()
    x = torch.rand(1, 4, 6, 5)
    assert torch.allclose(pool(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=True))
    pool.count_include_pad.fill_(0.0)
    assert torch.allclose(pool(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    assert not torch.allclose(pool(x)[..., 0, 0], F.avg_pool2d(x, 3, 1, 1, count_include_pad=True)[..., 0, 0])


def test_registration_offers_both_files_and_the_tutorial_layers():
    spec = get_spec("inception_v3")
    assert [source.filename for source in spec.weights] == [
        "inception_v3_google-0cc3c7bd.pth",
        KERAS_FILENAME,
    ]
    assert spec.presets["patterns"] == "mixed3,mixed5"
    assert spec.input_mean == (0.5,) * 3 and spec.input_std == (0.5,) * 3
