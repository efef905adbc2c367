"""Photo dreams with and without the random views: every look on both sample photos, dreamed with
``--transforms roll`` (DeepDream's own shift, the default for photos) and ``--transforms all`` (the
picture also scaled by up to 5% and turned by up to 5 degrees each step, as ``--param fft`` does).

Run from the repository root (about 2 minutes on a 2-core CPU):

    .venv/bin/python bench/bench_transforms.py

Each dream uses the command line's defaults but for the look (and ``--max-side 384``). Objective:
the look's own objective on the finished picture, seen without any shift or view. High-frequency
share of the dream's detail: the share of the spectral energy of (dream - photo) above half the
Nyquist frequency, so the photo's own texture is left out. Seconds: wall time of the dream. Results
go to bench/transforms.json, bench/TRANSFORMS.md and docs/transforms.jpg (each look's two dreams
side by side).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from reverie import Dreamer  # noqa: E402
from reverie.io.images import Picture, load_image, save_image  # noqa: E402
from reverie.models import get_spec  # noqa: E402
from reverie.objectives import parse_layer_spec  # noqa: E402
from reverie.render import tiled_gradient  # noqa: E402
from reverie.samples import sample_path  # noqa: E402
from reverie.settings import DreamSettings  # noqa: E402
from reverie.sheet import contact_sheet  # noqa: E402
from reverie.tasks import DreamTask  # noqa: E402
from reverie.tensors import resize_picture, working_picture  # noqa: E402
from test_params import high_frequency_share  # noqa: E402  (the tests' measure)

PHOTOS = ("chelsea", "coffee")
MAX_SIDE = 384
MODES = ("roll", "all")


def objective_on(dreamer: Dreamer, layers: str, rgb: np.ndarray) -> float:
    """The look's objective on ``rgb`` itself: no roll, no view, one whole-picture pass."""
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    _, loss = tiled_gradient(dreamer.model, parse_layer_spec(layers), image, max(image.shape[-2:]), 0.0)
    return loss


def measure(dreamer: Dreamer, photo: str, look: str, layers: str, mode: str) -> tuple[dict, np.ndarray]:
    settings = DreamSettings(preset=look, max_side=MAX_SIDE, transforms=mode)
    started = time.perf_counter()
    rgb = DreamTask(sample_path(photo), settings=settings, device="cpu").run(dreamer).picture.rgb
    seconds = time.perf_counter() - started
    original = working_picture(load_image(sample_path(photo)), MAX_SIDE).rgb
    figures = {
        "objective": objective_on(dreamer, layers, rgb),
        "detail_high_frequency": high_frequency_share(rgb - original),
        "seconds": seconds,
    }
    return figures, rgb


def half(rgb: np.ndarray) -> np.ndarray:
    """A panel of the picture at half size: the sheet stays small enough to commit."""
    height, width = rgb.shape[:2]
    return resize_picture(Picture(rgb), (width // 2, height // 2)).rgb


def main() -> None:
    dreamer = Dreamer(device="cpu")
    rows: list[dict[str, Any]] = []
    panels: list[tuple[str, np.ndarray]] = []
    for photo in PHOTOS:
        for look, layers in get_spec(dreamer.model_name).presets.items():
            row: dict[str, Any] = {"photo": photo, "look": look}
            for mode in MODES:
                row[mode], rgb = measure(dreamer, photo, look, layers, mode)
                panels.append((f"{photo} {look} {mode}", half(rgb)))
            roll, views = row["roll"], row["all"]
            print(
                f"{photo} {look}: objective roll {roll['objective']:.3f}, all {views['objective']:.3f}; "
                f"detail high-frequency roll {roll['detail_high_frequency']:.3f}, "
                f"all {views['detail_high_frequency']:.3f}; seconds {roll['seconds']:.1f}, "
                f"{views['seconds']:.1f}",
                flush=True,
            )
            rows.append(row)
    (BENCH / "transforms.json").write_text(json.dumps(rows, indent=1))
    (BENCH / "TRANSFORMS.md").write_text(report(rows))
    save_image(BENCH.parent / "docs" / "transforms.jpg", contact_sheet(panels, columns=4))
    print(f"wrote {BENCH / 'TRANSFORMS.md'} and docs/transforms.jpg")


def report(rows: list[dict[str, Any]]) -> str:
    def change(row: dict[str, Any], key: str) -> float:
        return 100 * (row["all"][key] / row["roll"][key] - 1)

    stronger = sum(row["all"]["objective"] > row["roll"]["objective"] for row in rows)
    smoother = sum(row["all"]["detail_high_frequency"] < row["roll"]["detail_high_frequency"] for row in rows)
    lines = [
        "# Photo dreams: the roll alone against the roll with random scales and turns",
        "",
        f"Made by `bench/bench_transforms.py` (efficientnet_lite0, CPU). Each look of the model on both "
        f"sample photos at `--max-side {MAX_SIDE}`, with the defaults otherwise, dreamed with "
        "`--transforms roll` (the default for photos) and `--transforms all` (each step also sees the "
        "picture scaled by up to 5% and turned by up to 5 degrees). Objective: the look's objective on the "
        "finished picture, seen plainly. Detail high-frequency share: the share of the spectral energy of "
        "(dream - photo) above half the Nyquist frequency.",
        "",
        "| photo | look | objective, roll | objective, all | change | detail HF share, roll | "
        "detail HF share, all | change | seconds, roll | seconds, all |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {row['photo']} | {row['look']} | {row['roll']['objective']:.3f} | "
            f"{row['all']['objective']:.3f} | "
            f"{change(row, 'objective'):+.0f}% | {row['roll']['detail_high_frequency']:.3f} | "
            f"{row['all']['detail_high_frequency']:.3f} | {change(row, 'detail_high_frequency'):+.0f}% | "
            f"{row['roll']['seconds']:.1f} | {row['all']['seconds']:.1f} |"
            for row in rows
        ],
        "",
        f"With the views: a higher objective on {stronger} of {len(rows)}, a smaller high-frequency share "
        f"of the detail on {smoother} of {len(rows)}; mean objective change "
        f"{np.mean([change(row, 'objective') for row in rows]):+.1f}%, mean detail high-frequency change "
        f"{np.mean([change(row, 'detail_high_frequency') for row in rows]):+.1f}%.",
        "",
        decision(stronger, smoother, len(rows)),
        "",
        "![each look with the roll alone (left) and with the views (right)](../docs/transforms.jpg)",
        "",
    ]
    return "\n".join(lines)


def decision(stronger: int, smoother: int, total: int) -> str:
    """What the figures support: a new default only where both the objective and the smoothness do."""
    if stronger * 2 > total and smoother * 2 > total:
        return "Both figures favour the views on most photo dreams: `all` would be the better default."
    return (
        "The figures disagree: the views smooth the detail but weaken most looks' objective, and the "
        "pictures side by side differ only in softness. The default for photos stays `roll` "
        "(`--transforms auto`); `--transforms all` is there for softer detail."
    )


if __name__ == "__main__":
    main()
