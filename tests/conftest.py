"""Shared fixtures: the bundled real photos and the real embedded model, loaded once per session."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reverie.io.images import Picture, load_image
from reverie.models import Backbone, load_model
from reverie.samples import sample_path
from reverie.tensors import resize_picture
from videos import write_test_video

torch.set_num_threads(max(1, torch.get_num_threads()))


#: Fixtures that start other processes (a Ray cluster, a real ``reverie serve``) or a browser: a test
#: using one is slow (``pytest -m "not slow"`` leaves it out).
SLOW_FIXTURES = frozenset(
    {"ray_cluster", "cluster_client", "server", "page", "browser", "loopback_server", "open_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a slow fixture as ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def reverie_temporaries() -> set[Path]:
    """Folders and files Reverie names in the system's temporary folder (``reverie-*``)."""
    return set(Path(tempfile.gettempdir()).glob("reverie-*"))


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_the_temporary_folder():
    """The whole suite (killed workers included) leaves no ``reverie-*`` copy of a photo behind."""
    before = reverie_temporaries()
    yield
    left = sorted(map(str, reverie_temporaries() - before))
    assert not left, f"the tests left these in the temporary folder: {left}"


@pytest.fixture(scope="session")
def chelsea_path() -> Path:
    return sample_path("chelsea")


@pytest.fixture(scope="session")
def coffee_path() -> Path:
    return sample_path("coffee")


@pytest.fixture(scope="session")
def lite0() -> Backbone:
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def small_cat(chelsea_path: Path) -> Picture:
    """The cat photo at 120x80: big enough for the network, small enough for quick dreams."""
    return resize_picture(load_image(chelsea_path), (120, 80))


@pytest.fixture(scope="session")
def cat_strip(chelsea_path: Path) -> Picture:
    """The cat photo at 200x133, wide enough for a window to pan across."""
    return resize_picture(load_image(chelsea_path), (200, 133))


@pytest.fixture(scope="session")
def pan_video(tmp_path_factory, cat_strip: Picture) -> Path:
    """10 frames of 96x64 at 10 fps panning across the cat, with an AAC tone."""
    return write_test_video(tmp_path_factory.mktemp("video") / "pan.mp4", cat_strip)


RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A real Ray cluster on this machine (:func:`two_node_cluster`): its address."""
    with two_node_cluster() as address:
        yield address


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """A real Ray cluster on this machine: a head and a second node, one CPU each, token-protected
    (as the README tells a cluster to be); its address. The benchmarks start theirs here too.

    Its processes are found by their own temporary folder and stopped at the end, so a Ray that
    something else runs on this machine is left alone.
    """
    environment = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp = f"/tmp/ray-{secrets.token_hex(4)}"  # short: Ray's socket paths must fit 107 characters
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = [
        RAY,
        "start",
        "--head",
        f"--port={port}",
        "--include-dashboard=false",
        f"--temp-dir={temp}",
        *common,
    ]
    try:
        subprocess.run(head, check=True, capture_output=True, timeout=120)
        node = [RAY, "start", f"--address={address}", *common]
        subprocess.run(node, check=True, capture_output=True, timeout=120)
        yield address
    finally:
        stop_processes_mentioning(temp)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stop_processes_mentioning(text: str) -> None:
    """SIGTERM, then SIGKILL, every process whose command line mentions ``text`` (a Ray session's
    folder), and their descendants (Ray's agents, which rename themselves)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in listing.splitlines() if len(line.split(None, 2)) == 3]
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in rows:
        children.setdefault(int(ppid), []).append(int(pid))
    doomed = [int(pid) for pid, _, args in rows if text in args and int(pid) != os.getpid()]
    for pid in list(doomed):
        doomed += children.get(pid, [])
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        time.sleep(1)
