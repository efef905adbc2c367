"""The resumable frame store: which job its frames belong to, and what it may delete."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from reverie import Dreamer, DreamSettings
from reverie.animate.frames import FrameStore, file_identity, job_fingerprint
from reverie.errors import VideoError
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


def test_store_counts_finished_frames_without_a_gap(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "out.mp4")
    assert store.folder == tmp_path / "out.mp4.frames"
    assert store.open({"job": 1}) == 0
    frame = np.full((4, 6, 3), 0.5, np.float32)
    for index in (0, 1, 3):
        store.save(index, frame)
    assert store.finished() == 2
    assert store.open({"job": 1}) == 2  # the same job resumes
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
