"""Uploads: read within the size limit, checked within bounded memory, stored as sent.

A photo is decoded once here to prove it is one (a corrupt or foreign file is refused before it is
queued), reduced to the job's working size as it decodes (:func:`reverie.io.images.load_image`
with ``max_side``: about 12 bytes per pixel at the peak, never the whole picture in floats), and the
reduced picture is kept for the page. Only a few decodes run at once (``WebConfig.decodes``); other
uploads wait their turn on disk, so N uploads at once cannot take N times the memory. The worker
later reads the upload as sent, as the command line reads a file, so a web job dreams the same
pixels as ``reverie dream``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, UploadFile

from reverie.errors import PixelLimitError, VideoError
from reverie.io.images import Picture, load_image, opened_image
from reverie.io.video import probe_video, read_frames
from reverie.tasks import video_frame_size
from reverie.web.jobs import display_name

CHUNK = 1024 * 1024
#: Pillow format -> the extension an upload of that format is stored with.
EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
#: Extensions a video upload keeps (any other is stored as ``.video``).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})


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
    received: Received, limits: Limits, max_side: int, decodes: threading.Semaphore
) -> tuple[Picture, str]:
    """The upload decoded (reduced to ``max_side``) and the extension to store it with.

    A problem is a :class:`ReverieError` naming the upload's file (the app words it for the page).
    """
    try:
        with decodes:
            picture = load_image(received.path, limits.max_pixels, max_side)
    except PixelLimitError as error:
        raise PixelLimitError(
            f"the {received.role} has more than {limits.max_pixels:,} pixels, this server's limit",
            value=error.value,
            limits=error.limits,
        ) from None
    with opened_image(received.path) as image:
        extension = EXTENSIONS.get(image.format or "", ".gif")
    return picture, extension


def check_video(
    received: Received, limits: Limits, max_side: int, decodes: threading.Semaphore
) -> tuple[Picture, str]:
    """A video upload probed (size, frame count), its first frame at the working size, and the
    extension to store it with (PyAV reads videos by their content; the name only helps people)."""
    info = probe_video(received.path)
    if info.width * info.height > limits.max_pixels:
        raise PixelLimitError(f"the video's frames have more than {limits.max_pixels:,} pixels")
    if info.frames > limits.max_frames:
        raise VideoError(
            f"the video has {info.frames} frames; this server dreams at most {limits.max_frames}"
        )
    size = video_frame_size((info.width, info.height), max_side)
    with decodes:
        first = next(iter(read_frames(received.path, size)), None)
    if first is None:
        raise VideoError(f"{received.name!r} holds no decodable video frames")
    suffix = Path(received.name).suffix.lower()
    return Picture(first), suffix if suffix in VIDEO_EXTENSIONS else ".video"
