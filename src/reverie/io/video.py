"""Reading and writing moving pictures: animated GIF and WebP through Pillow, video through PyAV.

PyAV carries its own FFmpeg libraries, so no system ``ffmpeg`` is needed. Video is written with
H.264 (MP4, MOV, MKV) or VP9 (WebM) in yuv420p, which every player shows; yuv420p needs even sides,
so :func:`even_size` trims a pixel where needed. Every output is written under a temporary name and
renamed into place, as images are (:func:`reverie.io.paths.atomic_output`). Every failure, reading or
writing, is a one-line :class:`VideoError`.

Audio is carried over from a source video: copied packet for packet when the output container
accepts its codec, else re-encoded (AAC for MP4/MOV, Opus for WebM).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reverie.errors import VideoError, one_line
from reverie.io.images import to_uint8
from reverie.io.paths import atomic_output, check_output_location, existing_file

PathLike = str | os.PathLike[str]

#: Lower-case extension -> (FFmpeg container, video encoder) for video outputs.
VIDEO_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
}

#: Extensions written as animated images through Pillow.
ANIMATED_IMAGE_FORMATS: dict[str, str] = {".gif": "GIF", ".webp": "WEBP"}
#: GIF and WebP frames are all held in memory until written; longer animations go to video files.
MAX_ANIMATED_IMAGE_FRAMES = 1000

#: Audio codecs each container takes as they are; others are re-encoded to the second entry.
AUDIO_COPY: dict[str, tuple[frozenset[str], str]] = {
    "mp4": (frozenset({"aac", "mp3", "alac", "ac3", "opus"}), "aac"),
    "mov": (frozenset({"aac", "mp3", "alac", "ac3", "pcm_s16le"}), "aac"),
    "matroska": (frozenset({"aac", "mp3", "opus", "vorbis", "flac", "ac3", "pcm_s16le"}), "aac"),
    "webm": (frozenset({"opus", "vorbis"}), "libopus"),
}

#: H.264 constant rate factor: 18 is visually lossless, so compression does not eat dream detail.
VIDEO_QUALITY_CRF = "18"


def av_module() -> Any:
    """PyAV, imported on first use so image-only work never pays for loading FFmpeg."""
    import av

    av.logging.set_level(av.logging.ERROR)  # FFmpeg's warnings are not for our users
    return av


def check_animation_path(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Validate an animation output (GIF, WebP, MP4, MOV, MKV, WebM) as check_image_output does images."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in ANIMATED_IMAGE_FORMATS and suffix not in VIDEO_FORMATS:
        known = " ".join([*ANIMATED_IMAGE_FORMATS, *VIDEO_FORMATS])
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise VideoError(f"cannot write {path}: {shown} is not an animation format (use one of {known})")
    return check_output_location(path, protect)


def check_video_output(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Like :func:`check_animation_path`, for outputs that must be real video (not GIF or WebP)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in VIDEO_FORMATS:
        known = " ".join(VIDEO_FORMATS)
        raise VideoError(f"cannot write video {path}: use one of the extensions {known}")
    return check_animation_path(path, protect)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) rounded down to even numbers, as yuv420p video needs."""
    return size[0] - size[0] % 2, size[1] - size[1] % 2


# ---------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoInfo:
    """What a source video holds: size in px, frame count, frame rate and whether it has audio."""

    width: int
    height: int
    frames: int
    fps: Fraction
    has_audio: bool


def open_video(path: PathLike) -> Any:
    """The video at ``path`` opened for reading; VideoError for anything that is not a video."""
    path = existing_file(path, "video", VideoError)
    av = av_module()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoError(f"{path} is not a readable video: {one_line(err)}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} holds no video stream")
    return container


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame count (counted from the packets when the header does not say), rate and audio."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        rate = stream.average_rate or stream.guessed_rate
        if not rate or stream.codec_context.width <= 0:
            raise VideoError(f"{path} is not a readable video: it has no frame size or frame rate")
        return VideoInfo(
            stream.codec_context.width,
            stream.codec_context.height,
            frames,
            Fraction(rate),
            bool(container.streams.audio),
        )


