"""How a batch should use one machine: one dream on every thread, or several side by side on fewer.

Run from the repository root (about 5 minutes on a 2-core CPU):

    .venv/bin/python bench/bench_local.py

* **Thread scaling.** One dream of a 512 px photo (EfficientNet-Lite0, the default settings) with 1
  thread and with every core's thread: seconds per step, and the speed-up and parallel efficiency.
* **Arrangements.** A batch of photos at 512 px through :class:`reverie.cluster.LocalEngine` with one
  worker on every thread, and with one worker per core on one thread each (and, on 4 cores or more,
  two threads each): photos per second.
* **Projection** (not measured) to 8 and 16 cores from the measured efficiency (Amdahl's law: the
  share of a step that threads speed up, from the two thread counts measured).

Figures are printed and written to bench/local.json and bench/LOCAL.md.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from reverie import Dreamer, dream
from reverie.batch import Batch, collect_items
from reverie.cluster import LocalEngine
from reverie.io.images import load_image, save_image
from reverie.render import Progress
from reverie.samples import sample_path
from reverie.settings import DreamSettings
from reverie.tasks import check_engine
from reverie.tensors import resize_picture

BENCH = Path(__file__).resolve().parent
SETTINGS = DreamSettings(max_side=512)
PHOTOS = 8


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seconds_per_step(dreamer: Dreamer, threads: int) -> float:
    """The median seconds of a step of the largest octave, one dream on ``threads`` threads."""
    picture = resize_picture(load_image(sample_path("chelsea")), (768, 512))
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: list[float] = []
    last = [time.perf_counter()]

    def clock(event: Progress) -> None:
        now = time.perf_counter()
        if event.octave == event.octaves:
            times.append(now - last[0])
        last[0] = now

    try:
        dream(picture, dreamer=dreamer, max_side=512, steps=6, octaves=2, progress=clock)
    finally:
        torch.set_num_threads(saved)
    return sorted(times[1:])[len(times[1:]) // 2]


def batch_rate(folder: Path, workers: int, threads: int, round_: int = 0) -> dict[str, float]:
    """Photos per second of the batch with ``workers`` dreams side by side on ``threads`` threads each."""
    out = folder / f"out-{workers}x{threads}-{round_}"
    out.mkdir()
    items = collect_items([folder / "photos"], out, False, ".png")
    engine = LocalEngine(workers, threads)
    settings = check_engine(SETTINGS, "", "cpu", 10**8)
    engine.dreamers.for_task(Batch(items, out, settings, device="cpu").todo[0])  # model loaded first
    started = time.perf_counter()
    summary = Batch(items, out, settings, device="cpu").run(engine)
    seconds = time.perf_counter() - started
    assert summary.done == len(items), summary
    return {"workers": workers, "threads": threads, "seconds": seconds, "photos_per_s": len(items) / seconds}


def amdahl(speed_up: float, measured_threads: int) -> float:
    """The share of a step that threads speed up, from its speed-up on ``measured_threads`` threads."""
    if measured_threads < 2:
        return 1.0
    return (1 - 1 / speed_up) / (1 - 1 / measured_threads)


def projection(single_rate: float, parallel: float, count: int) -> list[dict[str, float]]:
    """Photos per second on ``count`` cores, for each way of splitting them into workers, from the
    one-thread rate and Amdahl's parallel share (cores perfectly shared: no memory-bandwidth limit)."""
    rows = []
    for threads in [t for t in (1, 2, 4, 8, 16) if t <= count and count % t == 0]:
        speed_up = 1 / ((1 - parallel) + parallel / threads)
        rows.append(
            {
                "cores": count,
                "workers": count // threads,
                "threads": threads,
                "photos_per_s": single_rate * speed_up * count / threads,
            }
        )
    return rows


