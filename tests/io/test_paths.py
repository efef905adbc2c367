"""Input and output paths: clear errors before any work starts, the input never overwritten, atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from reverie.errors import ImageError, OutputPathError, VideoError
from reverie.io import paths
from reverie.io.images import load_image
from reverie.io.paths import (
    atomic_output,
    check_output_location,
    current_umask,
    existing_file,
    file_in_memory,
    new_file_mode,
    same_file,
)


def assert_message(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.fixture
def umask_027():
    """A known umask, so that "not private" differs from mkstemp's 0o600 whatever the caller's umask."""
    saved = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(saved)


# ------------------------------------------------------------------------------------ existing_file


def test_existing_file_returns_the_path(tmp_path, monkeypatch):
    path = tmp_path / "in.png"
    path.write_bytes(b"x")
    assert existing_file(path, "image", ImageError) == path
    monkeypatch.setenv("HOME", str(tmp_path))
    assert existing_file("~/in.png", "image", ImageError) == path


def test_existing_file_errors_name_the_kind_and_the_path(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(VideoError) as info:
        existing_file(missing, "video", VideoError)
    assert_message(info.value, "video not found", str(missing))
    with pytest.raises(ImageError) as info:
        existing_file(tmp_path, "image", ImageError)
    assert_message(info.value, f"{tmp_path} is a folder, not an image file")
    with pytest.raises(VideoError) as info:
        existing_file(tmp_path, "video", VideoError)
    assert_message(info.value, "not a video file")
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(ImageError) as info:
        existing_file(empty, "image", ImageError)
    assert_message(info.value, "empty (0 bytes)", str(empty))


# ---------------------------------------------------------------------------- check_output_location


def test_a_writable_location_is_returned_expanded(tmp_path, monkeypatch):
    assert check_output_location(tmp_path / "ok.webp") == tmp_path / "ok.webp"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_output_location("~/ok.mp4") == tmp_path / "ok.mp4"
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"old")
    assert check_output_location(existing) == existing  # replacing an earlier result is fine
    assert existing.read_bytes() == b"old"  # checking writes nothing
    assert sorted(os.listdir(tmp_path)) == ["existing.png"]


def test_a_folder_is_not_an_output(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OutputPathError) as info:
        check_output_location(folder)
    assert_message(info.value, "is a folder", str(folder), str(folder / "dream.png"))


def test_a_missing_folder_is_reported(tmp_path):
    missing = tmp_path / "missing" / "out.png"
    with pytest.raises(OutputPathError) as info:
        check_output_location(missing)
    assert_message(info.value, "does not exist", str(missing.parent))


def test_a_read_only_folder_is_reported(tmp_path, monkeypatch):
    # Runs as root too, where chmod cannot make a folder read-only: the access check itself says no.
    asked = []

    def refuse(path, mode):
        asked.append((Path(path), mode))
        return False

    monkeypatch.setattr(paths.os, "access", refuse)
    with pytest.raises(OutputPathError) as info:
        check_output_location(tmp_path / "out.png")
    assert_message(info.value, "permission denied", str(tmp_path))
    assert asked == [(tmp_path, os.W_OK | os.X_OK)]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_reported_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputPathError) as info:
            check_output_location(locked / "out.png")
        assert_message(info.value, "permission", str(locked))
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.name != "posix", reason="symlinks and hard links")
def test_the_input_is_refused_however_it_is_spelled(tmp_path, monkeypatch):
    source = tmp_path / "input.png"
    source.write_bytes(b"the photo")
    link = tmp_path / "link.png"
    link.symlink_to(source)
    hard = tmp_path / "hard.png"
    os.link(source, hard)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    spellings = [
        source,
        "input.png",
        "./input.png",
        "sub/../input.png",
        str(tmp_path) + "//input.png",
        "~/input.png",
        link,
        hard,
    ]
    for target in spellings:
        with pytest.raises(OutputPathError) as info:
            check_output_location(target, protect=["input.png"])
        assert_message(info.value, "refusing to overwrite the input", "input.png")
    with pytest.raises(OutputPathError):
        check_output_location("input.png", protect=[link])  # the input itself given through a symlink
    with pytest.raises(OutputPathError):
        check_output_location(source, protect=["~/input.png"])  # protected paths are expanded too
    with pytest.raises(OutputPathError):
        check_output_location(source, protect=["other.png", hard])  # any of several inputs
    assert check_output_location("out.png", protect=["input.png", link]) == Path("out.png")
    assert source.read_bytes() == b"the photo"


def test_same_file():
    here = Path(__file__)
    assert same_file(here, here.parent / ".." / here.parent.name / here.name)
    assert not same_file(here, here.parent / "test_images.py")
    missing = here.parent / "not-yet.png"  # an output that does not exist: compared by resolved path
    assert same_file(missing, here.parent / "." / "not-yet.png")
    assert not same_file(missing, here.parent / "not-yet.jpg")


# ------------------------------------------------------------------------------------ atomic_output


def test_atomic_output_appears_only_when_complete(tmp_path, umask_027):
    target = tmp_path / "out.png"
    with atomic_output(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".out.png.")
        assert temporary.suffix == ".png"  # encoders that look at the name see the right format
        temporary.write_bytes(b"complete")
        assert not target.exists()
    assert target.read_bytes() == b"complete"
    assert not temporary.exists()
    assert os.listdir(tmp_path) == ["out.png"]
    assert target.stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0o600


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_atomic_output_leaves_nothing_on_failure(tmp_path, failure):
    existing = tmp_path / "out.png"
    existing.write_bytes(b"earlier result")
    for target in (existing, tmp_path / "new.png"):
        with pytest.raises(type(failure)), atomic_output(target) as temporary:
            temporary.write_bytes(b"half")
            raise failure
        assert not temporary.exists()
    assert os.listdir(tmp_path) == ["out.png"]
    assert existing.read_bytes() == b"earlier result"


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask_027):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    target.chmod(0o604)
    assert new_file_mode(target) == 0o604
    with atomic_output(target) as temporary:
        temporary.write_bytes(b"new")
    assert target.stat().st_mode & 0o777 == 0o604


def test_a_new_file_follows_the_umask(tmp_path, umask_027):
    assert new_file_mode(tmp_path / "new.png") == 0o640


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_current_umask_reads_without_changing_it(monkeypatch, umask_027):
    assert current_umask() == 0o027
    assert os.umask(0o027) == 0o027  # unchanged by the read

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(paths, "open", no_proc, raising=False)  # the set-and-restore fallback
    assert current_umask() == 0o027
    assert os.umask(0o027) == 0o027


def test_a_file_in_memory_is_read_like_a_file_and_named_in_no_folder(
    tmp_path: Path, chelsea_path: Path
) -> None:
    before = set(Path(tempfile.gettempdir()).iterdir())
    with file_in_memory(chelsea_path.read_bytes()) as path:
        assert load_image(path).size == (451, 300)
        assert set(Path(tempfile.gettempdir()).iterdir()) == before  # nothing to clean up if killed
    assert not path.exists()
