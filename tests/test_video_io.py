"""Video files in and out: frame count, rate and audio survive; bad files get clear errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reverie.errors import ImageError, VideoError
from reverie.video_io import (
    VideoWriter,
    check_animation_path,
    even_size,
    probe_video,
    read_frames,
    write_animation,
)
from videos import write_test_video


def audio_codec(path: Path) -> str | None:
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name if container.streams.audio else None


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(audio)) / audio.codec_context.sample_rate


def test_probe_reads_size_frames_rate_and_audio(pan_video: Path) -> None:
    info = probe_video(pan_video)
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == (
        96,
        64,
        10,
        Fraction(10),
        True,
    )


def test_read_frames_decodes_every_frame_resized(pan_video: Path, cat_strip) -> None:
    frames = list(read_frames(pan_video))
    assert len(frames) == 10 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.float32
    assert np.abs(frames[0] - cat_strip.rgb[8:72, 0:96]).mean() < 0.03  # the real picture, not noise
    small = list(read_frames(pan_video, (48, 32)))
    assert small[3].shape == (32, 48, 3)


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "aac"), (".mkv", "aac"), (".webm", "opus")])
def test_writer_keeps_frames_rate_and_audio(tmp_path: Path, pan_video: Path, suffix: str, codec: str) -> None:
    frames = list(read_frames(pan_video))
    output = tmp_path / f"copy{suffix}"
    with VideoWriter(output, Fraction(10), audio_from=pan_video) as writer:
        for frame in frames:
            writer.write(frame)
    info = probe_video(output)
    assert (info.frames, info.fps, info.width, info.height) == (10, Fraction(10), 96, 64)
    assert audio_codec(output) == codec  # copied into MP4/MKV, re-encoded for WebM
    assert audio_seconds(output) == pytest.approx(audio_seconds(pan_video), abs=0.05)
    decoded = list(read_frames(output))
    assert np.abs(decoded[5] - frames[5]).mean() < 0.02


def test_opus_audio_is_reencoded_for_mp4_when_needed(tmp_path: Path, cat_strip) -> None:
    source = write_test_video(tmp_path / "opus.mkv", cat_strip, frames=4, audio_codec="libopus")
    output = tmp_path / "out.mov"
    with VideoWriter(output, Fraction(10), audio_from=source) as writer:
        for frame in read_frames(source):
            writer.write(frame)
    assert audio_codec(output) == "aac" and probe_video(output).frames == 4


def test_writer_trims_odd_sizes_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    assert even_size((97, 65)) == (96, 64)
    output = tmp_path / "odd.mp4"
    with VideoWriter(output, Fraction(25)) as writer:
        writer.write(np.full((65, 97, 3), 0.5, np.float32))
    info = probe_video(output)
    assert (info.width, info.height) == (96, 64)
    failed = tmp_path / "failed.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(failed, Fraction(25)) as writer:
        writer.write(np.zeros((64, 64, 3), np.float32))
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_images_have_every_frame(tmp_path: Path, suffix: str) -> None:
    frames = [np.full((20, 30, 3), value, np.float32) for value in (0.0, 0.5, 1.0)]
    path = tmp_path / f"anim{suffix}"
    assert write_animation(path, frames, fps=5) == 3
    with Image.open(path) as image:
        assert image.n_frames == 3 and image.size == (30, 20)
        image.seek(2)
        image.load()
        assert image.info.get("duration") == 200


def test_bad_paths_and_files_get_clear_errors(tmp_path: Path, pan_video: Path) -> None:
    with pytest.raises(ImageError, match="not an animation format"):
        check_animation_path(tmp_path / "out.png")
    with pytest.raises(ImageError, match="refusing to overwrite the input"):
        check_animation_path(pan_video, protect=[pan_video])
    with pytest.raises(VideoError, match="video not found"):
        probe_video(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(text)
    with pytest.raises(VideoError, match="is a folder"):
        list(read_frames(tmp_path))


def test_audio_keeps_its_place_and_is_interleaved(tmp_path: Path, cat_strip) -> None:
    """A transport stream starts its clock late (0.2 s here); the output must start both at 0."""
    source = write_test_video(tmp_path / "late.ts", cat_strip, frames=10)
    with av.open(str(source)) as container:
        assert container.streams.video[0].start_time * container.streams.video[0].time_base >= 0.1
    for suffix in (".mkv", ".webm"):  # copied, re-encoded
        output = tmp_path / f"out{suffix}"
        with VideoWriter(output, Fraction(10), audio_from=source) as writer:
            for frame in read_frames(source):
                writer.write(frame)
        with av.open(str(output)) as container:
            order, audio_start = [], None
            for packet in container.demux():
                if packet.dts is None:
                    continue
                order.append(packet.stream.type)
                if packet.stream.type == "audio" and audio_start is None:
                    audio_start = float(packet.pts * packet.time_base)
        assert audio_start is not None and abs(audio_start) < 0.05, (suffix, audio_start)
        assert "audio" in order[:6], (suffix, order)  # not all after the video
