"""GoogLeNet and VGG16/19: torchvision's published weight files load tensor for tensor, and run.

The weight files are rebuilt here from random tensors with exactly the published key names and
shapes (written out independently of the architecture code, from torchvision's layouts), so a
renaming slip in a converter shows up as a tensor landing in the wrong place or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reverie.errors import WeightsMismatchError, WeightsNotFoundError
from reverie.models import Backbone, get_spec, googlenet, load_model, vgg

#: Importing the architecture modules is what registers their models.
ARCHITECTURES = (googlenet, vgg)
MODELS = ("googlenet", "vgg16", "vgg19")

# torchvision's published layouts, restated rather than imported from the code under test.
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
VGG_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4, "M"],
}
FILENAMES = {
    "googlenet": "googlenet-1378be20.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}
DEEPEST = {"googlenet": "inception5b", "vgg16": "pool5", "vgg19": "pool5"}


def basic_conv(prefix: str, channels_out: int, channels_in: int, kernel: int) -> Iterator[tuple[str, tuple]]:
    """Keys and shapes of torchvision's BasicConv2d (conv without bias, then batch norm)."""
    yield f"{prefix}.conv.weight", (channels_out, channels_in, kernel, kernel)
    for leaf in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}.bn.{leaf}", (channels_out,)
    yield f"{prefix}.bn.num_batches_tracked", ()


def googlenet_layout() -> Iterator[tuple[str, tuple]]:
    """Every key of ``googlenet-1378be20.pth`` with its shape, auxiliary classifiers included."""
    yield from basic_conv("conv1", 64, 3, 7)
    yield from basic_conv("conv2", 64, 64, 1)
    yield from basic_conv("conv3", 192, 64, 3)
    for name, (cin, c1, c3r, c3, c5r, c5, pool) in GOOGLENET_INCEPTIONS.items():
        yield from basic_conv(f"{name}.branch1", c1, cin, 1)
        yield from basic_conv(f"{name}.branch2.0", c3r, cin, 1)
        yield from basic_conv(f"{name}.branch2.1", c3, c3r, 3)
        yield from basic_conv(f"{name}.branch3.0", c5r, cin, 1)
        yield from basic_conv(f"{name}.branch3.1", c5, c5r, 3)
        yield from basic_conv(f"{name}.branch4.1", pool, cin, 1)
    for aux, channels_in in (("aux1", 512), ("aux2", 528)):
        yield from basic_conv(f"{aux}.conv", 128, channels_in, 1)
        yield f"{aux}.fc1.weight", (1024, 2048)
        yield f"{aux}.fc1.bias", (1024,)
        yield f"{aux}.fc2.weight", (1000, 1024)
        yield f"{aux}.fc2.bias", (1000,)
    yield "fc.weight", (1000, 1024)
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


def vgg_layout(name: str) -> Iterator[tuple[str, tuple]]:
    """Every key of the published VGG file with its shape."""
    channels_in = 3
    conv_indices = iter(vgg_conv_names(name))
    for item in VGG_CFGS[name]:
        if item != "M":
            index = next(conv_indices)
            yield f"features.{index}.weight", (item, channels_in, 3, 3)
            yield f"features.{index}.bias", (item,)
            channels_in = item
    for index, shape in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        yield f"classifier.{index}.weight", shape
        yield f"classifier.{index}.bias", shape[:1]


def expected_key(name: str, key: str) -> str | None:
    """Where a published key must land in Reverie's model; None for keys that must be dropped."""
    if name == "googlenet":
        if key.startswith(("aux1.", "aux2.")):
            return None
        return f"head.{key}" if key.startswith("fc.") else f"stages.{key}"
    if key.startswith("classifier."):
        return f"head.{key}"
    _, index, leaf = key.split(".")
    return f"stages.{vgg_conv_names(name)[int(index)]}.{leaf}"


def random_tensor(key: str, shape: tuple) -> Tensor:
    """A random tensor for ``key``; small weights and positive variances keep forward passes finite."""
    if key.endswith("num_batches_tracked"):
        return torch.randint(0, 1000, shape)
    if key.endswith("running_var"):
        return torch.rand(shape) + 0.5
    return torch.randn(shape) * 0.02


