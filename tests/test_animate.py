"""Zoom animations and dreamed video with the real model on small real pictures and videos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverie import Dreamer, DreamSettings
from reverie.animate import (
    ColourStats,
    FrameStore,
    VideoSettings,
    ZoomSettings,
    dream_video,
    dream_zoom,
    exposure_drift,
    match_colour_stats,
    temporal_flicker,
    zoom_and_rotate,
    zoom_frames,
)
from reverie.errors import SettingsError
from reverie.imaging import Picture
from reverie.video_io import probe_video, read_frames

QUICK = DreamSettings(steps=6, octaves=2, step_size=0.02, max_side=128)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_matched_statistics_equal_the_target(small_cat: Picture) -> None:
    luma = small_cat.rgb.mean(axis=2, keepdims=True)
    faded = 0.7 * (0.5 * small_cat.rgb + 0.5 * luma) + 0.1  # darker, flatter, less saturated
    target = ColourStats.of(faded)
    got = ColourStats.of(match_colour_stats(small_cat.rgb, target))
    assert np.allclose(got.mean, target.mean, atol=0.005) and np.allclose(got.std, target.std, atol=0.005)
    flat = np.full((10, 10, 3), 0.3, np.float32)
    assert np.isfinite(match_colour_stats(flat, target)).all()


def test_zoom_and_rotate_moves_pixels_about_the_centre() -> None:
    rgb = np.zeros((41, 41, 3), np.float32)
    rgb[20, 30] = 1.0  # 10 px right of the centre
    assert np.allclose(zoom_and_rotate(rgb, 0.0, 0.0), rgb, atol=1e-5)
    zoomed = zoom_and_rotate(rgb, 20.0, 0.0)
    assert np.unravel_index(zoomed[..., 0].argmax(), (41, 41)) == (20, 32)  # 10 px * 1.2
    turned = zoom_and_rotate(rgb, 0.0, 90.0)
    assert np.unravel_index(turned[..., 0].argmax(), (41, 41)) == (10, 20)  # counter-clockwise: up


def test_zoom_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="--frames"):
        ZoomSettings(frames=0).validate()
    with pytest.raises(SettingsError, match="--zoom"):
        ZoomSettings(zoom=500).validate()
    with pytest.raises(SettingsError, match="--fps"):
        ZoomSettings(fps=0).validate()
    with pytest.raises(SettingsError, match="--blend"):
        VideoSettings(blend=1.5).validate()


def test_stabilised_zoom_holds_exposure_and_saturation(dreamer: Dreamer, small_cat: Picture) -> None:
    """The anchors' zooms drift; with the statistics match the drift all but vanishes."""
    motion = ZoomSettings(frames=12, zoom=3.0)
    steady = list(zoom_frames(dreamer, small_cat, QUICK, motion))
    drifting = list(
        zoom_frames(dreamer, small_cat, QUICK, ZoomSettings(frames=12, zoom=3.0, stabilise=False))
    )
    assert len(steady) == 12 and steady[0].shape == (80, 120, 3)
    held, free = exposure_drift(steady), exposure_drift(drifting)
    assert held.max_luma < 0.5 and held.max_saturation < 3.0
    assert free.max_saturation > 3 * held.max_saturation
    assert np.abs(steady[-1] - steady[0]).mean() > 0.05  # it did move and dream


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_dream_zoom_writes_every_frame(
    tmp_path: Path, dreamer: Dreamer, small_cat: Picture, suffix: str
) -> None:
    output = tmp_path / f"zoom{suffix}"
    seen = []
    count = dream_zoom(dreamer, small_cat, output, QUICK.with_changes(steps=2), ZoomSettings(frames=4, fps=8),
                       on_frame=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert count == 4 and seen[-1] == (4, 4)
    if suffix == ".gif":
        with Image.open(output) as image:
            assert image.n_frames == 4 and image.size == (120, 80)
    else:
        info = probe_video(output)
        assert (info.frames, float(info.fps), info.width, info.height) == (4, 8.0, 120, 80)


@pytest.fixture(scope="module")
def coherent_runs(tmp_path_factory, dreamer: Dreamer, pan_video: Path) -> dict[str, list[np.ndarray]]:
    """The pan video dreamed with flow, without flow, and frame by frame (blend 0)."""
    folder = tmp_path_factory.mktemp("dreamed")
    runs = {}
    for name, coherence in [
        ("flow", VideoSettings()),
        ("no_flow", VideoSettings(flow=False)),
        ("independent", VideoSettings(blend=0.0)),
    ]:
        output = folder / f"{name}.mp4"
        result = dream_video(dreamer, pan_video, output, QUICK, coherence, keep_frames=True)
        assert result.frames == 10 and result.resumed == 0
        runs[name] = [FrameStore(output).load(i) for i in range(10)]
    return runs


def test_dreamed_video_keeps_frame_count_rate_and_audio(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path
) -> None:
    from test_video_io import audio_codec, audio_seconds

    output = tmp_path / "dream.mp4"
    result = dream_video(dreamer, pan_video, output, QUICK.with_changes(steps=2))
    info = probe_video(output)
    assert (info.frames, info.fps, info.width, info.height) == (10, probe_video(pan_video).fps, 96, 64)
    assert audio_codec(output) == "aac"
    assert audio_seconds(output) == pytest.approx(audio_seconds(pan_video), abs=0.05)
    assert result.frames == 10 and not FrameStore(output).folder.exists()


def test_flow_makes_the_dream_flicker_much_less(coherent_runs, pan_video: Path) -> None:
    sources = list(read_frames(pan_video))
    flicker = {name: temporal_flicker(frames, sources) for name, frames in coherent_runs.items()}
    assert flicker["flow"] < 0.6 * flicker["independent"]
    assert flicker["flow"] < 0.6 * flicker["no_flow"]
    dreamed = np.mean([np.abs(a - b).mean() for a, b in zip(coherent_runs["flow"], sources, strict=True)])
    assert dreamed > 0.03  # still a dream, not the source passed through


def test_carried_dream_does_not_brighten(coherent_runs, pan_video: Path) -> None:
    sources = exposure_drift(list(read_frames(pan_video)))
    for frames in coherent_runs.values():
        drift = exposure_drift(frames)
        relative = [a - b for a, b in zip(drift.luma, sources.luma, strict=True)]
        assert max(abs(value) for value in relative) < 1.0  # in 0..255 units


def test_an_interrupted_video_resumes_to_the_same_frames(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path, coherent_runs
) -> None:
    output = tmp_path / "resumed.mp4"

    def stop_after_four(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dream_video(dreamer, pan_video, output, QUICK, VideoSettings(), on_frame=stop_after_four)
    assert not output.exists() and FrameStore(output).finished() == 4
    result = dream_video(dreamer, pan_video, output, QUICK, VideoSettings(), keep_frames=True)
    assert (result.resumed, result.frames) == (4, 10)
    for index, expected in enumerate(coherent_runs["flow"]):
        assert np.array_equal(FrameStore(output).load(index), expected), f"frame {index} differs"


def test_frames_of_another_job_are_not_reused(tmp_path: Path, dreamer: Dreamer, pan_video: Path) -> None:
    output = tmp_path / "job.mp4"
    quick = QUICK.with_changes(steps=1, octaves=1)
    dream_video(dreamer, pan_video, output, quick, keep_frames=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dream_video(dreamer, pan_video, output, quick.with_changes(seed=5))
    assert result.resumed == 0 and any("another job" in str(w.message) for w in caught)


def test_a_folder_reverie_did_not_make_is_never_deleted(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path
) -> None:
    from reverie.errors import VideoError

    output = tmp_path / "mine.mp4"
    folder = FrameStore(output).folder
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(VideoError, match="holds no Reverie frames"):
        dream_video(dreamer, pan_video, output, QUICK.with_changes(steps=1, octaves=1))
    assert (folder / "notes.txt").read_text() == "my notes"
    (folder / "notes.txt").unlink()
    folder.rmdir()
    quick = QUICK.with_changes(steps=1, octaves=1)
    dream_video(dreamer, pan_video, output, quick, keep_frames=True)
    (folder / "keep.txt").write_text("added later")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dream_video(dreamer, pan_video, output, quick.with_changes(seed=2))  # another job: starts over
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]  # only Reverie's own files went
