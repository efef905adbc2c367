"""Video files in and out: frame count, rate and audio survive; every failure is one clear VideoError."""

from __future__ import annotations

import re
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reverie.errors import OutputPathError, VideoError
from reverie.io.images import Picture
from reverie.io.video import (
    VideoInfo,
    VideoWriter,
    check_animation_path,
    check_video_output,
    even_size,
    probe_video,
    read_frames,
    write_animation,
)
from videos import audio_codec, audio_seconds, write_test_video


def grey_frames(count: int, size: tuple[int, int] = (30, 20)) -> list[np.ndarray]:
    """``count`` flat frames of (width, height) stepping from black to white."""
    width, height = size
    return [np.full((height, width, 3), value, np.float32) for value in np.linspace(0, 1, count)]


def write_video(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(10), **options) -> Path:
    with VideoWriter(path, fps, **options) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def assert_one_line(error: BaseException) -> None:
    assert "\n" not in str(error) and str(error)


# ---------------------------------------------------------------------------------------- reading


def test_probe_reads_size_frames_rate_and_audio(pan_video: Path) -> None:
    info = probe_video(pan_video)
    assert info == VideoInfo(width=96, height=64, frames=10, fps=Fraction(10), has_audio=True)


def test_read_frames_decodes_every_frame_resized(pan_video: Path, cat_strip: Picture) -> None:
    frames = list(read_frames(pan_video))
    assert len(frames) == 10 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.float32
    assert np.abs(frames[0] - cat_strip.rgb[8:72, 0:96]).mean() < 0.03  # the real picture, not noise
    assert np.abs(frames[9] - cat_strip.rgb[8:72, 36:132]).mean() < 0.03  # panned 4 px a frame
    small = list(read_frames(pan_video, (48, 32)))
    assert len(small) == 10 and small[3].shape == (32, 48, 3)
    shrunk = np.asarray(Image.fromarray((frames[3] * 255).round().astype(np.uint8)).resize((48, 32)))
    assert np.abs(small[3] - shrunk / 255).mean() < 0.02


def test_bad_inputs_get_one_line_video_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    sound = tmp_path / "tone.wav"
    with wave.open(str(sound), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(8000)
        stream.writeframes(np.zeros(800, np.int16).tobytes())
    cases = {
        tmp_path / "missing.mp4": "video not found",
        tmp_path: "is a folder, not a video file",
        empty: "empty",
        text: "not a readable video",
        sound: "holds no video stream",
    }
    for path, fragment in cases.items():
        for read in (probe_video, lambda path: list(read_frames(path))):
            with pytest.raises(VideoError, match=fragment) as info:
                read(path)
            assert_one_line(info.value)
            assert str(path) in str(info.value)


def test_a_truncated_video_is_a_video_error(tmp_path: Path, pan_video: Path) -> None:
    half = tmp_path / "half.mp4"
    data = pan_video.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError) as info:
        probe_video(half)
    assert_one_line(info.value)


# ---------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "aac"), (".mkv", "aac"), (".webm", "opus")])
def test_writer_keeps_frames_rate_and_audio(tmp_path: Path, pan_video: Path, suffix: str, codec: str) -> None:
    frames = list(read_frames(pan_video))
    output = write_video(tmp_path / f"copy{suffix}", frames, audio_from=pan_video)
    assert probe_video(output) == VideoInfo(width=96, height=64, frames=10, fps=Fraction(10), has_audio=True)
    assert audio_codec(output) == codec  # copied into MP4/MKV, re-encoded for WebM
    assert audio_seconds(output) == pytest.approx(audio_seconds(pan_video), abs=0.05)
    decoded = list(read_frames(output))
    assert len(decoded) == 10
    assert np.abs(decoded[5] - frames[5]).mean() < 0.02
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


