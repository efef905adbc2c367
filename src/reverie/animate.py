"""Zoom animations and dreamed video, on top of :class:`reverie.Dreamer`.

Both feed a dream back into the next frame, and both meet the same failure: DeepDream favours
bright, saturated patterns, so whatever is fed back gains a little exposure and saturation each
frame, and after a hundred frames the picture has drifted far from where it started. Reverie
holds each frame's colour statistics (per channel mean and standard deviation) to a reference:

* zoom: the first dreamed frame;
* video: the source frame's own statistics, shifted by what dreaming did to the first frame, so a
  scene that darkens in the source still darkens in the dream.

Video frames are made coherent by warping the previous *dreamed* frame along the optical flow of
the *source* (OpenCV's Farneback) and carrying its dream detail (dream minus its source) into the
current frame, scaled by ``blend``. Carrying detail instead of blending whole pictures, plus the
statistics match, keeps the blend from adding up frame after frame. Finished frames are stored
as PNG in a work folder beside the output, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reverie.dreamer import Dreamer, as_picture
from reverie.errors import ImageError, SettingsError, VideoError
from reverie.imaging import LUMA_WEIGHTS, Picture, load_image, one_line, save_image, to_uint8
from reverie.settings import DreamSettings
from reverie.video_io import (
    ANIMATED_IMAGE_FORMATS,
    VideoWriter,
    check_animation_path,
    check_fps,
    check_video_output,
    even_size,
    probe_video,
    read_frames,
    write_animation,
)

PathLike = str | os.PathLike[str]

#: Called after each finished frame with (frames done, frames in all).
FrameCallback = Callable[[int, int], None]

#: GIF and WebP frames are all held in memory until written; longer animations go to video files.
MAX_ANIMATED_IMAGE_FRAMES = 1000


# ------------------------------------------------------------------------------ colour statistics


#: RGB -> (luma, blue-difference, red-difference) chroma, BT.601 (JPEG's YCbCr without offsets).
RGB_TO_YCC = np.array(
    [LUMA_WEIGHTS, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)
YCC_TO_RGB = np.linalg.inv(RGB_TO_YCC).astype(np.float32)


@dataclass(frozen=True)
class ColourStats:
    """Mean and standard deviation of a picture's luma and two chroma planes, each (3,).

    Luma holds exposure and contrast, the chroma spreads hold saturation: matching these three
    pairs holds what drifts in fed-back dreams, which per-RGB-channel statistics do not (a picture
    can keep every channel's spread and still grow more saturated).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> ColourStats:
        planes = (rgb.reshape(-1, 3) @ RGB_TO_YCC.T).astype(np.float64)
        return cls(planes.mean(axis=0), planes.std(axis=0))

    def shifted(self, before: ColourStats, after: ColourStats) -> ColourStats:
        """These statistics changed the way ``before`` became ``after`` (offset mean, scaled std)."""
        scale = after.std / np.maximum(before.std, 1e-3)
        return ColourStats(self.mean + after.mean - before.mean, self.std * scale)


def match_colour_stats(rgb: np.ndarray, target: ColourStats) -> np.ndarray:
    """``rgb`` with luma and chroma means and spreads moved to ``target``'s, clipped to [0, 1].

    A flat plane (std near 0) is only shifted, never stretched into noise.
    """
    planes = rgb.reshape(-1, 3) @ RGB_TO_YCC.T
    current = ColourStats.of(rgb)
    scale = np.where(current.std > 1e-3, target.std / np.maximum(current.std, 1e-3), 1.0)
    matched = (planes - current.mean) * scale + target.mean
    return np.clip(matched @ YCC_TO_RGB.T, 0.0, 1.0).reshape(rgb.shape).astype(np.float32)


@dataclass(frozen=True)
class Drift:
    """How far an animation's exposure and saturation wandered from its first frame, 0..255 units.

    ``luma`` and ``saturation`` hold each frame's mean minus the first frame's; ``max_luma`` and
    ``max_saturation`` are their largest absolute values.
    """

    luma: list[float]
    saturation: list[float]

    @property
    def max_luma(self) -> float:
        return max(abs(value) for value in self.luma)

    @property
    def max_saturation(self) -> float:
        return max(abs(value) for value in self.saturation)


def exposure_drift(frames: list[np.ndarray]) -> Drift:
    """Mean luma and mean saturation (max minus min channel) of each frame relative to the first."""
    if not frames:
        raise SettingsError("drift needs at least one frame")
    luma = [float((frame @ LUMA_WEIGHTS).mean()) * 255 for frame in frames]
    saturation = [float((frame.max(axis=2) - frame.min(axis=2)).mean()) * 255 for frame in frames]
    return Drift([v - luma[0] for v in luma], [v - saturation[0] for v in saturation])


# ----------------------------------------------------------------------------------------- zoom


@dataclass(frozen=True)
class ZoomSettings:
    """The motion of a zoom animation.

    ``zoom``: percent the picture grows per frame (negative zooms out), -50..100. ``rotate``:
    degrees per frame, counter-clockwise. ``stabilise``: hold colour statistics to the first frame.
    """

    frames: int = 30
    zoom: float = 2.0
    rotate: float = 0.0
    fps: float = 12.0
    stabilise: bool = True

    def validate(self) -> ZoomSettings:
        if not 1 <= self.frames <= 100_000:
            raise SettingsError(f"--frames must be between 1 and 100000; got {self.frames}")
        if not -50 <= self.zoom <= 100:
            raise SettingsError(f"--zoom must be between -50 and 100 percent per frame; got {self.zoom}")
        if not -180 <= self.rotate <= 180:
            raise SettingsError(f"--rotate must be between -180 and 180 degrees per frame; got {self.rotate}")
        check_fps(self.fps)
        return self


def zoom_and_rotate(rgb: np.ndarray, zoom: float, degrees: float) -> np.ndarray:
    """``rgb`` scaled by ``1 + zoom / 100`` and rotated ``degrees`` about its centre, same size.

    Edges that come into view when zooming out or rotating mirror the picture rather than go black.
    """
    import cv2

    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), degrees, 1 + zoom / 100)
    moved = cv2.warpAffine(
        rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
    )
    return np.clip(moved, 0.0, 1.0).astype(np.float32)


