"""Edge cases found in review: each once gave a traceback, a silent wrong result or an overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reverie import Dreamer, DreamSettings, ImageError, SettingsError, dream, load_image, parse_layer_spec
from reverie.cli import main
from reverie.dreamer import read_settings
from reverie.models import get_spec
from reverie.render import render


def test_thin_edge_tiles_still_fit_the_network() -> None:
    model = get_spec("inception_v3").build().freeze()  # needs 75 px; timing-free random weights
    image = torch.rand(1, 3, 86, 129)
    settings = DreamSettings(layers="mixed8", steps=1, octaves=1, tile_size=64, max_side=0)
    assert render(model, parse_layer_spec("mixed8"), image, settings).shape == image.shape


def test_dream_api_never_overwrites_the_pictures_source(chelsea_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cat.png"
    copy.write_bytes(chelsea_path.read_bytes())
    with pytest.raises(ImageError, match="overwrite the input"):
        dream(load_image(copy), copy, steps=1, octaves=1, device="cpu")
    assert copy.read_bytes() == chelsea_path.read_bytes()


def test_plain_settings_follow_the_dreamers_model(small_cat) -> None:
    result = Dreamer("efficientnet_lite1", device="cpu").dream(small_cat, DreamSettings(steps=1, octaves=1))
    assert result.settings.model == "efficientnet_lite1" and result.settings.layers == "blocks.11,blocks.15"


@pytest.mark.parametrize(
    "changes", [{"steps": 2.5}, {"octaves": 2.0}, {"seed": -0.0}, {"tile_size": 64.5}, {"keep_colors": 1}]
)
def test_mistyped_settings_are_settings_errors(changes: dict) -> None:
    with pytest.raises(SettingsError, match="must be of type"):
        DreamSettings().with_changes(**changes).validate()


@pytest.mark.parametrize("spec", ["blocks.3:", "blocks.3=", "blocks.3=nan", "blocks.3=-inf", "class:"])
def test_dangling_or_non_finite_terms_are_refused(spec: str) -> None:
    with pytest.raises(SettingsError):
        parse_layer_spec(spec)


def test_arrays_must_be_floats_in_unit_range(small_cat) -> None:
    dreamer = Dreamer(device="cpu")
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        dreamer.dream((small_cat.rgb * 255).astype(np.uint8))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        dreamer.dream(small_cat.rgb * 255)


def test_unknown_preset_is_refused_even_with_layers(small_cat) -> None:
    with pytest.raises(SettingsError, match="unknown preset"):
        Dreamer(device="cpu").dream(small_cat, preset="nope", layers="blocks.3", steps=1, octaves=1)


def test_settings_from_with_the_same_model_keeps_its_layers(chelsea_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    quick = ["--steps", "1", "--octaves", "1", "--max-side", "64", "-q"]
    assert main(["dream", str(chelsea_path), "-o", str(first), "--layers", "blocks.3:5", *quick]) == 0
    args = ["dream", str(chelsea_path), "-o", str(second), "--settings-from", str(first)]
    assert main([*args, "--model", "efficientnet_lite0", "-q"]) == 0
    assert read_settings(second).layers == "blocks.3:5"


def test_unusable_device_names_are_one_line_errors(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    for device in ("cuda:x", "tpu", "cuda"):
        if device.startswith("cuda") and torch.cuda.is_available():
            continue
        assert main(["dream", str(chelsea_path), "-o", str(tmp_path / "o.png"), "--device", device]) == 1
        assert capsys.readouterr().err.count("\n") == 1
