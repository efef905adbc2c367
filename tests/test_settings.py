"""DreamSettings validation and serialisation."""

from __future__ import annotations

import pytest

from reverie.errors import SettingsError
from reverie.settings import DreamSettings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps"),
        ("step_size", 0.0, "step-size"),
        ("step_size", float("nan"), "step-size"),
        ("octaves", 0, "octaves"),
        ("octave_scale", 1.0, "octave-scale"),
        ("jitter", -1, "jitter"),
        ("tile_size", 10, "tile-size"),
        ("tv_weight", -0.1, "tv-weight"),
        ("max_side", -5, "max-side"),
        ("seed", -1, "seed"),
        ("gradient_norm", "l2", "gradient-norm"),
        ("precision", "fp16", "precision"),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DreamSettings().with_changes(**{field: value}).validate()


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    settings = DreamSettings(layers="blocks.8:3=0.5", seed=42, tv_weight=0.25).validate()
    assert DreamSettings.from_json(settings.to_json()) == settings


def test_unknown_setting_names_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        DreamSettings().with_changes(stepz=3)


def test_saved_settings_ignore_unknown_keys_but_check_types() -> None:
    assert DreamSettings.from_dict({"steps": 5, "from_the_future": 1}).steps == 5
    assert DreamSettings.from_dict({"step_size": 1}).step_size == 1.0
    with pytest.raises(SettingsError, match="must be of type int"):
        DreamSettings.from_dict({"steps": "five"})
    with pytest.raises(SettingsError, match="not valid JSON"):
        DreamSettings.from_json("{oops")
