"""The resumable store of a video job's finished frames, and the fingerprint that says which job
they belong to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from reverie.animate.segments import Segment, cross_faded, follower, segments_from
from reverie.errors import File, VideoError, reason
from reverie.io.images import Picture, load_image, save_image, to_uint8
from reverie.io.paths import write_bytes_atomically
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


#: What ``job.json`` says about itself: this folder's frames are Reverie's, in this layout.
MADE_BY = "reverie"
#: The layout of a frames folder (file names, job.json's fields); a folder of another is never touched.
#: 2 added segments (``warm-*.png``, ``segment_starts``, ``segment_overlap``); a folder of 1 is one
#: segment and is read as such.
FRAMES_SCHEMA = 2
#: Layouts this Reverie reads.
READABLE_SCHEMAS = (1, 2)
#: Reverie's frame files (a segment's own frames, and the warm-up frames a later segment dreamed over
#: the end of the one before it), and only them: a user's ``frame-holiday.png`` is not one.
FRAME_NAME = re.compile(r"(frame|warm)-\d{6}\.png")


class FrameStore:
    """Finished frames of one video job, as numbered PNGs in ``OUTPUT.frames/`` beside the output.

    ``job.json`` marks the folder as Reverie's (``made_by``, ``frames_schema``) and records the job's
    fingerprint and where its segments start (:mod:`reverie.animate.segments`); frames are written
    atomically, so every frame file present is whole and a run killed at any moment loses at most
    the frames it was dreaming. A segment's warm-up frames are kept as ``warm-NNNNNN.png``.
    """

    def __init__(self, output: Path) -> None:
        self.folder = output.with_name(output.name + ".frames")
        #: Where the job's segments start, and how many frames each warms up over: what a resumed
        #: run follows, whatever it was asked for.
        self.starts: tuple[int, ...] = (0,)
        self.overlap = 0

    @property
    def job_file(self) -> Path:
        return self.folder / "job.json"

    def open(self, fingerprint: dict[str, object], starts: tuple[int, ...] = (0,), overlap: int = 0) -> None:
        """Make the folder hold frames of this job only (a new folder, or one this job started).

        ``starts`` and ``overlap``: where the job's segments start and how many frames each warms up
        over, recorded for a new job; a resumed job keeps what it recorded (:attr:`starts`,
        :attr:`overlap`), so its frames fit together whatever the rerun asks.

        A folder is Reverie's only when its job.json carries Reverie's marker and this schema: any
        other folder of that name (the user's own, or one from a Reverie of another layout) is
        refused and left exactly as it is. Frames Reverie left for a different job (other settings
        or source) are deleted with a warning, and only Reverie's own files with them.
        """
        if self.folder.exists() or self.folder.is_symlink():
            recorded = self.recorded_job()
            if recorded == fingerprint:
                self.starts, self.overlap = self.recorded_starts(), self.recorded_overlap(overlap)
                return
            warnings.warn(f"{self.folder} holds frames of another job; starting over", stacklevel=2)
            self.clear()
        try:
            self.folder.mkdir(exist_ok=True)
            self.starts, self.overlap = tuple(starts), overlap
            marked = {"made_by": MADE_BY, "frames_schema": FRAMES_SCHEMA, "job": fingerprint}
            marked |= {"segment_starts": list(self.starts), "segment_overlap": overlap}
            write_bytes_atomically(self.job_file, json.dumps(marked, indent=1, sort_keys=True).encode())
        except OSError as error:
            raise VideoError("cannot keep frames in ", File(self.folder), f": {reason(error)}") from None

    def recorded_job(self) -> object:
        """The fingerprint an existing folder's job.json records; VideoError unless Reverie made it."""
        refuse = (File(self.folder), " exists but holds no Reverie frames")
        action = "move it or choose another output"
        if not self.folder.is_dir() or not self.job_file.is_file():
            raise VideoError(*refuse, f": {action}")
        try:
            marked = json.loads(self.job_file.read_text())
        except (OSError, ValueError):
            marked = None
        if not isinstance(marked, dict) or marked.get("made_by") != MADE_BY or "job" not in marked:
            raise VideoError(*refuse, f" (its job.json is not Reverie's): {action}")
        if marked.get("frames_schema") not in READABLE_SCHEMAS:
            raise VideoError(
                File(self.folder),
                " holds frames in another Reverie's layout (schema "
                f"{marked.get('frames_schema')!r}, this one reads {FRAMES_SCHEMA}): delete it or choose "
                "another output",
            )
        return marked["job"]

    def recorded_starts(self) -> tuple[int, ...]:
        """Where the recorded job's segments start (one segment for a folder from before segments)."""
        marked = json.loads(self.job_file.read_text())
        starts = marked.get("segment_starts", [0])
        try:
            if not isinstance(starts, list) or not all(type(start) is int for start in starts):
                raise ValueError("segment starts must be a list of frame numbers")
            segments_from(starts, 0)
        except ValueError:
            raise VideoError(
                File(self.job_file), " is damaged (segment_starts): delete its folder to start over"
            ) from None
        return tuple(starts)

    def recorded_overlap(self, default: int) -> int:
        """The recorded job's overlap (``default`` for a folder of one segment from before segments)."""
        overlap = json.loads(self.job_file.read_text()).get("segment_overlap", default)
        if type(overlap) is not int or overlap < 0:
            raise VideoError(
                File(self.job_file), " is damaged (segment_overlap): delete its folder to start over"
            )
        return overlap

    def frame_files(self) -> list[Path]:
        return [path for path in self.folder.iterdir() if FRAME_NAME.fullmatch(path.name)]

    def clear(self) -> None:
        """Delete this store's own files (frames and job.json), nothing else."""
        for path in [*self.frame_files(), self.job_file]:
            path.unlink(missing_ok=True)

    def path(self, index: int, warm: bool = False) -> Path:
        """Frame ``index``'s file: the dream of its own segment, or (``warm``) the warm-up dream of
        the segment after it."""
        return self.folder / f"{'warm' if warm else 'frame'}-{index:06d}.png"

    def finished(self) -> int:
        """Frames 0..n-1 present without a gap."""
        count = 0
        while self.path(count).exists():
            count += 1
        return count

    def finished_in(self, segment: Segment) -> int:
        """How many of ``segment``'s frames, from its first warm-up frame on, are present without a gap."""
        count = 0
        while (
            segment.covers(index := segment.warm_from + count)
            and self.path(index, segment.warming(index)).exists()
        ):
            count += 1
        return count

    def load(self, index: int, warm: bool = False) -> np.ndarray:
        return load_image(self.path(index, warm)).rgb

    def save(self, index: int, rgb: np.ndarray, warm: bool = False) -> None:
        save_image(self.path(index, warm), Picture(rgb))

    def shown(self, index: int, segments: Sequence[Segment]) -> np.ndarray:
        """Frame ``index`` as the video shows it, uint8: its own segment's dream, cross-faded into
        the next segment's warm-up dream where that one warms up over it."""
        own = to_uint8(self.load(index))
        later = follower(segments, index)
        if later is None:
            return own
        if not self.path(index, warm=True).exists():
            raise VideoError(File(self.folder), f" lacks warm-up frame {index}: rerun to dream it again")
        return cross_faded(own, to_uint8(self.load(index, warm=True)), later.fade(index))

    def remove(self) -> None:
        """Delete the store: its own files, then the folder if nothing else is in it."""
        self.clear()
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    def assemble(
        self,
        output: Path,
        fps: Fraction,
        audio_from: PathLike | None = None,
        times: Sequence[float] | None = None,
        segments: Sequence[Segment] = (),
    ) -> int:
        """Encode the finished frames into ``output`` with ``audio_from``'s audio; the frame count.

        With ``times`` (seconds, one per frame, as the source shows them), the first ``len(times)``
        frames are written at those times, so a variable-rate source keeps its timing; a frame
        missing from the store is a VideoError. Without, every finished frame follows at ``fps``.
        Seams between ``segments`` (the job's, if it has more than one) are cross-faded (:meth:`shown`).
        """
        count = self.finished() if times is None else len(times)
        if count == 0:
            return 0
        if self.finished() < count:
            raise VideoError(File(self.folder), f" lacks frame {self.finished()}: rerun to dream it again")
        with VideoWriter(output, fps, audio_from=audio_from) as writer:
            for index in range(count):
                writer.write(self.shown(index, segments), None if times is None else times[index])
            return writer.count
