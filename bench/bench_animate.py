"""Measure what feeding dreams back does to exposure, colour and flicker, with and without Reverie's fixes.

Run from the repository root (about 3 minutes on a 2-core CPU):

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/bench_animate.py

* Zoom: a long zoom into the sample cat, with the statistics match (Reverie's default) and without
  it (what the other tools do). Drift = each frame's mean luma / saturation minus the first's.
* Video: a camera pan across the cat photo, dreamed with optical-flow coherence (default), with the
  previous frame blended in place (--no-flow) and frame by frame (--blend 0). Flicker = mean
  absolute change between consecutive frames after compensating the source's motion.

Figures are printed and written to bench/animation.json, bench/ANIMATION.md and bench/drift.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from reverie import Dreamer, DreamSettings  # noqa: E402
from reverie.animate.frames import FrameStore  # noqa: E402
from reverie.animate.metrics import exposure_drift, temporal_flicker  # noqa: E402
from reverie.io.images import load_image  # noqa: E402
from reverie.io.video import read_frames  # noqa: E402
from reverie.samples import sample_path  # noqa: E402
from reverie.settings import VideoSettings, ZoomSettings  # noqa: E402
from reverie.tasks import VideoTask, ZoomTask  # noqa: E402
from reverie.tensors import resize_picture  # noqa: E402
from videos import write_test_video  # noqa: E402  (the tests' real video maker)


def zoom_drift(frames: int, side: int) -> dict[str, dict[str, list[float]]]:
    """Per-frame luma and saturation drift of a zoom, stabilised and free."""
    dreamer = Dreamer(device="cpu")
    settings = DreamSettings(steps=8, octaves=2, step_size=0.02, max_side=side)
    runs = {}
    for name, stabilise in [("stabilised", True), ("unstabilised", False)]:
        started = time.perf_counter()
        motion = ZoomSettings(frames=frames, zoom=3.0, stabilise=stabilise)
        drift = exposure_drift(
            list(ZoomTask(sample_path("chelsea"), motion=motion, settings=settings).frames(dreamer))
        )
        runs[name] = {"luma": drift.luma, "saturation": drift.saturation}
        print(
            f"zoom {name:>12}: {frames} frames, max luma drift {drift.max_luma:5.1f}, "
            f"max saturation drift {drift.max_saturation:5.1f} (0..255)  "
            f"[{time.perf_counter() - started:.0f} s]"
        )
    return runs


def video_flicker(frames: int) -> dict[str, dict[str, float]]:
    """Flicker and exposure change of a dreamed pan, three coherence modes."""
    dreamer = Dreamer(device="cpu")
    settings = DreamSettings(steps=8, octaves=2, step_size=0.02, max_side=192)
    photo = resize_picture(load_image(sample_path("chelsea")), (451, 300))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        source = write_test_video(Path(folder) / "pan.mp4", photo, frames, (192, 128), pan=4, fps=12)
        sources = list(read_frames(source))
        source_luma = exposure_drift(sources).luma
        results["source"] = {"flicker": temporal_flicker(sources, sources), "max_luma_drift": 0.0}
        for name, coherence in [
            ("flow (default)", VideoSettings()),
            ("--no-flow", VideoSettings(flow=False)),
            ("--blend 0", VideoSettings(blend=0.0)),
        ]:
            output = Path(folder) / f"{len(results)}.mp4"
            VideoTask(source, output, coherence, keep_frames=True, settings=settings).run(dreamer)
            dreamed = [FrameStore(output).load(i) for i in range(frames)]
            luma = exposure_drift(dreamed).luma
            relative = max(abs(a - b) for a, b in zip(luma, source_luma, strict=True))
            results[name] = {"flicker": temporal_flicker(dreamed, sources), "max_luma_drift": relative}
    for name, figures in results.items():
        print(f"video {name:>15}: flicker {figures['flicker']:5.2f}, luma drift vs source "
              f"{figures['max_luma_drift']:4.1f} (0..255)")  # fmt: skip
    return results


def write_report(zoom: dict, video: dict, frames: int, side: int) -> None:
    (BENCH / "animation.json").write_text(json.dumps({"zoom": zoom, "video": video}, indent=1))
    stable, free = zoom["stabilised"], zoom["unstabilised"]
    peak = lambda values: max(abs(v) for v in values)  # noqa: E731
    lines = [
        "# Animation stability",
        "",
        "Made by `bench/bench_animate.py` (EfficientNet-Lite0, CPU). Units: 0..255.",
        "",
        f"## Zoom: {frames} frames at {side} px, 3% zoom per frame",
        "",
        "| | max luma drift | max saturation drift | last-frame saturation drift |",
        "|---|---|---|---|",
        f"| Reverie (statistics match) | {peak(stable['luma']):.1f} | {peak(stable['saturation']):.1f} | "
        f"{stable['saturation'][-1]:.1f} |",
        f"| without it (`--no-stabilize`, as other tools) | {peak(free['luma']):.1f} | "
        f"{peak(free['saturation']):.1f} | {free['saturation'][-1]:.1f} |",
        "",
        "![drift per frame](drift.png)",
        "",
        "## Video: a 192x128 camera pan",
        "",
        "| mode | flicker (motion-compensated change per frame) | max luma drift vs source |",
        "|---|---|---|",
        *[f"| {name} | {f['flicker']:.2f} | {f['max_luma_drift']:.1f} |" for name, f in video.items()],
        "",
    ]
    (BENCH / "ANIMATION.md").write_text("\n".join(lines))
    plot_drift(zoom)


def plot_drift(zoom: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for axis, key in zip(axes, ["luma", "saturation"], strict=True):
        for name, run in zoom.items():
            axis.plot(np.arange(len(run[key])), run[key], label=name)
        axis.set_title(f"mean {key} minus frame 0")
        axis.set_xlabel("frame")
        axis.axhline(0, color="grey", linewidth=0.5)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(BENCH / "drift.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="zoom frames")
    parser.add_argument("--video-frames", type=int, default=24)
    parser.add_argument("--side", type=int, default=256, help="zoom frame long side, px")
    args = parser.parse_args()
    zoom = zoom_drift(args.frames, args.side)
    video = video_flicker(args.video_frames)
    write_report(zoom, video, args.frames, args.side)
    print(f"wrote {BENCH / 'ANIMATION.md'}")


if __name__ == "__main__":
    main()
