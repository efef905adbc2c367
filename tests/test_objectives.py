"""Layer specifications and objective arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from reverie import objectives
from reverie.errors import SettingsError, UnknownLayerError
from reverie.models import get_spec
from reverie.models.base import LOGITS
from reverie.objectives import (
    ClassTerm,
    LayerTerm,
    class_index,
    guide,
    imagenet_class,
    layer,
    parse_layer_spec,
)
from reverie.render import render
from reverie.settings import DreamSettings
from reverie.tensors import to_tensor


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


def test_check_reads_the_models_catalogue_without_building_it(monkeypatch) -> None:
    spec = get_spec("efficientnet_lite0")
    monkeypatch.setattr(type(spec), "build", lambda self: pytest.fail("a network was built"))
    parse_layer_spec("blocks.8:0+111,class:tabby,guide:blocks.9").check(spec)  # blocks.8 has 112 channels
    with pytest.raises(UnknownLayerError, match=r"channels 0\.\.111"):
        parse_layer_spec("blocks.8:112").check(spec)
    with pytest.raises(UnknownLayerError, match="valid layers"):
        parse_layer_spec("mixed3").check(spec)
    with pytest.raises(UnknownLayerError, match="valid layers"):
        parse_layer_spec("guide:mixed3").check(spec)


@pytest.mark.parametrize(
    "spec", ["blocks.3:", "blocks.3=", "blocks.3=nan", "blocks.3=-inf", "class:", "guide:"]
)
def test_dangling_or_non_finite_terms_are_refused(spec: str) -> None:
    with pytest.raises(SettingsError):
        parse_layer_spec(spec)


def test_class_names_and_indices_parse() -> None:
    assert class_index("tabby") == 281 and class_index("Espresso") == 967 and class_index("5") == 5
    assert parse_layer_spec("class:tabby=0.5").terms == (ClassTerm(281, 0.5),)
    assert imagenet_class(967).spec() == "class:967"
    with pytest.raises(SettingsError, match="ambiguous"):
        class_index("crane")
    with pytest.raises(SettingsError, match="unknown ImageNet class"):
        class_index("unicorn")
    with pytest.raises(SettingsError, match=r"0\.\.999"):
        class_index("1000")


def test_class_term_scores_its_logit() -> None:
    logits = torch.zeros(2, 1000)
    logits[:, 281] = torch.tensor([2.0, 4.0])
    assert imagenet_class("tabby", 0.5)({LOGITS: logits}).item() == pytest.approx(1.5)


def test_guide_term_pulls_each_position_towards_its_closest_guide_feature() -> None:
    guide_features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two guide positions, 2 channels
    activation = torch.tensor([[3.0, 0.0], [1.0, 2.0]]).view(1, 2, 1, 2)  # positions (3, 1), (0, 2)
    term = guide("a").with_guide({"a": guide_features})
    # Position 1 is most like guide feature 0 (3), position 2 like feature 1 (2): mean 2.5, / 2 channels.
    assert term({"a": activation}).item() == pytest.approx(2.5 / 2)
    assert guide("a").as_guided() == guide("a") and layer("a").as_guided() == guide("a")


def test_a_new_term_kind_is_one_registered_class(lite0, small_cat, monkeypatch) -> None:
    """Adding an objective is one class: the parser, the checks and the render loop take it as is."""
    monkeypatch.setattr(objectives, "TERM_KINDS", dict(objectives.TERM_KINDS))

    @objectives.term_kind("energy")
    @dataclass(frozen=True)
    class EnergyTerm:
        """The mean square of a layer's activation (the original DeepDream's L2 objective)."""

        layer: str
        weight: float = 1.0

        def score(self, activation: torch.Tensor) -> torch.Tensor:
            return self.weight * activation.square().mean()

        def spec(self) -> str:
            return f"energy:{self.layer}"

        def check(self, model) -> None:
            model.layer(self.layer)

        @classmethod
        def parse(cls, detail: str, weight: float) -> EnergyTerm:
            return cls(detail, weight)

    objective = parse_layer_spec("energy:blocks.8=2,blocks.4")
    assert objective.terms[0] == EnergyTerm("blocks.8", 2.0) and objective.layers == ["blocks.8", "blocks.4"]
    with pytest.raises(UnknownLayerError, match=r"did you mean blocks\.8"):
        parse_layer_spec("energy:block.8").check(lite0)
    image = to_tensor(small_cat.rgb)
    energy = parse_layer_spec("energy:blocks.8")
    before = energy(lite0(image, energy.layers)).item()
    dreamed = render(lite0, energy, image, DreamSettings(steps=3, octaves=1, max_side=0))
    assert energy(lite0(dreamed, energy.layers)).item() > 1.1 * before


@pytest.mark.parametrize("text", ["guide", "class=2"])
def test_a_term_kind_without_its_detail_says_so(text: str) -> None:
    with pytest.raises(
        SettingsError, match=f"{text.split('=')[0]} term {text!r} names nothing after"
    ) as caught:
        parse_layer_spec(text)
    assert caught.value.field == "layers"
