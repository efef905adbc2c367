"""Paths the user names: inputs that must exist, outputs that must be writable and never the input,
and atomic writes (a temporary file renamed into place) so no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from reverie.errors import File, OutputPathError, ReverieError

PathLike = str | os.PathLike[str]


def existing_file(path: PathLike, kind: str, error: type[ReverieError]) -> Path:
    """``path`` as a Path if it names a non-empty file, else ``error`` saying so about a ``kind``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise error(f"{kind} not found: ", File(path))
    if path.is_dir():
        raise error(File(path), f" is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind} file")
    if path.stat().st_size == 0:
        raise error(f"{kind} file is empty (0 bytes): ", File(path))
    return path


def check_output_location(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """``path`` as a Path after checking it can be written before a long computation starts.

    The path must not be a folder, its folder must exist and be writable, and it must not be the
    same file as any ``protect`` path (the input), whether spelled differently, through a symlink
    or a hard link. Each problem is an :class:`OutputPathError` that says what to fix.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputPathError(
            "output path ", File(path), " is a folder: give a file name such as ", File(path / "dream.png")
        )
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(
            "output folder does not exist: ", File(folder), " (create it first or choose another path)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            "permission denied writing to folder ", File(folder), ": choose another output path"
        )
    for protected in protect:
        if same_file(path, Path(protected).expanduser()):
            raise OutputPathError(
                "refusing to overwrite the input ", File(protected), " with output ", File(path),
                ": choose a different output path",
            )  # fmt: skip
    return path


@contextlib.contextmanager
def file_in_memory(data: bytes) -> Iterator[Path]:
    """A path that ``data`` is read from, for code that reads files. On Linux an anonymous file in
    memory (``memfd``): it has no name in any folder and goes with the process however it ends, so
    a worker killed mid-photo leaves no copy of anyone's photo on its machine. Elsewhere a temporary
    file, removed when the block ends."""
    if not hasattr(os, "memfd_create"):
        with tempfile.TemporaryDirectory(prefix="reverie-") as folder:
            path = Path(folder) / "data"
            path.write_bytes(data)
            yield path
        return
    descriptor = os.memfd_create("reverie-data")
    try:
        with open(descriptor, "wb", closefd=False) as stream:
            stream.write(data)
        yield Path(f"/proc/self/fd/{descriptor}")
    finally:
        os.close(descriptor)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: by inode when both exist, else by resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``path``; renamed over ``path`` when the block succeeds.

    On any failure, Ctrl-C included, the temporary file is removed and ``path`` is left as it was,
    so no reader ever sees half an image or half a video.
    """
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, new_file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def new_file_mode(path: Path) -> int:
    """Permissions for the output: those of the file it replaces, else 0o666 minus the umask.

    mkstemp creates files readable by the owner only, which would surprise a user sharing results.
    """
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set-and-restore."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """``data`` written to ``path`` through :func:`atomic_output` (no reader sees half of it)."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)


def unused_path(path: PathLike) -> Path:
    """``path``, or the first of ``NAME-1.EXT``, ``NAME-2.EXT``, ... that does not exist yet: where an
    output goes when the user named none, so a default name never overwrites an earlier result."""
    path = Path(path)
    candidate, number = path, 0
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate
