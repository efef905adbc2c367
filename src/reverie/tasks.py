"""Jobs: a dream, a contact sheet, a zoom and a video, each a frozen task that checks itself once and
then runs on a :class:`reverie.Dreamer`.

Every front end (the CLI, the web app, the Python API, a batch or cluster worker) does the same three
things: build a task from its input, ``check()`` it, and ``run(dreamer, progress)`` it.

- ``check()`` is the only place a job is validated: the settings and their ranges, the objective
  against the model's layer catalogue, the device and the weights file, the input (probed from its
  header: a missing, foreign or oversized file is reported before any model loads) and the output
  path rules (a known format, a writable folder, never the input). It returns the checked task, with
  the model's default preset resolved into layers and paths made absolute.
- ``run()`` loads, dreams and saves; a task not yet checked is checked first.
- ``to_json()`` and :func:`task_from_json` ship a task to a queue or another machine.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
from PIL import Image

from reverie.animate.coherence import CoherentDreamer
from reverie.animate.frames import FrameStore, job_fingerprint
from reverie.animate.segments import Segment, SegmentRun, plan_segments, segments_from
from reverie.animate.zoom import FrameCallback, zoom_sequence
from reverie.devices import resolve_device
from reverie.dreamer import Dreamer, PreparedDream
from reverie.errors import Command, File, ImageError, Setting, SettingsError, VideoError, did_you_mean
from reverie.io.images import (
    DEFAULT_MAX_PIXELS,
    Picture,
    check_image_output,
    load_image,
    noise_picture,
    picture_to_pil,
    probe_image,
    save_image,
)
from reverie.io.video import (
    ANIMATED_IMAGE_FORMATS,
    MAX_ANIMATED_IMAGE_FRAMES,
    VIDEO_FORMATS,
    FrameReader,
    VideoInfo,
    check_animation_path,
    check_video_output,
    even_size,
    probe_video,
    write_animation,
)
from reverie.models import DEFAULT_MODEL, get_spec
from reverie.objectives import parse_layer_spec
from reverie.recipe import recipe
from reverie.render import ProgressCallback
from reverie.schema import borrowed, check_declared, check_type
from reverie.settings import DreamSettings, Settings, TaskOptions, VideoSettings, ZoomSettings
from reverie.sheet import contact_sheet, spread_layers
from reverie.tensors import fit_within, working_picture
from reverie.weights import find_weights

PathLike = str | os.PathLike[str]
TaskT = TypeVar("TaskT", bound="Task")
#: Field metadata of what check() records on a task: neither compared nor written to JSON.
INTERNAL = {"internal": True}


@dataclass(frozen=True)
class NoiseCanvas:
    """A grey noise canvas to dream on instead of a photo (``--from-noise --size WxH``)."""

    width: int = 512
    height: int = 512
    #: None: the dream's own seed, so the same settings give the same canvas from every front end.
    seed: int | None = None

    MAX_SIDE: ClassVar[int] = 16384

    def check(self, seed: int, max_pixels: int) -> NoiseCanvas:
        """This canvas with its seed settled, its sides and pixel count checked."""
        for name in ("width", "height", "seed"):
            if name != "seed" or self.seed is not None:
                check_type(name, getattr(self, name), int)
        size = f"{self.width}x{self.height}"
        if not (1 <= self.width <= self.MAX_SIDE and 1 <= self.height <= self.MAX_SIDE):
            raise SettingsError(
                Setting("size"), f" must be between 1 and {self.MAX_SIDE} px per side; got {size}",
                field="size", value=size, limits={"minimum": 1, "maximum": self.MAX_SIDE},
            )  # fmt: skip
        if self.width * self.height > max_pixels:
            raise SettingsError(
                f"a {size} canvas is more than ", Setting("max_pixels"), f" {max_pixels}; ask for a smaller ",
                Setting("size"), field="size", value=size, limits={"maximum_pixels": max_pixels},
            )  # fmt: skip
        return replace(self, seed=seed if self.seed is None else self.seed)

    def picture(self, fourier: bool = False) -> Picture:
        """The canvas: faint white noise around grey, or (``fourier``, for ``--param fft``) faint
        1/f noise (:func:`reverie.params.pink_noise`), which leaves out the finest frequencies."""
        if fourier:
            from reverie.params import pink_noise

            rgb = pink_noise(self.height, self.width, self.seed or 0)[0].permute(1, 2, 0)
            return Picture(rgb.numpy().astype(np.float32))
        return noise_picture(self.width, self.height, self.seed or 0)


#: What a dream starts from: an image file, a picture or (H, W, 3) float array in memory, or noise.
Source = PathLike | Picture | np.ndarray | NoiseCanvas


@dataclass(frozen=True)
class DreamResult:
    """A dreamed picture and the exact settings (layers resolved) that made it."""

    picture: Picture
    settings: DreamSettings

    def save(self, path: PathLike) -> Path:
        """Write the picture to ``path`` (format from the extension: PNG, JPEG, WebP, TIFF, BMP,
        GIF) atomically, with the settings stored in it as the command line stores them, so
        ``--settings-from`` and :func:`reverie.recipe.read_settings` can reproduce it."""
        return save_image(path, self.picture, recipe(self.settings))

    def to_pil(self) -> Image.Image:
        """The picture as an 8-bit Pillow image: RGB, or RGBA when it has an alpha channel."""
        return picture_to_pil(self.picture, "PNG")


@dataclass(frozen=True)
class AnimationResult:
    """A written animation: where, how many frames, and how many of them a resumed run reused."""

    path: Path
    frames: int
    resumed: int = 0


@dataclass(frozen=True, kw_only=True)
class Task:
    """What every task holds besides its input and output: the dream settings, the weights file
    (empty: the model's default search), the device and the largest input picture accepted."""

    #: The name a task has in JSON; each kind registers itself in :data:`TASK_KINDS`.
    kind: ClassVar[str] = ""

    settings: DreamSettings = field(default_factory=DreamSettings)
    weights: str = borrowed(TaskOptions, "weights")
    device: str = borrowed(TaskOptions, "device")
    max_pixels: int = borrowed(TaskOptions, "max_pixels")
    #: How the result's recipe names the guide and mask files (setting -> name); by default their own
    #: file names. The web gives the names its user uploaded them by.
    file_names: dict[str, str] = field(default_factory=dict)
    #: Set by ``check()`` on the task it returns, never by a caller: a checked task runs without being
    #: checked again.
    checked: bool = field(default=False, init=False, repr=False, compare=False, metadata=INTERNAL)

    def check(self) -> Self:
        raise NotImplementedError

    def ready(self) -> Self:
        """This task, checked."""
        return self if self.checked else self.check()

    def checked_settings(self, settings: DreamSettings | None = None) -> DreamSettings:
        """``settings`` (default: the task's) checked with the task's engine options."""
        return check_engine(settings or self.settings, self.weights, self.device, self.max_pixels)

    def with_checked_output(self, check_output: Callable[..., Path], **checked: Any) -> Self:
        """This task marked checked with ``checked`` fields, its output (if any) checked by
        ``check_output`` against the files it must not overwrite, and made absolute."""
        task = replace(self, **checked)
        output = getattr(self, "output", None)
        if output is not None:
            if not isinstance(output, str | os.PathLike):
                raise SettingsError(f"an output must be a file path; got {output!r}", field="output")
            check_output(output, protect=task.protected())
            task = replace(task, output=Path(output).expanduser().absolute())
        return marked_checked(task)

    def new_dreamer(self) -> Dreamer:
        """A Dreamer that holds what this (checked) task asks for: its model, weights and device."""
        return Dreamer(self.settings.model, self.weights or None, self.device)

    def prepare(self, dreamer: Dreamer, settings: DreamSettings | None = None) -> PreparedDream:
        """``settings`` (default: the task's) bound to ``dreamer``, which must hold what the task
        asks for: its model (``Dreamer.prepare`` checks), its weights file and its device."""
        if self.weights and Path(self.weights).expanduser().resolve() != Path(dreamer.weights_path).resolve():
            raise SettingsError(
                f"the task asks for weights {self.weights}; the Dreamer holds {dreamer.weights_path}"
            )
        if resolve_device(self.device) != dreamer.device:
            raise SettingsError(
                f"the task asks for device {self.device}; the Dreamer runs on {dreamer.device}"
            )
        return dreamer.prepare(settings or self.settings, self.max_pixels)

    def protected(self) -> list[Path]:
        """Files an output must never overwrite: the input, the guide and the mask."""
        source = getattr(self, "source", None)
        paths = [source if isinstance(source, Path) else getattr(source, "source", None)]
        paths += [Path(p) for p in (self.settings.guide, self.settings.mask) if p]
        return [path for path in paths if isinstance(path, Path)]

    def to_dict(self) -> dict[str, Any]:
        """The task as plain JSON values; a picture held in memory cannot travel."""
        values: dict[str, Any] = {"kind": self.kind}
        for item in fields(self):
            if not item.metadata.get("internal"):
                values[item.name] = to_json_value(getattr(self, item.name))
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def marked_checked(task: TaskT) -> TaskT:
    """``task`` marked as checked. Only ``check()`` calls this: ``checked`` is deliberately not a
    constructor argument (a caller cannot skip the checks), so it is set on the frozen task here."""
    object.__setattr__(task, "checked", True)
    return task


def to_json_value(value: object) -> object:
    """One task field as a JSON value."""
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, NoiseCanvas):
        return {"noise": asdict(value)}
    if isinstance(value, Picture | np.ndarray):
        raise SettingsError(
            "a task with a picture in memory cannot be written as JSON; give it an image file"
        )
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def check_engine(settings: DreamSettings, weights: str, device: str, max_pixels: int) -> DreamSettings:
    """:func:`check_settings`, plus how the dream will run: the weights file can be found (it is not
    loaded), the device exists, the pixel limit is positive."""
    TaskOptions(weights=weights, device=device, max_pixels=max_pixels).validate()
    settings = check_settings(settings, max_pixels)
    resolve_device(device)
    find_weights(get_spec(settings.model), weights or None)
    return settings


