"""Settings: plain, frozen dataclasses that travel from a front end into a task, into the render loop
and into the output file's metadata, and back out of it (``--settings-from``).

:class:`LoopSettings` holds the knobs of the render loop itself and is all :func:`reverie.render.render`
sees; :class:`DreamSettings` adds what a dream needs around the loop (model, layers, size, guide,
mask, colours). :class:`ZoomSettings` and :class:`VideoSettings` describe animations. ``validate()``
is called by the tasks (:mod:`reverie.tasks`), the one place a job is checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any, Self

from reverie.errors import SettingsError

GRADIENT_NORMS = ("std", "laplacian")
PRECISIONS = ("fp32", "bf16")
#: Largest picture (width * height) loaded unless the caller raises it: 100 megapixels is about
#: 1.2 GB as float32 RGB, well above any camera photo and well below what a bomb file claims.
DEFAULT_MAX_PIXELS: int = 100_000_000
#: Output formats a batch writes (the lossless default, and the two compact ones).
BATCH_FORMATS = ("png", "jpg", "webp")
#: What ``--ray`` alone stands for: a Ray instance of this command's own (or RAY_ADDRESS's cluster).
LOCAL_RAY = "local"


@dataclass(frozen=True)
class Settings:
    """What every settings class shares: type and range checks, copies with changes, JSON both ways."""

    def validate(self) -> Self:
        """Raise :class:`SettingsError` for a mistyped or out-of-range value; return self for chaining."""
        defaults = type(self)()
        for item in fields(self):
            check_type(item.name, getattr(self, item.name), type(getattr(defaults, item.name)))
        for ok, message in self.range_checks():
            if not ok:
                raise SettingsError(message)
        return self

    def range_checks(self) -> list[tuple[bool, str]]:
        """(condition, message when it fails) for every range this class promises."""
        return []

    def with_changes(self, **changes: Any) -> Self:
        """A copy with some fields changed; unknown names are a :class:`SettingsError`."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Settings from a saved dict; unknown keys (from a newer version) are ignored, types checked."""
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in values:
                continue
            value, expected = values[item.name], type(getattr(defaults, item.name))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            check_type(item.name, value, expected)
            kwargs[item.name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            raise SettingsError("saved settings are not valid JSON") from None
        if not isinstance(values, dict):
            raise SettingsError("saved settings are not a JSON object")
        return cls.from_dict(values)


@dataclass(frozen=True)
class LoopSettings(Settings):
    """The knobs of the gradient-ascent loop. Pixel values are in [0, 1]; sizes are in pixels.

    Defaults follow the TensorFlow DeepDream tutorial's algorithm (normalised-gradient ascent with
    random shifts over octaves), tuned for fewer, larger steps so a CPU dream takes seconds.
    """

    #: Gradient-ascent steps per octave.
    steps: int = 10
    #: Change per step, in [0, 1] pixel units, applied to the unit-std normalised gradient.
    step_size: float = 0.01
    #: Number of scales, the last at the working resolution, each earlier one smaller by octave_scale.
    octaves: int = 4
    octave_scale: float = 1.4
    #: Largest random shift (roll) per step in pixels, so stride and tile seams never settle.
    jitter: int = 32
    #: Images larger than this (pixels per side) get their gradient computed tile by tile; 0 (the
    #: default) chooses from memory and the model: the whole picture at once when its gradient fits
    #: the budget (no tile margins to pay for), else the largest tiles that fit, and on a CPU no
    #: larger than the model's preferred tile (:func:`reverie.render.tile_for`).
    tile_size: int = 0
    #: Weight of the total-variation penalty that smooths noise (0 turns it off).
    tv_weight: float = 0.0
    seed: int = 0
    #: "std" (the tutorial) or "laplacian" (per-frequency normalisation from Google's notebook).
    gradient_norm: str = "std"
    #: "fp32", or "bf16": the network runs in bfloat16 (autocast); faster on CPUs with AVX512-BF16
    #: or AMX and on GPUs, visually equivalent (see bench/RESULTS.md); the image stays fp32.
    precision: str = "fp32"

    def range_checks(self) -> list[tuple[bool, str]]:
        return [
            (self.steps >= 1, "steps must be at least 1"),
            (self.steps <= 10_000, "steps must be at most 10000"),
            (finite_positive(self.step_size) and self.step_size <= 1, "step-size must be in (0, 1]"),
            (1 <= self.octaves <= 20, "octaves must be between 1 and 20"),
            (finite(self.octave_scale) and 1 < self.octave_scale <= 4, "octave-scale must be in (1, 4]"),
            (0 <= self.jitter <= 4096, "jitter must be between 0 and 4096 pixels"),
            (
                self.tile_size == 0 or 64 <= self.tile_size <= 8192,
                "tile-size must be 0 (auto) or between 64 and 8192 pixels",
            ),
            (finite(self.tv_weight) and self.tv_weight >= 0, "tv-weight must be 0 or more"),
            (0 <= self.seed < 2**63, "seed must be between 0 and 2**63 - 1"),
            (self.gradient_norm in GRADIENT_NORMS, f"gradient-norm must be one of {GRADIENT_NORMS}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
        ]


@dataclass(frozen=True)
class DreamSettings(LoopSettings):
    """Every knob of a dream: the loop's, plus what is dreamed on and how the picture is prepared."""

    #: Network name; empty means "the default model" (or, through a Dreamer, its model).
    model: str = ""
    #: Layer specification (``blocks.8,blocks.11:37=0.5``); empty means the preset's layers.
    layers: str = ""
    #: Named look (``edges``, ``textures``, ``patterns``, ``objects``); empty means the model's default.
    preset: str = ""
    #: Working resolution: the long side is reduced to this before dreaming (0 keeps full size).
    max_side: int = 1024
    #: Guide image path: the dream borrows its features (``guide:LAYER`` terms, or every layer).
    guide: str = ""
    #: Mask image path: dream only where it is white, partly where grey; edges are feathered.
    mask: str = ""
    #: Keep the photo's colours: the dream changes brightness (luma) only.
    keep_colors: bool = False

    def range_checks(self) -> list[tuple[bool, str]]:
        return [
            *super().range_checks(),
            (0 <= self.max_side <= 65_536, "max-side must be 0 (full size) or up to 65536 pixels"),
        ]

    def changed(self, **changes: Any) -> DreamSettings:
        """A copy with ``changes``, where another model or a preset given without layers drops the
        old layers, so the model's preset chooses its own (``--settings-from`` and sweeps)."""
        new_model = changes.get("model", self.model) != self.model
        if (new_model or "preset" in changes) and "layers" not in changes:
            changes = {**changes, "layers": ""}
        return self.with_changes(**changes)


@dataclass(frozen=True)
class ZoomSettings(Settings):
    """The motion of a zoom animation.

    ``zoom``: percent the picture grows per frame (negative zooms out), -50..100. ``rotate``:
    degrees per frame, counter-clockwise. ``fps``: frames per second, 0.1..240. ``stabilise``: hold
    colour statistics to the first frame.
    """

    frames: int = 30
    zoom: float = 2.0
    rotate: float = 0.0
    fps: float = 12.0
    stabilise: bool = True

    def range_checks(self) -> list[tuple[bool, str]]:
        return [
            (1 <= self.frames <= 100_000, f"--frames must be between 1 and 100000; got {self.frames}"),
            (
                -50 <= self.zoom <= 100,
                f"--zoom must be between -50 and 100 percent per frame; got {self.zoom}",
            ),
            (
                -180 <= self.rotate <= 180,
                f"--rotate must be between -180 and 180 degrees per frame; got {self.rotate}",
            ),
            (0.1 <= self.fps <= 240, f"--fps must be between 0.1 and 240; got {self.fps}"),
        ]

    @property
    def frame_rate(self) -> Fraction:
        """``fps`` as the fraction (denominator at most 1001) a video container stores its rate as."""
        return Fraction(self.fps).limit_denominator(1001)


@dataclass(frozen=True)
class VideoSettings(Settings):
    """Temporal coherence of a dreamed video.

    ``blend``: share of the previous frame's dream detail carried into the next, 0..0.95 (0 dreams
    every frame on its own). ``flow``: move that detail along the source's optical flow; without
    it the detail stays in place, which suits only a still camera.
    """

    blend: float = 0.5
    flow: bool = True
    #: Steps per octave for every frame after the first; 0: half the dream's steps (rounded up). Such
    #: a frame starts from the previous frame's dream carried along the flow, so it carries the look
    #: on with less work: with both defaults a 540x360 video takes 1.1 s a frame instead of 2.4, with
    #: less flicker and 94% of the objective (bench/VERSUS.md).
    follow_steps: int = 0
    #: Octaves for every frame after the first: the largest N of the dream's (0: all of them).
    follow_octaves: int = 2

    def later_frames(self, steps: int, octaves: int) -> tuple[int, int]:
        """(steps, octaves) of every frame after the first, for a dream of ``steps`` x ``octaves``."""
        later_steps = self.follow_steps or -(-steps // 2)
        return later_steps, min(self.follow_octaves or octaves, octaves)

    def range_checks(self) -> list[tuple[bool, str]]:
        return [
            (
                finite(self.blend) and 0 <= self.blend <= 0.95,
                f"--blend must be between 0 and 0.95; got {self.blend}",
            ),
            (0 <= self.follow_steps <= 10_000, "--follow-steps must be between 0 and 10000"),
            (0 <= self.follow_octaves <= 20, "--follow-octaves must be between 0 and 20"),
        ]


def check_type(name: str, value: object, expected: type) -> None:
    """:class:`SettingsError` unless ``value`` is an ``expected`` (an int passes for a float)."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise SettingsError(f"setting {name!r} must be of type {expected.__name__}; got {value!r}")


def finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def finite_positive(value: float) -> bool:
    return finite(value) and value > 0
