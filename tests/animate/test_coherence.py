"""Flow-coherent video with the real model on a generated camera pan: frames, rate, audio, flicker,
exposure, and resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reverie import Dreamer, DreamSettings
from reverie.animate.coherence import backward_flow, warp
from reverie.animate.frames import FrameStore
from reverie.animate.metrics import exposure_drift, temporal_flicker
from reverie.errors import SettingsError
from reverie.io.video import probe_video, read_frames
from reverie.settings import VideoSettings
from reverie.tasks import VideoTask
from videos import audio_codec, audio_seconds

QUICK = DreamSettings(steps=6, octaves=2, step_size=0.02, max_side=128)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_flow_follows_a_pan(pan_video: Path) -> None:
    """The pan moves 4 px per frame: the backward flow points 4 px right, and warping lines up."""
    frames = list(read_frames(pan_video))
    flow = backward_flow(frames[1], frames[0])
    inner = flow[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(4.0, abs=0.5)
    assert np.median(np.abs(inner[..., 1])) < 0.5
    moved = warp(frames[0], flow)
    assert np.abs(moved - frames[1])[16:-16, 16:-16].mean() < 0.5 * np.abs(frames[0] - frames[1]).mean()


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
        result = VideoTask(pan_video, output, coherence, keep_frames=True, settings=QUICK).run(dreamer)
        assert result.frames == 10 and result.resumed == 0
        runs[name] = [FrameStore(output).load(i) for i in range(10)]
    return runs


def test_dreamed_video_keeps_frame_count_rate_and_audio(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path
) -> None:
    output = tmp_path / "dream.mp4"
    seen = []
    result = VideoTask(pan_video, output, settings=QUICK.with_changes(steps=2)).run(
        dreamer, lambda done, total: seen.append((done, total))
    )
    info = probe_video(output)
    assert (info.frames, info.fps, info.width, info.height) == (10, probe_video(pan_video).fps, 96, 64)
    assert audio_codec(output) == "aac"
    assert audio_seconds(output) == pytest.approx(audio_seconds(pan_video), abs=0.05)
    assert result.frames == 10 and not FrameStore(output).folder.exists()
    assert seen == [(i, 10) for i in range(1, 11)]


@pytest.mark.slow
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
        VideoTask(pan_video, output, settings=QUICK).run(dreamer, stop_after_four)
    assert not output.exists() and FrameStore(output).finished() == 4
    result = VideoTask(pan_video, output, keep_frames=True, settings=QUICK).run(dreamer)
    assert (result.resumed, result.frames) == (4, 10)
    for index, expected in enumerate(coherent_runs["flow"]):
        assert np.array_equal(FrameStore(output).load(index), expected), f"frame {index} differs"


def test_frames_smaller_than_the_network_are_dreamed_enlarged(
    tmp_path: Path, dreamer: Dreamer, pan_video
) -> None:
    output = tmp_path / "tiny.mp4"
    result = VideoTask(pan_video, output, settings=QUICK.with_changes(max_side=24, steps=1)).run(dreamer)
    info = probe_video(output)
    assert (result.frames, info.width, info.height) == (10, 24, 16)


def test_later_frames_take_the_follow_steps_and_octaves(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path, monkeypatch
) -> None:
    from reverie.dreamer import PreparedDream

    seen: list[tuple[int, int]] = []
    original = PreparedDream.dream

    def spy(self, picture, progress=None, seed=None, steps=0, octaves=0):
        seen.append((steps or self.settings.steps, octaves or self.settings.octaves))
        return original(self, picture, progress, seed, steps, octaves)

    monkeypatch.setattr(PreparedDream, "dream", spy)
    coherence = VideoSettings(follow_steps=2, follow_octaves=1)
    settings = QUICK.with_changes(octaves=3)
    VideoTask(pan_video, tmp_path / "quick.mp4", coherence, settings=settings).run(dreamer)
    assert seen == [(6, 3)] + [(2, 1)] * 9
    with pytest.raises(SettingsError, match="follow_steps must be 0"):
        VideoSettings(follow_steps=-1).validate()


def test_by_default_later_frames_take_half_the_steps_and_the_two_largest_octaves() -> None:
    assert VideoSettings().later_frames(steps=10, octaves=4) == (5, 2)
    assert VideoSettings().later_frames(steps=3, octaves=1) == (2, 1)
    assert VideoSettings(follow_steps=10, follow_octaves=0).later_frames(10, 4) == (10, 4)