def check_settings(settings: DreamSettings, max_pixels: int = DEFAULT_MAX_PIXELS) -> DreamSettings:
    """``settings`` checked and resolved: the model (default: the embedded one), the preset's layers
    when none are given, every layer, channel and class against the model's catalogue (no network is
    built), the guide and mask files probed, and their paths made absolute."""
    model = settings.model or DEFAULT_MODEL
    spec = get_spec(model)
    preset = settings.preset or spec.default_preset
    if preset not in spec.presets:
        hint = did_you_mean(preset, spec.presets)
        raise SettingsError(
            f"unknown preset {preset!r} for {spec.name}{hint}; presets: {', '.join(spec.presets)}",
            field="preset", value=preset, limits={"enum": list(spec.presets)},
        )  # fmt: skip
    settings = settings.with_changes(model=model, layers=settings.layers or spec.presets[preset]).validate()
    objective = parse_layer_spec(settings.layers)
    objective.check(spec)
    if objective.guide_layers and not settings.guide:
        raise SettingsError("guide: terms need a guide image: set ", Setting("guide"), field="guide")
    if settings.param == "fft" and settings.mask:
        raise SettingsError(
            Setting("param"), " fft dreams the whole picture anew: a ", Setting("mask"),
            " has nothing to keep", field="mask",
        )  # fmt: skip
    files = {}
    for name in ("guide", "mask"):
        path = getattr(settings, name)
        if path:
            try:
                probe_image(path, max_pixels)
            except ImageError as error:
                raise error.prefixed(Setting(name), ": ", field=name) from None
            files[name] = str(Path(path).expanduser().absolute())  # not resolved: /proc/self/fd links stay
    return settings.with_changes(**files)