def test_writer_counts_and_keeps_a_fractional_rate(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "ntsc.mov", Fraction(30000, 1001)) as writer:
        for frame in grey_frames(6):
            writer.write(frame)
        assert writer.count == 6
    info = probe_video(tmp_path / "ntsc.mov")
    assert (info.frames, info.fps, info.has_audio) == (6, Fraction(30000, 1001), False)
    decoded = list(read_frames(tmp_path / "ntsc.mov"))
    assert [round(float(frame.mean()), 1) for frame in decoded] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_uint8_frames_are_written_as_they_are(tmp_path: Path) -> None:
    frame = np.full((32, 32, 3), (200, 100, 50), np.uint8)
    output = write_video(tmp_path / "bytes.mkv", [frame, frame])
    assert np.abs(next(read_frames(output)) * 255 - (200, 100, 50)).max() < 4


def test_write_animation_writes_video(tmp_path: Path) -> None:
    assert write_animation(tmp_path / "anim.webm", grey_frames(4), Fraction(8)) == 4
    info = probe_video(tmp_path / "anim.webm")
    assert (info.frames, info.fps, info.width, info.height) == (4, Fraction(8), 30, 20)


def test_opus_audio_is_reencoded_for_mov(tmp_path: Path, cat_strip: Picture) -> None:
    source = write_test_video(tmp_path / "opus.mkv", cat_strip, frames=4, audio_codec="libopus")
    assert audio_codec(source) == "opus"
    output = write_video(tmp_path / "out.mov", list(read_frames(source)), audio_from=source)
    assert audio_codec(output) == "aac" and probe_video(output).frames == 4
    assert audio_seconds(output) == pytest.approx(audio_seconds(source), abs=0.05)


def test_a_source_without_audio_adds_none(tmp_path: Path, cat_strip: Picture) -> None:
    source = write_test_video(tmp_path / "silent.mp4", cat_strip, frames=3, audio_codec=None)
    output = write_video(tmp_path / "out.mp4", list(read_frames(source)), audio_from=source)
    assert audio_codec(output) is None and probe_video(output).frames == 3


