"""The web app: one page and an HTTP API (documented at ``/docs``, schema at ``/openapi.json``).

A form becomes a :class:`reverie.tasks.DreamTask` that is checked here, queued in the job store and
run by a worker (:mod:`reverie.web.worker`), exactly as the CLI runs it; this module only reads
requests, stores uploads and reports jobs.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import Headers

from reverie.cluster import ray_engine
from reverie.errors import PixelLimitError, ReverieError, SettingsError, WeightsNotFoundError, one_line
from reverie.io.images import load_image, save_image
from reverie.models import DEFAULT_MODEL, get_spec, list_models
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask, check_engine
from reverie.version import __version__
from reverie.web.jobs import FINISHED, QUEUED, RUNNING, Job, JobStore, display_name, new_job_id
from reverie.web.worker import Workers
from reverie.weights import weights_available

#: Largest upload accepted, bytes (``--max-upload-mb``).
DEFAULT_MAX_UPLOAD = 25 * 1024 * 1024
#: Largest picture accepted, width * height (``--max-pixels``): 40 MP covers any phone photo.
DEFAULT_WEB_MAX_PIXELS = 40_000_000
#: Working resolution of web dreams unless the form asks otherwise: quick enough on a CPU.
DEFAULT_WEB_MAX_SIDE = 768
CHUNK = 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class WebConfig:
    """What ``reverie serve`` was started with."""

    data_dir: Path
    device: str = "auto"
    #: Jobs dreamed at once; None: one here, the cluster's size on Ray.
    workers: int | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_pixels: int = DEFAULT_WEB_MAX_PIXELS
    #: Host names the app answers to; ("*",) for any. The loopback default stops DNS rebinding:
    #: a foreign page whose name resolves to 127.0.0.1 still sends its own name as Host.
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    #: Run jobs on Ray actors: "local" starts a Ray instance here, else a cluster's address.
    ray_address: str | None = None


class JobView(BaseModel):
    """A job as the API shows it. URLs are null until the file exists."""

    id: str
    status: str
    name: str
    width: int
    height: int
    progress: float
    stage: str
    error: str
    created: float
    started: float | None
    finished: float | None
    settings: dict[str, Any]
    preview_url: str | None
    result_url: str | None
    source_url: str


class ModelView(BaseModel):
    name: str
    description: str
    presets: dict[str, str]
    default_preset: str
    layers: list[str]


def job_view(job: Job) -> JobView:
    base = f"/api/jobs/{job.id}"
    data = job.as_dict()
    return JobView(
        **{key: data[key] for key in JobView.model_fields if key in data},
        preview_url=f"{base}/preview?v={job.progress:.3f}" if job.has_preview else None,
        result_url=f"{base}/result" if job.status == "done" else None,
        source_url=f"{base}/source",
    )


def create_app(config: WebConfig) -> FastAPI:
    """The FastAPI application; its lifespan starts and stops the workers."""
    try:
        store = JobStore(config.data_dir)
    except (OSError, sqlite3.Error) as error:
        raise SettingsError(f"cannot use data folder {config.data_dir}: {error}") from None
    cluster = None
    if config.ray_address is not None:
        cluster = ray_engine(config.ray_address, config.workers, retries=1, device=config.device)
    workers = Workers(store, config.device, config.workers or 1, config.max_pixels, cluster)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workers.start()
        try:
            yield
        finally:
            interrupted = workers.stop()
            note = f"; {interrupted} running job(s) marked interrupted" if interrupted else ""
            print(f"reverie: server stopped{note}", file=sys.stderr, flush=True)

    app = FastAPI(
        title="Reverie",
        version=__version__,
        description="DeepDream in the browser: submit a photo as a job, follow it, download the dream.",
        lifespan=lifespan,
    )
    app.state.store, app.state.workers, app.state.config = store, workers, config
    app.add_middleware(RequestGuard, config=config)
    app.mount("/static", StaticFiles(directory=str(files("reverie.web") / "static")), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return (files("reverie.web") / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/api/models", response_model=list[ModelView], summary="Models whose weights are installed")
    def models() -> list[ModelView]:
        return [model_view(name) for name in list_models() if weights_available(get_spec(name))]

    @app.post(
        "/api/jobs", response_model=JobView, status_code=201, summary="Upload a photo and queue a dream"
    )
    def submit(
        image: Annotated[UploadFile, File(description="The photo: JPEG, PNG, WebP, TIFF, BMP or GIF")],
        model: Annotated[str, Form()] = DEFAULT_MODEL,
        preset: Annotated[str, Form()] = "",
        layers: Annotated[str, Form()] = "",
        steps: Annotated[int, Form(ge=1, le=200)] = 10,
        octaves: Annotated[int, Form(ge=1, le=10)] = 4,
        strength: Annotated[float, Form(description="Step size per step, in (0, 1]")] = 0.01,
        seed: Annotated[int, Form()] = 0,
        max_side: Annotated[
            int, Form(ge=64, le=4096, description="Working resolution")
        ] = DEFAULT_WEB_MAX_SIDE,
    ) -> JobView:
        settings = DreamSettings(
            model=model, preset=preset, layers=layers, steps=steps, octaves=octaves,
            step_size=strength, seed=seed, max_side=max_side,
        )  # fmt: skip
        check_form(settings, config)
        job_id = new_job_id()
        upload = store.upload_path(job_id)
        size = store_upload(image, upload, config)
        try:
            task = checked_task(upload, store.result_path(job_id), settings, config)
        except BaseException:
            upload.unlink(missing_ok=True)
            raise
        job = store.add(job_id, task.settings, image.filename or "", size)
        workers.wake.set()
        return job_view(job)

    @app.get("/api/jobs", response_model=list[JobView], summary="Recent jobs, newest first")
    def recent(limit: int = 50) -> list[JobView]:
        return [job_view(job) for job in store.recent(max(1, min(limit, 500)))]

    @app.get("/api/jobs/{job_id}", response_model=JobView, summary="One job's state and progress")
    def get_job(job_id: str) -> JobView:
        return job_view(existing_job(store, job_id))

    @app.post("/api/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a queued or running job")
    def cancel(job_id: str) -> JobView:
        job = existing_job(store, job_id)
        if job.status == RUNNING or (job.status == QUEUED and not store.cancel_if_queued(job_id)):
            workers.cancel(job_id)  # running, or claimed by a worker since it was read
        elif job.status != QUEUED:
            raise HTTPException(409, f"job is {job.status}; only queued or running jobs can be cancelled")
        return job_view(existing_job(store, job_id))

    @app.post("/api/jobs/{job_id}/retry", response_model=JobView, summary="Queue a stopped job again")
    def retry(job_id: str) -> JobView:
        job = existing_job(store, job_id)
        workers.cancelled.discard(job_id)  # a cancel that came too late must not stop the new run
        if job.status not in FINISHED or job.status == "done" or not store.requeue(job_id):
            raise HTTPException(409, f"job is {job.status}; only failed, cancelled or interrupted jobs retry")
        workers.wake.set()
        return job_view(existing_job(store, job_id))

    @app.get("/api/jobs/{job_id}/result", summary="The dreamed PNG (a download)")
    def result(job_id: str) -> FileResponse:
        job = existing_job(store, job_id)
        path = store.result_path(job.id)
        if job.status != "done" or not path.exists():
            raise HTTPException(404, f"job {job_id} has no result (it is {job.status})")
        stem = Path(job.name).stem or "photo"
        return FileResponse(path, media_type="image/png", filename=f"{stem}-dream.png")

    @app.get("/api/jobs/{job_id}/preview", summary="The picture after the last finished octave (JPEG)")
    def preview(job_id: str) -> FileResponse:
        return job_file(existing_job(store, job_id), store.preview_path(job_id), "image/jpeg")

    @app.get("/api/jobs/{job_id}/source", summary="The uploaded photo as stored (PNG)")
    def source(job_id: str) -> FileResponse:
        return job_file(existing_job(store, job_id), store.upload_path(job_id), "image/png")

    @app.exception_handler(ReverieError)
    async def reverie_error(_request: Request, error: ReverieError) -> Any:
        return JSONResponse({"detail": one_line(error)}, status_code=400)

    return app


class RequestGuard:
    """ASGI middleware: answers only to allowed Host names, refuses cross-site POSTs, and refuses
    an upload whose declared length is over the limit before any of it is read."""

    def __init__(self, app: Any, config: WebConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            problem = self.problem(Headers(scope=scope), scope["method"])
            if problem is not None:
                status, message = problem
                await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def problem(self, headers: Headers, method: str) -> tuple[int, str] | None:
        allowed = self.config.allowed_hosts
        if "*" not in allowed and host_name(headers.get("host", "")) not in allowed:
            return 400, "unknown host name; open the address reverie serve printed"
        origin = headers.get("origin")
        if (
            method == "POST"
            and origin
            and "*" not in allowed
            and host_name(urlsplit(origin).netloc) not in allowed
        ):
            return 403, "requests from other sites are refused"
        length = headers.get("content-length", "")
        if method == "POST" and length.isdigit() and int(length) > self.config.max_upload_bytes + CHUNK:
            return 413, f"the file is larger than {self.config.max_upload_bytes // (1024 * 1024)} MB"
        return None


def host_name(host: str) -> str:
    """The name part of a Host header or URL netloc: ``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def model_view(name: str) -> ModelView:
    """A model's description for the page, from its registry entry (no network is built)."""
    spec = get_spec(name)
    return ModelView(
        name=name, description=spec.description, presets=dict(spec.presets),
        default_preset=spec.default_preset, layers=spec.layer_names,
    )  # fmt: skip


