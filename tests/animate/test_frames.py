"""The resumable frame store: which job its frames belong to, and what it may delete."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from reverie import Dreamer, DreamSettings
from reverie.animate.frames import FRAMES_SCHEMA, FrameStore, file_identity, job_fingerprint
from reverie.errors import VideoError
from reverie.io.images import Picture, save_image
from reverie.tasks import VideoTask

QUICK = DreamSettings(steps=1, octaves=1, max_side=64)


def test_a_fingerprint_changes_with_any_file_or_setting(tmp_path: Path) -> None:
    source = tmp_path / "clip.bin"
    source.write_bytes(b"a" * 100)
    base = job_fingerprint({"source": source, "mask": None}, {"seed": 1})
    assert base == job_fingerprint({"source": source}, {"seed": 1}) and "mask" not in base
    assert base != job_fingerprint({"source": source}, {"seed": 2})
    source.write_bytes(b"b" * 100)  # replaced, same size
    assert base != job_fingerprint({"source": source}, {"seed": 1})
    assert file_identity(source)["bytes"] == 100


def test_job_json_carries_reverie_s_marker(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "out.mp4")
    store.open({"job": 1})
    recorded = json.loads((store.folder / "job.json").read_text())
    assert recorded == {
        "made_by": "reverie",
        "frames_schema": FRAMES_SCHEMA,
        "job": {"job": 1},
        "segment_starts": [0],
        "segment_overlap": 0,
    }


def test_store_counts_finished_frames_without_a_gap(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "out.mp4")
    assert store.folder == tmp_path / "out.mp4.frames"
    store.open({"job": 1})
    assert store.finished() == 0
    frame = np.full((4, 6, 3), 0.5, np.float32)
    for index in (0, 1, 3):
        store.save(index, frame)
    assert store.finished() == 2
    store.open({"job": 1})  # the same job resumes
    assert store.finished() == 2
    assert np.allclose(store.load(1), frame, atol=1 / 255)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_frames_of_another_job_are_not_reused(tmp_path: Path, dreamer: Dreamer, pan_video: Path) -> None:
    output = tmp_path / "job.mp4"
    VideoTask(pan_video, output, keep_frames=True, settings=QUICK).run(dreamer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = VideoTask(pan_video, output, settings=QUICK.with_changes(seed=5)).run(dreamer)
    assert result.resumed == 0 and any("another job" in str(w.message) for w in caught)


def test_a_folder_reverie_did_not_make_is_never_deleted(
    tmp_path: Path, dreamer: Dreamer, pan_video: Path
) -> None:
    output = tmp_path / "mine.mp4"
    folder = FrameStore(output).folder
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(VideoError, match="holds no Reverie frames"):
        VideoTask(pan_video, output, settings=QUICK).run(dreamer)
    assert (folder / "notes.txt").read_text() == "my notes"
    (folder / "notes.txt").unlink()
    folder.rmdir()
    VideoTask(pan_video, output, keep_frames=True, settings=QUICK).run(dreamer)
    (folder / "keep.txt").write_text("added later")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        VideoTask(pan_video, output, settings=QUICK.with_changes(seed=2)).run(dreamer)  # another job
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]  # only Reverie's own files went


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("job_json", "fragment"),
    [
        ('{"settings": {"seed": 1}, "source": "clip.mp4"}', "holds no Reverie frames"),  # the user's
        ("[1, 2, 3]", "holds no Reverie frames"),
        ("not json at all", "holds no Reverie frames"),
        ('{"made_by": "someone else", "frames_schema": 1, "job": {}}', "holds no Reverie frames"),
        ('{"made_by": "reverie", "frames_schema": 99, "job": {}}', "another Reverie's layout"),
        ('{"made_by": "reverie", "job": {}}', "another Reverie's layout"),
    ],
)
def test_a_folder_with_a_job_json_reverie_did_not_write_is_untouched(
    tmp_path: Path, job_json: str, fragment: str
) -> None:
    folder = FrameStore(tmp_path / "clip.mp4").folder
    folder.mkdir()
    (folder / "job.json").write_text(job_json)
    save_image(folder / "frame-000000.png", Picture(np.full((4, 6, 3), 0.25, np.float32)))
    before = snapshot(folder)
    with pytest.raises(VideoError, match=fragment) as info:
        FrameStore(tmp_path / "clip.mp4").open({"settings": {"seed": 2}})
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    assert snapshot(folder) == before  # not one byte changed, not one file added or removed


def test_a_user_folder_survives_a_video_run(tmp_path: Path, dreamer: Dreamer, pan_video: Path) -> None:
    """The case that used to lose work: a folder named like Reverie's with its own job.json and a
    frame-000000.png was taken for frames of another job and cleared."""
    output = tmp_path / "holiday.mp4"
    folder = FrameStore(output).folder
    folder.mkdir()
    (folder / "job.json").write_text('{"job": "my render farm", "frames": 240}')
    save_image(folder / "frame-000000.png", Picture(np.full((8, 8, 3), 0.75, np.float32)))
    before = snapshot(folder)
    with pytest.raises(VideoError, match="holds no Reverie frames"):
        VideoTask(pan_video, output, settings=QUICK).run(dreamer)
    assert snapshot(folder) == before and not output.exists()


def test_clearing_keeps_files_that_only_look_like_frames(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "out.mp4")
    store.open({"job": 1})
    store.save(0, np.zeros((4, 4, 3), np.float32))
    (store.folder / "frame-holiday.png").write_bytes(b"mine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.open({"job": 2})
        assert store.finished() == 0  # another job: Reverie's own files go
    assert sorted(p.name for p in store.folder.iterdir()) == ["frame-holiday.png", "job.json"]
