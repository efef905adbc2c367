"""What every request passes before the app sees it, in every mode the server runs in.

- **Host names** (loopback servers): only the names of this machine, so a foreign page whose name
  resolves to 127.0.0.1 (DNS rebinding) is refused: it still sends its own name as Host.
- **The access token** (servers reachable from other machines, or started with ``--token``): from
  the ``?token=`` of the address the server printed (the page then keeps it in a same-site cookie),
  or an ``Authorization: Bearer`` header for scripts. A rebinding page never has the cookie. The
  token lives in the data folder (:func:`saved_token`), so a restart keeps the addresses, cookies
  and scripts people already have working. A share link's page and file are the one exception
  (:func:`needs_no_token`): their own token is their key.
- **Cross-site requests**: a request that changes anything must come from the page itself: its
  Origin (scheme, host and port) must be the address it was sent to, and the browser's
  ``Sec-Fetch-Site`` must not say another site. Pages of other sites cannot embed the app's files,
  nor show its page in a frame (:mod:`reverie.web.headers`).
- **Size**: a body declared larger than the limit is refused before it is read, and one sent in
  chunks without a declared length is cut off at the limit, so nothing larger reaches the disk.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from reverie.errors import ResourceError, reason
from reverie.web.headers import policy, source_hash
from reverie.web.jobs import SHARE_TOKEN

TOKEN_COOKIE = "reverie_token"
#: A share link's page and its file, the only paths read without the server's token.
SHARED_PATH = re.compile(rf"/s/{SHARE_TOKEN.pattern}(?:/result)?")
#: The data folder's file that holds its access token (readable by its owner only).
TOKEN_FILE = "token"
#: Shortest token accepted; those made here are 32 characters (24 random bytes).
MIN_TOKEN = 8
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: The token page's look: inline (the page is all a visitor without the token may load), allowed by
#: its hash in the page's own Content-Security-Policy.
TOKEN_STYLE = (
    "body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem }"
)
TOKEN_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Reverie: access token needed</title><style>{TOKEN_STYLE}</style></head>
<body>
<h1>This Reverie server needs its access token</h1>
<p>Open the address <code>reverie serve</code> printed when it started (it ends in
<code>?token=...</code>), or paste the token here.</p>
<form method="get" action="/"><label>Token <input name="token" autocomplete="off" required></label>
<button>Open</button></form></body></html>"""
TOKEN_PAGE_POLICY = policy(style_src=source_hash(TOKEN_STYLE))


class BodyTooLarge(Exception):
    """A request body went past the limit while it was being read."""


