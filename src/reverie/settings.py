"""Settings: plain, frozen dataclasses that travel from a front end into a task, into the render loop
and into the output file's metadata, and back out of it (``--settings-from``).

Every field is declared once, with :func:`reverie.schema.knob`: its type, default, bounds, unit and
help. The checks here, the command line's options, the web form and the OpenAPI schema all derive
from those declarations, so no bound is written twice.

:class:`LoopSettings` holds the knobs of the render loop itself and is all :func:`reverie.render.render`
sees; :class:`DreamSettings` adds what a dream needs around the loop (model, layers, size, guide,
mask, colours). :class:`ZoomSettings` and :class:`VideoSettings` describe animations. ``validate()``
is called by the tasks (:mod:`reverie.tasks`), the one place a job is checked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any, Self

from reverie.errors import SettingsError
from reverie.schema import check_declared, check_type, declared, knob

GRADIENT_NORMS = ("std", "laplacian")
PARAMS = ("auto", "pixel", "fft")
#: What each step sees besides the roll (:data:`LoopSettings.transforms`).
TRANSFORMS = ("auto", "roll", "all")
PRECISIONS = ("fp32", "bf16")
#: Largest picture (width * height) loaded unless the caller raises it: 100 megapixels is about
#: 1.2 GB as float32 RGB, well above any camera photo and well below what a bomb file claims.
DEFAULT_MAX_PIXELS: int = 100_000_000
#: Output formats a batch writes (the lossless default, and the two compact ones).
BATCH_FORMATS = ("png", "jpg", "webp")
#: The library's largest steps per octave, working size and zoom length (a server may cap them lower).
MAX_STEPS = 10_000
MAX_SIDE = 65_536
MAX_FRAMES = 100_000
#: What ``--ray`` alone stands for: a Ray instance of this command's own (or RAY_ADDRESS's cluster).
LOCAL_RAY = "local"


@dataclass(frozen=True)
class Settings:
    """What every settings class shares: declared checks, copies with changes, JSON both ways."""

    def validate(self) -> Self:
        """Raise a :class:`SettingsError` naming the field, value and limit of the first mistyped or
        out-of-range value; return self for chaining."""
        check_declared(self)
        return self

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
        kwargs: dict[str, Any] = {}
        for item in declared(cls):
            if item.name not in values:
                continue
            value = values[item.name]
            if item.kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            check_type(item.name, value, item.kind)
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

    steps: int = knob(
        10, "Gradient-ascent steps per octave: more gives stronger patterns and takes longer.",
        minimum=1, maximum=MAX_STEPS, label="Steps",
    )  # fmt: skip
    step_size: float = knob(
        0.01, "How far each step moves the picture, as a share of the full pixel range (the gradient "
        "is normalised first); 0.005..0.02 keeps the photo recognisable.",
        minimum=0, above=True, maximum=1, label="Strength", step=0.001,
    )  # fmt: skip
    octaves: int = knob(
        4, "Scales dreamed, smallest first, the last at the working size: more octaves grow larger "
        "patterns.",
        minimum=1, maximum=20, label="Octaves",
    )  # fmt: skip
    octave_scale: float = knob(
        1.4, "Size ratio between octaves.", minimum=1, above=True, maximum=4, label="Octave scale", step=0.1
    )
    jitter: int = knob(
        32, "Largest random shift (roll) of the picture per step, so tile and stride seams never settle.",
        minimum=0, maximum=4096, unit="px", label="Jitter",
    )  # fmt: skip
    #: 0 chooses from memory and the model (:func:`reverie.render.tile_for`).
    tile_size: int = knob(
        0, "Pictures larger than this get their gradient tile by tile, so any size fits in memory; "
        "0 chooses from memory and the model (dense networks whole up to about 1024 px, "
        "EfficientNet-Lite in 512 px tiles).",
        minimum=64, maximum=8192, zero="auto", unit="px", label="Tile size",
    )  # fmt: skip
    tv_weight: float = knob(
        0.0, "Total-variation smoothing (0: off); about 0.1..1 calms noisy dreams.",
        minimum=0, maximum=1000, label="Smoothing", step=0.05,
    )  # fmt: skip
    seed: int = knob(
        0, "Seed of the random shifts: the same seed and settings give the same pixels.",
        minimum=0, maximum=2**63, below=True, label="Seed",
    )  # fmt: skip
    gradient_norm: str = knob(
        "std", "Gradient normalisation: std (the TensorFlow tutorial's) or laplacian (per frequency, as "
        "in Google's notebook: larger, smoother shapes).",
        choices=GRADIENT_NORMS, label="Gradient normalisation",
    )  # fmt: skip
    precision: str = knob(
        "fp32", "fp32, or bf16: the network in bfloat16 (faster on CPUs with AMX/AVX512-BF16 and on "
        "GPUs; the picture itself stays fp32).",
        choices=PRECISIONS, label="Precision",
    )  # fmt: skip
    param: str = knob(
        "auto", "What the steps move: pixel (DeepDream's own), fft (a 1/f spectrum of decorrelated colour "
        "seen through small random scales and turns: smooth pictures from noise, steps x octaves steps "
        "at one scale), or auto (fft from noise, pixel for photos).",
        choices=PARAMS, label="Parameterisation",
    )  # fmt: skip
    transforms: str = knob(
        "auto", "What each step sees: roll (the picture shifted at random, DeepDream's own), all (also "
        "scaled by up to 5% and turned by up to 5 degrees at random, Lucid's transformation robustness: "
        "softer detail, a slightly weaker dream on photos), or auto (all with fft, roll in pixel space).",
        choices=TRANSFORMS, label="Transforms",
    )  # fmt: skip


@dataclass(frozen=True)
class DreamSettings(LoopSettings):
    """Every knob of a dream: the loop's, plus what is dreamed on and how the picture is prepared.

    ``model`` empty means the default model (or, through a Dreamer, its model); ``layers`` empty
    means the preset's layers; ``preset`` empty the model's default look.
    """

    model: str = knob(
        "", "Network to dream with; `reverie models` lists them and their weights.", label="Model"
    )
    layers: str = knob(
        "", "What to amplify: LAYER[:CHANNEL[+CHANNEL]][=WEIGHT], class:NAME or guide:LAYER terms, "
        "comma-separated (`reverie layers` lists them). Default: the preset's layers.",
        label="Layers",
    )  # fmt: skip
    preset: str = knob(
        "", "A named look: edges, textures, patterns or objects (shallow to deep layers). Default: patterns.",
        label="Look",
    )  # fmt: skip
    max_side: int = knob(
        1024, "Working resolution: the long side is reduced to this first.",
        minimum=1, maximum=MAX_SIDE, zero="full size", unit="px", label="Size",
    )  # fmt: skip
    guide: str = knob(
        "", "Guide image: the dream borrows its motifs (plain layers become guide:LAYER terms).",
        label="Guide image", file=True,
    )  # fmt: skip
    mask: str = knob(
        "",
        "Mask image: dream where it is white, partly where grey, not where black.",
        label="Mask",
        file=True,
    )
    keep_colors: bool = knob(
        False, "Keep the photo's colours; dream light and shade only.", label="Keep the photo's colours"
    )

    def changed(self, **changes: Any) -> DreamSettings:
        """A copy with ``changes``, where another model or a preset given without layers drops the
        old layers, so the model's preset chooses its own (``--settings-from`` and sweeps)."""
        new_model = changes.get("model", self.model) != self.model
        if (new_model or "preset" in changes) and "layers" not in changes:
            changes = {**changes, "layers": ""}
        return self.with_changes(**changes)