def zoom_frames(
    dreamer: Dreamer,
    image: PathLike | Picture | np.ndarray,
    settings: DreamSettings | None = None,
    motion: ZoomSettings | None = None,
    on_frame: FrameCallback | None = None,
) -> Iterator[np.ndarray]:
    """Frames of a zoom: dream, zoom in a little, dream again; float RGB (H, W, 3) in [0, 1].

    Frame *i* uses seed ``settings.seed + i`` so the jitter differs from frame to frame.
    """
    settings = settings or DreamSettings()
    motion = (motion or ZoomSettings()).validate()
    picture = dreamer.working_picture(as_picture(image), settings.max_side)
    current, reference = picture.rgb, None
    for index in range(motion.frames):
        if index:
            current = zoom_and_rotate(current, motion.zoom, motion.rotate)
        dreamed = dreamer.dream(Picture(current), settings, seed=settings.seed + index).picture.rgb
        if motion.stabilise:
            reference = reference or ColourStats.of(dreamed)
            dreamed = match_colour_stats(dreamed, reference)
        current = dreamed
        if on_frame is not None:
            on_frame(index + 1, motion.frames)
        yield dreamed


def dream_zoom(
    dreamer: Dreamer,
    source: PathLike | Picture,
    output: PathLike,
    settings: DreamSettings | None = None,
    motion: ZoomSettings | None = None,
    on_frame: FrameCallback | None = None,
) -> int:
    """Write a zoom animation of ``source`` to ``output`` (GIF, WebP, MP4, MOV, MKV, WebM).

    Returns the number of frames written. The output appears only when every frame is done.
    """
    motion = (motion or ZoomSettings()).validate()
    picture = source if isinstance(source, Picture) else load_image(source)
    path = check_animation_path(output, protect=[picture.source] if picture.source else [])
    if path.suffix.lower() in ANIMATED_IMAGE_FORMATS and motion.frames > MAX_ANIMATED_IMAGE_FRAMES:
        raise SettingsError(
            f"{motion.frames} frames is too many for {path.suffix} (at most {MAX_ANIMATED_IMAGE_FRAMES}, "
            "which are held in memory): write .mp4 or .webm instead"
        )
    return write_animation(path, zoom_frames(dreamer, picture, settings, motion, on_frame), motion.fps)