def checked_image_source(source: Source, max_pixels: int, seed: int) -> Path | Picture | NoiseCanvas:
    """The input of a dream, sheet or zoom, probed (a file) or validated (an array, a canvas)."""
    if isinstance(source, NoiseCanvas):
        return source.check(seed, max_pixels)
    if isinstance(source, Picture):
        return source
    if isinstance(source, np.ndarray):
        return picture_from_array(source)
    if not isinstance(source, str | os.PathLike):
        raise SettingsError(
            f"a source must be an image file, a picture or a canvas; got {source!r}", field="source"
        )
    path = Path(source).expanduser()
    probe_image(path, max_pixels)
    return path.absolute()


def picture_from_array(array: np.ndarray) -> Picture:
    """An (H, W, 3) float array in [0, 1] as a :class:`Picture`; anything else is an ImageError."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"an image array must have shape (H, W, 3); got {array.shape}")
    if array.dtype.kind != "f" or (array.size and (array.min() < 0 or array.max() > 1)):
        raise ImageError("an image array must hold floats in [0, 1] (divide 8-bit values by 255)")
    return Picture(array.astype(np.float32), None)


def source_size(source: Path | Picture | NoiseCanvas, max_pixels: int) -> tuple[int, int]:
    """(width, height) of a checked source, a file's from its header (EXIF rotation aside)."""
    if isinstance(source, NoiseCanvas):
        return source.width, source.height
    if isinstance(source, Picture):
        return source.size
    return probe_image(source, max_pixels)