def check_form(settings: DreamSettings, config: WebConfig) -> None:
    """The form's settings checked before the upload is decoded, so a typo costs no decoding."""
    try:
        check_engine(settings, "", config.device, config.max_pixels)
    except WeightsNotFoundError:
        raise HTTPException(400, f"model {settings.model} has no weights installed on this server") from None


def checked_task(upload: Path, result: Path, settings: DreamSettings, config: WebConfig) -> DreamTask:
    """The job's task, checked as the CLI checks it: settings, the objective against the model's
    layers, the stored upload and the result path."""
    task = DreamTask(upload, result, settings=settings, device=config.device, max_pixels=config.max_pixels)
    return task.check()


def store_upload(upload: UploadFile, target: Path, config: WebConfig) -> tuple[int, int]:
    """Read the upload within the size limit, check it is a real picture, store it as PNG.

    Returns the picture's (width, height). Any problem is an HTTP error with a message for the page.
    """
    limit = config.max_upload_bytes
    descriptor, name = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            size = 0
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the file is larger than {limit // (1024 * 1024)} MB")
                stream.write(chunk)
        if size == 0:
            raise HTTPException(400, "the file is empty")
        try:
            picture = load_image(temporary, max_pixels=config.max_pixels)
        except PixelLimitError:
            raise HTTPException(400, f"the picture has more than {config.max_pixels:,} pixels") from None
        except ReverieError as error:
            message = str(error).replace(str(temporary), repr(display_name(upload.filename)))
            raise HTTPException(415 if "not an image" in message else 400, message) from None
        save_image(target, picture)
        return picture.width, picture.height
    finally:
        with suppress(OSError):
            temporary.unlink()


def existing_job(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def job_file(job: Job, path: Path, media_type: str) -> FileResponse:
    if not path.exists():
        raise HTTPException(404, f"job {job.id} has no such file yet")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})
