"""Video sources as phones and the real world make them: turned by a display matrix, recorded at a
variable frame rate, cut short or damaged; and FFmpeg's own log never on the terminal."""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from reverie import Dreamer, DreamSettings
from reverie.animate.frames import FrameStore
from reverie.errors import VideoError
from reverie.io.images import Picture
from reverie.io.video import FrameReader, VideoWriter, probe_video, read_frames
from reverie.tasks import VideoTask
from videos import audio_seconds, frame_times, write_test_video

QUICK = DreamSettings(steps=1, octaves=1, max_side=64)
QUICK_FLAGS = ["--steps", "1", "--octaves", "1", "--max-side", "64"]


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def window(picture: Picture, index: int = 0, size: tuple[int, int] = (96, 64), pan: int = 4) -> np.ndarray:
    """Frame ``index`` of :func:`write_test_video`'s pan, as it was before encoding."""
    width, height = size
    return picture.rgb[8 : 8 + height, index * pan : index * pan + width]


def cut_tail(source: Path, path: Path, keep: float) -> Path:
    """``source``'s first ``keep`` share of bytes: a download or copy that stopped early."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def damage_packet(source: Path, path: Path, index: int) -> Path:
    """``source`` with 8 bytes inside video packet ``index`` overwritten, the container intact."""
    with av.open(str(source)) as container:
        packets = [(packet.pos, packet.size) for packet in container.demux(video=0) if packet.size]
    position, size = packets[index]
    assert size > 16
    data = bytearray(source.read_bytes())
    data[position + 8 : position + 16] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------------------- FFmpeg's log


def run_command_line(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "reverie.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.slow
def test_broken_videos_give_one_error_line_and_no_ffmpeg_log(
    tmp_path: Path, pan_video: Path, cat_strip: Picture
) -> None:
    """FFmpeg logs 'moov atom not found' and 'Invalid NAL unit size' through Python's logging; none
    of it may reach stderr, where the user must see Reverie's one line and nothing else."""
    half = cut_tail(pan_video, tmp_path / "half.mp4", 0.5)  # moov (the index) is at the end: gone
    header = tmp_path / "header.mp4"
    header.write_bytes(pan_video.read_bytes()[:2048])
    clip = write_test_video(tmp_path / "clip.mkv", cat_strip, frames=6, audio_codec=None)
    damaged = damage_packet(clip, tmp_path / "damaged.mkv", 3)
    with pytest.raises(VideoError, match=r"damaged after its first \d+ frames"):
        list(read_frames(damaged))  # the damage really is in the middle, after good frames
    for bad, fragment in [
        (half, "is not a readable video"),
        (header, "is not a readable video"),
        (damaged, "is damaged after its first"),
    ]:
        output = tmp_path / f"{bad.stem}-out.mp4"
        result = run_command_line(["video", str(bad), "-o", str(output), "-q", *QUICK_FLAGS])
        lines = result.stderr.splitlines()
        assert result.returncode == 1, (bad.name, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("reverie: error:"), (bad.name, result.stderr)
        assert fragment in lines[0] and str(bad) in lines[0]
        assert "Errno" not in lines[0]  # FFmpeg's reason, not its error number
        assert not output.exists()
    assert "moov atom not found" in run_command_line(["video", str(half), "-o", "x.mp4", "-q"]).stderr


# ------------------------------------------------------------------------------------- rotation


@pytest.mark.parametrize(("suffix", "rotation"), [(".mp4", 90), (".mov", 270), (".mkv", 180)])
def test_a_display_matrix_turns_frames_upright(
    tmp_path: Path, cat_strip: Picture, suffix: str, rotation: int
) -> None:
    source = write_test_video(tmp_path / f"phone{suffix}", cat_strip, frames=3, rotation=rotation)
    info = probe_video(source)
    shown = (64, 96) if rotation in (90, 270) else (96, 64)
    assert (info.width, info.height, info.rotation, info.frames) == (*shown, rotation, 3)
    frames = list(read_frames(source))
    expected = np.rot90(window(cat_strip), rotation // 90)  # counter-clockwise, as the matrix says
    assert frames[0].shape == expected.shape
    assert np.abs(frames[0] - expected).mean() < 0.03
    assert np.abs(frames[0] - np.rot90(expected, 2)).mean() > 0.05  # not upside down
    small = next(read_frames(source, (shown[0] // 2, shown[1] // 2)))  # sizes are as displayed
    assert small.shape == (shown[1] // 2, shown[0] // 2, 3)


def test_the_legacy_rotate_tag_is_clockwise(tmp_path: Path, cat_strip: Picture) -> None:
    """Older FFmpeg wrote a 'rotate' tag (clockwise degrees); an MKV remuxed from it keeps the tag
    and has no display matrix. PyAV's MKV muxer still writes such a tag."""
    path = tmp_path / "tagged.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.metadata["rotate"] = "90"
        pixels = (window(cat_strip) * 255).round().astype(np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")))
        container.mux(stream.encode(None))
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (64, 96, 270)
    assert np.abs(next(read_frames(path)) - np.rot90(window(cat_strip), -1)).mean() < 0.03


def test_a_phone_video_is_dreamed_and_written_upright(
    tmp_path: Path, dreamer: Dreamer, cat_strip: Picture
) -> None:
    source = write_test_video(tmp_path / "portrait.mp4", cat_strip, frames=2, rotation=90)
    output = tmp_path / "dream.mp4"
    VideoTask(source, output, settings=QUICK).run(dreamer)
    info = probe_video(output)
    assert (info.width, info.height, info.rotation, info.frames) == (42, 64, 0, 2)  # upright, no matrix
    first = next(read_frames(output, (64, 96)))
    upright = np.rot90(window(cat_strip), 1)
    assert np.abs(first - upright).mean() < np.abs(first - np.rot90(upright, 2)).mean()


# ----------------------------------------------------------------------------- a cut-off tail


@pytest.fixture
def cut_video(tmp_path: Path, cat_strip: Picture) -> Path:
    """12 frames with sound, the index at the front, the last quarter of the bytes gone."""
    whole = write_test_video(tmp_path / "whole.mp4", cat_strip, frames=12, faststart=True)
    return cut_tail(whole, tmp_path / "cut.mp4", 0.8)


def test_a_cut_tail_ends_at_the_last_decodable_frame(cut_video: Path, cat_strip: Picture) -> None:
    assert probe_video(cut_video).frames == 12  # the index still lists every frame
    reader = FrameReader(cut_video)
    frames = list(reader)
    assert 0 < len(frames) < 12 and reader.cut_short and reader.count == len(frames)
    shown = [round(frame.time * 10) for frame in frames]  # frame numbers, from their own times
    assert shown == sorted(set(shown)) and shown[0] == 0 and shown[-1] < 12
    for frame, index in zip(frames, shown, strict=True):
        assert np.abs(frame.rgb - window(cat_strip, index)).mean() < 0.03  # whole frames only
    with pytest.warns(UserWarning, match=rf"cut short: it ends after {len(frames)} decodable frames"):
        assert len(list(read_frames(cut_video))) == len(frames)


def test_a_cut_video_is_dreamed_up_to_its_cut_and_resumes(
    tmp_path: Path, dreamer: Dreamer, cut_video: Path
) -> None:
    decodable = len(list(FrameReader(cut_video)))
    output = tmp_path / "dream.mp4"
    message = rf"{cut_video} is cut short: dreamed its first {decodable} decodable frames of 12"
    task = VideoTask(cut_video, output, settings=QUICK, keep_frames=True)
    with pytest.warns(UserWarning, match=message):
        first = task.run(dreamer)
    assert (first.frames, first.resumed) == (decodable, 0)
    assert probe_video(output).frames == decodable
    assert audio_seconds(output) > 0  # the sound that survived the cut came along
    store = FrameStore(output)
    store.path(decodable - 1).unlink()  # as if the first run had stopped before its last frame
    output.unlink()
    with pytest.warns(UserWarning, match=message):
        again = VideoTask(cut_video, output, settings=QUICK).run(dreamer)
    assert (again.frames, again.resumed) == (decodable, decodable - 1)  # same job: resumed
    assert probe_video(output).frames == decodable and not store.folder.exists()


def test_a_video_cut_before_its_first_frame_is_a_video_error(tmp_path: Path, cat_strip: Picture) -> None:
    whole = write_test_video(tmp_path / "whole.mp4", cat_strip, frames=12, faststart=True)
    stub = cut_tail(whole, tmp_path / "stub.mp4", 0.2)  # index and part of the first frame
    with pytest.raises(VideoError, match="holds no decodable video frames") as info:
        probe_video(stub)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------ still pictures


@pytest.fixture(scope="module")
def cat(cat_strip: Picture):
    from PIL import Image

    return Image.fromarray((cat_strip.rgb * 255).round().astype(np.uint8))


@pytest.mark.parametrize("name", ["cat.jpg", "cat.png", "cat.webp", "cat.bmp", "cat.tif", "cat.gif"])
def test_a_still_picture_is_told_from_a_video_by_what_it_is(tmp_path: Path, cat, name: str) -> None:
    path = tmp_path / name
    cat.save(path)
    disguised = tmp_path / f"{name}.mp4"  # named as a video, a picture all the same
    disguised.write_bytes(path.read_bytes())
    assert probe_video(path).still and probe_video(disguised).still


def test_frames_with_an_icc_profile_are_read_without_crashing(tmp_path: Path, chelsea_path: Path) -> None:
    # PyAV 18 crashed the process (SIGSEGV) freeing a PNG frame's ICC profile once its side data
    # were listed, as reading the frame's turn did; the crash comes at exit, hence a process.
    from PIL import Image

    with Image.open(chelsea_path) as photo:
        assert photo.info.get("icc_profile")  # FFmpeg hands it on as the frame's side data
    code = (
        "import gc, sys; from reverie.io.video import probe_video, read_frames; "
        "info = probe_video(sys.argv[1]); frames = list(read_frames(sys.argv[1], (48, 32))); "
        "gc.collect(); print(info.still, len(frames))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(chelsea_path)], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "True 1\n"), run.stderr[-2000:]


def test_moving_pictures_are_videos_even_short_ones(tmp_path: Path, cat, cat_strip: Picture) -> None:
    moving = tmp_path / "moving.gif"
    cat.save(moving, save_all=True, append_images=[cat.rotate(5), cat.rotate(10)], duration=100)
    one_frame = write_test_video(tmp_path / "one.mp4", cat_strip, frames=1, audio_codec=None)
    for path in (moving, one_frame, write_test_video(tmp_path / "ten.mp4", cat_strip)):
        assert not probe_video(path).still, path


def test_a_video_of_a_still_picture_points_to_zoom(tmp_path: Path, cat) -> None:
    photo = tmp_path / "photo.jpg"
    cat.save(photo)
    output = tmp_path / "out.mp4"
    with pytest.raises(VideoError) as info:
        VideoTask(photo, output, settings=QUICK).check()
    assert str(info.value) == (
        f"{photo} is a still picture, not a video: to make a video from a photo, use reverie zoom"
    )
    assert not output.exists()


# ------------------------------------------------------------------------- variable frame rate

UNEVEN_MS = [0, 100, 150, 400, 450, 500, 800, 1000]


def test_the_writer_keeps_each_frames_time(tmp_path: Path) -> None:
    times = [ms / 1000 for ms in UNEVEN_MS]
    frames = [np.full((32, 32, 3), index / 10, np.float32) for index in range(len(times))]
    for suffix in (".mp4", ".mov", ".mkv", ".webm"):
        output = tmp_path / f"vfr{suffix}"
        with VideoWriter(output, Fraction(10)) as writer:
            for frame, time in zip(frames, times, strict=True):
                writer.write(frame, time)
        assert frame_times(output) == pytest.approx(times, abs=0.001), suffix


def test_a_constant_rate_keeps_its_exact_rate_on_the_fine_clock(tmp_path: Path) -> None:
    output = tmp_path / "ntsc.mp4"
    with VideoWriter(output, Fraction(30000, 1001)) as writer:
        for index in range(5):
            writer.write(np.zeros((16, 16, 3), np.float32), index * 1001 / 30000)
    assert probe_video(output).fps == Fraction(30000, 1001)
    assert frame_times(output) == pytest.approx([index * 1001 / 30000 for index in range(5)], abs=1e-5)


def test_a_variable_rate_video_keeps_its_timing_when_dreamed_and_resumed(
    tmp_path: Path, dreamer: Dreamer, cat_strip: Picture
) -> None:
    source = write_test_video(tmp_path / "vfr.mp4", cat_strip, times_ms=UNEVEN_MS)
    source_times = frame_times(source)
    assert source_times == pytest.approx([ms / 1000 for ms in UNEVEN_MS], abs=0.001)
    assert [round(frame.time, 3) for frame in FrameReader(source)] == [ms / 1000 for ms in UNEVEN_MS]
    output = tmp_path / "dream.mp4"
    VideoTask(source, output, settings=QUICK, keep_frames=True).run(dreamer)
    assert frame_times(output) == pytest.approx(source_times, abs=0.001)
    assert audio_seconds(output) == pytest.approx(audio_seconds(source), abs=0.05)
    store = FrameStore(output)
    for index in (6, 7):
        store.path(index).unlink()  # interrupted near the end
    output.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole source is not "cut short"
        resumed = VideoTask(source, output, settings=QUICK).run(dreamer)
    assert resumed.resumed == 6
    assert frame_times(output) == pytest.approx(source_times, abs=0.001)
