"""Layer specifications and objective arithmetic."""

from __future__ import annotations

import pytest
import torch

from reverie.errors import SettingsError, UnknownLayerError
from reverie.objectives import LayerTerm, layer, parse_layer_spec


def test_parse_layers_channels_and_weights() -> None:
    objective = parse_layer_spec("blocks.8, blocks.10:37=0.5,head:1+2+3")
    assert objective.terms == (
        LayerTerm("blocks.8"),
        LayerTerm("blocks.10", (37,), 0.5),
        LayerTerm("head", (1, 2, 3)),
    )
    assert objective.layers == ["blocks.8", "blocks.10", "head"]
    assert parse_layer_spec(objective.spec()) == objective


@pytest.mark.parametrize("text", ["", " , ", "blocks.8:x", "blocks.8=big", ":3", "blocks.1:1+"])
def test_malformed_specs_are_settings_errors(text: str) -> None:
    with pytest.raises(SettingsError):
        parse_layer_spec(text)


def test_score_is_the_weighted_mean_of_the_chosen_channels() -> None:
    activation = torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).view(2, 4, 3, 3)
    objective = layer("a", (1, 3), weight=2.0) + layer("b")
    value = objective({"a": activation, "b": torch.ones(1, 2, 2, 2)})
    expected = 2.0 * activation[:, [1, 3]].mean() + 1.0
    assert torch.isclose(value, expected)


def test_arithmetic_scales_and_negates() -> None:
    objective = 3 * layer("a") - layer("b", weight=0.5)
    assert [t.weight for t in objective.terms] == [3.0, -0.5]
    assert (-objective).terms[0].weight == -3.0


def test_check_rejects_unknown_layers_and_channels(lite0) -> None:
    parse_layer_spec("blocks.8:0+111").check(lite0)  # blocks.8 has 112 channels
    with pytest.raises(UnknownLayerError, match=r"channels 0\.\.111"):
        parse_layer_spec("blocks.8:112").check(lite0)
    with pytest.raises(UnknownLayerError, match="valid layers"):
        parse_layer_spec("mixed3").check(lite0)