def load_source(
    source: Path | Picture | NoiseCanvas, max_pixels: int, max_side: int = 0, fourier: bool = False
) -> Picture:
    """The picture a checked source stands for; a file is reduced to ``max_side`` as it loads; a
    canvas is 1/f noise for a dream in Fourier space (``fourier``)."""
    if isinstance(source, NoiseCanvas):
        return source.picture(fourier=fourier)
    if isinstance(source, Picture):
        return source
    return load_image(source, max_pixels, max_side)


# ----------------------------------------------------------------------------------------- dream


@dataclass(frozen=True)
class DreamTask(Task):
    """Dream ``source`` once; save it to ``output`` (with its recipe) when one is given."""

    kind: ClassVar[str] = "dream"
    source: Source
    output: PathLike | None = None

    def check(self) -> DreamTask:
        settings = self.checked_settings()
        source = checked_image_source(self.source, self.max_pixels, settings.seed)
        if settings.param == "auto" and isinstance(source, NoiseCanvas):
            settings = settings.with_changes(param="fft")  # a photo's "auto" dreams in pixels
        return self.with_checked_output(check_image_output, settings=settings, source=source)

    def run(self, dreamer: Dreamer, progress: ProgressCallback | None = None) -> DreamResult:
        """Load, dream and (with an output) save; returns the picture and the settings used."""
        task = self.ready()
        prepared = task.prepare(dreamer)
        fourier = task.settings.param == "fft"
        start = load_source(task.source, task.max_pixels, task.settings.max_side, fourier)
        picture = prepared.dream(start, progress)
        if task.output is not None:
            save_image(task.output, picture, recipe(task.settings, task.file_names), protect=task.protected())
        return DreamResult(picture, task.settings)


# ----------------------------------------------------------------------------------------- sheet


@dataclass(frozen=True)
class SheetTask(Task):
    """Dream ``source`` once per layer term and lay the photo and the dreams out in one labelled
    sheet. ``terms`` default to the settings' layers split at commas, else five layers spread
    from shallow to deep. Every panel uses the same settings (seed included) but its layers."""

    kind: ClassVar[str] = "sheet"
    source: Source
    output: PathLike | None = None
    terms: tuple[str, ...] = ()
    columns: int = borrowed(TaskOptions, "columns")

    def check(self) -> SheetTask:
        self.settings.validate()  # types first: the terms are read from the layers
        if not isinstance(self.terms, tuple | list) or not all(isinstance(t, str) for t in self.terms):
            raise SettingsError(
                f"a sheet's terms must be a list of layer terms; got {self.terms!r}", field="layers"
            )
        check_declared(self)
        spec = get_spec(self.settings.model or DEFAULT_MODEL)
        terms = (
            tuple(self.terms) or split_terms(self.settings.layers) or tuple(spread_layers(spec.layer_names))
        )
        settings = self.checked_settings(self.settings.with_changes(layers=",".join(terms)))
        source = checked_image_source(self.source, self.max_pixels, settings.seed)
        return self.with_checked_output(check_image_output, settings=settings, source=source, terms=terms)

    def run(self, dreamer: Dreamer, progress: ProgressCallback | None = None) -> DreamResult:
        """Dream every panel, lay them out and (with an output) save the sheet."""
        task = self.ready()
        photo = working_picture(
            load_source(task.source, task.max_pixels, task.settings.max_side), task.settings.max_side
        )
        panels = [("photo", photo.rgb)]
        for term in task.terms:
            prepared = task.prepare(dreamer, task.settings.with_changes(layers=term))
            panels.append((term, prepared.dream(photo, progress).rgb))
        sheet = contact_sheet(panels, task.columns)
        if task.output is not None:
            save_image(task.output, sheet, recipe(task.settings, task.file_names), protect=task.protected())
        return DreamResult(sheet, task.settings)


