"""A video in segments: the plan, the cross-fade at a seam, and a segmented frames folder dreamed and
resumed in this process (the cluster's own run is in tests/test_cluster_video.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from reverie import Dreamer, DreamSettings
from reverie.animate.frames import FrameStore
from reverie.animate.metrics import seam_flicker
from reverie.animate.segments import (
    MIN_SEGMENT_FRAMES,
    Segment,
    cross_faded,
    follower,
    plan_segments,
    segments_from,
)
from reverie.errors import VideoError
from reverie.io.images import Picture
from reverie.io.video import read_frames
from reverie.settings import VideoSettings
from reverie.tasks import VideoTask
from videos import write_test_video

QUICK = DreamSettings(steps=2, octaves=2, step_size=0.02, max_side=96)


@pytest.mark.parametrize(("frames", "count"), [(48, 2), (100, 7), (10, 4), (3, 5), (240, 16)])
def test_a_plan_covers_every_frame_once_as_its_own(frames: int, count: int) -> None:
    plan = plan_segments(frames, count, overlap=8)
    assert 1 <= len(plan) <= count
    assert plan[0] == Segment(0, plan[1].start if len(plan) > 1 else None, 0)
    assert plan[-1].end is None
    owned = [index for segment in plan for index in segment.frames(frames) if not segment.warming(index)]
    assert owned == list(range(frames))  # each frame belongs to exactly one segment, in order
    if len(plan) > 1:
        assert min(b.start - a.start for a, b in itertools.pairwise(plan)) >= MIN_SEGMENT_FRAMES - 1
    for earlier, later in itertools.pairwise(plan):
        assert later.warm_from == max(earlier.start, later.start - 8)  # never before the one before


def test_the_fade_rises_over_the_overlap_and_the_seam_frame_mixes_both() -> None:
    first, second = segments_from([0, 10], overlap=4)
    assert second == Segment(10, None, 6)
    assert [second.fade(index) for index in range(6, 10)] == [0.2, 0.4, 0.6, 0.8]
    assert follower((first, second), 7) is second and follower((first, second), 10) is None
    own, warm = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 200, np.uint8)
    assert cross_faded(own, warm, 0.25).tolist() == np.full((2, 2, 3), 50).tolist()


@pytest.mark.parametrize("starts", [[], [1, 5], [0, 5, 5], [0, 7, 3]])
def test_recorded_starts_must_rise_from_zero(starts: list[int]) -> None:
    with pytest.raises(ValueError, match="must rise from 0"):
        segments_from(starts, 4)


def test_a_damaged_plan_in_job_json_is_a_one_line_error(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "out.mp4")
    store.open({"job": 1}, starts=(0, 12))
    marked = json.loads(store.job_file.read_text())
    assert marked["segment_starts"] == [0, 12]
    marked["segment_starts"] = [0, "twelve"]
    store.job_file.write_text(json.dumps(marked))
    with pytest.raises(VideoError, match=r"is damaged \(segment_starts\): delete its folder"):
        FrameStore(tmp_path / "out.mp4").open({"job": 1})


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


@pytest.fixture(scope="module")
def pan20(tmp_path_factory, cat_strip: Picture) -> Path:
    """20 frames of a pan across the cat: long enough for two segments."""
    return write_test_video(tmp_path_factory.mktemp("video") / "pan20.mp4", cat_strip, frames=20)


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory, dreamer: Dreamer, pan20: Path) -> list[np.ndarray]:
    """The pan's frames dreamed in one segment, as the store keeps them."""
    output = tmp_path_factory.mktemp("whole") / "whole.mp4"
    VideoTask(pan20, output, keep_frames=True, settings=QUICK).run(dreamer)
    return [FrameStore(output).load(index) for index in range(20)]


def test_a_segmented_folder_is_dreamed_in_one_process_with_a_cross_faded_seam(
    tmp_path: Path, dreamer: Dreamer, pan20: Path, whole_run: list[np.ndarray]
) -> None:
    """A frames folder started in two segments (as a cluster run starts it) is finished here: the
    first segment's frames are the one-segment run's, the second warms up over the overlap, and
    the video fades between them."""
    output = tmp_path / "two.mp4"
    task = VideoTask(pan20, output, VideoSettings(overlap=3), keep_frames=True, settings=QUICK).check()
    job = task.open_frames(dreamer.weights_path, segments=2)
    assert [(s.start, s.warm_from) for s in job.segments] == [(0, 0), (10, 7)]
    result = task.run(dreamer)
    assert (result.frames, result.resumed) == (20, 0)
    store = FrameStore(output)
    assert sorted(p.name for p in store.folder.glob("warm-*")) == [f"warm-00000{i}.png" for i in (7, 8, 9)]
    for index in range(10):
        assert np.array_equal(store.load(index), whole_run[index])  # the first segment is unchanged
    assert not np.array_equal(store.load(10), whole_run[10])  # the second started on its own
    shown = [store.shown(index, job.segments) for index in range(20)]
    decoded = list(read_frames(output))
    assert len(decoded) == 20
    assert np.abs(decoded[8] - shown[8] / 255).mean() < 0.02  # the video holds the faded frame
    faded = (1 - 0.5) * store.load(8) + 0.5 * store.load(8, warm=True)
    assert np.abs(shown[8] / 255 - faded).max() <= 1 / 255
    seams = seam_flicker([frame / 255 for frame in shown], list(read_frames(pan20)), job.segments)
    assert len(seams.seams) == 1 and seams.within > 0


def test_a_segmented_folder_resumes_each_segment_where_it_stopped(
    tmp_path: Path, dreamer: Dreamer, pan20: Path
) -> None:
    clean, stopped = tmp_path / "clean.mp4", tmp_path / "stopped.mp4"
    for output in (clean, stopped):
        VideoTask(
            pan20, output, VideoSettings(overlap=3), keep_frames=True, settings=QUICK
        ).check().open_frames(dreamer.weights_path, segments=2)
    VideoTask(pan20, clean, VideoSettings(overlap=3), keep_frames=True, settings=QUICK).run(dreamer)

    def stop_at_frame_twelve(done: int, total: int) -> None:
        if done == 12:
            raise KeyboardInterrupt

    task = VideoTask(pan20, stopped, VideoSettings(overlap=3), keep_frames=True, settings=QUICK)
    with pytest.raises(KeyboardInterrupt):
        task.run(dreamer, stop_at_frame_twelve)
    store = FrameStore(stopped)
    done = [store.finished_in(segment) for segment in segments_from(store.recorded_starts(), 3)]
    assert done == [10, 5]  # frames 0-9 of the first; warm-ups 7-9 and frames 10-11 of the second
    result = task.run(dreamer)
    assert (result.frames, result.resumed) == (20, 12)
    for index in range(20):
        assert np.array_equal(store.load(index), FrameStore(clean).load(index)), f"frame {index} differs"
    for index in (7, 8, 9):
        assert np.array_equal(store.load(index, warm=True), FrameStore(clean).load(index, warm=True))


def test_segments_of_a_long_video_are_at_most_the_longest_asked_for() -> None:
    plan = plan_segments(1000, 2, overlap=8, longest=240)
    assert len(plan) == 5 and max(b.start - a.start for a, b in itertools.pairwise(plan)) <= 240
    assert plan_segments(1000, 8, overlap=8, longest=240) == plan_segments(
        1000, 8, overlap=8
    )  # enough already
    assert len(plan_segments(100, 1, overlap=8)) == 1  # one process: never split