class RequestGuard:
    """ASGI middleware applying the checks above. ``token`` empty: none needed."""

    def __init__(self, app: Any, allowed_hosts: tuple[str, ...], token: str, max_body_bytes: int) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.limited(scope, receive, send)

    def refusal(self, scope: dict[str, Any]) -> Response | None:
        """The answer to a request that must not reach the app, or None."""
        headers, method = Headers(scope=scope), scope["method"]
        if "*" not in self.allowed_hosts and host_name(headers.get("host", "")) not in self.allowed_hosts:
            return refuse(400, "unknown host name; open the address reverie serve printed")
        if self.token and not needs_no_token(method, scope["path"]):
            query = QueryParams(scope.get("query_string", b""))
            in_address = query.get("token")
            if method == "GET" and scope["path"] == "/" and self.matches(in_address):
                return token_accepted(scope, query, self.token)
            if not (self.matches(in_address) or self.matches(supplied_token(headers))):
                if method in SAFE_METHODS and scope["path"] == "/":
                    headers = {"Content-Security-Policy": TOKEN_PAGE_POLICY}
                    return HTMLResponse(TOKEN_PAGE, status_code=401, headers=headers)
                return refuse(
                    401,
                    "this server needs its access token: open the address reverie serve printed, "
                    "or send the header 'Authorization: Bearer TOKEN'",
                )
        if cross_site(headers, method, scope.get("scheme", "http")):
            return refuse(403, "requests from other sites are refused")
        length = headers.get("content-length", "")
        if method not in SAFE_METHODS and length.isdigit() and int(length) > self.max_body_bytes:
            return refuse(413, too_large_message(self.max_body_bytes))
        return None

    def matches(self, supplied: str | None) -> bool:
        return supplied is not None and secrets.compare_digest(supplied.encode(), self.token.encode())

    async def limited(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Run the app, stopping its reads at the body limit and answering 413 instead."""
        received = 0
        over = False
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if over:
                return  # the app's answer to a body cut short is replaced by ours
            started = started or message["type"] == "http.response.start"
            await send(message)

        with suppress(BodyTooLarge):  # raised through the app's body parsing, which stopped reading
            await self.app(scope, limited_receive, guarded_send)
        if over and not started:
            await refuse(413, too_large_message(self.max_body_bytes))(scope, receive, send)


def needs_no_token(method: str, path: str) -> bool:
    """Whether a request may pass without the server's token: reading a share link's page or its
    file (``GET /s/TOKEN``, ``GET /s/TOKEN/result``), whose unguessable token stands for one
    finished job's result (:mod:`reverie.web.share`). Nothing else, however it is spelt."""
    return method in ("GET", "HEAD") and SHARED_PATH.fullmatch(path) is not None


def valid_token(token: str) -> bool:
    """Whether ``token`` can be a token: at least :data:`MIN_TOKEN` printable ASCII characters,
    no spaces (it travels in addresses, cookies and headers)."""
    return len(token) >= MIN_TOKEN and token.isascii() and token.isprintable() and " " not in token


def saved_token(folder: Path, renew: bool = False) -> str:
    """The access token kept in ``folder`` (:data:`TOKEN_FILE`), made the first time, or made anew
    (``renew``: the old one stops working).

    The file is written whole to a temporary file that only its owner may read (``mkstemp`` makes
    it 0600), then put in place at once, so no reader ever sees half a token, or a token others may
    read. One made while another process made one too gives way to the one in place.
    """
    path = folder / TOKEN_FILE
    if not renew and (kept := read_token(path)):
        return kept
    fresh = secrets.token_urlsafe(24)
    descriptor, temporary = tempfile.mkstemp(prefix=".token-", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(fresh + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        if renew:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # never over a token another process put in place
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links; this server holds the folder
                os.replace(temporary, path)
    except OSError as error:
        raise ResourceError(f"cannot write the access token to {path}: {reason(error)}") from None
    finally:
        with suppress(OSError):
            os.unlink(temporary)
    return fresh if renew else read_token(path)


def read_token(path: Path) -> str:
    """The token in ``path``; "" when there is no such file. A file others may read is made
    private; one that holds no token is an error that says how to replace it."""
    try:
        token = path.read_text(encoding="ascii").strip()
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise ResourceError(f"cannot read the access token in {path}: {reason(error)}") from None
    if not valid_token(token):
        raise ResourceError(f"{path} holds no access token; make a new one with --new-token")
    return token


def refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def too_large_message(limit: int) -> str:
    return f"the upload is larger than {limit // (1024 * 1024)} MB"


def supplied_token(headers: Headers) -> str | None:
    """The token a request carries: a Bearer header, else the page's cookie."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value
    return None


def token_accepted(scope: dict[str, Any], query: QueryParams, token: str) -> Response:
    """The same address without ``?token=``, with the token kept in a cookie only this site sends."""
    rest = urlencode([(key, value) for key, value in query.multi_items() if key != "token"])
    response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
    return response


def cross_site(headers: Headers, method: str, scheme: str) -> bool:
    """Whether a browser sent this request for a page of another site (or another port here)."""
    fetch_site = headers.get("sec-fetch-site")
    if method in SAFE_METHODS:
        # Reading is harmless to the app, but another site's page may not embed its files;
        # following a link to it (a navigation) is fine.
        return fetch_site == "cross-site" and headers.get("sec-fetch-mode") != "navigate"
    if fetch_site in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    return origin is not None and not same_origin(origin, headers.get("host", ""), scheme)


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether ``origin`` (``http://name:port``) is the address a request was sent to (its Host)."""
    parts = urlsplit(origin)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False  # "null" (a sandboxed or file page), or something that is no origin at all
    try:
        target = urlsplit(f"{scheme}://{host}")
        origin_port = parts.port or DEFAULT_PORTS[parts.scheme]
        target_port = target.port or DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return False
    return parts.hostname == target.hostname and origin_port == target_port


def host_name(host: str) -> str:
    """The name part of a Host header or URL netloc: ``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
