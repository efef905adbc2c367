"""The web app: one page and an HTTP API (documented at ``/docs``, schema at ``/openapi.json``).

A form becomes a task (:mod:`reverie.tasks`: a dream, a zoom or a video) that is checked here,
queued in the job store and run by a worker (:mod:`reverie.web.worker`), exactly as the CLI runs
it; this module only reads requests, stores uploads (:mod:`reverie.web.uploads`) and reports jobs.
Every request first passes :class:`reverie.web.guard.RequestGuard`. The form and its rules come
from the settings' declarations (:mod:`reverie.web.form`); annotations here are evaluated (no
``from __future__ import annotations``) because the form's model is made per server, from its caps.
"""

import logging
import re
import secrets
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from reverie.classify import imagenet_class_names
from reverie.cluster import ray_engine
from reverie.dreamer import GUIDE_MAX_SIDE
from reverie.errors import ResourceError, ReverieError, SettingsError, WeightsNotFoundError, one_line
from reverie.io.images import save_image
from reverie.models import get_spec, list_models
from reverie.schema import check_field, check_type, declaration
from reverie.settings import DreamSettings, ServerLimits, VideoSettings, ZoomSettings
from reverie.tasks import check_engine, video_frame_size
from reverie.version import __version__
from reverie.web import share
from reverie.web.form import (
    FORM_KNOBS,
    JOB_KINDS,
    check_form,
    check_values,
    error_response,
    form_fields,
    form_model,
    page_fields,
    render_page,
    server_caps,
)
from reverie.web.gallery import JobListing, job_summary
from reverie.web.guard import RequestGuard, saved_token
from reverie.web.headers import ResponseHeaders, policy, source_hash
from reverie.web.jobs import (
    FINISHED,
    GB,
    QUEUED,
    RUNNING,
    Job,
    JobStore,
    Pruner,
    check_data_folder,
    check_queue,
    new_job_id,
)
from reverie.web.looks import LookThumbnails, look_description
from reverie.web.results import media_type, result_response
from reverie.web.share import share_url
from reverie.web.sweeps import GroupView, Submitting, sweep_router
from reverie.web.tiles import TileMaker, tile_router
from reverie.web.uploads import (
    MAX_WAITING,
    DecodeBudget,
    Limits,
    Received,
    check_picture,
    check_video,
    receive,
)
from reverie.web.waits import Queue, queue_of
from reverie.web.worker import Workers, job_task, page_names

log = logging.getLogger("reverie.web")

