"""The resumable store of a video job's finished frames, and the fingerprint that says which job
they belong to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from reverie.errors import VideoError, one_line
from reverie.io.images import Picture, load_image, save_image, to_uint8
from reverie.io.video import VideoWriter

PathLike = str | os.PathLike[str]


def file_identity(path: PathLike) -> dict[str, object]:
    """Where a file is, its size and a digest of its first MiB: enough to notice it was replaced."""
    path = Path(path).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        digest.update(stream.read(1 << 20))
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "head_sha256": digest.hexdigest()}


def job_fingerprint(files: dict[str, PathLike | None], settings: dict[str, object]) -> dict[str, object]:
    """Everything that decides the frames: the identity of each named file (source, weights, guide,
    mask) and the settings. A resumed run must match it exactly."""
    return {**{name: file_identity(path) for name, path in files.items() if path}, "settings": settings}


class FrameStore:
    """Finished frames of one video job, as numbered PNGs in ``OUTPUT.frames/`` beside the output.

    ``job.json`` records the job's fingerprint; frames are written atomically, so every frame file
    present is whole and a run killed at any moment loses at most the frame it was dreaming.
    """

    def __init__(self, output: Path) -> None:
        self.folder = output.with_name(output.name + ".frames")

    def open(self, fingerprint: dict[str, object]) -> int:
        """Make the folder hold frames of this job only; returns how many finished frames it has.

        Frames left by a different job (other settings or source) are deleted with a warning; a
        folder of that name that Reverie did not make is left alone and reported.
        """
        job_file = self.folder / "job.json"
        if self.folder.exists():
            if not job_file.is_file():
                raise VideoError(
                    f"{self.folder} exists but holds no Reverie frames: move it or choose another output"
                )
            try:
                same = json.loads(job_file.read_text()) == fingerprint
            except (OSError, ValueError):
                same = False
            if same:
                return self.finished()
            warnings.warn(f"{self.folder} holds frames of another job; starting over", stacklevel=2)
            self.clear()
        try:
            self.folder.mkdir(exist_ok=True)
            job_file.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
        except OSError as error:
            raise VideoError(f"cannot keep frames in {self.folder}: {one_line(error)}") from None
        return 0

    def clear(self) -> None:
        """Delete this store's own files (frames and job.json), nothing else."""
        for path in [*self.folder.glob("frame-*.png"), self.folder / "job.json"]:
            path.unlink(missing_ok=True)

    def path(self, index: int) -> Path:
        return self.folder / f"frame-{index:06d}.png"

    def finished(self) -> int:
        """Frames 0..n-1 present without a gap."""
        count = 0
        while self.path(count).exists():
            count += 1
        return count

    def load(self, index: int) -> np.ndarray:
        return load_image(self.path(index)).rgb

    def save(self, index: int, rgb: np.ndarray) -> None:
        save_image(self.path(index), Picture(rgb))

    def remove(self) -> None:
        """Delete the store: its own files, then the folder if nothing else is in it."""
        self.clear()
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    def assemble(self, output: Path, fps: Fraction, audio_from: PathLike | None = None) -> int:
        """Encode the finished frames into ``output`` with ``audio_from``'s audio; the frame count."""
        finished = self.finished()
        if finished == 0:
            return 0
        with VideoWriter(output, fps, audio_from=audio_from) as writer:
            for index in range(finished):
                writer.write(to_uint8(self.load(index)))
            return writer.count
