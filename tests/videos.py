"""Real test videos made on the spot (tests and bench/bench_animate.py share them)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from reverie.io.images import Picture


def write_test_video(
    path: Path,
    source: Picture,
    frames: int = 10,
    size: tuple[int, int] = (96, 64),
    pan: int = 4,
    fps: int = 10,
    audio_codec: str | None = "aac",
    *,
    times_ms: Sequence[int] | None = None,
    rotation: int = 0,
    faststart: bool = False,
) -> Path:
    """A real H.264 video: a window panning ``pan`` px per frame across ``source``, with a tone.

    The pan gives optical flow something to follow; the 440 Hz tone lets tests check audio.
    ``times_ms`` shows frame i at ``times_ms[i]`` ms instead of every 1/fps s (a phone's variable
    rate); ``rotation`` stores a display matrix turning the picture that many degrees counter-
    clockwise (a phone held upright); ``faststart`` puts an MP4's index before its frames, so a
    file cut at its tail still opens.
    """
    width, height = size
    container = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "12"}
    if times_ms is not None:
        frames = len(times_ms)
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
    if rotation:
        video.set_display_rotation(rotation)
    rate = 48000 if audio_codec == "libopus" else 44100
    audio = None
    if audio_codec:
        audio = container.add_stream(audio_codec, rate=rate)
        audio.layout = "mono"
    for index in range(frames):
        window = source.rgb[8 : 8 + height, index * pan : index * pan + width]
        pixels = (window * 255).round().astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        if times_ms is not None:
            frame.pts, frame.time_base = times_ms[index], Fraction(1, 1000)
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if audio is not None:
        seconds = frames / fps if times_ms is None else times_ms[-1] / 1000 + 1 / fps
        samples = np.arange(int(rate * seconds)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * samples)).astype(np.float32)[None]
        sound = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        sound.sample_rate = rate
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    container.close()
    return path


def frame_times(path: Path) -> list[float]:
    """Seconds at which each frame of a file's video is shown, as decoded."""
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0)]


def audio_codec(path: Path) -> str | None:
    """The codec of a file's first audio stream, or None without audio."""
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name if container.streams.audio else None


def audio_seconds(path: Path) -> float:
    """Seconds of decoded sound in a file's first audio stream."""
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(audio)) / audio.codec_context.sample_rate
