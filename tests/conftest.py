"""Shared fixtures: the bundled real photos and the real embedded model, loaded once per session."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reverie.io.images import Picture, load_image
from reverie.models import Backbone, load_model
from reverie.samples import sample_path
from reverie.tensors import resize_picture
from videos import write_test_video

torch.set_num_threads(max(1, torch.get_num_threads()))


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
def ray_cluster():
    """A real Ray cluster on this machine: a head and a second node, one CPU each, token-protected."""
    environment = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *common]
    try:
        subprocess.run(head, check=True, capture_output=True, timeout=120)
        subprocess.run(
            [RAY, "start", f"--address={address}", *common], check=True, capture_output=True, timeout=120
        )
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