def split_terms(layers: str) -> tuple[str, ...]:
    """``"a,b:3, class:tabby"`` -> ``("a", "b:3", "class:tabby")``."""
    return tuple(term.strip() for term in layers.split(",") if term.strip())


# ------------------------------------------------------------------------------------------ zoom


@dataclass(frozen=True)
class ZoomTask(Task):
    """Dream ``source``, zoom in a little, dream again: an animation written to ``output`` (GIF,
    WebP or video), or frames handed out one by one by :meth:`frames`."""

    kind: ClassVar[str] = "zoom"
    source: Source
    output: PathLike | None = None
    motion: ZoomSettings = field(default_factory=ZoomSettings)

    def check(self) -> ZoomTask:
        settings = self.checked_settings()
        motion = self.motion.validate()
        source = checked_image_source(self.source, self.max_pixels, settings.seed)
        task = self.with_checked_output(check_animation_path, settings=settings, source=source, motion=motion)
        suffix = Path(str(task.output)).suffix.lower() if task.output is not None else ""
        if suffix in ANIMATED_IMAGE_FORMATS and motion.frames > MAX_ANIMATED_IMAGE_FRAMES:
            raise SettingsError(
                f"{motion.frames} frames is too many for {suffix} (at most "
                f"{MAX_ANIMATED_IMAGE_FRAMES}, which are held in memory): write .mp4 or .webm instead"
            )
        if suffix in VIDEO_FORMATS:
            video_frame_size(source_size(source, self.max_pixels), settings.max_side)
        return task

    def frames(self, dreamer: Dreamer, on_frame: FrameCallback | None = None) -> Iterator[np.ndarray]:
        """The frames as float RGB (H, W, 3) in [0, 1], one at a time."""
        task = self.ready()
        prepared = task.prepare(dreamer)
        picture = load_source(task.source, task.max_pixels, task.settings.max_side)
        yield from zoom_sequence(prepared, picture, task.motion, on_frame)

    def run(self, dreamer: Dreamer, progress: FrameCallback | None = None) -> AnimationResult:
        """Write the animation; it appears only when every frame is done."""
        task = self.ready()
        if task.output is None:
            raise SettingsError("a zoom needs an output file to run; use frames() to take the frames instead")
        count = write_animation(task.output, task.frames(dreamer, progress), task.motion.frame_rate)
        return AnimationResult(task.output, count)


