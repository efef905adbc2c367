"""DreamSettings validation and serialisation."""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction

import pytest

from reverie.errors import SettingsError
from reverie.settings import DreamSettings, LoopSettings, VideoSettings, ZoomSettings


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


@pytest.mark.parametrize(
    "changes", [{"steps": 2.5}, {"octaves": 2.0}, {"seed": -0.0}, {"tile_size": 64.5}, {"keep_colors": 1}]
)
def test_mistyped_settings_are_settings_errors(changes: dict) -> None:
    with pytest.raises(SettingsError, match="must be of type"):
        DreamSettings().with_changes(**changes).validate()


def test_the_loop_sees_only_its_own_settings() -> None:
    """render() takes LoopSettings; a DreamSettings is one, with the picture's knobs added."""
    loop_fields = {item.name for item in fields(LoopSettings)}
    dream_fields = {item.name for item in fields(DreamSettings)}
    assert {"steps", "seed", "tile_size", "precision"} <= loop_fields
    assert not {"model", "layers", "max_side", "guide", "mask", "keep_colors"} & loop_fields
    assert loop_fields < dream_fields


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ZoomSettings(frames=0), "--frames"),
        (ZoomSettings(zoom=500), "--zoom"),
        (ZoomSettings(zoom=float("nan")), "--zoom"),
        (ZoomSettings(rotate=-200), "--rotate"),
        (ZoomSettings(fps=0), "--fps"),
        (ZoomSettings(frames=2.0), "must be of type int"),  # type: ignore[arg-type]
        (VideoSettings(blend=1.5), "--blend"),
        (VideoSettings(blend=float("inf")), "--blend"),
        (VideoSettings(flow="yes"), "must be of type bool"),  # type: ignore[arg-type]
    ],
)
def test_animation_settings_are_checked(settings, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings.validate()


def test_animation_settings_round_trip_and_frame_rates_are_exact() -> None:
    motion = ZoomSettings(frames=7, zoom=-3.5, rotate=1.0, fps=29.97, stabilise=False).validate()
    assert ZoomSettings.from_json(motion.to_json()) == motion
    assert motion.frame_rate == Fraction(2997, 100)
    assert ZoomSettings(fps=12).frame_rate == 12
    assert VideoSettings.from_dict({"blend": 0, "flow": False}) == VideoSettings(blend=0.0, flow=False)