def main() -> None:
    count = cores()
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {count} cores", "torch": torch.__version__}
    dreamer = Dreamer(device="cpu")
    dream(load_image(sample_path("chelsea")), dreamer=dreamer, max_side=128, steps=1, octaves=1)  # warm-up
    one, every = seconds_per_step(dreamer, 1), seconds_per_step(dreamer, count)
    results["scaling"] = {
        "threads": count,
        "one_thread_s": one,
        "all_threads_s": every,
        "speed_up": one / every,
        "efficiency": one / every / count,
        "parallel_share": amdahl(one / every, count),
    }
    print(f"a step: {one:.3f} s on 1 thread, {every:.3f} s on {count} (x{one / every:.2f})")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "photos").mkdir()
        for index in range(PHOTOS):
            photo = load_image(sample_path("chelsea" if index % 2 else "coffee"))
            left = 8 * index
            save_image(folder / "photos" / f"p{index}.png", type(photo)(photo.rgb[:, left : left + 440]))
        arrangements = [(1, count), (count, 1)] + ([(count // 2, 2)] if count >= 4 else [])
        best: dict[tuple[int, int], dict[str, float]] = {}
        for round_ in range(
            2
        ):  # alternating, the better of two: the first run of a shape pays oneDNN's set-up
            for workers, threads in arrangements:
                rate = batch_rate(folder, workers, threads, round_)
                print(f"{workers} worker(s) x {threads} thread(s): {rate['photos_per_s']:.3f} photos/s")
                if rate["photos_per_s"] > best.get((workers, threads), {"photos_per_s": 0.0})["photos_per_s"]:
                    best[workers, threads] = rate
        results["arrangements"] = [best[arrangement] for arrangement in arrangements]
    single = next(r for r in results["arrangements"] if r["threads"] == 1)["photos_per_s"] / count
    parallel = results["scaling"]["parallel_share"]
    results["projection"] = [row for cores_ in (8, 16) for row in projection(single, parallel, cores_)]
    write(results)


def write(results: dict[str, Any]) -> None:
    (BENCH / "local.json").write_text(json.dumps(results, indent=1))
    (BENCH / "LOCAL.md").write_text(report(results))
    print(f"wrote {BENCH / 'LOCAL.md'}")


def one_worker_check(results: dict[str, Any]) -> str:
    """How the measured one-worker rate compares with what the step's thread scaling predicts."""
    count = results["scaling"]["threads"]
    rows = {(row["workers"], row["threads"]): row["photos_per_s"] for row in results["arrangements"]}
    if (1, count) not in rows or (count, 1) not in rows:
        return ""
    predicted = rows[count, 1] / count * results["scaling"]["speed_up"]
    return (
        f"One worker on {count} threads did {rows[1, count]:.2f} photos/s, where the step's scaling "
        f"predicts {predicted:.2f}: the smaller octaves and the work between steps share threads worse "
        "than the largest octave's step, so the projection below is, if anything, generous to "
        "workers of many threads."
    )


def report(results: dict[str, Any]) -> str:
    scaling = results["scaling"]
    best = max(results["arrangements"], key=lambda row: row["photos_per_s"])
    lines = [
        "# A batch on one machine: workers and threads",
        "",
        f"Made by `bench/bench_local.py` on {results['machine']}, torch {results['torch']}, "
        f"EfficientNet-Lite0 at 512 px with the default settings, {PHOTOS} photos per batch, one run.",
        "",
        "## Thread scaling of one dream",
        "",
        "| threads | s per step | speed-up | efficiency |",
        "|---|---|---|---|",
        f"| 1 | {scaling['one_thread_s']:.3f} | 1.00 | 1.00 |",
        f"| {scaling['threads']} | {scaling['all_threads_s']:.3f} | {scaling['speed_up']:.2f} | "
        f"{scaling['efficiency']:.2f} |",
        "",
        f"Amdahl's parallel share from these: {scaling['parallel_share']:.2f}.",
        "",
        "## Arrangements of a batch",
        "",
        "| workers x threads | seconds | photos/s |",
        "|---|---|---|",
        *[
            f"| {row['workers']} x {row['threads']} | {row['seconds']:.1f} | {row['photos_per_s']:.3f} |"
            for row in results["arrangements"]
        ],
        "",
        f"Best here: {best['workers']} x {best['threads']}. " + one_worker_check(results),
        "",
        "## Projection to 8 and 16 cores (not measured)",
        "",
        "From the one-thread rate measured here and the parallel share above, cores shared perfectly. "
        "Memory bandwidth, which a 16-core machine shares between its workers, is left out: the "
        "projection favours one-thread workers more than a real machine will.",
        "",
        "| cores | workers x threads | photos/s |",
        "|---|---|---|",
        *[
            f"| {row['cores']} | {row['workers']} x {row['threads']} | {row['photos_per_s']:.2f} |"
            for row in results["projection"]
        ],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
