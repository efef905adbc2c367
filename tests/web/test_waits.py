"""How long the wait is: places in the queue, a running job's time left, a queued job's estimate."""

from __future__ import annotations

import pytest

from reverie.settings import DreamSettings
from reverie.web.jobs import DONE, QUEUED, RUNNING, Job
from reverie.web.waits import Queue, pixel_steps_per_second, queue_now, time_left, work

NOW = 1_000_000.0
#: One octave of 10 steps at 100 x 100: 100,000 pixel-steps.
ONE_OCTAVE = DreamSettings(model="efficientnet_lite0", steps=10, octaves=1)


def job(
    name: str,
    status: str,
    kind: str = "dream",
    started: float | None = None,
    finished: float | None = None,
    progress: float = 0.0,
    frames: int = 1,
) -> Job:
    return Job(
        id=name, status=status, created=0.0, started=started, finished=finished, settings=ONE_OCTAVE,
        name="cat.png", width=100, height=100, progress=progress, stage="", error="", has_preview=False,
        kind=kind, options={"motion": {"frames": frames}} if kind == "zoom" else {},
    )  # fmt: skip


#: Finished 100,000 pixel-steps in 10 s: 10,000 pixel-steps per second, 10 s a job like it.
DONE_IN_10 = job("old", DONE, started=NOW - 100, finished=NOW - 90)


def test_a_jobs_work_counts_every_octaves_pixels_times_its_steps_and_a_zooms_frames() -> None:
    assert work(job("a", QUEUED)) == 100_000
    assert work(job("z", QUEUED, kind="zoom", frames=3)) == 300_000
    assert work(job("v", QUEUED, kind="video")) is None  # its frames are counted when it runs
    two = Job(**{**job("b", QUEUED).__dict__, "settings": ONE_OCTAVE.with_changes(octaves=2, octave_scale=2)})
    assert work(two) == 10 * (100 * 100 + 50 * 50)


def test_a_running_jobs_time_left_follows_its_own_pace() -> None:
    assert time_left(job("r", RUNNING, started=NOW - 30, progress=0.25), NOW) == pytest.approx(90)
    assert time_left(job("r", RUNNING, started=NOW - 60, progress=0.5), NOW) == pytest.approx(60)
    assert time_left(job("r", RUNNING, started=NOW - 5, progress=0.0), NOW) is None  # no step yet
    assert time_left(job("q", QUEUED), NOW) is None


def test_queued_jobs_have_places_oldest_first_and_wait_for_the_running_job() -> None:
    active = [
        job("run", RUNNING, started=NOW - 30, progress=0.75),  # 10 s left
        job("q1", QUEUED),
        job("q2", QUEUED),
        job("q3", QUEUED, kind="zoom", frames=2),
    ]
    queue = queue_now(active, [DONE_IN_10], NOW)
    assert [queue.place(name) for name in ("run", "q1", "q2", "q3")] == [None, 1, 2, 3]
    assert [queue.eta(name) for name in ("run", "q1", "q2", "q3")] == [10, 20, 30, 50]


def test_two_workers_share_the_queue() -> None:
    active = [
        job("a", RUNNING, started=NOW - 10, progress=0.5),  # 10 s left
        job("b", RUNNING, started=NOW - 3, progress=0.75),  # 1 s left
        job("q1", QUEUED),
        job("q2", QUEUED),
        job("q3", QUEUED),
    ]
    queue = queue_now(active, [DONE_IN_10], NOW)
    assert [queue.eta(name) for name in ("q1", "q2", "q3")] == [11, 20, 21]


def test_unknown_waits_are_null_never_guessed() -> None:
    queued = [job("q1", QUEUED), job("q2", QUEUED)]
    assert queue_now(queued, [], NOW).eta("q1") is None  # no finished job tells the speed
    assert queue_now(queued, [DONE_IN_10], NOW).eta("q1") == 10  # nothing runs: it starts now
    behind_a_video = [job("v", QUEUED, kind="video"), *queued]
    queue = queue_now(behind_a_video, [DONE_IN_10], NOW)
    assert (queue.eta("v"), queue.eta("q1"), queue.place("q2")) == (None, None, 3)
    just_started = [job("r", RUNNING, started=NOW - 1), *queued]
    assert queue_now(just_started, [DONE_IN_10], NOW).eta("q1") is None
    assert Queue({}, {}).place("x") is None and Queue({}, {}).eta("x") is None


def test_the_speed_is_the_recent_jobs_together() -> None:
    slower = job("slow", DONE, started=NOW - 50, finished=NOW - 20)  # 100,000 in 30 s
    assert pixel_steps_per_second([DONE_IN_10, slower]) == pytest.approx(200_000 / 40)
    video = job("v", DONE, kind="video", started=NOW - 10, finished=NOW)
    assert pixel_steps_per_second([video]) is None


def test_a_job_of_a_model_this_version_no_longer_has_has_no_known_work() -> None:
    retired = Job(**{**job("r", QUEUED).__dict__, "settings": DreamSettings(model="retired_net")})
    assert work(retired) is None and queue_now([retired], [DONE_IN_10], NOW).eta("r") is None
