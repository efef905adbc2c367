"""Real test videos made on the spot (tests and bench/bench_animate.py share them)."""

from __future__ import annotations

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
) -> Path:
    """A real H.264 video: a window panning ``pan`` px per frame across ``source``, with a tone.

    The pan gives optical flow something to follow; the 440 Hz tone lets tests check audio.
    """
    width, height = size
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "12"}
    rate = 48000 if audio_codec == "libopus" else 44100
    audio = None
    if audio_codec:
        audio = container.add_stream(audio_codec, rate=rate)
        audio.layout = "mono"
    for index in range(frames):
        window = source.rgb[8 : 8 + height, index * pan : index * pan + width]
        pixels = (window * 255).round().astype(np.uint8)
        container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")))
    container.mux(video.encode(None))
    if audio is not None:
        seconds = np.arange(int(rate * frames / fps)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)[None]
        samples = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        samples.sample_rate = rate
        container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    container.close()
    return path


def audio_codec(path: Path) -> str | None:
    """The codec of a file's first audio stream, or None without audio."""
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name if container.streams.audio else None


def audio_seconds(path: Path) -> float:
    """Seconds of decoded sound in a file's first audio stream."""
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(audio)) / audio.codec_context.sample_rate