@dataclass(frozen=True)
class TaskOptions(Settings):
    """The knobs of tasks beyond what they dream: how they run (weight file, device, pixel limit)
    and how some lay out their output. Tasks hold these as their own fields
    (:func:`reverie.schema.borrowed`); they are declared here, where the command line reads them
    without importing the tasks (and PyTorch)."""

    weights: str = knob("", "Weight file for the model (default: the installed or cached one).", file=True)
    device: str = knob("auto", "cpu, cuda, cuda:N, or auto (a GPU when there is one).", label="Device")
    max_pixels: int = knob(
        DEFAULT_MAX_PIXELS, "Largest input accepted, width x height in pixels: a guard against "
        "decompression bombs.",
        minimum=1, maximum=10**12, label="Pixel limit",
    )  # fmt: skip
    columns: int = knob(3, "Panels per row of a sheet.", minimum=1, maximum=20, label="Columns")
    keep_frames: bool = knob(False, "Keep the dreamed frames (OUTPUT.frames/) afterwards.")


@dataclass(frozen=True)
class ClusterOptions(Settings):
    """How a batch, a sweep or a web server spreads its work over a Ray cluster (``--ray``)."""

    workers: int = knob(
        0, "Ray actors; without --ray, a batch's or a sweep's dreams side by side in this process.",
        minimum=1, maximum=1024, zero="on Ray one per GPU and per 4 CPUs; here as bench/LOCAL.md found best",
    )  # fmt: skip
    retries: int = knob(
        2, "How often a photo may lose its worker (killed, stalled, its node gone) and run again.",
        minimum=0, maximum=100,
    )  # fmt: skip
    stall_timeout: float = knob(
        300.0, "A photo whose worker sends no progress for this long has the worker killed, and runs again.",
        minimum=1, maximum=86_400, unit="s",
    )  # fmt: skip


