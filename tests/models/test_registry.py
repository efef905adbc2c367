"""The registry: what Reverie knows about each model before building it, and how it refuses mistakes."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
from torch import nn

from reverie.errors import UnknownLayerError, UnknownModelError
from reverie.models import Backbone, LayerInfo, get_spec, list_models, registry

EMBEDDED = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def test_embedded_models_are_listed_first() -> None:
    names = list_models()
    assert names[:3] == EMBEDDED
    assert {"googlenet", "inception_v3", "vgg16", "vgg19"} <= set(names[3:])
    embedded = [get_spec(name).embedded for name in names]
    assert embedded == sorted(embedded, reverse=True) and embedded.count(True) == 3


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(
        UnknownModelError, match=r"unknown model 'alexnet'; valid models: efficientnet_lite0, .*vgg19"
    ):
        get_spec("alexnet")


def test_unknown_layer_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownLayerError, match=r"'mixed3'; valid layers: conv1, maxpool1, .*, inception5b$"):
        get_spec("googlenet").layer("mixed3")


def test_catalogues_are_read_without_building_a_network(monkeypatch) -> None:
    def refuse(*_, **__):
        raise AssertionError("a network was built to read a catalogue")

    monkeypatch.setattr(nn.Conv2d, "__init__", refuse)
    for name in list_models():
        spec = get_spec(name)
        spec.layer(spec.layer_names[-1])
        assert all(info.hint for info in spec.layers), name
        assert spec.description and spec.input_size > spec.min_side > 0


def test_catalogue_naming_no_stage_is_refused() -> None:
    spec = get_spec("googlenet")
    wrong = dataclasses.replace(spec, layers=(*spec.layers, LayerInfo("inception6a", 1024, 64)))
    stages, head = spec.build_network()
    with pytest.raises(ValueError, match=r"layer catalogue names unknown stages: \['inception6a'\]"):
        Backbone(stages, head, wrong)


@pytest.fixture
def scratch_registry(monkeypatch) -> dict[str, registry.ModelSpec]:
    """A copy of the registry that registrations in a test may change."""
    copy = dict(registry.registry())
    monkeypatch.setattr(registry, "_REGISTRY", copy)
    return copy


def register_tiny(**changes) -> None:
    """Register a one-layer network ``tiny`` with settings that ``changes`` may spoil."""
    settings = {
        "name": "tiny",
        "build_network": lambda: ([("conv", nn.Conv2d(3, 4, 1))], nn.Identity()),
        "weights": (),
        "convert_weights": lambda path: {},
        "description": "a test network",
        "presets": {"edges": "conv"},
        "default_preset": "edges",
        "layers": [LayerInfo("conv", 4, 1)],
        "input_size": 8,
        "min_side": 1,
        "input_mean": (0.5,) * 3,
        "input_std": (0.5,) * 3,
        **changes,
    }
    registry.register_model(**settings)


def test_registering_adds_a_model_with_its_catalogue(scratch_registry) -> None:
    register_tiny()
    assert "tiny" in list_models()
    assert get_spec("tiny").build().layer_names == ["conv"]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"default_preset": "objects"}, ValueError, "tiny: default preset 'objects' is not a preset"),
        ({"presets": {"edges": "conv,fc"}}, UnknownLayerError, "unknown layer 'fc'; valid layers: conv"),
    ],
    ids=["default preset", "preset layer"],
)
def test_presets_must_name_catalogued_layers(scratch_registry, changes, error, message) -> None:
    with pytest.raises(error, match=message):
        register_tiny(**changes)
    assert "tiny" not in scratch_registry


def test_the_catalogue_loads_without_pytorch() -> None:
    """``reverie layers`` and ``reverie models`` read the catalogue; building needs torch, listing not."""
    code = (
        "import sys; from reverie.models import get_spec, list_models; "
        "assert len(list_models()) == 7 and get_spec('inception_v3').layer('mixed3').channels == 768; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("block.8", "blocks.8"), ("Blocks.11", "blocks.11"), ("stemm", "stem")],
)
def test_a_near_miss_layer_name_gets_a_suggestion(typed: str, suggestion: str) -> None:
    with pytest.raises(UnknownLayerError, match=rf"\(did you mean {re.escape(suggestion)}\?\); valid layers"):
        get_spec("efficientnet_lite0").layer(typed)


def test_a_far_miss_gets_no_suggestion() -> None:
    with pytest.raises(UnknownModelError) as caught:
        get_spec("resnet50")
    assert "did you mean" not in str(caught.value)
    with pytest.raises(UnknownModelError, match=r"\(did you mean googlenet\?\)"):
        get_spec("googlenett")