#: What a server accepts unless ``reverie serve`` says otherwise: 40 MP covers any phone photo,
#: 1800 frames a minute of video at 30 frames per second.
SERVER_DEFAULTS = ServerLimits()
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
SWAGGER_ASSETS = "/docs-assets"
#: The text of each inline script of a page (Swagger UI's start-up).
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
#: How often a web job whose Ray worker is lost runs again before it fails (the page offers Retry).
WEB_RETRIES = 1
#: Threads that run requests (Starlette's default is 40): every upload waiting for room to be read
#: holds one, and the page must still be answered meanwhile.
THREADS = MAX_WAITING + 40
MB = 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    """What ``reverie serve`` was started with."""

    data_dir: Path
    device: str = "auto"
    #: Jobs dreamed at once; None: one here, the cluster's size on Ray.
    workers: int | None = None
    #: Largest request body (all its files together), bytes.
    max_upload_bytes: int = SERVER_DEFAULTS.max_upload_mb * MB
    max_pixels: int = SERVER_DEFAULTS.max_pixels
    #: Host names the app answers to; ("*",) for any. The loopback default stops DNS rebinding:
    #: a foreign page whose name resolves to 127.0.0.1 still sends its own name as Host.
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    #: Run jobs on Ray actors: "local" starts a Ray instance here, else a cluster's address.
    ray_address: str | None = None
    #: On Ray, seconds a job may go without progress before its actor is killed and it runs again
    #: (None: :data:`reverie.cluster.STALL_TIMEOUT`).
    stall_timeout: float | None = None
    #: The access token every request must carry; empty: none (loopback servers by default), unless
    #: ``keep_token``: then the data folder's own (:func:`reverie.web.guard.saved_token`), which
    #: ``new_token`` replaces first.
    token: str = ""
    keep_token: bool = False
    new_token: bool = False
    #: Memory that pictures being read may take together, bytes; others wait their turn (at most
    #: ``decode_wait`` seconds), so memory stays bounded however many arrive at once.
    decode_budget_bytes: int = SERVER_DEFAULTS.decode_budget_mb * MB
    decode_wait: float = SERVER_DEFAULTS.decode_wait
    #: Most jobs queued at once; more are refused (429).
    max_queued: int = SERVER_DEFAULTS.max_queued
    #: Most bytes the data folder may hold before new jobs are refused (507); 0: no limit.
    max_data_bytes: int = round(SERVER_DEFAULTS.max_data_gb * GB)
    #: Finished jobs older than this many days are deleted; 0: kept for ever.
    keep_days: int = SERVER_DEFAULTS.keep_days
    max_frames: int = SERVER_DEFAULTS.max_frames
    max_steps: int = SERVER_DEFAULTS.max_steps
    max_side: int = SERVER_DEFAULTS.max_side
    #: Most jobs one sweep (``POST /api/sweeps``) may make.
    max_cells: int = SERVER_DEFAULTS.max_cells

    @classmethod
    def serving(cls, data_dir: Path, limits: ServerLimits, **others: Any) -> "WebConfig":
        """What ``reverie serve`` runs with: its declared settings (``limits``) in this config's units,
        and ``others`` (device, host names, token...) as given."""
        return cls(
            data_dir, workers=limits.workers or None, max_upload_bytes=limits.max_upload_mb * MB,
            max_pixels=limits.max_pixels, decode_budget_bytes=limits.decode_budget_mb * MB,
            decode_wait=limits.decode_wait, max_queued=limits.max_queued,
            max_data_bytes=round(limits.max_data_gb * GB), keep_days=limits.keep_days,
            max_frames=limits.max_frames, max_steps=limits.max_steps, max_side=limits.max_side,
            max_cells=limits.max_cells, **others,
        )  # fmt: skip

    def caps(self) -> dict[str, int]:
        """The knobs this server lowers below the library's limits (:data:`reverie.web.form.CAPPED_BY`)."""
        return {"max_steps": self.max_steps, "max_side": self.max_side, "max_frames": self.max_frames}


class JobView(BaseModel):
    """A job as the API shows it. URLs are null until the file exists; ``width`` and ``height`` are
    the result's size; ``queue_position`` and ``eta_seconds`` are told by :mod:`reverie.web.waits`."""

    id: str
    kind: str
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
    options: dict[str, Any]
    has_guide: bool
    has_mask: bool
    preview_url: str | None
    result_url: str | None
    result_type: str
    source_url: str
    #: 1-based place among the queued jobs, oldest first; null unless queued.
    queue_position: int | None
    #: Estimated seconds until the job is done (a queued job: its wait and its run); null when unknown.
    eta_seconds: float | None
    #: The settings in one line, in the form's words (:func:`reverie.web.gallery.job_summary`).
    summary: str
    #: The job's read-only share link (``/s/TOKEN``, :mod:`reverie.web.share`); null when none.
    share_url: str | None
    #: The job's cell in the sweep that made it (``POST /api/sweeps``); null for a single job.
    group: GroupView | None


class LookView(BaseModel):
    name: str
    layers: str
    description: str
    thumbnail_url: str


class LayerView(BaseModel):
    name: str
    channels: int
    hint: str


class ModelView(BaseModel):
    name: str
    description: str
    presets: dict[str, str]
    default_preset: str
    layers: list[str]
    looks: list[LookView]
    catalogue: list[LayerView]


class ServerView(BaseModel):
    version: str
    kinds: list[str]
    max_upload_mb: int
    max_pixels: int
    max_frames: int
    #: Knobs this server caps lower than the library, and the caps (``steps``: 200...).
    caps: dict[str, float]
    #: Uploads received and waiting for room to be read now (the page says so rather than "sending").
    waiting_uploads: int
    #: Jobs waiting in the queue now, and the most it takes (more are refused with 429).
    queued_jobs: int
    max_queued_jobs: int
    #: Most the data folder may hold, GB (0: no limit); beyond it new jobs are refused with 507.
    max_data_gb: float
    #: Finished jobs are deleted this many days after they finished (0: kept until deleted).
    keep_days: int


