"""Reverie side by side with the plain things a user would write, measured in one run.

    .venv/bin/python bench/bench_versus.py [--tf-python /path/to/python-with-tensorflow] [--quick]

Every comparison alternates the two programs on the same photo, settings and machine, keeps the
faster of two runs of each, and times them two ways: **whole process** (from starting the command to
its output file: imports, weights, the dream, saving) and **compute only** (the dream itself, as each
program reports it). Writes ``bench/VERSUS.md`` and ``bench/versus.json``.

- **Default model** (efficientnet_lite0, 1024 px, 3 octaves x 20 steps, scale 1.4,
  ``blocks.8,blocks.11``): ``reverie dream`` against ``bench/plain_loop.py``, the TensorFlow tutorial's
  loop ported literally to PyTorch, truncated at the deepest layer as the tutorial's Keras model is;
  and the same port run to the logits with hooks, to show what that costs.
- **The tutorial's own loop in TensorFlow** (``bench/reference_tf.py``: InceptionV3, 1024 px, 3 x 10,
  scale 1.3, ``mixed3,mixed5``, no tiling) against ``reverie dream --model inception_v3`` with weights
  of the published layout (random values: timing does not depend on them), whole process; and
  compute only at 512, 1024 and 2048 px.
- **Video**: ``reverie video`` on 24 frames of 540x360 with the default settings and flow, seconds
  per frame, whole process.
- **Start-up**: ``reverie --help``, ``reverie layers``, ``reverie models`` and ``reverie demo`` split into
  start-up, model preparation and dreaming.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
REVERIE = [PYTHON, "-m", "reverie.cli"]


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of ``command`` from start to exit, and what it printed on stdout."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return seconds, done.stdout


def best_of(runs: int, *commands: list[str]) -> list[tuple[float, str]]:
    """Each command run ``runs`` times, alternating; the fastest run of each."""
    results: list[list[tuple[float, str]]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            results[index].append(timed(command))
    return [min(result, key=lambda item: item[0]) for result in results]


def photo_at(side: int, folder: Path) -> Path:
    """The bundled cat, enlarged to ``side`` px on its long side (a 1024 px photo to dream)."""
    from PIL import Image

    from reverie.samples import sample_path

    path = folder / f"cat-{side}.png"
    if not path.exists():
        image = Image.open(sample_path("chelsea")).convert("RGB")
        scale = side / max(image.size)
        image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        ).save(path)
    return path


def reverie_seconds(output: str) -> float:
    """The seconds ``reverie dream`` reports: ``wrote OUT (WxH, 12.3 s)``."""
    return float(output.rsplit(", ", 1)[1].split(" s)")[0])


def default_model(folder: Path, runs: int, steps: int) -> dict:
    photo = photo_at(1024, folder)
    shared = [
        "--octaves",
        "3",
        "--steps",
        str(steps),
        "--octave-scale",
        "1.4",
        "--layers",
        "blocks.8,blocks.11",
    ]
    plain = [
        PYTHON,
        str(BENCH / "plain_loop.py"),
        str(photo),
        str(folder / "plain.png"),
        "--size",
        "1024",
        *shared,
    ]
    hooked = [*plain[:3], str(folder / "hooked.png"), *plain[4:], "--to-logits"]
    ours = [*REVERIE, "dream", str(photo), "-o", str(folder / "reverie.png"), "--max-side", "1024", *shared]
    (plain_s, plain_out), (hooked_s, hooked_out), (ours_s, ours_out) = best_of(runs, plain, hooked, ours)
    pixel_steps = sum(w * h for w, h in json.loads(plain_out)["sizes"]) * steps
    return {
        "work": f"efficientnet_lite0, 1024 px, 3 x {steps}, scale 1.4, blocks.8,blocks.11",
        "pixel_steps": pixel_steps,
        "plain_whole_s": plain_s,
        "plain_dream_s": json.loads(plain_out)["dream_seconds"],
        "hooked_whole_s": hooked_s,
        "hooked_dream_s": json.loads(hooked_out)["dream_seconds"],
        "reverie_whole_s": ours_s,
        "reverie_reported_s": reverie_seconds(ours_out),
        "reverie_dream_s": in_process_reverie(
            "efficientnet_lite0", "", photo, 1024, 3, steps, 1.4, "blocks.8,blocks.11"
        ),
    }


def in_process_reverie(
    model: str, weights: str, photo: Path, side: int, octaves: int, steps: int, scale: float, layers: str
) -> float:
    """Reverie's compute only: a Dreamer made first, then the dream timed (in a fresh process)."""
    code = (
        "import json, sys, time; from reverie import Dreamer, DreamSettings, load_image; "
        f"d = Dreamer({model!r}, weights={weights or None!r}, device='cpu'); p = load_image({str(photo)!r}); "
        f"s = DreamSettings(model={model!r}, layers={layers!r}, steps={steps}, octaves={octaves}, "
        f"octave_scale={scale}, max_side={side}); t = time.perf_counter(); d.dream(p, s); "
        "print(time.perf_counter() - t)"
    )
    return min(float(timed([PYTHON, "-c", code])[1]) for _ in range(2))


