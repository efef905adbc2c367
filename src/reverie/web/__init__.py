"""Reverie in the browser: ``reverie serve`` starts a local web app over the public API.

The app (:mod:`reverie.web.app`) validates uploads and reports jobs; jobs live in SQLite in the
data folder (:mod:`reverie.web.jobs`) and are dreamed by background workers
(:mod:`reverie.web.worker`). Every request passes :mod:`reverie.web.guard` first.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

from reverie.errors import ResourceError, one_line
from reverie.web.app import LOOPBACK_NAMES, WebConfig, create_app
from reverie.web.jobs import held_data_folder

__all__ = [
    "WebConfig",
    "allowed_hosts",
    "create_app",
    "default_data_dir",
    "is_loopback",
    "listening_socket",
    "serve",
]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/reverie``, else ``~/.local/share/reverie``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "reverie"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> tuple[str, ...]:
    """Host names to answer to when listening on ``host``: the loopback names plus ``host``, or any
    name when listening on every address (0.0.0.0 or ::), where the machine's names are unknown
    (such a server needs its access token instead)."""
    if host in ("0.0.0.0", "::", ""):
        return ("*",)
    return (*LOOPBACK_NAMES, host if ":" not in host else f"[{host}]")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a one-line error (the port in use, an
    address this machine does not have) before anything says the server is up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except socket.gaierror as error:
        raise ResourceError(f"cannot listen on {host}: {one_line(error)}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ResourceError(f"port {port} is in use; pick another with --port") from None
        raise ResourceError(f"cannot listen on {host}:{port}: {one_line(error)}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    config: WebConfig,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Run the app until SIGINT or SIGTERM; a running job is then marked interrupted.

    The data folder is held for this server (a second one on it is refused before it touches the
    first one's jobs), the port taken and the job store checked before anything else, so a failure
    to start is one line and never follows a line saying the server is up; ``on_ready`` is called
    once it is.
    """
    import uvicorn

    with held_data_folder(config.data_dir):
        sock = listening_socket(host, port)
        try:
            app = create_app(config, on_ready)
            unrecorded = app.state.store.unrecorded_files()
            if unrecorded and warn is not None:
                warn(
                    f"{unrecorded} job(s) in {config.data_dir} have files but no record in its database "
                    "(restored from an older backup?); their files are left as they are"
                )
            server = uvicorn.Server(
                uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10, lifespan="on")
            )
            server.run(sockets=[sock])
        finally:
            sock.close()