@dataclass(frozen=True)
class ServerLimits(Settings):
    """How one web server (``reverie serve``) runs jobs, and what it accepts from one. The caps on
    knobs (steps, working size, frames) lower the library's own limits for a shared server; the form
    and the page show them."""

    workers: int = knob(
        0, "Jobs dreamed at once.", minimum=1, maximum=1024, zero="one here; on Ray, one per actor"
    )
    max_upload_mb: int = knob(
        25, "Largest upload (photo, guide and mask, or video, together).", minimum=1, maximum=2048, unit="MB"
    )
    max_pixels: int = knob(
        40_000_000, "Largest upload, width x height.", minimum=1, maximum=10**12, unit="px"
    )
    max_frames: int = knob(
        1800, "Longest video, and most frames of a zoom, a job may have.", minimum=1, maximum=MAX_FRAMES
    )
    max_steps: int = knob(
        200, "Most steps per octave a job may take: a shared server's cap on one job's time.",
        minimum=1, maximum=MAX_STEPS,
    )  # fmt: skip
    max_side: int = knob(
        4096, "Largest working size a job may ask for.", minimum=1, maximum=MAX_SIDE, unit="px"
    )
    max_cells: int = knob(
        16, "Most dreams one sweep from the page may make (its rows times its columns).",
        minimum=1, maximum=1024,
    )  # fmt: skip
    #: 1024 MB reads two of the largest default uploads (40 MP, about 520 MB each) at once.
    decode_budget_mb: int = knob(
        1024, "Memory that the pictures being read (uploads, and the job being started) may take "
        "together; a picture takes about 13 bytes per pixel while it is read (20 with transparency), "
        "and uploads beyond the budget wait their turn.",
        minimum=64, maximum=1_048_576, unit="MB",
    )  # fmt: skip
    decode_wait: float = knob(
        120.0, "Longest an upload waits for room to be read; then it is refused as busy (503).",
        minimum=1, maximum=3600, unit="s",
    )  # fmt: skip
    max_queued: int = knob(
        100, "Most jobs waiting in the queue; more are refused as busy (429) until some have run.",
        minimum=1, maximum=1_000_000,
    )  # fmt: skip
    max_data_gb: float = knob(
        20.0, "Most the data folder (uploads, results, the job database) may hold; beyond it new jobs "
        "are refused (507) until finished ones are deleted.",
        minimum=0.001, maximum=1_000_000, zero="no limit", unit="GB",
    )  # fmt: skip
    keep_days: int = knob(
        0, "Finished jobs older than this are deleted with their files, at start and every hour; "
        "queued and running jobs are kept.",
        minimum=1, maximum=36_500, zero="keep forever", unit="days",
    )  # fmt: skip


@dataclass(frozen=True)
class ZoomSettings(Settings):
    """The motion of a zoom animation."""

    frames: int = knob(30, "Frames to make.", minimum=1, maximum=MAX_FRAMES, label="Frames")
    zoom: float = knob(
        2.0, "Percent the picture grows per frame (negative zooms out).",
        minimum=-50, maximum=100, unit="%", label="Zoom (% per frame)", step=0.5,
    )  # fmt: skip
    rotate: float = knob(
        0.0, "Degrees to turn per frame, counter-clockwise.",
        minimum=-180, maximum=180, unit="degrees", label="Turn (degrees per frame)", step=0.5,
    )  # fmt: skip
    fps: float = knob(12.0, "Frames per second.", minimum=0.1, maximum=240, label="Frames per second")
    stabilise: bool = knob(
        True, "Hold exposure and colour to the first frame's, so they do not drift.",
        option="--no-stabilize", label="Steady colours",
    )  # fmt: skip

    @property
    def frame_rate(self) -> Fraction:
        """``fps`` as the fraction (denominator at most 1001) a video container stores its rate as."""
        return Fraction(self.fps).limit_denominator(1001)


@dataclass(frozen=True)
class VideoSettings(Settings):
    """Temporal coherence of a dreamed video."""

    blend: float = knob(
        0.5, "Share of the last frame's dream detail carried into the next (0: every frame on its own).",
        minimum=0, maximum=0.95, label="Blend", step=0.05,
    )  # fmt: skip
    flow: bool = knob(
        True, "Move the carried dream along the video's motion; without it the dream stays in place, "
        "which suits only a still camera.",
        option="--no-flow", label="Follow the motion",
    )  # fmt: skip
    #: With both defaults a 540x360 video takes 1.1 s a frame instead of 2.4, with less flicker and
    #: 94% of the objective (bench/VERSUS.md).
    follow_steps: int = knob(
        0, "Steps per octave for frames after the first, which start from the carried dream.",
        minimum=1, maximum=MAX_STEPS, zero="half the steps", label="Steps after the first frame",
    )  # fmt: skip
    follow_octaves: int = knob(
        2, "Octaves for frames after the first: the largest N of the dream's octaves.",
        minimum=1, maximum=20, zero="all", label="Octaves after the first frame",
    )  # fmt: skip

    #: Measured in bench/VIDEO_SCALE.md: the seams' flicker against the frames' within segments.
    overlap: int = knob(
        8, "Frames each segment of a video dreamed in parallel (--ray) starts early: they warm up its "
        "dream and are cross-faded into the segment before, so the seam does not show.",
        minimum=0, maximum=120, label="Segment overlap",
    )  # fmt: skip

    def later_frames(self, steps: int, octaves: int) -> tuple[int, int]:
        """(steps, octaves) of every frame after the first, for a dream of ``steps`` x ``octaves``."""
        later_steps = self.follow_steps or -(-steps // 2)
        return later_steps, min(self.follow_octaves or octaves, octaves)