def tensorflow(tf_python: str, folder: Path, runs: int, steps: int, sides: tuple[int, ...]) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "models"))
    from torchvision_files import write_published

    from reverie.render import octave_sizes

    weights = write_published("inception_v3", folder)
    rows = []
    for side in sides:
        photo = photo_at(side, folder)
        from PIL import Image

        width, height = Image.open(photo).size
        sizes = octave_sizes((width, height), 3, 1.3, 75)
        job = json.dumps({"layers": "mixed3,mixed5", "sizes": sizes, "steps": steps})
        tf_command = [tf_python, str(BENCH / "reference_tf.py"), job]
        ours = [
            *REVERIE,
            "dream",
            str(photo),
            "-o",
            str(folder / f"inception-{side}.png"),
            "--model",
            "inception_v3",
            "--weights",
            str(weights),
            "--max-side",
            str(side),
            "--octaves",
            "3",
            "--steps",
            str(steps),
            "--octave-scale",
            "1.3",
            "--layers",
            "mixed3,mixed5",
        ]
        (tf_s, tf_out), (ours_s, ours_out) = best_of(runs, tf_command, ours)
        tf_result = json.loads(tf_out.strip().splitlines()[-1])
        rows.append(
            {
                "side": side,
                "tf_whole_s": tf_s,
                "tf_dream_s": tf_result["seconds"],
                "tf_peak_mib": tf_result["peak_rss_mib"],
                "reverie_whole_s": ours_s,
                "reverie_reported_s": reverie_seconds(ours_out),
                "reverie_dream_s": in_process_reverie(
                    "inception_v3", str(weights), photo, side, 3, steps, 1.3, "mixed3,mixed5"
                ),
            }
        )
        print(f"tensorflow {side}: {rows[-1]}", flush=True)
    return {"work": f"inception_v3, 3 x {steps}, scale 1.3, mixed3,mixed5", "rows": rows}


