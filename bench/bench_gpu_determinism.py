"""What same-pixels-every-run costs on a GPU: a 1024 px dream with cuDNN deterministic vs autotuned.

Reverie makes CUDA dreams deterministic (``cudnn.deterministic``, no autotuner, while a dream runs:
``reverie.render.deterministic_cudnn``), because with
cuDNN's autotuner and its non-deterministic kernels the same settings gave pictures up to 181/255
apart run after run. This measures the price, alternating the two modes in one process, and writes
bench/GPU_DETERMINISM.md. Needs a CUDA GPU:

    .venv/bin/python bench/bench_gpu_determinism.py
"""

from __future__ import annotations

import contextlib
import platform
import time
from pathlib import Path

import numpy as np
import torch

import reverie.render
from reverie import Dreamer, dream
from reverie.io.images import load_image
from reverie.samples import sample_path
from reverie.tensors import resize_picture

SETTINGS = {"layers": "blocks.8,blocks.11", "steps": 10, "octaves": 4, "max_side": 1024}
REPEATS = 3
DETERMINISTIC = reverie.render.deterministic_cudnn


def set_mode(mode: str) -> None:
    """Reverie's deterministic cuDNN, or the autotuner (Reverie's switch replaced by a no-op)."""
    reverie.render.deterministic_cudnn = DETERMINISTIC if mode == "deterministic" else contextlib.nullcontext
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = mode == "autotuned"


def timed(dreamer: Dreamer, picture, mode: str) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds per dream (after a warm-up) and two results of the same settings."""
    set_mode(mode)
    first = dream(picture, dreamer=dreamer, **SETTINGS).picture.rgb
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(REPEATS):
        last = dream(picture, dreamer=dreamer, **SETTINGS).picture.rgb
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / REPEATS, first, last


def main() -> None:
    dreamer = Dreamer(device="cuda")
    picture = resize_picture(load_image(sample_path("chelsea")), (1024, 681))
    rows = []
    for mode in ("deterministic", "autotuned", "deterministic", "autotuned"):
        seconds, first, last = timed(dreamer, picture, mode)
        spread = int(np.abs(np.rint(first * 255) - np.rint(last * 255)).max())
        rows.append((mode, seconds, spread))
        print(f"{mode:>13}: {seconds:.3f} s per dream; largest difference between two runs {spread}/255")
    best = {mode: min(s for m, s, _ in rows if m == mode) for mode in ("deterministic", "autotuned")}
    lines = [
        "# Same pixels every run on a GPU: what it costs",
        "",
        f"Measured by `bench/bench_gpu_determinism.py` on {torch.cuda.get_device_name()} "
        f"(torch {torch.__version__}, {platform.python_implementation()} {platform.python_version()}).",
        "A 1024x681 dream of the sample cat, `blocks.8,blocks.11`, 10 steps x 4 octaves; "
        f"each figure the mean of {REPEATS} dreams after a warm-up, the modes alternated.",
        "",
        "| mode | seconds per dream | largest difference between two runs of the same settings |",
        "| --- | --- | --- |",
        *(f"| {mode} | {seconds:.3f} | {spread}/255 |" for mode, seconds, spread in rows),
        "",
        f"Reverie uses the deterministic mode: {best['deterministic'] / best['autotuned']:.2f}x the time "
        "of the autotuned one, and the same pixels every run (tested in tests/test_devices.py on a GPU).",
        "",
    ]
    (Path(__file__).parent / "GPU_DETERMINISM.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