# ----------------------------------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoTask(Task):
    """Dream every frame of the video ``source`` into ``output``, keeping frame count, rate and audio.

    Frames are dreamed upright (the source's rotation applied) at its displayed size reduced to
    ``max_side`` (even sides), and written at the times the source shows them. Finished frames wait
    in ``OUTPUT.frames/`` until the video is assembled (and are then deleted unless ``keep_frames``);
    the same task after an interruption continues from the last finished frame and gives the same
    video as an uninterrupted run. A source whose tail is cut off is dreamed up to its last
    decodable frame, with a warning, and so is its resumed run.
    """

    kind: ClassVar[str] = "video"
    source: PathLike
    output: PathLike
    coherence: VideoSettings = field(default_factory=VideoSettings)
    keep_frames: bool = borrowed(TaskOptions, "keep_frames")
    #: What ``check()`` read of the source.
    probe: VideoInfo | None = field(default=None, repr=False, compare=False, metadata=INTERNAL)

    def check(self) -> VideoTask:
        settings = self.checked_settings()
        coherence = self.coherence.validate()
        check_declared(self)
        for name in ("source", "output"):
            if not isinstance(getattr(self, name), str | os.PathLike):
                raise SettingsError(f"a video task's {name} must be a file path; got {getattr(self, name)!r}")
        source = Path(self.source).expanduser().absolute()
        task = self.with_checked_output(
            check_video_output, settings=settings, coherence=coherence, source=source
        )
        info = probe_video(source)
        if info.still:
            raise VideoError(
                File(source), " is a still picture, not a video: to make a video from a photo, use ",
                Command("zoom"), field="video",
            )  # fmt: skip
        video_frame_size((info.width, info.height), settings.max_side)
        return marked_checked(replace(task, probe=info))

    def run(self, dreamer: Dreamer, progress: FrameCallback | None = None) -> AnimationResult:
        """Dream the frames not yet finished, then encode them all with the source's audio.

        Every run decodes the source from its start (finished frames are read back, not dreamed):
        that gives each frame's time for the writer and the coherence state to resume from. The
        fingerprint holds nothing learnt while decoding (such as how many frames a damaged file
        really has), so a rerun of a cut-short source finds its frames again. The video is one
        segment, unless its frames folder was started in segments (on a cluster): then every
        segment is dreamed here, side by side, as the frames are decoded.
        """
        task = self.ready()
        job = task.open_frames(dreamer.weights_path, segments=1)
        prepared = task.prepare(dreamer)
        runs = [
            SegmentRun(segment, CoherentDreamer(prepared, task.coherence), job.store)
            for segment in job.segments
        ]
        reader = FrameReader(task.source, job.size)
        times: list[float] = []
        for index, frame in enumerate(reader):
            times.append(frame.time)
            dreamed = [run.take(index, frame.rgb) for run in runs]
            if any(dreamed) and progress is not None:
                progress(index + 1, max(job.frames, index + 1))  # a header may count too few
        return job.finish(times, reader.cut_short)

    def weights_path(self) -> Path:
        """The weights file a Dreamer for this task loads (found as the Dreamer finds it)."""
        return find_weights(get_spec(self.settings.model), self.weights or None)

    def open_frames(self, weights: PathLike, segments: int, longest: int = 0) -> VideoFrames:
        """The frames folder of this (checked) task, opened for a run with ``weights`` (the file the
        model loads) in ``segments`` segments (more, if they would hold over ``longest`` frames); a
        folder a run started before keeps its own."""
        info = self.probe
        assert info is not None  # set by check()
        size = video_frame_size((info.width, info.height), self.settings.max_side)
        store = FrameStore(Path(self.output))
        files = {
            "source": self.source,
            "weights": weights,
            "guide": self.settings.guide,
            "mask": self.settings.mask,
        }
        decided_by = {
            "dream": self.settings.to_dict(),
            "coherence": self.coherence.to_dict(),
            "size": list(size),
        }
        plan = plan_segments(info.frames, segments, self.coherence.overlap, longest)
        store.open(job_fingerprint(files, decided_by), tuple(segment.start for segment in plan))
        segments = segments_from(store.starts, self.coherence.overlap)
        warm_ups = [segment.start - segment.warm_from for segment in segments]
        resumed = sum(max(0, store.finished_in(s) - warm) for s, warm in zip(segments, warm_ups, strict=True))
        return VideoFrames(self, store, segments, size, resumed)