def read_frames(path: PathLike, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Decoded frames as float32 RGB (H, W, 3) in [0, 1], resized to ``size`` (width, height) if given."""
    av = av_module()
    with open_video(path) as container:
        try:
            for frame in container.decode(video=0):
                image = frame.to_image()
                if size is not None and image.size != size:
                    image = image.resize(size, Image.Resampling.LANCZOS)
                yield np.asarray(image, dtype=np.float32) / 255.0
        except av.FFmpegError as err:
            raise VideoError(f"{path} is corrupt: {one_line(err)}") from None


# ---------------------------------------------------------------------------------------- writing


def write_animation(path: PathLike, frames: Iterable[np.ndarray], fps: Fraction) -> int:
    """Write float RGB frames in [0, 1] to ``path`` as GIF, WebP or video; returns the frame count.

    GIF and WebP loop forever. The file appears only once complete.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() in ANIMATED_IMAGE_FORMATS:
        return write_animated_image(path, frames, fps)
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.count


def write_animated_image(path: Path, frames: Iterable[np.ndarray], fps: Fraction) -> int:
    """Animated GIF (256 colours per frame) or WebP (lossy, high quality) through Pillow."""
    image_format = ANIMATED_IMAGE_FORMATS[path.suffix.lower()]
    images = [Image.fromarray(to_uint8(frame), "RGB") for frame in frames]
    if not images:
        raise VideoError(f"no frames to write to {path}")
    if any(image.size != images[0].size for image in images):
        raise VideoError(f"all frames of {path} must have the same size")
    if image_format == "GIF":
        images = [image.quantize(colors=256, method=Image.Quantize.MEDIANCUT) for image in images]
    duration = max(20, round(1000 / float(fps)))
    options: dict[str, object] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": duration,
        "loop": 0,
    }
    if image_format == "WEBP":
        options["quality"] = 90
    try:
        with atomic_output(path) as temporary, open(temporary, "wb") as stream:
            images[0].save(stream, format=image_format, **options)
    except (OSError, ValueError) as err:
        raise VideoError(f"could not write {path}: {one_line(err)}") from None
    return len(images)


class VideoWriter:
    """Encode frames into a video file, optionally carrying over another video's audio.

    Use as a context manager: the file is renamed into place when the block ends without error,
    and the temporary file is removed when it fails. Frames are float RGB in [0, 1] or uint8, all of
    one size (trimmed to even sides).
    """

    def __init__(self, path: PathLike, fps: Fraction, audio_from: PathLike | None = None) -> None:
        self.path = Path(path).expanduser()
        if self.path.suffix.lower() not in VIDEO_FORMATS:
            raise VideoError(f"cannot write video {self.path}: use one of {' '.join(VIDEO_FORMATS)}")
        self.container_format, self.codec = VIDEO_FORMATS[self.path.suffix.lower()]
        self.fps = fps
        self.audio_from = audio_from
        self.count = 0
        self._atomic: Any = None
        self._container: Any = None
        self._stream: Any = None
        self._audio: AudioCarrier | None = None

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_output(self.path)
        temporary = self._atomic.__enter__()
        av = av_module()
        try:
            self._container = av.open(str(temporary), mode="w", format=self.container_format)
        except (av.FFmpegError, OSError) as err:
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise VideoError(f"could not write {self.path}: {one_line(err)}") from None
        return self

    def write(self, frame: np.ndarray) -> None:
        """Encode one frame."""
        pixels = frame if frame.dtype == np.uint8 else to_uint8(frame)
        height, width = pixels.shape[:2]
        if min(width, height) < 2:
            raise VideoError(f"video frames must be at least 2x2 px; got {width}x{height}")
        if self._stream is None:
            self._stream = self._open_stream(even_size((width, height)))
        if even_size((width, height)) != (self._stream.width, self._stream.height):
            raise VideoError(f"all frames of {self.path} must have the same size")
        pixels = pixels[: self._stream.height, : self._stream.width]  # even sides, as yuv420p needs
        video_frame = av_module().VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        video_frame.pts = self.count
        video_frame.time_base = 1 / self.fps
        try:
            self._container.mux(self._stream.encode(video_frame))
            self.count += 1
            if self._audio is not None:
                self._audio.write_until(self.count / self.fps)
        except (av_module().FFmpegError, OSError) as err:
            raise VideoError(f"could not write {self.path}: {one_line(err)}") from None

    def _open_stream(self, size: tuple[int, int]) -> Any:
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self.fps
        if self.codec == "libx264":
            stream.options = {"crf": VIDEO_QUALITY_CRF, "preset": "medium"}
        else:
            stream.options = {"crf": "24", "b": "0", "row-mt": "1"}
        if self.audio_from is not None:
            self._audio = AudioCarrier(self.audio_from, self._container, self.container_format)
            self._audio.add_stream()
        return stream

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        try:
            if kind is None:
                self._finish()
            self._container.close()
        except BaseException as failure:
            with contextlib.suppress(Exception):
                self._container.close()
            self._atomic.__exit__(type(failure), failure, failure.__traceback__)
            if isinstance(failure, (av_module().FFmpegError, OSError)):
                raise VideoError(f"could not write {self.path}: {one_line(failure)}") from None
            raise
        finally:
            if self._audio is not None:
                self._audio.close()
        try:
            self._atomic.__exit__(kind, error, trace)
        except OSError as failure:
            raise VideoError(f"could not write {self.path}: {one_line(failure)}") from None

    def _finish(self) -> None:
        if self._stream is None:
            raise VideoError(f"no frames to write to {self.path}")
        self._container.mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish()