# ---------------------------------------------------------------------------------- optical flow


def grey(rgb: np.ndarray) -> np.ndarray:
    """8-bit luma of an RGB picture, what the flow estimator reads."""
    return to_uint8(rgb @ LUMA_WEIGHTS)


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow from ``current`` to ``previous`` (float RGB): pixel p of the current frame
    was at p + flow[p] in the previous one."""
    import cv2

    return cv2.calcOpticalFlowFarneback(
        grey(current), grey(previous), None, pyr_scale=0.5, levels=3, winsize=15,
        iterations=3, poly_n=5, poly_sigma=1.2, flags=0,
    )  # fmt: skip


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) from the previous frame moved into the current one along ``flow``."""
    import cv2

    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        image.astype(np.float32),
        columns + flow[..., 0],
        rows + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def temporal_flicker(frames: list[np.ndarray], sources: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames after compensating the source's motion,
    in 0..255 units: what a viewer sees as flicker. 0 for fewer than two frames."""
    changes = []
    for index in range(1, len(frames)):
        flow = backward_flow(sources[index], sources[index - 1])
        changes.append(float(np.abs(frames[index] - warp(frames[index - 1], flow)).mean()) * 255)
    return float(np.mean(changes)) if changes else 0.0


# ----------------------------------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoSettings:
    """Temporal coherence of a dreamed video.

    ``blend``: share of the previous frame's dream detail carried into the next, 0..0.95 (0 dreams
    every frame on its own). ``flow``: move that detail along the source's optical flow; without
    it the detail stays in place, which suits only a still camera.
    """

    blend: float = 0.5
    flow: bool = True

    def validate(self) -> VideoSettings:
        if not 0 <= self.blend <= 0.95:
            raise SettingsError(f"--blend must be between 0 and 0.95; got {self.blend}")
        return self


@dataclass(frozen=True)
class VideoResult:
    """What :func:`dream_video` did: frames written, frames dreamed now (the rest were resumed)."""

    path: Path
    frames: int
    dreamed: int
    resumed: int


def file_identity(path: PathLike) -> dict[str, object]:
    """Where a file is, its size and a digest of its first MiB: enough to notice it was replaced."""
    path = Path(path).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        digest.update(stream.read(1 << 20))
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "head_sha256": digest.hexdigest()}


def job_fingerprint(
    source: Path, dreamer: Dreamer, settings: DreamSettings, coherence: VideoSettings, size: tuple[int, int]
) -> dict[str, object]:
    """Everything that decides the frames (source, weights, guide and mask files included): a resumed
    run must match it exactly."""
    files = {"source": source, "weights": dreamer.weights, "guide": settings.guide, "mask": settings.mask}
    return {
        **{name: file_identity(path) for name, path in files.items() if path},
        "settings": json.loads(settings.to_json()),
        "blend": coherence.blend,
        "flow": coherence.flow,
        "size": list(size),
    }


class FrameStore:
    """Finished frames of one video job, as numbered PNGs in ``OUTPUT.frames/`` beside the output.

    ``job.json`` records the job's fingerprint; frames are written atomically, so every frame file
    present is whole and a run killed at any moment loses at most the frame it was dreaming.
    """

    def __init__(self, output: Path) -> None:
        self.folder = output.with_name(output.name + ".frames")

    def open(self, fingerprint: dict[str, object]) -> int:
        """Make the folder hold frames of this job only; returns how many finished frames it has.

        Frames left by a different job (other settings or source) are deleted with a warning; a
        folder of that name that Reverie did not make is left alone and reported.
        """
        job_file = self.folder / "job.json"
        if self.folder.exists():
            if not job_file.is_file():
                raise VideoError(
                    f"{self.folder} exists but holds no Reverie frames: move it or choose another output"
                )
            try:
                same = json.loads(job_file.read_text()) == fingerprint
            except (OSError, ValueError):
                same = False
            if same:
                return self.finished()
            warnings.warn(f"{self.folder} holds frames of another job; starting over", stacklevel=2)
            self.clear()
        try:
            self.folder.mkdir(exist_ok=True)
            job_file.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
        except OSError as error:
            raise VideoError(f"cannot keep frames in {self.folder}: {one_line(error)}") from None
        return 0

    def clear(self) -> None:
        """Delete this store's own files (frames and job.json), nothing else."""
        for path in [*self.folder.glob("frame-*.png"), self.folder / "job.json"]:
            path.unlink(missing_ok=True)

    def path(self, index: int) -> Path:
        return self.folder / f"frame-{index:06d}.png"

    def finished(self) -> int:
        """Frames 0..n-1 present without a gap."""
        count = 0
        while self.path(count).exists():
            count += 1
        return count

    def load(self, index: int) -> np.ndarray:
        return load_image(self.path(index)).rgb

    def save(self, index: int, rgb: np.ndarray) -> None:
        save_image(self.path(index), Picture(rgb))

    def remove(self) -> None:
        """Delete the store: its own files, then the folder if nothing else is in it."""
        self.clear()
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def quantised(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as it reads back from an 8-bit PNG: fresh and resumed runs continue from equal frames."""
    return to_uint8(rgb).astype(np.float32) / 255.0


class CoherentDreamer:
    """Dreams a sequence of frames so that each continues the last one's dream.

    With ``blend`` b > 0, frame t is made in three steps:

    1. start from the source frame plus b times the previous frame's dream detail (dream minus
       source), moved along the flow, so the dream goes on growing the same patterns;
    2. dream it, then mix in the previous dreamed frame, moved along the flow, with weight b: a
       temporal filter that removes the flicker the fresh dream steps add;
    3. match its colour statistics to the source frame's, shifted by what dreaming did to frame 0.
    """

    def __init__(self, dreamer: Dreamer, settings: DreamSettings, coherence: VideoSettings) -> None:
        self.dreamer = dreamer
        self.settings = settings
        self.coherence = coherence
        self.previous_source: np.ndarray | None = None
        self.previous_dream: np.ndarray | None = None
        self.first_change: tuple[ColourStats, ColourStats] | None = None

    def start_from(self, first: tuple[np.ndarray, np.ndarray], last: tuple[np.ndarray, np.ndarray]) -> None:
        """Continue after finished frames (resume): (source, dream) of the first and of the last."""
        self.first_change = (ColourStats.of(first[0]), ColourStats.of(first[1]))
        self.previous_source, self.previous_dream = last

    def next_frame(self, source: np.ndarray) -> np.ndarray:
        """The dream of ``source`` (float RGB), quantised to 8 bits as it is stored."""
        blend = self.coherence.blend
        if self.previous_dream is None or self.previous_source is None or blend == 0:
            dreamed = self.dreamer.dream(Picture(source), self.settings).picture.rgb
        else:
            flow = backward_flow(source, self.previous_source) if self.coherence.flow else None
            moved_source = self.moved(self.previous_source, flow)
            moved_dream = self.moved(self.previous_dream, flow)
            start = np.clip(source + blend * (moved_dream - moved_source), 0.0, 1.0)
            dreamed = self.dreamer.dream(Picture(start.astype(np.float32)), self.settings).picture.rgb
            dreamed = (1 - blend) * dreamed + blend * moved_dream
        if self.first_change is not None:
            dreamed = match_colour_stats(dreamed, ColourStats.of(source).shifted(*self.first_change))
        dreamed = quantised(np.clip(dreamed, 0.0, 1.0))
        if self.first_change is None:
            self.first_change = (ColourStats.of(source), ColourStats.of(dreamed))
        self.previous_source, self.previous_dream = source, dreamed
        return dreamed

    @staticmethod
    def moved(image: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        """``image`` of the previous frame moved along ``flow`` (unmoved without flow)."""
        return image if flow is None else warp(image, flow)


def dream_video(
    dreamer: Dreamer,
    source: PathLike,
    output: PathLike,
    settings: DreamSettings | None = None,
    coherence: VideoSettings | None = None,
    on_frame: FrameCallback | None = None,
    keep_frames: bool = False,
) -> VideoResult:
    """Dream every frame of the video ``source`` into ``output``, keeping frame count, rate and audio.

    Frames are dreamed at the source size reduced to ``settings.max_side`` (even sides). Finished
    frames wait in ``OUTPUT.frames/`` until the video is assembled (and are then deleted unless
    ``keep_frames``); the same call after an interruption continues from the last finished frame
    and gives the same video as an uninterrupted run.
    """
    settings = settings or DreamSettings()
    settings = settings if settings.model else settings.with_changes(model=dreamer.model_name)
    if settings.model != dreamer.model_name:
        raise SettingsError(f"settings ask for {settings.model}; the Dreamer holds {dreamer.model_name}")
    coherence = (coherence or VideoSettings()).validate()
    source_path = Path(source).expanduser()
    path = check_video_output(output, protect=[source_path])
    info = probe_video(source_path)
    size = working_video_size(dreamer, (info.width, info.height), settings.max_side)
    store = FrameStore(path)
    done = store.open(job_fingerprint(source_path, dreamer, settings, coherence, size))
    coherent = CoherentDreamer(dreamer, settings, coherence)
    first: tuple[np.ndarray, np.ndarray] | None = None
    for index, frame in enumerate(read_frames(source_path, size)):
        if index < done:  # resuming: finished frames are read back, not dreamed again
            first = first or (frame, store.load(0))
            if index == done - 1:
                coherent.start_from(first, (frame, store.load(index)))
            continue
        store.save(index, coherent.next_frame(frame))
        if on_frame is not None:
            on_frame(index + 1, info.frames)
    written = assemble_video(store, path, info.fps, source_path)
    if written == 0:
        raise VideoError(f"{source_path} holds no decodable frames")
    if not keep_frames:
        store.remove()
    return VideoResult(path, written, written - done, done)


def working_video_size(dreamer: Dreamer, size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The source size fitted within ``max_side``, with even sides, checked against the model."""
    probe = dreamer.working_picture(Picture(np.zeros((size[1], size[0], 3), np.float32)), max_side)
    width, height = even_size(probe.size)
    if min(width, height) < dreamer.model.min_input_side:  # trimming to even sides took the last pixel
        raise ImageError(f"video frames of {width}x{height} px are too small for {dreamer.model_name}")
    return width, height


def assemble_video(store: FrameStore, output: Path, fps: Fraction, audio_from: Path) -> int:
    """Encode the finished frames into ``output`` with ``audio_from``'s audio; the frame count."""
    finished = store.finished()
    if finished == 0:
        return 0
    with VideoWriter(output, fps, audio_from=audio_from) as writer:
        for index in range(finished):
            writer.write(to_uint8(store.load(index)))
        return writer.count
