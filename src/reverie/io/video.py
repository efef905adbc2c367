"""Reading and writing moving pictures: animated GIF and WebP through Pillow, video through PyAV.

PyAV carries its own FFmpeg libraries, so no system ``ffmpeg`` is needed. Video is written with
H.264 (MP4, MOV, MKV) or VP9 (WebM) in yuv420p, which every player shows; yuv420p needs even sides,
so :func:`even_size` trims a pixel where needed. Every output is written under a temporary name and
renamed into place, as images are (:func:`reverie.io.paths.atomic_output`). Every failure, reading or
writing, is a one-line :class:`VideoError`.

Audio is carried over from a source video: copied packet for packet when the output container
accepts its codec, else re-encoded (AAC for MP4/MOV, Opus for WebM).

Sources are read as a player shows them: turned upright by their display matrix (phones store a
portrait video landscape and say so there), each frame with its own timestamp (phones record at a
variable rate; the output keeps those times so the sound stays in sync), and a file whose tail is
missing ends at its last decodable frame (:class:`FrameReader`). FFmpeg's own log never reaches the
terminal (:func:`av_module`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reverie.errors import File, VideoError, one_line, reason
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
    """PyAV, imported on first use so image-only work never pays for loading FFmpeg.

    FFmpeg's log is kept at ERROR, not switched off, because PyAV puts the last error line into the
    exceptions it raises ("moov atom not found"), and that is what our one-line messages quote.
    PyAV hands those lines to Python's ``logging`` as the ``libav`` logger; with no handler, Python's
    last-resort handler would print them to stderr before our own message. A NullHandler that does
    not propagate keeps them off the terminal (and out of an application's root handlers), while a
    handler added to ``libav`` on purpose still sees them.
    """
    import av

    av.logging.set_level(av.logging.ERROR)
    quiet_ffmpeg_log()
    return av


def quiet_ffmpeg_log() -> None:
    """Give the ``libav`` logger a NullHandler and stop it propagating (once)."""
    logger = logging.getLogger("libav")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def ffmpeg_reason(error: BaseException) -> str:
    """What went wrong inside FFmpeg, in one line: its description and its last error line.

    PyAV's own text repeats the errno and the C function or path ("[Errno 1094995529] Invalid
    data found when processing input: 'avcodec_send_packet()'; last error log: ..."), which a user
    cannot act on; ``Invalid data found when processing input (moov atom not found)`` says it all.
    """
    strerror = getattr(error, "strerror", None)
    if not strerror:
        return one_line(error)
    log = getattr(error, "log", None)
    detail = str(log[2]).strip() if isinstance(log, tuple) and len(log) == 3 else ""
    return one_line(Exception(f"{strerror} ({detail})" if detail else strerror))


def check_animation_path(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Validate an animation output (GIF, WebP, MP4, MOV, MKV, WebM) as check_image_output does images."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in ANIMATED_IMAGE_FORMATS and suffix not in VIDEO_FORMATS:
        known = " ".join([*ANIMATED_IMAGE_FORMATS, *VIDEO_FORMATS])
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise VideoError(
            "cannot write ", File(path), f": {shown} is not an animation format (use one of {known})"
        )
    return check_output_location(path, protect)


def check_video_output(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Like :func:`check_animation_path`, for outputs that must be real video (not GIF or WebP)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in VIDEO_FORMATS:
        known = " ".join(VIDEO_FORMATS)
        raise VideoError("cannot write video ", File(path), f": use one of the extensions {known}")
    return check_animation_path(path, protect)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) rounded down to even numbers, as yuv420p video needs."""
    return size[0] - size[0] % 2, size[1] - size[1] % 2


# ---------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoInfo:
    """What a source video holds, as a player shows it.

    ``width`` and ``height`` are in px as displayed: a phone's portrait video, stored landscape with
    a rotation, is reported portrait. ``frames`` is the header's count, else the packets counted; a
    damaged file may decode fewer. ``rotation`` is how far the stored picture is turned counter-
    clockwise for display (0, 90, 180 or 270 degrees); :func:`read_frames` has already applied it.
    ``still`` is True for a still picture rather than a video (see :func:`is_still`).
    """

    width: int
    height: int
    frames: int
    fps: Fraction
    has_audio: bool
    rotation: int = 0
    still: bool = False


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: float32 RGB (H, W, 3) in [0, 1], upright, and when it is shown.

    ``time`` is in seconds after the video's start (the instant the output's time 0 stands for),
    so a variable-frame-rate video keeps its timing and its sound stays in sync.
    """

    rgb: np.ndarray
    time: float


def open_video(path: PathLike) -> Any:
    """The video at ``path`` opened for reading; VideoError for anything that is not a video."""
    path = existing_file(path, "video", VideoError)
    av = av_module()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoError(File(path), f" is not a readable video: {ffmpeg_reason(err)}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(File(path), " holds no video stream")
    return container


def probe_video(path: PathLike) -> VideoInfo:
    """Size (as displayed), frame count, rate, audio and rotation, without decoding the whole file.

    The first frame is decoded, since only frames carry the display matrix that says how a phone
    held its camera; that also proves the file holds at least one decodable frame.
    """
    av = av_module()
    with open_video(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate or stream.codec_context.width <= 0:
            raise VideoError(File(path), " is not a readable video: it has no frame size or frame rate")
        first, packets = None, 0
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:
                    break
                packets += bool(packet.size)
                if first is None:
                    first = next(iter(stream.decode(packet)), None)
                if first is not None and stream.frames:
                    break  # the header has the count: no need to read on
        except av.FFmpegError as err:
            if first is None:
                raise VideoError(File(path), f" is corrupt: {ffmpeg_reason(err)}") from None
        if first is None:  # a file cut inside its first frames: the decoder may hold one back
            with contextlib.suppress(av.FFmpegError):
                first = next(iter(stream.decode(None)), None)
        if first is None:
            raise VideoError(File(path), " holds no decodable video frames")
        rotation = display_rotation(first, tagged_rotation(stream))
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        frames = stream.frames or packets
        return VideoInfo(
            width,
            height,
            frames,
            Fraction(rate),
            bool(container.streams.audio),
            rotation,
            is_still(container, stream, frames),
        )


#: FFmpeg's demuxers of single pictures besides the ``*_pipe`` ones (png_pipe, jpeg_pipe, webp_pipe...).
IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})


def is_still(container: Any, stream: Any, frames: int) -> bool:
    """Whether an opened file is a still picture, which FFmpeg reads as a one-frame "video".

    Decided by what FFmpeg found the file to be, whatever its name: one of its picture demuxers
    (JPEG, PNG, WebP, TIFF, BMP...), or one frame that lasts no time (a GIF of a single frame).
    A one-frame clip with a duration is still a video.
    """
    names = set(container.format.name.split(","))
    if names & IMAGE_DEMUXERS or any(name.endswith("_pipe") for name in names):
        return True
    return frames == 1 and not container.duration and not stream.duration


def right_angle(degrees: float) -> int:
    """``degrees`` counter-clockwise as the nearest of 0, 90, 180, 270: phones and cameras only turn
    the picture by right angles, and a turn by anything else cannot keep the frame rectangular."""
    return round(degrees / 90) % 4 * 90


def tagged_rotation(stream: Any) -> int:
    """The legacy ``rotate`` tag (degrees clockwise, as older FFmpeg wrote it and remuxed MKVs keep it)
    as counter-clockwise degrees; 0 without one. Used only where frames carry no display matrix."""
    for key, value in stream.metadata.items():
        if key.lower() == "rotate":
            try:
                return right_angle(-float(value))
            except ValueError:
                return 0
    return 0


def display_rotation(frame: Any, fallback: int) -> int:
    """Counter-clockwise degrees to turn ``frame`` for display: its display matrix (what MP4 and MOV
    from phones carry, mirrored flips aside), else ``fallback`` (the stream's tag).

    The turn is read straight from the frame (``frame.rotation``), never through PyAV's list of its
    side data: PyAV 18 with FFmpeg 8 crashes the process when freeing a listed ICC profile (a PNG's)
    and cannot list kinds newer than itself (the EXIF FFmpeg attaches to a TIFF's frame). So a
    matrix saying "no turn" reads as none, and the tag counts; a file carries both only when
    remuxed from an old one, and then they agree.
    """
    return right_angle(frame.rotation) or fallback


def upright(image: Image.Image, rotation: int) -> Image.Image:
    """``image`` turned ``rotation`` degrees counter-clockwise (Pillow's ROTATE_* are too)."""
    turns = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }
    return image.transpose(turns[rotation]) if rotation in turns else image


def video_start(stream: Any) -> float:
    """Seconds on the stream's clock where the video starts: the instant that becomes the output's
    time 0, for the frames and the audio alike (a transport stream's clock starts late)."""
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    return 0.0


class FrameReader:
    """Decodes a video's frames, upright and resized, with their times; stops cleanly at a cut tail.

    Iterate it for :class:`DecodedFrame` s. A file whose end is missing (a download or a copy cut
    short) decodes up to its last whole packet, and then ``cut_short`` is True: the frames before
    the cut are good, and a video of them is what the file still holds. A cut is seen where
    decoding fails at the end, or where the index lists frames past the end of the file; an MKV
    cut between two frames has neither and ends as if whole. Frames are decoded in file order, so
    a cut can take a B-frame shown before the last frame kept: each frame keeps its own time, and
    the gap is a short freeze, not a shift. A file damaged *within*
    (whole packets follow the bad one) raises a VideoError instead, since skipping a stretch would
    silently drop frames and shift the sound. Failing before any frame is a VideoError either way.
    """

    def __init__(self, path: PathLike, size: tuple[int, int] | None = None) -> None:
        self.path = path
        self.size = size
        #: Frames decoded so far.
        self.count = 0
        #: Set once iteration ends at a cut: the file holds fewer frames than it says.
        self.cut_short = False

    def __iter__(self) -> Iterator[DecodedFrame]:
        av = av_module()
        self.count, self.cut_short = 0, False
        with open_video(self.path) as container:
            stream = container.streams.video[0]
            tagged, start = tagged_rotation(stream), video_start(stream)
            step = 1 / float(stream.average_rate or stream.guessed_rate or 25)
            packets = container.demux(stream)
            failure: str | None = None
            while failure is None:
                try:
                    packet = next(packets, None)
                except av.FFmpegError as err:
                    failure = ffmpeg_reason(err)
                    break
                if packet is None:
                    break
                if packet.is_corrupt:
                    failure = "a packet is cut off or corrupt"
                    break
                try:
                    decoded = stream.decode(packet)
                except av.FFmpegError as err:
                    failure = ffmpeg_reason(err)
                    decoded = []
                for frame in decoded:
                    yield self.converted(frame, tagged, start, step)
            if failure is None:
                self.cut_short = self.count > 0 and indexed_beyond_end(stream, self.path)
                return
            try:  # frames the decoder still holds (reordering, threads) are good ones
                buffered = stream.decode(None)
            except av.FFmpegError:
                buffered = []
            for frame in buffered:
                yield self.converted(frame, tagged, start, step)
            if self.count == 0:
                raise VideoError(File(self.path), f" is corrupt: {failure}")
            if whole_packets_follow(packets, av):
                raise VideoError(
                    File(self.path),
                    f" is damaged after its first {self.count} frames: {failure}; repair or re-encode it",
                )
            self.cut_short = True

    def converted(self, frame: Any, tagged: int, start: float, step: float) -> DecodedFrame:
        """``frame`` as upright float RGB at the reader's size, timed from the video's start."""
        image = upright(frame.to_image(), display_rotation(frame, tagged))
        if self.size is not None and image.size != self.size:
            image = image.resize(self.size, Image.Resampling.LANCZOS)
        time = frame.time - start if frame.time is not None else self.count * step
        self.count += 1
        return DecodedFrame(np.asarray(image, dtype=np.float32) / 255.0, time)


def indexed_beyond_end(stream: Any, path: PathLike) -> bool:
    """Whether the container's index (MP4 and MOV list every frame's bytes in it) places frames
    past the end of the file: its tail is missing. FFmpeg reads such a file to the cut and ends
    as if it were whole, logging only "partial file"."""
    size = os.path.getsize(path)
    return any(entry.pos + entry.size > size for entry in stream.index_entries if entry.size)


def whole_packets_follow(packets: Iterator[Any], av: Any) -> bool:
    """Whether the demuxer still finds a whole packet after a failure: damage within the file
    rather than a missing tail. Only the packets are read; nothing is decoded."""
    try:
        return any(packet.size and not packet.is_corrupt for packet in packets)
    except av.FFmpegError:
        return False


def read_frames(path: PathLike, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Decoded frames as float32 RGB (H, W, 3) in [0, 1], upright, resized to ``size`` (width,
    height) if given. A file cut short ends at its last decodable frame, with a warning."""
    reader = FrameReader(path, size)
    for frame in reader:
        yield frame.rgb
    if reader.cut_short:
        warnings.warn(f"{path} is cut short: it ends after {reader.count} decodable frames", stacklevel=2)


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
        raise VideoError("no frames to write to ", File(path))
    if any(image.size != images[0].size for image in images):
        raise VideoError("all frames of ", File(path), " must have the same size")
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
        raise VideoError("could not write ", File(path), f": {reason(err)}") from None
    return len(images)


def timestamp_base(fps: Fraction) -> Fraction:
    """The time base frames are written in: at least as fine as MPEG's 1/90000 s, so a frame's own
    time is kept to a tick, and a multiple of ``1/fps``, so constant-rate frames fall exactly on it
    and the output reports exactly the source's rate (30000/1001 stays 30000/1001)."""
    ticks = math.lcm(90000, fps.numerator)
    return Fraction(1, ticks if ticks < 2**31 else fps.numerator)  # FFmpeg keeps time bases in int32


class VideoWriter:
    """Encode frames into a video file, optionally carrying over another video's audio.

    Use as a context manager: the file is renamed into place when the block ends without error,
    and the temporary file is removed when it fails. Frames are float RGB in [0, 1] or uint8, all of
    one size (trimmed to even sides). Each frame is shown at the time given with it (seconds), so a
    variable-frame-rate source keeps its timing; frames given no time follow each other at ``fps``.
    """

    def __init__(self, path: PathLike, fps: Fraction, audio_from: PathLike | None = None) -> None:
        self.path = Path(path).expanduser()
        if self.path.suffix.lower() not in VIDEO_FORMATS:
            raise VideoError(
                "cannot write video ", File(self.path), f": use one of {' '.join(VIDEO_FORMATS)}"
            )
        self.container_format, self.codec = VIDEO_FORMATS[self.path.suffix.lower()]
        self.fps = fps
        self.audio_from = audio_from
        self.count = 0
        self.time_base = timestamp_base(fps)
        self._last_pts = -1
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
            raise VideoError("could not write ", File(self.path), f": {reason(err)}") from None
        return self

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Encode one frame, shown ``time`` seconds after the start (None: 1/fps after the last).

        Times are rounded to :attr:`time_base`; one that does not come after the last frame's is
        moved one tick after it, since a video's frames must be shown in order.
        """
        pixels = frame if frame.dtype == np.uint8 else to_uint8(frame)
        height, width = pixels.shape[:2]
        if min(width, height) < 2:
            raise VideoError(f"video frames must be at least 2x2 px; got {width}x{height}")
        if self._stream is None:
            self._stream = self._open_stream(even_size((width, height)))
        if even_size((width, height)) != (self._stream.width, self._stream.height):
            raise VideoError("all frames of ", File(self.path), " must have the same size")
        pixels = pixels[: self._stream.height, : self._stream.width]  # even sides, as yuv420p needs
        video_frame = av_module().VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        shown: float | Fraction
        if time is None:
            shown = self._last_pts * self.time_base + 1 / self.fps if self.count else Fraction(0)
        else:
            shown = time
        video_frame.pts = self._last_pts = max(round(shown / self.time_base), self._last_pts + 1)
        video_frame.time_base = self.time_base
        try:
            self._container.mux(self._stream.encode(video_frame))
            self.count += 1
            if self._audio is not None:
                self._audio.write_until(float(video_frame.pts * self.time_base + 1 / self.fps))
        except (av_module().FFmpegError, OSError) as err:
            raise VideoError("could not write ", File(self.path), f": {reason(err)}") from None

    def _open_stream(self, size: tuple[int, int]) -> Any:
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = self.time_base
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
                raise VideoError("could not write ", File(self.path), f": {reason(failure)}") from None
            raise
        finally:
            if self._audio is not None:
                self._audio.close()
        try:
            self._atomic.__exit__(kind, error, trace)
        except OSError as failure:
            raise VideoError("could not write ", File(self.path), f": {reason(failure)}") from None

    def _finish(self) -> None:
        if self._stream is None:
            raise VideoError("no frames to write to ", File(self.path))
        self._container.mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish()


class AudioCarrier:
    """Carries a source video's first audio stream into an output container, in step with the video.

    FFmpeg containers take no new stream once the first packet is written, so :meth:`add_stream`
    runs before any video is encoded. :meth:`write_until` then adds the audio up to the video's
    current time after every frame, so the two are interleaved (players and browsers can stream the
    file), and :meth:`finish` adds the rest. Audio is copied packet for packet when the container
    takes the codec, else re-encoded. Timestamps are shifted so that the source's video start
    (:func:`video_start`), which becomes the output's time 0, keeps its sound. A source without
    audio adds nothing.
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
        self._offset = video_start(video)
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
            item = self._pending if self._pending is not None else self._next_item()
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

    def _next_item(self) -> Any:
        """The source's next audio packet (copying) or frame (re-encoding); None at its end.

        A source cut short ends its sound where it can no longer be read: a cut-off packet or a
        read error ends the audio instead of failing a video whose frames are already dreamed.
        """
        assert self._items is not None
        try:
            item = next(self._items, None)
        except av_module().FFmpegError:
            return None
        return None if item is not None and self.copy and item.is_corrupt else item

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
