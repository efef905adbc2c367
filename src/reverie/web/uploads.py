"""Uploads: read within the size limit, checked within a server-wide memory budget, stored as sent.

A photo is decoded once here to prove it is one (a corrupt or foreign file is refused before it is
queued), reduced to the job's working size as it decodes (:func:`reverie.io.images.load_image`
with ``max_side``: about 13 bytes per pixel at the peak, never the whole picture in floats), and the
reduced picture is kept for the page. The worker later reads the upload as sent, as the command line
reads a file, so a web job dreams the same pixels as ``reverie dream``.

Memory is what a crowd exhausts: a 125 KB PNG may declare 40 megapixels, half a gigabyte to read.
So every read of a picture (an upload here, the job a worker starts) is admitted by its predicted
memory, from its header's size, against one :class:`DecodeBudget` (``reverie serve
--decode-budget-mb``); the rest wait their turn in line, on disk, and one that waits longer than
``--decode-wait`` is refused as busy (503). After each read the freed memory is handed back to the
system (:func:`release_freed_memory`): glibc otherwise keeps it in the arena of whichever thread
read the picture, and a crowd on many threads ends up holding gigabytes it no longer uses.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import HTTPException, UploadFile

from reverie.errors import PixelLimitError, VideoError
from reverie.io.images import Picture, check_pixel_count, load_image, opened_image
from reverie.io.video import probe_video, read_frames
from reverie.settings import ServerLimits
from reverie.tasks import video_frame_size
from reverie.web.jobs import ServerBusyError, display_name

CHUNK = 1024 * 1024
#: Pillow format -> the extension an upload of that format is stored with.
EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
#: Extensions a video upload keeps (any other is stored as ``.video``).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
#: Peak memory of reading a picture reduced to a working size, bytes per pixel of its full size:
#: Pillow's decoded picture, one float plane at a time and its reduction. Measured on 40 MP PNGs:
#: 12.2 (RGB), 13.3 (grey), 12.3 (JPEG), and 19.1 with an alpha channel, whose plane is kept
#: whole while the colour is reduced.
BYTES_PER_PIXEL = 13
TRANSPARENT_BYTES_PER_PIXEL = 20
#: A video's first frame: the decoder's frames (YUV 4:2:0, 1.5 bytes a pixel) and the ones it
#: keeps for reference, reduced in one step by FFmpeg's scaler. An estimate with room to spare.
VIDEO_BYTES_PER_PIXEL = 8
#: Uploads that may wait for room at once; more are refused at once as busy. Each one waiting holds
#: a thread of the server, which has :data:`reverie.web.app.THREADS`.
MAX_WAITING = 64


@dataclass(frozen=True)
class Limits:
    """What one upload may be: bytes on the wire, pixels of a picture (or a video frame), frames."""

    max_bytes: int
    max_pixels: int
    max_frames: int


@dataclass
class Received:
    """An upload written to a temporary file in the folder it will be stored in."""

    path: Path
    name: str  # the user's file name, made safe to show
    role: str  # "photo", "guide", "mask" or "video": how messages name it

    def store(self, target: Path) -> Path:
        os.replace(self.path, target)
        self.path = target
        return target

    def discard(self) -> None:
        with suppress(OSError):
            self.path.unlink()

    def called(self) -> str:
        """How messages name the upload: by its file name, and its role when it is not the main one."""
        return repr(self.name) if self.role in ("photo", "video") else f"the {self.role} {self.name!r}"


def receive(upload: UploadFile, folder: Path, role: str, limits: Limits) -> Received:
    """Copy an upload to a temporary file in ``folder``, refusing it past ``limits.max_bytes``."""
    descriptor, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    received = Received(Path(name), display_name(upload.filename), role)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            size = 0
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise HTTPException(413, f"the {role} is larger than {limits.max_bytes // CHUNK} MB")
                stream.write(chunk)
        if size == 0:
            raise HTTPException(400, f"the {role} file is empty")
    except BaseException:
        received.discard()
        raise
    return received


def check_picture(
    received: Received, limits: Limits, max_side: int, budget: DecodeBudget
) -> tuple[Picture, str]:
    """The upload decoded (reduced to ``max_side``) once the budget has room for it, and the
    extension to store it with.

    A problem is a :class:`ReverieError` naming the upload's file (the app words it for the page).
    """
    try:
        cost, extension = picture_cost(received.path, limits.max_pixels)
        with budget.admitted(cost):
            picture = load_image(received.path, limits.max_pixels, max_side)
    except PixelLimitError as error:
        raise PixelLimitError(
            f"the {received.role} has more than {limits.max_pixels:,} pixels, this server's limit",
            value=error.value,
            limits=error.limits,
        ) from None
    return picture, extension


def picture_cost(path: Path, max_pixels: int) -> tuple[int, str]:
    """(bytes that reading the picture at ``path`` will take at its peak, the extension to store it
    with), from its header; a picture over ``max_pixels`` is refused before it costs anything."""
    with opened_image(path) as image:
        check_pixel_count(path, image.size, max_pixels)
        per_pixel = TRANSPARENT_BYTES_PER_PIXEL if image.has_transparency_data else BYTES_PER_PIXEL
        return image.size[0] * image.size[1] * per_pixel, EXTENSIONS.get(image.format or "", ".gif")


def check_video(
    received: Received, limits: Limits, max_side: int, budget: DecodeBudget
) -> tuple[Picture, str]:
    """A video upload probed (size, frame count), its first frame at the working size (read once
    the budget has room for it), and the extension to store it with (PyAV reads videos by their
    content; the name only helps people)."""
    info = probe_video(received.path)
    if info.width * info.height > limits.max_pixels:
        raise PixelLimitError(f"the video's frames have more than {limits.max_pixels:,} pixels")
    if info.frames > limits.max_frames:
        raise VideoError(
            f"the video has {info.frames} frames; this server dreams at most {limits.max_frames}"
        )
    size = video_frame_size((info.width, info.height), max_side)
    with budget.admitted(info.width * info.height * VIDEO_BYTES_PER_PIXEL):
        first = next(iter(read_frames(received.path, size)), None)
    if first is None:
        raise VideoError(f"{received.name!r} holds no decodable video frames")
    suffix = Path(received.name).suffix.lower()
    return Picture(first), suffix if suffix in VIDEO_EXTENSIONS else ".video"


# ------------------------------------------------------------------------------ the budget


class Reservation:
    """Memory admitted by a :class:`DecodeBudget`, given back by :meth:`release` (once, however
    often it is called: a worker gives it back when its job's picture is read, and again at the end)."""

    def __init__(self, budget: DecodeBudget, cost: int) -> None:
        self.budget = budget
        self.cost = cost
        self._held = True

    def release(self) -> None:
        with self.budget.changed:
            if not self._held:
                return
            self._held = False
            self.budget.used -= self.cost
            self.budget.changed.notify_all()
        release_freed_memory()


class DecodeBudget:
    """Bytes that pictures being read may take together, admitted in the order asked for.

    A read waits until it is first in line and its cost fits beside those being read; first come,
    first served, so a large picture is never passed over for ever by small ones. A cost above the
    whole budget is read alone. The server's worker goes to the front of the line: its job is
    already queued, and a worker waiting for room would leave the queue idle. Every wait ends by
    ``wait`` seconds with a :class:`reverie.web.jobs.ServerBusyError`; a line of
    :data:`MAX_WAITING` refuses newcomers at once.
    """

    def __init__(self, budget_bytes: int, wait: float, max_waiting: int = MAX_WAITING) -> None:
        self.budget = budget_bytes
        self.wait = wait
        self.max_waiting = max_waiting
        self.used = 0
        self.changed = threading.Condition()
        self._line: deque[object] = deque()

    @property
    def waiting(self) -> int:
        """How many reads wait for room now."""
        return len(self._line)

    def reserve(self, cost: int, first: bool = False, who: str = "the upload") -> Reservation:
        """Room for ``cost`` bytes, once there is some; ``first`` goes to the front of the line;
        ``who`` waits, as a refusal names it."""
        cost = min(cost, self.budget)
        ticket = object()
        deadline = time.monotonic() + self.wait
        with self.changed:
            if len(self._line) >= self.max_waiting and not first:
                raise busy("too many uploads are waiting to be read")
            (self._line.appendleft if first else self._line.append)(ticket)
            try:
                while self._line[0] is not ticket or self.used + cost > self.budget:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise busy(f"{who} waited {self.wait:g} s for room to be read")
                    self.changed.wait(left)
                self.used += cost
            finally:
                self._line.remove(ticket)
                self.changed.notify_all()  # the next in line may fit now
        return Reservation(self, cost)

    @contextmanager
    def admitted(self, cost: int) -> Iterator[None]:
        """The block run once ``cost`` bytes are admitted; they are given back when it ends."""
        reservation = self.reserve(cost)
        try:
            yield
        finally:
            reservation.release()


def default_budget() -> DecodeBudget:
    """The budget of a server started with the defaults (``reverie serve``'s)."""
    limits = ServerLimits()
    return DecodeBudget(limits.decode_budget_mb * 1024 * 1024, limits.decode_wait)


def busy(why: str) -> ServerBusyError:
    return ServerBusyError(f"the server is busy reading other pictures ({why}); try again in a minute")


@cache
def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def release_freed_memory() -> None:
    """Hand memory that is free but still held by the C allocator back to the system.

    glibc gives each thread that allocates at once an arena of its own and keeps what is freed in
    it for the next allocation there; after a crowd of uploads read on many threads, gigabytes stay
    held (3.2 GB of 3.7 at the peak, bench/CROWD.md). ``malloc_trim(0)`` returns the free pages of
    every arena; it takes milliseconds, and nothing is changed for other threads' allocations.
    """
    trim = malloc_trim()
    if trim is not None:
        trim(0)
