"""Pixel-space against Fourier-space dreams from noise: the objective reached and how much of the
picture is high-frequency noise, channel by channel.

Run from the repository root (about 3 minutes on a 2-core CPU):

    .venv/bin/python bench/bench_params.py

For several channels of two layers of efficientnet_lite0, a 160x160 canvas is dreamed with the
same steps (20 x 2 octaves; ``--param fft`` takes them as 40 steps at one scale) in pixel space
(``--param pixel``, DeepDream's own, on white noise) and in Fourier space with the random views
(``--param fft``, on 1/f noise). Objective: the channel's mean activation on the finished picture
itself, seen without any shift or view. High-frequency share: the share of the picture's luma
spectral energy above half the Nyquist frequency. Results go to bench/params.json, bench/PARAMS.md
and docs/params.png (each channel's two pictures side by side).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from reverie import Dreamer, NoiseCanvas  # noqa: E402
from reverie.io.images import save_image  # noqa: E402
from reverie.objectives import parse_layer_spec  # noqa: E402
from reverie.render import tiled_gradient  # noqa: E402
from reverie.settings import DreamSettings  # noqa: E402
from reverie.sheet import contact_sheet  # noqa: E402
from reverie.tasks import DreamTask  # noqa: E402
from test_params import high_frequency_share  # noqa: E402  (the tests' measure)

CHANNELS = ("blocks.8:3", "blocks.8:17", "blocks.8:40", "blocks.11:5", "blocks.11:20", "blocks.11:60")
SIDE = 160


def objective_on(dreamer: Dreamer, term: str, rgb: np.ndarray) -> float:
    """The channel's objective on ``rgb`` itself: no roll, no view, one whole-picture pass."""
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    _, loss = tiled_gradient(dreamer.model, parse_layer_spec(term), image, max(image.shape[-2:]), 0.0)
    return loss


def main() -> None:
    dreamer = Dreamer(device="cpu")
    rows: list[dict[str, Any]] = []
    panels: list[tuple[str, np.ndarray]] = []
    for term in CHANNELS:
        row: dict[str, Any] = {"channel": term}
        for param in ("pixel", "fft"):
            settings = DreamSettings(layers=term, steps=20, octaves=2, param=param)
            rgb = DreamTask(NoiseCanvas(SIDE, SIDE), settings=settings, device="cpu").run(dreamer).picture.rgb
            row[param] = {
                "objective": objective_on(dreamer, term, rgb),
                "high_frequency": high_frequency_share(rgb),
            }
            panels.append((f"{term} {param}", rgb))
        pixel, fourier = row["pixel"], row["fft"]
        print(
            f"{term}: objective pixel {pixel['objective']:.3f}, fft {fourier['objective']:.3f}; "
            f"high-frequency share pixel {pixel['high_frequency']:.2f}, fft {fourier['high_frequency']:.2f}"
        )
        rows.append(row)
    (BENCH / "params.json").write_text(json.dumps(rows, indent=1))
    (BENCH / "PARAMS.md").write_text(report(rows))
    sheet = contact_sheet(panels, columns=4)
    save_image(BENCH.parent / "docs" / "params.png", sheet)
    print(f"wrote {BENCH / 'PARAMS.md'} and docs/params.png")


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Dreams from noise: pixel space against Fourier space",
        "",
        "Made by `bench/bench_params.py` (efficientnet_lite0, CPU). A 160x160 canvas per channel, 20 steps x "
        "2 octaves (`--param fft`: 40 steps at one scale), the default step size and seed. Objective: the "
        "channel's mean activation on the finished picture, seen plainly. High-frequency share: the share "
        "of the luma's spectral energy above half the Nyquist frequency (white noise: about 0.8).",
        "",
        "| channel | objective, pixel | objective, fft | high-frequency share, pixel | "
        "high-frequency share, fft |",
        "|---|---|---|---|---|",
        *[
            f"| `{row['channel']}` | {row['pixel']['objective']:.3f} | {row['fft']['objective']:.3f} | "
            f"{row['pixel']['high_frequency']:.2f} | {row['fft']['high_frequency']:.2f} |"
            for row in rows
        ],
        "",
        f"Mean high-frequency share: pixel {np.mean([r['pixel']['high_frequency'] for r in rows]):.2f}, "
        f"fft {np.mean([r['fft']['high_frequency'] for r in rows]):.2f}. Channels where fft reached the "
        f"higher objective: {sum(r['fft']['objective'] > r['pixel']['objective'] for r in rows)} "
        f"of {len(rows)}.",
        "",
        "![each channel in pixel space (left) and Fourier space (right)](../docs/params.png)",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
