"""Reverie in the browser: ``reverie serve`` starts a local web app over the public API.

The app (:mod:`reverie.web.app`) validates uploads and reports jobs; jobs live in SQLite in the
data folder (:mod:`reverie.web.jobs`) and are dreamed by background workers
(:mod:`reverie.web.worker`).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from reverie.web.app import LOOPBACK_NAMES, WebConfig, create_app

__all__ = ["WebConfig", "allowed_hosts", "create_app", "default_data_dir", "is_loopback", "serve"]


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
    name when listening on every address (0.0.0.0 or ::), where the machine's names are unknown."""
    if host in ("0.0.0.0", "::", ""):
        return ("*",)
    return (*LOOPBACK_NAMES, host if ":" not in host else f"[{host}]")


def serve(config: WebConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app until SIGINT or SIGTERM; a running job is then marked interrupted."""
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
