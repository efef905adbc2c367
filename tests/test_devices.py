"""Device names: auto, cpu, cuda and cuda:N, each unusable one a SettingsError."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from reverie import devices, dream
from reverie.devices import cpu_flags, resolve_device, warn_if_bf16_is_slow
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


# --------------------------------------------------------------------------- bf16 where it is slow

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_cpu_flags_come_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd bf16 i8mm\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512f"}
    assert "bf16" in cpu_flags(arm)  # type: ignore[operator]
    assert cpu_flags(tmp_path / "missing") is None
    assert cpu_flags(tmp_path) is None  # unreadable as a file


def bf16_warnings(
    native: bool, monkeypatch: pytest.MonkeyPatch, *calls: tuple[str, torch.device]
) -> list[str]:
    """The warnings of ``warn_if_bf16_is_slow`` for each (precision, device), on a CPU with or
    without native bf16, in a fresh run."""
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(devices, "_warned_slow_bf16", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # no deduplication but ours
        for precision, device in calls:
            warn_if_bf16_is_slow(precision, device)
    return [str(warning.message) for warning in caught]


def test_bf16_on_a_cpu_without_it_warns_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    said = bf16_warnings(False, monkeypatch, ("fp32", CPU), ("bf16", CPU), ("bf16", CPU), ("bf16", GPU))
    assert said == [
        "bf16 precision is slower on this CPU, which has no native bfloat16 (AVX512-BF16 or AMX) and "
        "emulates it: fp32 is faster here"
    ]


def test_bf16_on_a_gpu_or_a_cpu_with_it_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bf16_warnings(False, monkeypatch, ("bf16", GPU), ("bf16", torch.device("cuda:1"))) == []
    assert bf16_warnings(True, monkeypatch, ("bf16", CPU), ("fp32", CPU)) == []


# ------------------------------------------------------------------ on a GPU, when there is one

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
#: Big enough that the GPU tiles, picks cuDNN algorithms and runs several octaves.
GPU_SETTINGS = {"layers": "blocks.8", "steps": 4, "octaves": 3, "max_side": 640, "tile_size": 512, "seed": 3}


@pytest.fixture(scope="module")
def gpu_dreamer():
    from reverie import Dreamer

    return Dreamer(device="cuda")


def eight_bit(rgb) -> np.ndarray:
    return np.rint(rgb * 255).astype(int)


@gpu
def test_a_gpu_dream_is_the_same_watched_or_not_and_run_after_run(gpu_dreamer, chelsea_path) -> None:
    events = []
    watched = dream(chelsea_path, dreamer=gpu_dreamer, progress=events.append, **GPU_SETTINGS).picture.rgb
    unwatched = dream(chelsea_path, dreamer=gpu_dreamer, **GPU_SETTINGS).picture.rgb
    again = dream(chelsea_path, dreamer=gpu_dreamer, **GPU_SETTINGS).picture.rgb
    assert len(events) == 3 * 4 and events[-1].image.device.type == "cuda"
    assert np.abs(eight_bit(watched) - eight_bit(unwatched)).max() <= 1
    assert np.abs(eight_bit(unwatched) - eight_bit(again)).max() <= 1


@gpu
def test_a_gpu_dream_honours_masks_colours_and_bf16(gpu_dreamer, small_cat, tmp_path) -> None:
    from PIL import Image

    mask = np.zeros((80, 120), np.uint8)
    mask[:, 60:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    masked = dream(
        small_cat, dreamer=gpu_dreamer, mask=str(tmp_path / "mask.png"), steps=4, octaves=2, max_side=0
    )
    change = np.abs(masked.picture.rgb - small_cat.rgb).mean(axis=2)
    assert change[:, :45].max() == 0.0 and change[:, 75:].mean() > 0.01
    half = dream(small_cat, dreamer=gpu_dreamer, precision="bf16", steps=4, octaves=2, max_side=0).picture.rgb
    full = dream(small_cat, dreamer=gpu_dreamer, steps=4, octaves=2, max_side=0).picture.rgb
    assert not np.array_equal(half, full) and np.abs(half - small_cat.rgb).mean() > 0.01


@gpu
def test_the_cli_on_a_gpu_gives_the_same_picture_with_and_without_progress(chelsea_path, tmp_path) -> None:
    from reverie.cli import main
    from reverie.io.images import load_image

    args = ["dream", str(chelsea_path), "--device", "cuda", "--steps", "3", "--octaves", "3", "--seed", "5"]
    assert main([*args, "-o", str(tmp_path / "quiet.png"), "-q"]) == 0
    assert main([*args, "-o", str(tmp_path / "shown.png")]) == 0
    quiet, shown = (eight_bit(load_image(tmp_path / name).rgb) for name in ("quiet.png", "shown.png"))
    assert np.abs(quiet - shown).max() <= 1
