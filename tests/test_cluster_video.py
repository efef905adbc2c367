"""Dreamed videos on a real two-node Ray cluster: segments dreamed side by side keep the video's
frames, timing and sound and hide their seam; an interrupted video resumes; a worker killed
mid-segment costs only the frames it had not sent."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from reverie import Dreamer
from reverie.animate.frames import FrameStore
from reverie.animate.metrics import seam_flicker
from reverie.animate.segments import segments_from
from reverie.cli import main
from reverie.cluster import Cancelled, RayEngine
from reverie.cluster_video import dream_video
from reverie.io.images import Picture, load_image
from reverie.io.video import probe_video, read_frames
from reverie.settings import DreamSettings, VideoSettings
from reverie.tasks import VideoTask
from test_cluster import ray_job, worker_pids
from videos import audio_codec, audio_seconds, frame_times, write_test_video

pytestmark = pytest.mark.slow

QUICK = ["--steps", "2", "--octaves", "2", "--max-side", "96"]
SETTINGS = DreamSettings(steps=2, octaves=2, max_side=96)
#: Frames the two segments dream: the 48 of the video and the second segment's warm-up.
STORED = 48 + VideoSettings().overlap


@pytest.fixture(scope="module")
def clip48(tmp_path_factory, cat_strip: Picture) -> Path:
    """48 frames (4 s at 12 fps) of a pan across the cat, with an AAC tone."""
    return write_test_video(
        tmp_path_factory.mktemp("video") / "clip48.mp4", cat_strip, frames=48, pan=2, fps=12
    )


@pytest.fixture(scope="module")
def on_the_cluster(ray_cluster: str, clip48: Path, tmp_path_factory) -> tuple[Path, str]:
    """The clip dreamed by ``reverie video --ray ADDRESS --workers 2`` (frames kept), and what it printed."""
    output = tmp_path_factory.mktemp("dreamed") / "dream.mp4"
    command = ["video", str(clip48), "-o", str(output), *QUICK, "--keep-frames"]
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("click.echo", lambda message="", **_: printed.append(str(message)))
        assert main([*command, "--ray", ray_cluster, "--workers", "2"]) == 0
    return output, "\n".join(printed)


def shown_frames(output: Path, overlap: int) -> list[np.ndarray]:
    store = FrameStore(output)
    segments = segments_from(store.recorded_starts(), overlap)
    return [store.shown(index, segments) / 255 for index in range(store.finished())]


def test_a_video_on_the_cluster_keeps_frames_timing_and_sound_and_hides_its_seam(
    on_the_cluster: tuple[Path, str], clip48: Path
) -> None:
    output, printed = on_the_cluster
    assert "wrote" in printed and "(48 frames," in printed
    assert probe_video(output).frames == 48
    assert frame_times(output) == pytest.approx(frame_times(clip48), abs=1e-3)
    assert audio_codec(output) == "aac" and audio_seconds(output) == pytest.approx(
        audio_seconds(clip48), abs=0.05
    )
    store = FrameStore(output)
    assert store.recorded_starts() == (0, 24)  # one segment per worker
    overlap = VideoSettings().overlap
    segments = segments_from(store.recorded_starts(), overlap)
    sources = list(read_frames(clip48))  # dreamed at their own 96x64
    seams = seam_flicker(shown_frames(output, overlap), sources, segments)
    assert seams.worst_ratio <= 1.25, seams  # the seam changes no more than the frames around it
    cold = seam_flicker(
        [store.load(index) for index in range(48)], sources, segments_from([0, 24], overlap=0)
    )  # the same frames without the warm-up's cross-fade: the second segment starts cold at 24
    assert cold.seams[0] > seams.seams[0]


def test_a_rerun_of_a_finished_video_dreams_nothing(
    on_the_cluster: tuple[Path, str], ray_cluster: str, clip48: Path, capsys
) -> None:
    output, _ = on_the_cluster
    command = ["video", str(clip48), "-o", str(output), *QUICK, "--keep-frames", "-q"]
    before = {path.name: path.stat().st_mtime_ns for path in FrameStore(output).frame_files()}
    assert main([*command, "--ray", ray_cluster, "--workers", "2"]) == 0
    after = {path.name: path.stat().st_mtime_ns for path in FrameStore(output).frame_files()}
    assert after == before and len(after) == STORED
    assert probe_video(output).frames == 48


def test_an_interrupted_video_resumes_and_a_killed_worker_costs_only_its_frames(
    on_the_cluster: tuple[Path, str], ray_cluster: str, clip48: Path, tmp_path: Path
) -> None:
    output = tmp_path / "resumed.mp4"
    task = VideoTask(clip48, output, keep_frames=True, settings=SETTINGS, device="cpu").check()
    stored: list[int] = []
    with ray_job(ray_cluster, tmp_path):
        engine = RayEngine(ray_cluster, workers=2, retries=2)
        try:
            with pytest.raises(Cancelled):  # stopped as Ctrl-C stops it, after ten frames
                dream_video(
                    engine, task, lambda done, total: stored.append(done), stop=lambda: len(stored) >= 10
                )
            first_run = len(FrameStore(output).frame_files())
            assert 10 <= first_run < STORED and not output.exists()
            victims = worker_pids(engine)
            later: list[int] = []

            def kill_one_worker_mid_segment(done: int, total: int) -> None:
                later.append(done)
                if len(later) == 6:
                    os.kill(victims[0], signal.SIGKILL)

            result = dream_video(engine, task, kill_one_worker_mid_segment)
        finally:
            engine.close()
    assert engine.retried >= 1
    assert len(later) == STORED - first_run  # every frame stored once: none twice, none lost
    assert result.frames == 48 and probe_video(output).frames == 48
    assert audio_codec(output) == "aac"
    clean, resumed = FrameStore(on_the_cluster[0]), FrameStore(output)
    names = sorted(path.name for path in resumed.frame_files())
    assert names == sorted(path.name for path in clean.frame_files())
    for name in names:  # the same pixels as a run that was never stopped
        assert np.array_equal(load_image(resumed.folder / name).rgb, load_image(clean.folder / name).rgb), (
            name
        )


def test_one_segment_on_the_cluster_is_the_video_dreamed_here(
    ray_cluster: str, pan_video: Path, tmp_path: Path
) -> None:
    """With one segment (one worker), the cluster's frames are this process's, pixel for pixel, at
    the actors' one thread."""
    there, here = tmp_path / "there.mp4", tmp_path / "here.mp4"
    with ray_job(ray_cluster, tmp_path):
        engine = RayEngine(ray_cluster, workers=1)
        try:
            dream_video(
                engine, VideoTask(pan_video, there, keep_frames=True, settings=SETTINGS, device="cpu")
            )
        finally:
            engine.close()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        VideoTask(pan_video, here, keep_frames=True, settings=SETTINGS, device="cpu").run(
            Dreamer(device="cpu")
        )
    finally:
        torch.set_num_threads(threads)
    assert FrameStore(there).recorded_starts() == (0,)
    for index in range(10):
        assert np.array_equal(FrameStore(there).load(index), FrameStore(here).load(index)), index


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_machine_with_a_gpu_the_actors_dream_on_it(tmp_path: Path, clip48: Path) -> None:
    """A Ray instance of this machine's CPUs and GPU: one GPU actor, and the video's segments on it."""
    engine = RayEngine(None, device="auto")
    try:
        assert engine.plan.actors >= 1 and engine.plan.gpus > 0
        engine.start()
        devices = engine.ray.get(
            [
                actor.__ray_call__.remote(lambda _worker: torch.cuda.is_available())
                for actor in engine.gpu_actors
            ]
        )
        assert devices and all(devices)
        task = VideoTask(clip48, tmp_path / "gpu.mp4", settings=SETTINGS).check()
        result = dream_video(engine, task)
    finally:
        engine.close()
    assert result.frames == 48 and probe_video(tmp_path / "gpu.mp4").frames == 48