def video(folder: Path, frames: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from reverie.io.images import load_image
    from reverie.samples import sample_path
    from reverie.tensors import resize_picture
    from videos import write_test_video

    wide = resize_picture(load_image(sample_path("chelsea")), (900, 600))
    clip = write_test_video(folder / "clip.mp4", wide, frames=frames, size=(540, 360), pan=6, fps=24)
    seconds, out = timed(
        [*REVERIE, "video", str(clip), "-o", str(folder / "dreamed.mp4"), "--max-side", "540"]
    )
    return {
        "work": f"{frames} frames of 540x360, default settings, flow",
        "whole_s": seconds,
        "s_per_frame": seconds / frames,
        "output": out.strip(),
    }


#: Ways to make a video's later frames cheaper, each timed and judged by its look.
VIDEO_LEVERS = (
    ("as the first frame (10 steps, 4 octaves)", ["--follow-steps", "10", "--follow-octaves", "0"]),
    ("5 steps, 4 octaves", ["--follow-steps", "5", "--follow-octaves", "0"]),
    ("10 steps, the 2 largest octaves", ["--follow-steps", "10", "--follow-octaves", "2"]),
    ("5 steps, the 2 largest octaves (the default)", []),
)


def video_levers(folder: Path, frames: int) -> list[dict]:
    """Each of :data:`VIDEO_LEVERS` on the same clip: seconds per frame (whole process), flicker
    (motion-compensated change between frames, 0..255) and the objective (the default layers' mean
    activation on the dreamed frames), so time saved is weighed against the look."""
    sys.path.insert(0, str(ROOT / "tests"))
    import torch

    from reverie.animate.metrics import temporal_flicker
    from reverie.io.images import load_image
    from reverie.io.video import read_frames
    from reverie.models import load_model
    from reverie.objectives import parse_layer_spec
    from reverie.samples import sample_path
    from reverie.tensors import resize_picture, to_tensor
    from videos import write_test_video

    clip = folder / "levers.mp4"
    if not clip.exists():
        wide = resize_picture(load_image(sample_path("chelsea")), (900, 600))
        write_test_video(clip, wide, frames=frames, size=(540, 360), pan=6, fps=24)
    model = load_model("efficientnet_lite0")
    objective = parse_layer_spec("blocks.8,blocks.11")
    rows = []
    for name, options in VIDEO_LEVERS:
        output = folder / f"lever-{len(rows)}.mp4"
        command = [*REVERIE, "video", str(clip), "-o", str(output), "--max-side", "540", "-q", *options]
        seconds, _ = timed(command)
        dreamed = list(read_frames(output))
        sources = list(read_frames(clip, (dreamed[0].shape[1], dreamed[0].shape[0])))
        with torch.no_grad():
            values = [float(objective(model(to_tensor(frame), objective.layers))) for frame in dreamed]
        rows.append(
            {
                "lever": name,
                "s_per_frame": seconds / frames,
                "flicker": temporal_flicker(dreamed, sources),
                "objective": sum(values) / len(values),
            }
        )
        print(f"video lever {name}: {rows[-1]}", flush=True)
    return rows


def compile_probe() -> dict:
    """``torch.compile`` on a dense network where the shape repeats: InceptionV3's gradient at
    1024x683, eager against compiled, and what compiling costs (run in a fresh process)."""
    code = """
import json, time, torch
from reverie.models import get_spec
from reverie.models.optimise import speed_up
from reverie.objectives import parse_layer_spec
from reverie.render import region_gradient
model = speed_up(get_spec("inception_v3").build().freeze())
objective = parse_layer_spec("mixed3,mixed5")
image = torch.rand(1, 3, 683, 1024).contiguous(memory_format=torch.channels_last)
def per_step(network, steps=4):
    region_gradient(network, objective, image, 0.0)
    started = time.perf_counter()
    for _ in range(steps):
        region_gradient(network, objective, image, 0.0)
    return (time.perf_counter() - started) / steps
eager = [per_step(model)]
started = time.perf_counter()
compiled = torch.compile(model, dynamic=False)
region_gradient(compiled, objective, image, 0.0)
compile_s = time.perf_counter() - started
compiled_s = per_step(compiled)
eager.append(per_step(model))
print(json.dumps({"compile_s": compile_s, "compiled_s_per_step": compiled_s, "eager_s_per_step": eager}))
"""
    return json.loads(timed([PYTHON, "-c", code])[1].strip().splitlines()[-1])


def tile_choice() -> list[dict]:
    """Seconds per step of one octave dreamed whole, in 512 px tiles, and as the default chooses,
    alternating in one fresh process: why memory-bound networks keep a preferred tile."""
    code = """
import json, time, torch
from reverie.models import get_spec
from reverie.models.optimise import speed_up
from reverie.objectives import parse_layer_spec
from reverie.render import render
from reverie.settings import DreamSettings
rows = []
lite_sizes = ((540, 360), (1024, 683), (2048, 1365))
work = (
    ("efficientnet_lite0", "blocks.8,blocks.11", lite_sizes),
    ("inception_v3", "mixed3,mixed5", ((1024, 683),)),
)
for name, layers, sizes in work:
    model = speed_up(get_spec(name).build().freeze())
    objective = parse_layer_spec(layers)
    for width, height in sizes:
        image = torch.rand(1, 3, height, width)
        steps = 2 if width > 1500 else 4
        base = DreamSettings(model=name, layers=layers, steps=steps, octaves=1, max_side=0)
        render(model, objective, image, base.with_changes(steps=1))
        times = {"whole": [], "512": [], "default": []}
        for _ in range(2):
            for label, tile in (("whole", max(width, height)), ("512", 512), ("default", 0)):
                started = time.perf_counter()
                render(model, objective, image, base.with_changes(tile_size=tile))
                times[label].append((time.perf_counter() - started) / steps)
        rows.append({"model": name, "size": f"{width}x{height}", **{k: min(v) for k, v in times.items()}})
print(json.dumps(rows))
"""
    return json.loads(timed([PYTHON, "-c", code])[1].strip().splitlines()[-1])


def start_up(folder: Path, runs: int) -> dict:
    figures = {}
    for name, command in (("--help", ["--help"]), ("layers", ["layers"]), ("models", ["models"])):
        figures[f"reverie {name}"] = statistics.median(timed([*REVERIE, *command])[0] for _ in range(runs))
    imports = (
        "import time; t = time.perf_counter(); import reverie.dreamer, reverie.tasks; "
        "print(time.perf_counter() - t)"
    )
    prepare = (
        "import time; from reverie import Dreamer; t = time.perf_counter(); "
        "Dreamer('efficientnet_lite0', device='cpu'); print(time.perf_counter() - t)"
    )
    figures["import the dreaming modules"] = min(
        float(timed([PYTHON, "-c", imports])[1]) for _ in range(runs)
    )
    figures["prepare the default model"] = min(float(timed([PYTHON, "-c", prepare])[1]) for _ in range(runs))
    demo = [*REVERIE, "demo", "-o", str(folder / "demo.png")]
    whole, out = min((timed(demo) for _ in range(runs)), key=lambda item: item[0])
    figures["reverie demo, whole process"] = whole
    figures["reverie demo, as it reports (load, dream, save)"] = reverie_seconds(out)
    return figures


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )


def targets(results: dict) -> list[str]:
    """The performance targets (issue 13), each against these figures: met or not, with the number."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    rows = ["## Targets", "", "| target | figure | verdict |", "| --- | --- | --- |"]
    tf_rows = {row["side"]: row for row in results.get("tensorflow", {}).get("rows", [])}
    if 1024 in tf_rows:
        row = tf_rows[1024]
        ratio = row["tf_whole_s"] / row["reverie_whole_s"]
        rows.append(
            f"| >= 1.5x TensorFlow's loop, whole process, 1024 px | {ratio:.2f}x | {verdict(ratio >= 1.5)} |"
        )
    for side, row in sorted(tf_rows.items()):
        ratio = row["tf_dream_s"] / row["reverie_dream_s"]
        rows.append(
            f"| >= 1.2x TensorFlow's loop, compute only, {side} px | {ratio:.2f}x | {verdict(ratio >= 1.2)} |"
        )
    d = results["default_model"]
    whole, only = d["plain_whole_s"] / d["reverie_whole_s"], d["plain_dream_s"] / d["reverie_dream_s"]
    rows.append(
        f"| >= 1.9x the plain truncated loop, whole process | {whole:.2f}x | {verdict(whole >= 1.9)} |"
    )
    rows.append(f"| (the same, compute only) | {only:.2f}x | {verdict(only >= 1.9)} |")
    per_frame = results["video"]["s_per_frame"]
    rows.append(f"| video <= 1 s per frame, 540x360 | {per_frame:.2f} s | {verdict(per_frame <= 1)} |")
    start = results["start_up"]["reverie --help"]
    rows.append(f"| `reverie --help` under 0.3 s | {start:.2f} s | {verdict(start < 0.3)} |")
    return [*rows, ""]


def report(results: dict) -> str:
    lines = [
        "# Reverie side by side with what a user would write",
        "",
        "Made by `bench/bench_versus.py` (see its docstring for the method).",
        "",
        f"Machine: {results['machine']}. {results['note']}",
        "",
    ]
    lines += targets(results)
    d = results["default_model"]
    lines += [
        "## Default model against the plain PyTorch port of the tutorial's loop",
        "",
        f"Work: {d['work']}.",
        "",
        "| program | whole process s | dream only s | whole-process ratio | dream-only ratio |",
        "| --- | --- | --- | --- | --- |",
        f"| `bench/plain_loop.py` (truncated at blocks.11) | {d['plain_whole_s']:.1f} | "
        f"{d['plain_dream_s']:.1f} | {d['plain_whole_s'] / d['reverie_whole_s']:.2f}x | "
        f"{d['plain_dream_s'] / d['reverie_dream_s']:.2f}x |",
        f"| `bench/plain_loop.py --to-logits` (hooks, whole network) | {d['hooked_whole_s']:.1f} | "
        f"{d['hooked_dream_s']:.1f} | {d['hooked_whole_s'] / d['reverie_whole_s']:.2f}x | "
        f"{d['hooked_dream_s'] / d['reverie_dream_s']:.2f}x |",
        f"| `reverie dream` | {d['reverie_whole_s']:.1f} | {d['reverie_dream_s']:.1f} | 1.00x | 1.00x |",
        "",
        "Ratios are the other program's time over Reverie's (above 1: Reverie is faster). Per step: plain "
        f"{d['plain_dream_s'] / (3 * int(d['work'].split(' x ')[1].split(',')[0])):.3f} s, to the logits "
        f"{d['hooked_dream_s'] / (3 * int(d['work'].split(' x ')[1].split(',')[0])):.3f} s.",
        "",
    ]
    if results.get("tensorflow"):
        t = results["tensorflow"]
        lines += [
            "## The tutorial's loop in TensorFlow",
            "",
            f"Work: {t['work']}, no tiling in TensorFlow.",
            "",
            "| px | TensorFlow whole s | Reverie whole s | whole ratio | TensorFlow dream s | "
            "Reverie dream s | dream ratio |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in t["rows"]:
            lines.append(
                f"| {row['side']} | {row['tf_whole_s']:.1f} | {row['reverie_whole_s']:.1f} | "
                f"{row['tf_whole_s'] / row['reverie_whole_s']:.2f}x | {row['tf_dream_s']:.1f} | "
                f"{row['reverie_dream_s']:.1f} | {row['tf_dream_s'] / row['reverie_dream_s']:.2f}x |"
            )
        lines.append("")
    v = results["video"]
    lines += [
        "## Video",
        "",
        f"{v['work']}: **{v['s_per_frame']:.2f} s per frame** whole process ({v['whole_s']:.1f} s).",
        "",
    ]
    if results.get("video_levers"):
        lines += [
            "Frames after the first start from the previous dream carried along the flow, so they may "
            "need less work. The same clip, whole process each; flicker is the motion-compensated change "
            "between frames (0..255), the objective the default layers' mean activation on the frames:",
            "",
            "| frames after the first | s per frame | flicker | objective |",
            "| --- | --- | --- | --- |",
            *(
                f"| {row['lever']} | {row['s_per_frame']:.2f} | {row['flicker']:.2f} | "
                f"{row['objective']:.3f} |"
                for row in results["video_levers"]
            ),
            "",
        ]
    if results.get("tile_choice"):
        lines += [
            "## Tile choice",
            "",
            "One octave, seconds per step, the faster of two alternating runs: the picture whole, in 512 px "
            "tiles, and as the default (`--tile-size 0`) chooses.",
            "",
            "| model | size | whole | 512 px tiles | default |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {row['model']} | {row['size']} | {row['whole']:.3f} | {row['512']:.3f} | "
                f"{row['default']:.3f} |"
                for row in results["tile_choice"]
            ),
            "",
        ]
    if results.get("compile_probe"):
        c = results["compile_probe"]
        lines += [
            "## Levers measured and left out",
            "",
            "`torch.compile` of InceptionV3 forward and backward at 1024x683 (`mixed3,mixed5`, fixed "
            f"shape): "
            f"{c['compile_s']:.0f} s to compile, then {c['compiled_s_per_step']:.3f} s per step against "
            f"{min(c['eager_s_per_step']):.3f} s eager: no gain, and the compilation alone costs more than "
            "the whole dream. Where Reverie's time goes is in [PROFILE.md](PROFILE.md): convolutions "
            "(forward "
            "and input gradient) take three quarters of an InceptionV3 step, activations, pooling, "
            "elementwise work and copies the rest. TensorFlow's own breakdown was not measured here (its "
            "profiler on the same step is the next measurement), so whether the gap to it lies in the "
            "convolution kernels or in the rest is open.",
            "",
        ]
    lines += ["## Start-up", "", "| what | seconds |", "| --- | --- |"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in results["start_up"].items()]
    return "\n".join(lines) + "\n"


SECTIONS = (
    "start_up",
    "default_model",
    "video",
    "video_levers",
    "tensorflow",
    "compile_probe",
    "tile_choice",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", help="a Python that has tensorflow-cpu (never a dependency)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and one run each (a smoke test)")
    parser.add_argument("--sides", default="512,1024,2048", help="TensorFlow comparison sizes")
    parser.add_argument("--note", default="Measured while nothing else ran.")
    parser.add_argument(
        "--only",
        help=f"comma-separated sections to measure again ({', '.join(SECTIONS)}); the others "
        "are kept from bench/versus.json",
    )
    args = parser.parse_args()
    runs, steps = (1, 2) if args.quick else (2, 20)
    frames = 4 if args.quick else 24
    wanted = set(args.only.split(",")) if args.only else set(SECTIONS)
    saved = json.loads((BENCH / "versus.json").read_text()) if args.only else {}
    results: dict = {**saved, "machine": machine(), "note": args.note}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        work = {
            "start_up": lambda: start_up(folder, 1 if args.quick else 5),
            "default_model": lambda: default_model(folder, runs, steps),
            "video": lambda: video(folder, frames),
            "video_levers": lambda: video_levers(folder, frames),
            "compile_probe": compile_probe,
            "tile_choice": tile_choice,
            "tensorflow": lambda: tensorflow(
                args.tf_python, folder, runs, 2 if args.quick else 10,
                tuple(int(side) for side in args.sides.split(",")),
            ),
        }  # fmt: skip
        for section in SECTIONS:
            if section in wanted and (section != "tensorflow" or args.tf_python):
                results[section] = work[section]()
                print(f"{section}:", results[section], flush=True)
    (BENCH / "versus.json").write_text(json.dumps(results, indent=1))
    (BENCH / "VERSUS.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
