"""Device names: auto, cpu, cuda and cuda:N, each unusable one a SettingsError."""

from __future__ import annotations

import pytest
import torch

from reverie.devices import resolve_device
from reverie.errors import SettingsError


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "mps", ""])
def test_unknown_devices_are_refused(name: str) -> None:
    if torch.cuda.is_available() and name == "cuda:x":
        pytest.skip("torch parses this differently with a GPU")
    with pytest.raises(SettingsError, match=r"device|GPU"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so() -> None:
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_that_is_not_there_is_refused() -> None:
    with pytest.raises(SettingsError, match="no GPU 99"):
        resolve_device("cuda:99")
