"""DreamSettings validation and serialisation."""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction

import pytest

from reverie.errors import SettingsError, Words
from reverie.schema import FLOAT32_MAX, declared
from reverie.settings import (
    GRADIENT_NORMS,
    ClusterOptions,
    DreamSettings,
    LoopSettings,
    ServerLimits,
    TaskOptions,
    VideoSettings,
    ZoomSettings,
)


@pytest.mark.parametrize(
    ("field", "value", "message", "limits"),
    [
        ("steps", 0, "steps must be between 1 and 10000; got 0", {"minimum": 1, "maximum": 10_000}),
        ("step_size", 0.0, "step_size must be more than 0 and at most 1", {"exclusiveMinimum": 0}),
        ("step_size", float("nan"), "step_size must be more than 0 and at most 1; got nan", {"maximum": 1}),
        ("octaves", 0, "octaves must be between 1 and 20", {"maximum": 20}),
        ("octave_scale", 1.0, "octave_scale must be more than 1 and at most 4", {"exclusiveMinimum": 1}),
        ("jitter", -1, "jitter must be between 0 and 4096 px", {"minimum": 0}),
        ("tile_size", 10, "tile_size must be 0 (auto) or between 64 and 8192 px", {"zero": "auto"}),
        ("tv_weight", -0.1, "tv_weight must be between 0 and 1000", {"minimum": 0}),
        ("tv_weight", 1e39, "tv_weight must be between 0 and 1000; got 1e+39", {"maximum": 1000}),
        ("max_side", -5, "max_side must be 0 (full size) or between 1 and 65536 px", {"maximum": 65_536}),
        ("seed", -1, "seed must be at least 0 and less than 2**63", {"exclusiveMaximum": 2**63}),
        ("gradient_norm", "l2","gradient_norm must be one of std, laplacian", {"enum": [*GRADIENT_NORMS]}),
        ("precision", "fp16", "precision must be one of fp32, bf16", {"enum": ["fp32", "bf16"]}),
    ],
)  # fmt: skip
def test_out_of_range_values_are_refused_with_field_value_and_limit(
    field: str, value: object, message: str, limits: dict
) -> None:
    with pytest.raises(SettingsError) as caught:
        DreamSettings().with_changes(**{field: value}).validate()
    error = caught.value
    assert str(error).startswith(message) and error.field == field
    assert error.value == value or error.value != error.value  # NaN is not equal to itself
    assert limits.items() <= error.limits.items()
    assert error.render(Words(setting=lambda name: f"<{name}>")).startswith(f"<{field}> must be ")


def test_every_knob_is_declared_once_with_help_and_finite_bounds() -> None:
    for settings_class in (
        DreamSettings,
        ZoomSettings,
        VideoSettings,
        TaskOptions,
        ClusterOptions,
        ServerLimits,
    ):
        names = [item.name for item in fields(settings_class)]
        knobs = list(declared(settings_class))
        assert [item.name for item in knobs] == names  # every field is a knob
        for item in knobs:
            assert item.knob.help.endswith("."), item.name
            if settings_class in (DreamSettings, ZoomSettings, VideoSettings):  # the web form shows them
                assert item.knob.label, item.name
            if item.kind in (int, float):
                assert item.knob.minimum is not None and item.knob.maximum is not None, item.name
                assert abs(item.knob.maximum) <= FLOAT32_MAX and abs(item.knob.minimum) <= FLOAT32_MAX
        settings_class().validate()  # the defaults pass their own rules


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    settings = DreamSettings(layers="blocks.8:3=0.5", seed=42, tv_weight=0.25).validate()
    assert DreamSettings.from_json(settings.to_json()) == settings


def test_unknown_setting_names_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        DreamSettings().with_changes(stepz=3)


def test_saved_settings_ignore_unknown_keys_but_check_types() -> None:
    assert DreamSettings.from_dict({"steps": 5, "from_the_future": 1}).steps == 5
    assert DreamSettings.from_dict({"step_size": 1}).step_size == 1.0
    with pytest.raises(SettingsError, match="steps must be a whole number; got 'five'"):
        DreamSettings.from_dict({"steps": "five"})
    with pytest.raises(SettingsError, match="not valid JSON"):
        DreamSettings.from_json("{oops")


@pytest.mark.parametrize(
    "changes", [{"steps": 2.5}, {"octaves": 2.0}, {"seed": -0.0}, {"tile_size": 64.5}, {"keep_colors": 1}]
)
def test_mistyped_settings_are_settings_errors(changes: dict) -> None:
    with pytest.raises(SettingsError, match=r"must be (a whole number|true or false)") as caught:
        DreamSettings().with_changes(**changes).validate()
    assert caught.value.field == next(iter(changes))


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
        (ZoomSettings(frames=0), "frames must be between 1 and 100000"),
        (ZoomSettings(zoom=500), "zoom must be between -50 and 100 %; got 500"),
        (ZoomSettings(zoom=float("nan")), "zoom must be between"),
        (ZoomSettings(rotate=-200), "rotate must be between -180 and 180 degrees"),
        (ZoomSettings(fps=0), "fps must be between 0.1 and 240"),
        (ZoomSettings(frames=2.0), "frames must be a whole number"),  # type: ignore[arg-type]
        (VideoSettings(blend=1.5), "blend must be between 0 and 0.95"),
        (VideoSettings(blend=float("inf")), "blend must be between"),
        (VideoSettings(flow="yes"), "flow must be true or false"),  # type: ignore[arg-type]
        (VideoSettings(follow_steps=-1), r"follow_steps must be 0 \(half the steps\) or between 1 and 10000"),
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
