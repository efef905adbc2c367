"""The embedded EfficientNet-Lite models: real weights on real photos, the catalogue, TF "same" padding.

What every model promises (catalogue against activations, early stop, presets, weight errors) is in
test_contract.py; this file keeps what only EfficientNet-Lite has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from reverie.classify import classify
from reverie.io.images import load_image
from reverie.models import get_spec, load_model
from reverie.models.efficientnet_lite import SameConv2d, same_padding
from reverie.weights import find_weights, read_torch_state_dict

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


@pytest.mark.parametrize("name", LITES)
def test_lite_models_recognise_the_sample_photos(name: str, chelsea_path: Path, coffee_path: Path) -> None:
    model = load_model(name)
    cat = classify(model, load_image(chelsea_path), top=3)
    coffee = classify(model, load_image(coffee_path), top=1)
    assert cat[0].index in CAT_CLASSES
    assert sum(p.probability for p in cat if p.index in CAT_CLASSES) > 0.5
    assert coffee[0].index == ESPRESSO and coffee[0].name == "espresso"


def test_lite0_has_a_stem_sixteen_blocks_and_a_head() -> None:
    assert get_spec("efficientnet_lite0").layer_names == ["stem", *[f"blocks.{i}" for i in range(16)], "head"]


@pytest.mark.parametrize("name", LITES)
def test_catalogue_channels_are_those_of_the_published_weights(name: str) -> None:
    # The file says how many blocks there are and what each outputs; the catalogue is computed from
    # width and depth multipliers, so a rounding slip there shows here.
    published = read_torch_state_dict(find_weights(get_spec(name)))
    blocks = sorted(
        (int(key.split(".")[1]), tensor.shape[0])
        for key, tensor in published.items()
        if key.startswith("_blocks.") and key.endswith("._project_conv.weight")
    )
    expected = {
        "stem": published["_conv_stem.weight"].shape[0],
        **{f"blocks.{index}": channels for index, channels in blocks},
        "head": published["_conv_head.weight"].shape[0],
    }
    assert {info.name: info.channels for info in get_spec(name).layers} == expected


@pytest.mark.parametrize("name", LITES)
def test_patterns_preset_sits_at_strides_16_and_32(name: str) -> None:
    spec = get_spec(name)
    assert spec.default_preset == "patterns"
    assert [spec.layer(layer).stride for layer in spec.presets["patterns"].split(",")] == [16, 32]


def test_tf_same_padding_pads_more_after_for_stride_two() -> None:
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(225, 3, 2) == (1, 1)
    assert same_padding(224, 5, 1) == (2, 2)
    assert same_padding(7, 5, 2) == (2, 2)
    assert same_padding(8, 5, 2) == (1, 2)


# (left, right, top, bottom): TF puts the odd pixel of padding after, never before.
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [((8, 9), 3, 2, (1, 1, 0, 1)), ((10, 7), 5, 2, (2, 2, 1, 2)), ((6, 5), 3, 1, (1, 1, 1, 1))],
)
def test_same_conv_equals_tf_explicit_padding(size, kernel, stride, padding) -> None:
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, kernel, stride, bias=False)
    x = torch.rand(1, 2, *size)
    with torch.no_grad():
        got = conv(x)
        expected = F.conv2d(F.pad(x, padding), conv.weight, stride=stride)
    assert got.shape[-2:] == tuple(-(-side // stride) for side in size)
    assert torch.allclose(got, expected, atol=1e-6)