def test_writer_trims_odd_sizes(tmp_path: Path) -> None:
    assert even_size((97, 65)) == (96, 64)
    assert even_size((96, 64)) == (96, 64)
    assert even_size((3, 2)) == (2, 2)
    output = write_video(tmp_path / "odd.mp4", [np.full((65, 97, 3), 0.5, np.float32)] * 2, Fraction(25))
    info = probe_video(output)
    assert (info.width, info.height, info.frames) == (96, 64, 2)
    assert abs(float(next(read_frames(output)).mean()) - 0.5) < 0.02


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), RuntimeError("dream failed")])
def test_writer_leaves_nothing_on_failure(tmp_path: Path, failure: BaseException) -> None:
    failed = tmp_path / "failed.mp4"
    failed.write_bytes(b"an earlier result")
    with pytest.raises(type(failure)), VideoWriter(failed, Fraction(25)) as writer:
        writer.write(np.zeros((64, 64, 3), np.float32))
        raise failure
    assert [p.name for p in tmp_path.iterdir()] == ["failed.mp4"]
    assert failed.read_bytes() == b"an earlier result"


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_images_have_every_frame(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"anim{suffix}"
    assert write_animation(path, grey_frames(3), Fraction(5)) == 3
    with Image.open(path) as image:
        assert image.n_frames == 3 and image.size == (30, 20)
        assert image.info.get("loop") == 0  # loops forever
        for index, value in enumerate((0, 128, 255)):
            image.seek(index)
            assert abs(float(np.asarray(image.convert("RGB")).mean()) - value) < 3
        assert image.info.get("duration") == 200
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_animated_image_frames_last_at_least_20_ms(tmp_path: Path) -> None:
    write_animation(tmp_path / "fast.webp", grey_frames(2), Fraction(30000, 1001))
    with Image.open(tmp_path / "fast.webp") as image:
        image.load()  # WebP reports a frame's duration once it is read
        assert image.info.get("duration") == 33  # WebP keeps milliseconds; GIF only hundredths
    write_animation(tmp_path / "faster.gif", grey_frames(2), Fraction(100))
    with Image.open(tmp_path / "faster.gif") as image:
        assert image.info.get("duration") == 20  # browsers slow down anything shorter


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".mp4"])
def test_no_frames_is_a_video_error(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(VideoError, match="no frames to write") as info:
        write_animation(tmp_path / f"empty{suffix}", [], Fraction(10))
    assert_one_line(info.value)
    assert list(tmp_path.iterdir()) == []


def test_frames_of_different_sizes_are_a_video_error(tmp_path: Path) -> None:
    output = tmp_path / "mixed.mp4"
    with pytest.raises(VideoError, match="same size") as info, VideoWriter(output, Fraction(10)) as writer:
        writer.write(np.zeros((64, 64, 3), np.float32))
        writer.write(np.zeros((32, 64, 3), np.float32))
    assert_one_line(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_larger_later_frame_is_a_video_error(tmp_path: Path) -> None:
    output = tmp_path / "mixed.mp4"
    with pytest.raises(VideoError, match="same size"), VideoWriter(output, Fraction(10)) as writer:
        writer.write(np.zeros((20, 30, 3), np.float32))
        writer.write(np.zeros((40, 60, 3), np.float32))


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_image_frames_of_different_sizes_are_a_video_error(tmp_path: Path, suffix: str) -> None:
    frames = [*grey_frames(1), *grey_frames(1, (10, 10))]
    with pytest.raises(VideoError, match="same size"):
        write_animation(tmp_path / f"mixed{suffix}", frames, Fraction(5))


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 8, 3), (9, 1, 3)])
def test_frames_under_2x2_are_a_video_error(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    with pytest.raises(VideoError, match="at least 2x2") as info:
        write_animation(tmp_path / "tiny.mp4", [np.zeros(shape, np.float32)], Fraction(10))
    assert_one_line(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_audio_source_is_a_video_error(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="video not found"):
        write_video(output, grey_frames(2, (32, 32)), audio_from=tmp_path / "missing.mp4")
    assert list(tmp_path.iterdir()) == []


def test_output_paths_are_checked(tmp_path: Path, pan_video: Path) -> None:
    for name in ("out.png", "out", "out.avi"):
        with pytest.raises(VideoError, match="not an animation format") as info:
            check_animation_path(tmp_path / name)
        assert_one_line(info.value)
    for name in ("out.gif", "out.WEBP", "out.mp4", "out.mov", "out.mkv", "out.webm"):
        assert check_animation_path(tmp_path / name) == tmp_path / name
    with pytest.raises(VideoError, match=re.escape("use one of the extensions .mp4 .mov .mkv .webm")):
        check_video_output(tmp_path / "out.gif")
    assert check_video_output(tmp_path / "OUT.MP4") == tmp_path / "OUT.MP4"
    with pytest.raises(VideoError, match="use one of"):
        VideoWriter(tmp_path / "out.gif", Fraction(10))
    with pytest.raises(OutputPathError, match="refusing to overwrite the input"):
        check_animation_path(pan_video, protect=[pan_video])
    with pytest.raises(OutputPathError, match="refusing to overwrite the input"):
        check_video_output(pan_video, protect=[pan_video])
    with pytest.raises(OutputPathError, match="does not exist"):
        check_video_output(tmp_path / "missing" / "out.mp4")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ audio


def test_audio_keeps_its_place_and_is_interleaved(tmp_path: Path, cat_strip: Picture) -> None:
    """A transport stream starts its clock late (0.2 s here); the output must start both at 0."""
    source = write_test_video(tmp_path / "late.ts", cat_strip, frames=10)
    with av.open(str(source)) as container:
        assert container.streams.video[0].start_time * container.streams.video[0].time_base >= 0.1
    frames = list(read_frames(source))
    for suffix in (".mkv", ".webm"):  # copied, re-encoded
        output = write_video(tmp_path / f"out{suffix}", frames, audio_from=source)
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
        assert audio_seconds(output) == pytest.approx(audio_seconds(source), abs=0.1)