@dataclass(frozen=True)
class VideoFrames:
    """A video task's frames folder, opened for a run: its segments, the size frames are dreamed at
    and how many of the video's frames an earlier run finished (warm-up frames not counted)."""

    task: VideoTask
    store: FrameStore
    segments: tuple[Segment, ...]
    size: tuple[int, int]
    resumed: int

    @property
    def frames(self) -> int:
        """Frames the source's header counts (a damaged file may hold fewer, or more)."""
        assert self.task.probe is not None
        return self.task.probe.frames

    def finish(self, times: list[float], cut_short: bool) -> AnimationResult:
        """Encode the frames shown at ``times`` (one per decoded frame) with the source's audio; the
        folder goes unless the task keeps frames. ``cut_short``: the source ended early."""
        task, source = self.task, Path(self.task.source)
        if cut_short:
            warnings.warn(
                f"{source} is cut short: dreamed its first {len(times)} decodable frames of {self.frames}",
                stacklevel=3,
            )
        output = Path(task.output)
        shown = [segment for segment in self.segments if segment.start < len(times)]  # a header may overcount
        assert self.task.probe is not None
        written = self.store.assemble(
            output, self.task.probe.fps, audio_from=source, times=times, segments=shown
        )
        if written == 0:
            raise VideoError(File(source), " holds no decodable frames")
        if not task.keep_frames:
            self.store.remove()
        return AnimationResult(output, written, resumed=self.resumed)


def video_frame_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Size video frames are dreamed at: ``size`` within ``max_side``, with even sides (yuv420p)."""
    width, height = even_size(fit_within(size, max_side))
    if min(width, height) < 2:
        raise VideoError(
            f"video frames of {width}x{height} px are too small to encode; raise ", Setting("max_side"),
            field="max_side", value=max_side,
        )  # fmt: skip
    return width, height


# ------------------------------------------------------------------------------------------- JSON

#: Task kind (as in JSON) -> class.
TASK_KINDS: dict[str, type[Task]] = {kind.kind: kind for kind in (DreamTask, SheetTask, ZoomTask, VideoTask)}
#: Task fields that hold settings, and their classes.
SETTINGS_FIELDS: dict[str, type[Settings]] = {
    "settings": DreamSettings,
    "motion": ZoomSettings,
    "coherence": VideoSettings,
}


def task_from_json(text: str) -> Task:
    """A task written by ``to_json()``; a :class:`SettingsError` names what is wrong with it."""
    try:
        values = json.loads(text)
    except ValueError:
        raise SettingsError("a task must be a JSON object") from None
    return task_from_dict(values)


def task_from_dict(values: object) -> Task:
    """A task from ``to_dict()``'s plain values (unchecked: call ``check()`` where it will run)."""
    if not isinstance(values, dict) or values.get("kind") not in TASK_KINDS:
        raise SettingsError(f"a task needs a kind, one of {', '.join(TASK_KINDS)}")
    kind = TASK_KINDS[values["kind"]]
    known = {item.name for item in fields(kind) if not item.metadata.get("internal")}
    unknown = set(values) - known - {"kind"}
    if unknown:
        raise SettingsError(f"a {kind.kind} task has no field(s) {', '.join(sorted(unknown))}")
    kwargs = {name: from_json_value(name, value) for name, value in values.items() if name in known}
    try:
        return kind(**kwargs)
    except TypeError as error:
        raise SettingsError(f"a {kind.kind} task is incomplete: {error}") from None


def from_json_value(name: str, value: Any) -> Any:
    """One task field back from its JSON value."""
    if name in SETTINGS_FIELDS:
        if not isinstance(value, dict):
            raise SettingsError(f"task field {name!r} must be a JSON object")
        return SETTINGS_FIELDS[name].from_dict(value)
    if name == "source" and isinstance(value, dict):
        canvas = value.get("noise")
        if not isinstance(canvas, dict):
            raise SettingsError("a task source must be a file path or {'noise': {...}}")
        return NoiseCanvas(**{key: canvas[key] for key in ("width", "height", "seed") if key in canvas})
    if name == "file_names":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in (*value, *value.values())):
            raise SettingsError("task field 'file_names' must map settings to file names")
        return value
    if name == "terms":
        if not isinstance(value, list) or not all(isinstance(term, str) for term in value):
            raise SettingsError("task field 'terms' must be a list of layer terms")
        return tuple(value)
    if name in ("source", "output"):
        if value is None and name == "output":
            return None
        if not isinstance(value, str):
            raise SettingsError(f"task field {name!r} must be a file path")
        return Path(value)
    return value
