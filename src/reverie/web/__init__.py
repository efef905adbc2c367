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
from contextlib import suppress
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
    "reachable_hosts",
    "serve",
]

#: Addresses that mean "every address of this machine".
EVERY_ADDRESS = ("0.0.0.0", "::", "")
#: Documentation addresses (RFC 5737, RFC 3849) a UDP socket is "connected" to, which sends
#: nothing, to learn which of this machine's addresses its routes to other networks leave from.
ROUTE_PROBES = {socket.AF_INET: "198.51.100.1", socket.AF_INET6: "2001:db8::1"}


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
    if host in EVERY_ADDRESS:
        return ("*",)
    return (*LOOPBACK_NAMES, host if ":" not in host else f"[{host}]")


def reachable_hosts(host: str) -> list[str]:
    """Host names (IPv6 addresses in brackets) that other machines can open a server listening on
    ``host`` at: ``host`` itself, or for every address (0.0.0.0, ::), this machine's name if it
    names a non-loopback address here, then its addresses that lead elsewhere; the loopback address
    when it has none (no network)."""
    if host not in EVERY_ADDRESS:
        return [f"[{host}]" if ":" in host else host]
    families = (socket.AF_INET, socket.AF_INET6) if host == "::" else (socket.AF_INET,)
    addresses = [address for family in families for address in outward_addresses(family)]
    name = socket.gethostname()
    found = [name] if name and outward_addresses(socket.AF_UNSPEC, name) else []
    found += [f"[{address}]" if ":" in address else address for address in dict.fromkeys(addresses)]
    return found or ["127.0.0.1"]


def outward_addresses(family: socket.AddressFamily, name: str = "") -> list[str]:
    """Addresses of this machine that are neither loopback nor link-local: those ``name``
    resolves to, or without a name, the one its route to other networks leaves from (and what the
    machine's own name resolves to)."""
    found: list[str] = []
    if not name:
        with suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((ROUTE_PROBES[family], 9))
            found.append(probe.getsockname()[0])
        name = socket.gethostname()
    with suppress(OSError):
        found += [info[4][0] for info in socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)]
    return [address for address in dict.fromkeys(found) if leads_elsewhere(address)]


def leads_elsewhere(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified)


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
    on_ready: Callable[[WebConfig], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Run the app until SIGINT or SIGTERM; a running job is then marked interrupted.

    The data folder is held for this server (a second one on it is refused before it touches the
    first one's jobs, or its token), the port taken and the job store checked before anything else,
    so a failure to start is one line and never follows a line saying the server is up;
    ``on_ready`` is called once it is, with the config the server runs with (its token in place).
    """
    import uvicorn

    with held_data_folder(config.data_dir):
        sock = listening_socket(host, port)
        try:

            def ready() -> None:
                if on_ready is not None:
                    on_ready(app.state.config)

            app = create_app(config, ready)
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
