"""What every answer of the server carries, whoever made it (a route, a static file, the guard).

- **A Content-Security-Policy** that runs only the server's own scripts and styles, from files
  (no inline script or style, no ``eval``): an injected ``<script>`` in a job's name or an upload's
  metadata would not run. Pictures and videos may also be the page's own ``blob:`` previews of a
  file being chosen. A page that needs something inline (the token page's style, Swagger UI's
  start-up script at ``/docs``) sets a policy of its own that allows that one text by its hash
  (:func:`policy`, :func:`source_hash`); the rest keep this one.
- **No framing**: ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, so another site cannot
  show the studio in a frame and trick a click (the guard lets such navigations through: they read).
- **No sniffing and no referrer**: ``X-Content-Type-Options: nosniff`` on everything, results and
  pictures included (a browser never runs an upload as a script or page); ``Referrer-Policy:
  no-referrer``, so addresses with a job's id (or a token) never leave in a Referer header.
- **HEAD wherever GET**: FastAPI's routes answer only the methods they name, so ``HEAD /`` was a 405;
  here a HEAD is routed as a GET and its body dropped (its headers, Content-Length included, stay).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from starlette.datastructures import MutableHeaders

#: The policy of every page and answer unless it sets its own: directive -> sources.
DEFAULT_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' blob:",
    "media-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(**changes: str) -> str:
    """The Content-Security-Policy header with some directives changed (``script_src="'self'
    'sha256-...'"``: underscores for dashes)."""
    directives = {**DEFAULT_POLICY, **{name.replace("_", "-"): value for name, value in changes.items()}}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def source_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script or style: ``'sha256-BASE64'``."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


#: Set on every answer that has not set them itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": policy(),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class ResponseHeaders:
    """ASGI middleware: the headers above on every HTTP answer, and HEAD answered as GET without a
    body. It goes outside every other middleware, so the guard's refusals carry them too."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_headers)