class AudioCarrier:
    """Carries a source video's first audio stream into an output container, in step with the video.

    FFmpeg containers take no new stream once the first packet is written, so :meth:`add_stream`
    runs before any video is encoded. :meth:`write_until` then adds the audio up to the video's
    current time after every frame, so the two are interleaved (players and browsers can stream the
    file), and :meth:`finish` adds the rest. Audio is copied packet for packet when the container
    takes the codec, else re-encoded. Timestamps are shifted so that the source's first video
    frame, which becomes the output's time 0, keeps its sound. A source without audio adds nothing.
    """

    def __init__(self, source: PathLike, output: Any, container_format: str) -> None:
        self.source = source
        self.output = output
        self.container_format = container_format
        self.target: Any = None
        self.copy = False
        self._input: Any = None
        self._items: Iterator[Any] | None = None
        self._pending: Any = None
        self._offset = 0.0  # seconds of source time before its first video frame
        self._resampler: Any = None
        self._samples = 0

    def add_stream(self) -> None:
        container = open_video(self.source)
        if not container.streams.audio:
            container.close()
            return
        self._input = container
        audio = container.streams.audio[0]
        video = container.streams.video[0]
        if video.start_time is not None and video.time_base:
            self._offset = float(video.start_time * video.time_base)
        copyable, fallback = AUDIO_COPY[self.container_format]
        self.copy = audio.codec_context.name in copyable
        if self.copy:
            self.target = self.output.add_stream_from_template(audio)
            self._items = container.demux(audio)
            return
        rate = 48000 if fallback == "libopus" else audio.codec_context.sample_rate
        self.target = self.output.add_stream(fallback, rate=rate)
        self.target.layout = audio.codec_context.layout.name
        self._resampler = av_module().AudioResampler(
            format=self.target.format.name, layout=self.target.layout.name, rate=rate
        )
        self._items = container.decode(audio)

    def write_until(self, seconds: float | None) -> None:
        """Mux the audio that plays before ``seconds`` of output time (None: all of it)."""
        if self._items is None:
            return
        while True:
            item = self._pending if self._pending is not None else next(self._items, None)
            self._pending = None
            if item is None:
                self._items = None
                return
            start = self._output_time(item)
            if start is None:
                continue
            if seconds is not None and start > seconds:
                self._pending = item
                return
            self._mux(item)

    def finish(self) -> None:
        """Mux the remaining audio, flush the encoder and close the source."""
        try:
            self.write_until(None)
            if self._resampler is not None:
                for resampled in self._resampler.resample(None):
                    self._encode(resampled)
                self.output.mux(self.target.encode(None))
        finally:
            self.close()

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None

    def _output_time(self, item: Any) -> float | None:
        """Where a packet or frame plays in the output, seconds; None for ones to drop."""
        if item.pts is None or item.time_base is None:
            return None
        return float(item.pts * item.time_base) - self._offset

    def _mux(self, item: Any) -> None:
        if not self.copy:
            for resampled in self._resampler.resample(item):
                self._encode(resampled)
            return
        shift = round(self._offset / item.time_base)
        if item.pts - shift < 0 or item.dts is None:
            return  # sound from before the first video frame has no place in the output
        item.pts -= shift
        item.dts -= shift
        item.stream = self.target
        self.output.mux(item)

    def _encode(self, frame: Any) -> None:
        frame.pts = self._samples
        frame.time_base = Fraction(1, self.target.rate)
        self._samples += frame.samples
        self.output.mux(self.target.encode(frame))
