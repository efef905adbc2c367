"""Share links: a read-only, unguessable, revocable address for one finished job's result.

``POST /api/jobs/ID/share`` makes the link (``/s/TOKEN``, 256 random bits) or keeps the one it has;
``DELETE`` revokes it, and so does deleting the job. ``GET /s/TOKEN`` is a small page with the
result (a picture, an animation or a video) and, when the link was made to show them, its settings
in one line; ``GET /s/TOKEN/result`` is the file, as the job's own download. Nothing else answers
to a share token: it is looked up as a whole, for a job that is done, and its routes are the only
ones a server with an access token serves without it (:func:`reverie.web.guard.needs_no_token`).
Its responses may not be framed by any page, keep no copy in caches (a revoked link must stop
working) and send no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel

from reverie.web.gallery import job_summary
from reverie.web.jobs import SHARE_TOKEN, Job, JobStore
from reverie.web.results import media_type, result_response

#: Where a share link lives: ``/s/TOKEN``.
PREFIX = "/s"
STYLE = (
    ":root{color-scheme:light dark;font-family:system-ui,sans-serif}"
    "body{margin:0 auto;padding:1rem;max-width:64rem;text-align:center}"
    "img,video{max-width:100%;height:auto}p{overflow-wrap:anywhere}"
)
#: What a share page may load: its result from this server and its own style, nothing else.
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Every share response: never framed, never cached (a revoked link stops at once), no referrer.
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
#: How the page names each kind of result, for its title and a picture's alternative text.
WHAT = {"dream": "A dreamed photo", "zoom": "A zoom animation", "video": "A dreamed video"}

router = APIRouter()


class ShareView(BaseModel):
    """A job's share link: its address on this server, and whether it shows the job's settings."""

    url: str
    settings: bool


def share_url(job: Job) -> str | None:
    """The address of a job's share link, or None when it has none."""
    return f"{PREFIX}/{job.share}" if job.share else None


def job_store(request: Request) -> JobStore:
    return request.app.state.store


Store = Annotated[JobStore, Depends(job_store)]


def stored_job(store: Store, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


@router.post(
    "/api/jobs/{job_id}/share",
    response_model=ShareView,
    summary="Make (or keep) a read-only link to a finished job's result",
)
def share(
    store: Store,
    job: Annotated[Job, Depends(stored_job)],
    settings: Annotated[bool, Form(description="Show the job's settings on the shared page")] = False,
) -> ShareView:
    token = store.share(job.id, settings)
    if token is None:
        raise HTTPException(409, f"job is {job.status}; only a finished job's result can be shared")
    return ShareView(url=f"{PREFIX}/{token}", settings=settings)


@router.delete("/api/jobs/{job_id}/share", status_code=204, summary="Revoke a job's share link")
def unshare(store: Store, job: Annotated[Job, Depends(stored_job)]) -> Response:
    store.unshare(job.id)
    return Response(status_code=204)


def shared_job(store: JobStore, token: str) -> Job | None:
    """The job a share token stands for, or None (revoked, never made, or not a token at all)."""
    return store.shared(token) if SHARE_TOKEN.fullmatch(token) else None


@router.api_route(f"{PREFIX}/{{token}}", methods=["GET", "HEAD"], include_in_schema=False)
def shared_page(store: Store, token: str) -> HTMLResponse:
    job = shared_job(store, token)
    if job is None:
        body = "<h1>Nothing here</h1><p>This link was never made, or its owner has taken it back.</p>"
        return HTMLResponse(document("Reverie: no such link", body), status_code=404, headers=HEADERS)
    page = page_html(job, media_type(store.path(job, "result")))
    return HTMLResponse(page, headers={**HEADERS, "Content-Security-Policy": PAGE_POLICY})


@router.api_route(f"{PREFIX}/{{token}}/result", methods=["GET", "HEAD"], include_in_schema=False)
def shared_result(store: Store, token: str) -> FileResponse:
    job = shared_job(store, token)
    if job is None:
        raise HTTPException(404, "no such share link", headers=HEADERS)
    return result_response(store, job, HEADERS)


def page_html(job: Job, result_type: str) -> str:
    """The share page: the result (a video plays in a player; a picture or an animation is an
    image), and its settings in one line when the link shows them."""
    source = f"{PREFIX}/{job.share}/result"
    what = WHAT.get(job.kind, WHAT["dream"])
    size = f'width="{job.width}" height="{job.height}"'
    if result_type.startswith("video/"):
        shown = f'<video src="{source}" {size} controls loop muted autoplay playsinline></video>'
    else:
        shown = f'<img src="{source}" {size} alt="{html.escape(what)}, made with Reverie">'
    summary = f"<p>{html.escape(job_summary(job))}</p>" if job.share_settings else ""
    body = f'<h1>{html.escape(what)}</h1>{shown}{summary}<p><a href="{source}" download>Download</a></p>'
    return document(f"{what}, made with Reverie", body)


def document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><main>{body}</main></body></html>"
    )
