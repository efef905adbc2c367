"""Shared fixtures: the bundled real photos and the real embedded model, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reverie.imaging import Picture, load_image, resize_picture
from reverie.models import Backbone, load_model
from reverie.samples import sample_path

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
