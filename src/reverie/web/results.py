"""A job's result as a response: its media type, and a download named after the user's upload.

Both the API's ``/api/jobs/ID/result`` and a share link's ``/s/TOKEN/result`` answer with it, so a
shared file is the same file, typed and named the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import FileResponse

from reverie.web.jobs import DONE, Job, JobStore

#: Result file types, by extension.
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".mp4": "video/mp4"}
#: What each kind of job adds to the downloaded file's name.
DOWNLOAD_WORDS = {"dream": "dream", "zoom": "zoom", "video": "dreamed"}


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix, "application/octet-stream")


def download_name(job: Job, suffix: str) -> str:
    """``cat-dream.png``, ``cat-zoom.gif``, ``clip-dreamed.mp4``: the upload's name and the kind's word."""
    stem = Path(job.name).stem or "photo"
    return f"{stem}-{DOWNLOAD_WORDS.get(job.kind, 'dream')}{suffix}"


def result_response(store: JobStore, job: Job, headers: Mapping[str, str] | None = None) -> FileResponse:
    """The job's result file as a download, or a 404 while it has none."""
    path = store.path(job, "result")
    if job.status != DONE or not path.exists():
        raise HTTPException(404, f"job {job.id} has no result (it is {job.status})")
    return FileResponse(
        path, media_type=media_type(path), filename=download_name(job, path.suffix), headers=headers
    )