class ImageNetClass(BaseModel):
    index: int
    name: str


def job_view(job: Job, store: JobStore, queue: Queue | None = None) -> JobView:
    """``job`` for the API; ``queue``: the queue now, read from ``store`` when not given and needed."""
    base = f"/api/jobs/{job.id}"
    if queue is None and job.status in (QUEUED, RUNNING):
        queue = queue_of(store)
    return JobView(
        **{key: getattr(job, key) for key in JobView.model_fields if hasattr(job, key) and key != "settings"},
        settings=job.as_dict()["settings"],
        has_guide="guide" in job.files,
        has_mask="mask" in job.files,
        preview_url=f"{base}/preview?v={job.progress:.3f}" if job.has_preview else None,
        result_url=f"{base}/result" if job.status == "done" else None,
        result_type=media_type(store.path(job, "result")),
        source_url=f"{base}/source",
        queue_position=queue.place(job.id) if queue is not None else None,
        eta_seconds=queue.eta(job.id) if queue is not None else None,
        summary=job_summary(job),
        share_url=share_url(job),
        group=job.options.get("group"),
    )


def create_app(config: WebConfig, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The FastAPI application; its lifespan starts and stops the workers, then calls ``on_ready``.
    ``app.state.config`` is ``config`` with its token in place (the data folder's, if it keeps one)."""
    try:
        store = JobStore(config.data_dir)
    except (OSError, sqlite3.Error) as error:  # a JobStoreError (a damaged database) passes as it is
        raise ResourceError(f"cannot use data folder {config.data_dir}: {one_line(error)}") from None
    if config.keep_token and not config.token:
        config = replace(config, token=saved_token(config.data_dir, renew=config.new_token))
    cluster = None
    if config.ray_address is not None:
        cluster = ray_engine(
            config.ray_address, config.workers, WEB_RETRIES, config.device, config.stall_timeout
        )
    budget = DecodeBudget(config.decode_budget_bytes, config.decode_wait)
    # on Ray, --device chooses the actors; each dreams on its own GPU or CPUs (tasks say "auto")
    device = "auto" if cluster is not None else config.device
    workers = Workers(store, device, config.workers or 1, config.max_pixels, cluster, budget)
    looks = LookThumbnails(
        config.data_dir / "looks", device, workers.dream_now, busy=lambda: store.unfinished() > 0
    )
    tiles = TileMaker(config.data_dir / "tiles", device, workers.dream_now)
    pruner = Pruner(store, config.keep_days)
    limits = Limits(config.max_upload_bytes, config.max_pixels, config.max_frames)
    kinds = list(JOB_KINDS)  # photos, zooms and videos, here or on Ray
    fields = form_fields(config.caps(), kinds)
    DreamForm = form_model(fields)
    page_html = render_page(
        (files("reverie.web") / "static" / "index.html").read_text(encoding="utf-8"),
        fields | page_fields(),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        workers.start()
        pruner.start()
        looks.start(installed_models())
        tiles.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            pruner.stop()
            looks.stop()
            tiles.stop()
            interrupted = workers.stop()
            note = f"; {interrupted} running job(s) marked interrupted" if interrupted else ""
            print(f"reverie: server stopped{note}", file=sys.stderr, flush=True)

    app = FastAPI(
        title="Reverie",
        version=__version__,
        description="DeepDream in the browser: submit a photo or a video as a job, follow it, download "
        "the dream. Scripts on other machines send the server's token as `Authorization: Bearer TOKEN`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.store, app.state.workers, app.state.config = store, workers, config
    app.state.budget, app.state.looks = budget, looks
    app.add_middleware(
        RequestGuard,
        allowed_hosts=config.allowed_hosts,
        token=config.token,
        max_body_bytes=config.max_upload_bytes,
    )
    app.add_middleware(ResponseHeaders)  # the last added is the outermost: every answer has them
    app.mount("/static", StaticFiles(directory=str(files("reverie.web") / "static")), name="static")
    mount_api_docs(app)
    app.include_router(share.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return page_html

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(str(files("reverie.web") / "static" / "favicon.svg"), media_type="image/svg+xml")

    @app.get("/api/server", response_model=ServerView, summary="What this server accepts")
    def server() -> ServerView:
        return ServerView(
            version=__version__, kinds=kinds, max_upload_mb=config.max_upload_bytes // MB,
            max_pixels=config.max_pixels, max_frames=config.max_frames, caps=server_caps(fields),
            waiting_uploads=budget.waiting, queued_jobs=store.queued(), max_queued_jobs=config.max_queued,
            max_data_gb=config.max_data_bytes / GB, keep_days=config.keep_days,
        )  # fmt: skip

    @app.get("/api/models", response_model=list[ModelView], summary="Models whose weights are installed")
    def models() -> list[ModelView]:
        return [model_view(name) for name in installed_models()]

    @app.get("/api/classes", response_model=list[ImageNetClass], summary="ImageNet class names, by index")
    def classes() -> list[ImageNetClass]:
        return [ImageNetClass(index=i, name=name) for i, name in enumerate(imagenet_class_names())]

    @app.get("/api/looks/{model}/{preset}.jpg", summary="A look dreamed on the sample photo (cached)")
    def look(model: str, preset: str) -> FileResponse:
        if model not in installed_models() or preset not in get_spec(model).presets:
            raise HTTPException(404, f"no look {preset!r} for model {model!r}")
        headers = {"Cache-Control": "max-age=86400"}
        return FileResponse(looks.path(model, preset), media_type="image/jpeg", headers=headers)

    @app.post(
        "/api/jobs", response_model=JobView, status_code=201, summary="Upload a photo or video, queue a job"
    )
    def submit(
        form: Annotated[DreamForm, Form()],
        image: Annotated[UploadFile | None, File(description="The photo (dream and zoom jobs)")] = None,
        video: Annotated[UploadFile | None, File(description="The clip (video jobs)")] = None,
        guide: Annotated[UploadFile | None, File(description="A guide image: borrow its motifs")] = None,
        mask: Annotated[UploadFile | None, File(description="Dream only where this image is white")] = None,
    ) -> JobView:
        check_form(form, fields)
        check_room()  # a full server refuses before reading anything
        settings = DreamSettings(**{name: getattr(form, name) for name in FORM_KNOBS[DreamSettings]})
        options: dict[str, Any] = {}
        if form.kind == "zoom":
            options["motion"] = ZoomSettings(
                **{name: getattr(form, name) for name in FORM_KNOBS[ZoomSettings]}
            )
            options["motion"] = options["motion"].to_dict()
        if form.kind == "video":
            coherence = VideoSettings(**{name: getattr(form, name) for name in FORM_KNOBS[VideoSettings]})
            options["coherence"] = coherence.to_dict()
        if guide is None:
            check_engine_settings(settings, config)  # a typo costs no decoding
        source = video if form.kind == "video" else image
        if source is None:
            raise HTTPException(400, f"choose a {'video' if form.kind == 'video' else 'photo'} to dream")
        job_id = new_job_id()
        received: list[Received] = []
        try:
            files_of_job, size = store_files(job_id, form.kind, settings, source, guide, mask, received)
            options["names"] = {upload.role: upload.name for upload in received}
            job = draft_job(
                job_id, form.kind, settings, options, files_of_job, source.filename, size, form.format
            )
            checked = checked_job(job)
            check_data_folder(store.bytes_used(), config.max_data_bytes)
            store.add(checked, max_queued=config.max_queued)
        except ReverieError as error:
            discard(job_id, received)
            return error_response(error, {upload.path: upload.called() for upload in received})  # type: ignore[return-value]
        except BaseException:
            discard(job_id, received)
            raise
        workers.wake.set()
        return job_view(store.get(job_id) or checked, store)

    def check_room() -> None:
        """A full queue (429) or data folder (507) refuses a new job before anything is read."""
        check_queue(store.queued(), config.max_queued)
        check_data_folder(store.bytes_used(), config.max_data_bytes)

    def discard(job_id: str, received: list[Received]) -> None:
        """Remove what a refused job left: its uploads and its working picture."""
        for upload in received:
            upload.discard()
        store.new_path(job_id, "picture", ".png").unlink(missing_ok=True)

    def store_files(
        job_id: str,
        kind: str,
        settings: DreamSettings,
        source: UploadFile,
        guide: UploadFile | None,
        mask: UploadFile | None,
        received: list[Received],
    ) -> tuple[dict[str, str], tuple[int, int]]:
        """Receive, check and store a job's uploads; their names, and the picture's working size."""
        uploads = store.folder / "uploads"
        names: dict[str, str] = {}
        role = "video" if kind == "video" else "photo"
        received.append(receive(source, uploads, role, limits))
        if kind == "video":
            picture, suffix = check_video(received[-1], limits, settings.max_side, budget)
        else:
            picture, suffix = check_picture(received[-1], limits, settings.max_side, budget)
        names["source"] = received[-1].store(store.new_path(job_id, "source", suffix)).name
        picture_path = store.new_path(job_id, "picture", ".png")
        save_image(picture_path, picture)
        names["picture"] = picture_path.name
        for extra, upload, side in (("guide", guide, GUIDE_MAX_SIDE), ("mask", mask, settings.max_side)):
            if upload is not None:
                received.append(receive(upload, uploads, extra, limits))
                _, extra_suffix = check_picture(received[-1], limits, side, budget)
                names[extra] = received[-1].store(store.new_path(job_id, extra, extra_suffix)).name
        return names, picture.size

    def checked_job(job: Job) -> Job:
        """The job with its task checked as the CLI checks it (settings, layers, the stored files)
        and its settings resolved (the look's layers); a mistake is raised for the page."""
        try:
            task = job_task(store, job, config.device, config.max_pixels).check()
        except WeightsNotFoundError:
            raise no_weights(job.settings.model) from None
        except ReverieError as error:
            raise PageError(error, page_names(store, job)) from None
        return replace(job, settings=task.settings.with_changes(guide="", mask=""))

    lent = Submitting(
        fields=fields, form=DreamForm, store=store, config=config, store_files=store_files,
        checked_job=checked_job, discard=discard, draft_job=draft_job, no_weights=no_weights,
        view=lambda job: job_view(job, store), view_model=JobView, wake=workers.wake.set,
        check_room=check_room,
    )  # fmt: skip
    app.include_router(sweep_router(lent))
    app.include_router(tile_router(tiles, installed_models))

    @app.get(
        "/api/jobs",
        response_model=list[JobView],
        summary="Jobs, newest first, a page at a time (the total in the X-Total-Count header)",
    )
    def recent(listing: Annotated[JobListing, Query()], response: Response) -> list[JobView]:
        jobs, total = store.listing(listing.limit, listing.offset, listing.kind, listing.looks_layers())
        response.headers["X-Total-Count"] = str(total)
        queue = queue_of(store)
        return [job_view(job, store, queue) for job in jobs]

    @app.get("/api/jobs/{job_id}", response_model=JobView, summary="One job's state and progress")
    def get_job(job_id: str) -> JobView:
        return job_view(existing_job(store, job_id), store)

    @app.delete("/api/jobs/{job_id}", status_code=204, summary="Delete a job that is not running")
    def delete(job_id: str) -> Response:
        job = existing_job(store, job_id)
        if job.status == QUEUED:
            store.cancel_if_queued(job_id)
        if not store.delete(job_id):
            raise HTTPException(409, "the job is running; cancel it first")
        return Response(status_code=204)

    @app.post("/api/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a queued or running job")
    def cancel(job_id: str) -> JobView:
        job = existing_job(store, job_id)
        if job.status == RUNNING or (job.status == QUEUED and not store.cancel_if_queued(job_id)):
            workers.cancel(job_id)  # running, or claimed by a worker since it was read
        elif job.status != QUEUED:
            raise HTTPException(409, f"job is {job.status}; only queued or running jobs can be cancelled")
        return job_view(existing_job(store, job_id), store)

    def within_rules(job: Job) -> None:
        """A stored job still within this server's rules (a restart may have lowered a cap)."""
        zoom_format = store.path(job, "result").suffix[1:] if job.kind == "zoom" else "mp4"
        options = {**job.options.get("motion", {}), **job.options.get("coherence", {})}
        check_values({"kind": job.kind, "format": zoom_format, **job.settings.to_dict(), **options}, fields)

    @app.post("/api/jobs/{job_id}/retry", response_model=JobView, summary="Queue a stopped job again")
    def retry(job_id: str) -> JobView:
        job = existing_job(store, job_id)
        within_rules(job)
        check_queue(store.queued(), config.max_queued)
        workers.cancelled.discard(job_id)  # a cancel that came too late must not stop the new run
        if job.status not in FINISHED or job.status == "done" or not store.requeue(job_id):
            raise HTTPException(409, f"job is {job.status}; only failed, cancelled or interrupted jobs retry")
        workers.wake.set()
        return job_view(existing_job(store, job_id), store)

    @app.post(
        "/api/jobs/{job_id}/again",
        response_model=JobView,
        status_code=201,
        summary="Dream the same upload with the same settings and a new seed",
    )
    def again(
        job_id: str, seed: Annotated[int | None, Form(json_schema_extra=SEED_BOUNDS)] = None
    ) -> JobView:
        if seed is not None:
            check_field("seed", seed, int, SEED.knob)
        job = existing_job(store, job_id)
        within_rules(job)
        check_room()
        fresh_id = new_job_id()
        copied: dict[str, Path] = {}
        try:
            for role in job.files:
                if role not in ("result", "preview"):
                    source = store.path(job, role)
                    copied[role] = store.new_path(fresh_id, role, source.suffix)
                    shutil.copyfile(source, copied[role])
            new_seed = secrets.randbelow(NEW_SEEDS) if seed is None else seed
            settings = job.settings.with_changes(seed=new_seed)
            suffix = store.path(job, "result").suffix
            files_of_job = {role: path.name for role, path in copied.items()}
            options = {key: value for key, value in job.options.items() if key != "group"}  # not a cell
            fresh = draft_job(
                fresh_id, job.kind, settings, options, files_of_job, job.name, (job.width, job.height),
                suffix[1:],
            )  # fmt: skip
            store.add(checked_job(fresh), max_queued=config.max_queued)
        except BaseException:  # nothing of a job that was refused stays behind
            for path in copied.values():
                path.unlink(missing_ok=True)
            raise
        workers.wake.set()
        return job_view(existing_job(store, fresh_id), store)

    @app.get("/api/jobs/{job_id}/result", summary="The result (a download named after the upload)")
    def result(job_id: str) -> FileResponse:
        return result_response(store, existing_job(store, job_id))

    @app.get("/api/jobs/{job_id}/preview", summary="The picture after the last finished octave (JPEG)")
    def preview(job_id: str) -> FileResponse:
        job = existing_job(store, job_id)
        return job_file(job, store.path(job, "preview"), "image/jpeg")

    @app.get(
        "/api/jobs/{job_id}/source", summary="The photo (a video's first frame) at the working size, PNG"
    )
    def source_picture(job_id: str) -> FileResponse:
        job = existing_job(store, job_id)
        return job_file(job, store.path(job, "picture"), "image/png")

    @app.exception_handler(ReverieError)
    async def reverie_error(_request: Request, error: ReverieError) -> Any:
        return error_response(error)

    @app.exception_handler(PageError)
    async def page_error(_request: Request, error: PageError) -> Any:
        return error_response(error.error, error.names)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Any:
        """A form value pydantic could not read as its type, in the page's words and with the same
        structure as every other mistake in a field; other requests as FastAPI answers them."""
        for problem in error.errors():
            location = problem.get("loc", ())
            if len(location) == 2 and location[0] == "body" and location[1] in DreamForm.model_fields:
                return error_response(unreadable(DreamForm, location[1], problem.get("input")))
        return await request_validation_exception_handler(request, error)

    @app.exception_handler(sqlite3.Error)
    async def store_error(_request: Request, error: sqlite3.Error) -> Any:
        log.error("the job database failed: %s", one_line(error))
        detail = f"the server's job database failed ({one_line(error)}); its log says more"
        return JSONResponse({"detail": detail}, status_code=503)

    return app


def draft_job(
    job_id: str,
    kind: str,
    settings: DreamSettings,
    options: dict[str, Any],
    files_of_job: dict[str, str],
    name: str | None,
    size: tuple[int, int],
    animation_format: str,
) -> Job:
    """A job not yet stored: its files named, its result's name chosen by kind (and zoom format)."""
    suffix = {"dream": ".png", "video": ".mp4"}.get(kind, f".{animation_format}")
    files_of_job = {**files_of_job, "result": f"{job_id}{suffix}"}
    if kind == "video":
        size = video_frame_size(size, settings.max_side)
    return Job(
        id=job_id, status=QUEUED, created=0.0, started=None, finished=None, settings=settings,
        name=name or "", width=size[0], height=size[1], progress=0.0, stage="", error="",
        has_preview=False, kind=kind, options=options, files=files_of_job,
    )  # fmt: skip


def mount_api_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI from the installed ``swagger-ui-bundle``, so it works offline.

    Its page starts Swagger UI with an inline script, which the server's Content-Security-Policy
    refuses; that page's own policy allows that one script by its hash, and the icons Swagger's
    style sheet draws as ``data:`` pictures."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Reverie: HTTP API",
        swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
    )
    scripts = INLINE_SCRIPT.findall(bytes(page.body).decode("utf-8"))
    allowed = policy(script_src=" ".join(["'self'", *map(source_hash, scripts)]), img_src="'self' data:")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page.body, headers={"Content-Security-Policy": allowed})


def installed_models() -> list[str]:
    return [name for name in list_models() if weights_installed(name)]


def weights_installed(name: str) -> bool:
    from reverie.weights import weights_available

    return weights_available(get_spec(name)) is not None


def model_view(name: str) -> ModelView:
    """A model's description for the page, from its registry entry (no network is built)."""
    spec = get_spec(name)
    looks = [
        LookView(
            name=preset,
            layers=layers,
            description=look_description(name, preset),
            thumbnail_url=f"/api/looks/{name}/{preset}.jpg",
        )
        for preset, layers in spec.presets.items()
    ]
    return ModelView(
        name=name, description=spec.description, presets=dict(spec.presets),
        default_preset=spec.default_preset, layers=spec.layer_names, looks=looks,
        catalogue=[LayerView(name=i.name, channels=i.channels, hint=i.hint) for i in spec.layers],
    )  # fmt: skip


class PageError(Exception):
    """A user's mistake found while a job's files are known: words it with their names."""

    def __init__(self, error: ReverieError, names: dict[Path, str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.names = names


#: The seed's declaration: ``again`` takes a seed too.
SEED = declaration(DreamSettings, "seed")
SEED_BOUNDS = SEED.knob.limits()
#: New seeds drawn by ``again``: any the form accepts, kept below 2**31 so people can type them.
NEW_SEEDS = 2**31


def no_weights(model: str) -> SettingsError:
    return SettingsError(f"model {model} has no weights installed on this server", field="model", value=model)


def check_engine_settings(settings: DreamSettings, config: WebConfig) -> None:
    """The form's settings checked as a task checks them, before the upload is decoded, so a typo
    costs no decoding."""
    try:
        check_engine(settings, "", config.device, config.max_pixels)
    except WeightsNotFoundError:
        raise no_weights(settings.model) from None


def unreadable(form: type[BaseModel], name: str, value: Any) -> ReverieError:
    """The structured error of a form value that is not of its field's type (``steps=lots``)."""
    try:
        check_type(name, value, form.model_fields[name].annotation)  # type: ignore[arg-type]
    except SettingsError as error:
        return error
    raise AssertionError(f"pydantic refused {name}={value!r}, which is of its type")


def existing_job(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def job_file(job: Job, path: Path, media_type: str) -> FileResponse:
    if not path.exists():
        raise HTTPException(404, f"job {job.id} has no such file yet")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})