LAYOUTS: dict[str, Callable[[], Iterator[tuple[str, tuple]]]] = {
    "googlenet": googlenet_layout,
    "vgg16": lambda: vgg_layout("vgg16"),
    "vgg19": lambda: vgg_layout("vgg19"),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Writes (once per module) a random weight file in a model's published format and name."""
    folder = tmp_path_factory.mktemp("published")
    paths: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in paths:
            torch.manual_seed(MODELS.index(name))
            state = {key: random_tensor(key, shape) for key, shape in LAYOUTS[name]()}
            paths[name] = folder / FILENAMES[name]
            torch.save(state, paths[name])
        return paths[name]

    return get


@pytest.fixture(scope="module")
def loaded(published: Callable[[str], Path]) -> Callable[[str], Backbone]:
    """Each model loaded once from its random published-format file."""
    models: dict[str, Backbone] = {}

    def get(name: str) -> Backbone:
        if name not in models:
            models[name] = load_model(name, weights=published(name))
        return models[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_every_published_tensor_lands_in_place(name, published, loaded):
    file_state = torch.load(published(name), map_location="cpu", weights_only=True, mmap=True)
    model_state = loaded(name).state_dict()
    used = 0
    for key, tensor in file_state.items():
        target = expected_key(name, key)
        if target is None:
            continue
        assert torch.equal(model_state[target], tensor), f"{key} -> {target}"
        used += 1
    dropped = sum(key.startswith(("aux1.", "aux2.")) for key in file_state)
    assert used == len(file_state) - dropped == len(model_state)
    assert dropped == (2 * 10 if name == "googlenet" else 0)


@pytest.mark.parametrize(
    ("name", "key", "target"),
    [
        ("vgg16", "features.0.weight", "stages.conv1_1.weight"),
        ("vgg16", "features.28.weight", "stages.conv5_3.weight"),
        ("vgg16", "features.17.bias", "stages.conv4_1.bias"),
        ("vgg19", "features.34.weight", "stages.conv5_4.weight"),
        ("vgg19", "features.25.bias", "stages.conv4_4.bias"),
        ("vgg16", "classifier.6.weight", "head.classifier.6.weight"),
        ("googlenet", "inception4c.branch3.1.conv.weight", "stages.inception4c.branch3.1.conv.weight"),
        ("googlenet", "conv1.bn.num_batches_tracked", "stages.conv1.bn.num_batches_tracked"),
        ("googlenet", "fc.weight", "head.fc.weight"),
    ],
)
def test_known_keys_map_to_named_stages(name, key, target, published, loaded):
    file_state = torch.load(published(name), map_location="cpu", weights_only=True, mmap=True)
    assert torch.equal(loaded(name).state_dict()[target], file_state[key])


@pytest.mark.parametrize(
    ("file_of", "model"), [("vgg16", "vgg19"), ("googlenet", "vgg16"), ("vgg16", "googlenet")]
)
def test_wrong_architecture_is_a_one_line_mismatch(file_of, model, published):
    with pytest.raises(WeightsMismatchError) as caught:
        load_model(model, weights=published(file_of))
    message = str(caught.value)
    assert "\n" not in message
    assert model in message


CORRUPT_FILES = {
    "failed download": b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",
    "empty": b"",
    "zeros": bytes(4096),
    "random bytes": bytes(range(256)) * 8,
}


@pytest.mark.parametrize("content", CORRUPT_FILES.values(), ids=CORRUPT_FILES.keys())
def test_corrupt_files_are_mismatches(content, tmp_path):
    path = tmp_path / "googlenet-1378be20.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsMismatchError) as caught:
        load_model("googlenet", weights=path)
    assert "\n" not in str(caught.value)


def test_plain_text_file_is_a_mismatch(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"this is not a weights file\n")
    with pytest.raises(WeightsMismatchError):
        load_model("googlenet", weights=path)


def test_truncated_file_is_a_mismatch(published, tmp_path):
    truncated = tmp_path / "googlenet-1378be20.pth"
    truncated.write_bytes(published("googlenet").read_bytes()[:100_000])
    with pytest.raises(WeightsMismatchError) as caught:
        load_model("googlenet", weights=truncated)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", MODELS)
def test_missing_weights_name_the_file_and_its_url(name, tmp_path, monkeypatch):
    for variable in ("REVERIE_WEIGHTS_DIR", "TORCH_HOME", "HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as caught:
        load_model(name)
    message = str(caught.value)
    assert FILENAMES[name] in message
    assert f"https://download.pytorch.org/models/{FILENAMES[name]}" in message


@pytest.mark.parametrize("name", MODELS)
def test_deepest_layer_shape_at_min_and_non_square_sizes(name, loaded):
    model = loaded(name)
    deepest = model.layer(DEEPEST[name])
    side = model.min_input_side
    with torch.no_grad():
        for height, width in ((side, side), (side + 9, 2 * side + 3)):
            activation = model(torch.rand(1, 3, height, width), [deepest.name])[deepest.name]
            assert activation.shape[:2] == (1, deepest.channels)
            for size, got in zip((height, width), activation.shape[2:], strict=True):
                assert abs(got - size / deepest.stride) <= 1, (name, height, width, activation.shape)
            assert torch.isfinite(activation).all()


@pytest.mark.parametrize("name", MODELS)
def test_classify_gives_imagenet_logits(name, loaded):
    model = loaded(name)
    with torch.no_grad():
        logits = model.classify(torch.rand(2, 3, 48, 40))
    assert logits.shape == (2, 1000)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_every_catalogued_layer_has_its_channels_and_stride(name, loaded):
    model = loaded(name)
    size = 96
    with torch.no_grad():
        activations = model(torch.rand(1, 3, size, size), model.layer_names)
    for info in model.layer_infos:
        activation = activations[info.name]
        assert activation.shape[1] == info.channels, info
        assert abs(activation.shape[2] - size / info.stride) <= 1, info


def test_googlenet_catalogue_matches_torchvision():
    model = get_spec("googlenet").build()
    expected = {
        "conv1": (64, 2),
        "maxpool1": (64, 4),
        "conv2": (64, 4),
        "conv3": (192, 4),
        "maxpool2": (192, 8),
        "inception3a": (256, 8),
        "inception3b": (480, 8),
        "maxpool3": (480, 16),
        "inception4a": (512, 16),
        "inception4b": (512, 16),
        "inception4c": (512, 16),
        "inception4d": (528, 16),
        "inception4e": (832, 16),
        "maxpool4": (832, 32),
        "inception5a": (832, 32),
        "inception5b": (1024, 32),
    }
    assert {info.name: (info.channels, info.stride) for info in model.layer_infos} == expected
    assert all(info.hint for info in model.layer_infos)
    assert model.input_size == 224


def test_googlenet_pooling_and_batch_norm_follow_torchvision(loaded):
    modules = list(loaded("googlenet").modules())
    norms = [module for module in modules if isinstance(module, torch.nn.BatchNorm2d)]
    pools = [module for module in modules if isinstance(module, torch.nn.MaxPool2d)]
    assert len(norms) == 3 + 6 * 9 and all(norm.eps == 1e-3 for norm in norms)
    assert len(pools) == 4 + 9 and all(pool.ceil_mode for pool in pools)


def test_googlenet_min_input_side_is_the_smallest_that_runs(loaded):
    model = loaded("googlenet")
    assert model.min_input_side == 15
    with torch.no_grad():
        model(torch.rand(1, 3, model.min_input_side, model.min_input_side), ["inception5b"])
        with pytest.raises(RuntimeError):
            smaller = model.min_input_side - 1
            model(torch.rand(1, 3, smaller, smaller), ["inception5b"])


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_catalogue_has_every_conv_relu_and_pool(name, loaded):
    model = loaded(name)
    convs = (2, 2, 3, 3, 3) if name == "vgg16" else (2, 2, 4, 4, 4)
    expected = []
    for block, (count, channels) in enumerate(zip(convs, (64, 128, 256, 512, 512), strict=True), 1):
        for conv in range(1, count + 1):
            expected += [
                (f"conv{block}_{conv}", channels, 2 ** (block - 1)),
                (f"relu{block}_{conv}", channels, 2 ** (block - 1)),
            ]
        expected.append((f"pool{block}", channels, 2**block))
    assert [(info.name, info.channels, info.stride) for info in model.layer_infos] == expected
    assert model.stage_names == tuple(name for name, _, _ in expected)
    assert (model.input_size, model.min_input_side) == (224, 32)


def test_vgg_conv_outputs_are_not_overwritten_by_relu(loaded):
    model = loaded("vgg16")
    with torch.no_grad():
        found = model(torch.rand(1, 3, 32, 32), ["conv1_1", "relu1_1"])
    assert (found["conv1_1"] < 0).any()
    assert torch.equal(found["relu1_1"], found["conv1_1"].clamp(min=0))


def test_shallow_layer_does_not_run_later_stages(loaded):
    model = loaded("vgg16")
    ran: list[str] = []
    handles = [
        stage.register_forward_hook(lambda *_, name=name: ran.append(name))
        for name, stage in zip(model.stage_names, model.stages.values(), strict=True)
    ]
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, 32, 32), ["conv1_1"])
    finally:
        for handle in handles:
            handle.remove()
    assert ran == ["conv1_1"]


def test_input_normalisation(loaded):
    # torchvision's transform_input makes pretrained GoogLeNet see (rgb - 0.5) / 0.5.
    grey = torch.full((1, 3, 2, 2), 0.5)
    assert torch.equal(loaded("googlenet").normalise(grey), torch.zeros_like(grey))
    white = torch.ones(1, 3, 1, 1)
    assert torch.allclose(loaded("googlenet").normalise(white), white)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    assert torch.allclose(loaded("vgg16").normalise(mean), torch.zeros(1, 3, 1, 1))


@pytest.mark.parametrize("name", MODELS)
def test_presets_name_catalogued_layers(name, loaded):
    spec = get_spec(name)
    layers = set(loaded(name).layer_names)
    assert set(spec.presets) == {"edges", "textures", "patterns", "objects"}
    assert spec.default_preset == "patterns"
    for preset, spec_text in spec.presets.items():
        assert set(spec_text.split(",")) <= layers, preset
    assert spec.description
