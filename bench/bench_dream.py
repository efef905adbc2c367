"""Benchmark Reverie's dream loop against the tutorial's literal loop, and its scaling to huge images.

Run from the repository root (takes about 15 minutes on a 2-core CPU; --quick for a smoke run):

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/bench_dream.py

Every measurement runs in a fresh subprocess so that its peak memory (RSS) is its own. Reverie and
the reference alternate, on the same model, image, layers, octave sizes and steps. Results are
printed and written to bench/results.json, bench/RESULTS.md and bench/scaling.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

BENCH = Path(__file__).resolve().parent


@dataclass
class Job:
    """One timed dream: which loop, which network, how big, how much work."""

    #: "reverie", "reference", or the reference plus some of Reverie's speed-ups (see ABLATION)
    impl: str
    model: str
    layers: str
    side: int  # long side of the image, px
    octaves: int = 3
    steps: int = 20
    octave_scale: float = 1.4
    aspect: float = 1.5  # width / height of the sample photo
    #: Reverie's tile size (0: chosen from memory, the default); the scaling runs pin 512.
    tile_size: int = 0


@dataclass
class Measurement:
    job: Job
    seconds: float
    pixel_steps: float
    forward_flops_per_pixel: float
    peak_rss_mib: float
    extra: dict = field(default_factory=dict)

    @property
    def megapixel_steps_per_second(self) -> float:
        return self.pixel_steps / 1e6 / self.seconds

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / (self.job.octaves * self.job.steps)

    @property
    def flops_per_second(self) -> float:
        """Useful FLOP/s: a step is one forward and one input-gradient backward (about 2x forward)."""
        return 2 * self.forward_flops_per_pixel * self.pixel_steps / self.seconds


# ----------------------------------------------------------------------------- worker side


def build_network(name: str) -> nn.Module:
    """Real weights where installed; random weights otherwise (timing does not depend on values)."""
    from reverie.models import get_spec, load_model
    from reverie.weights import weights_available

    spec = get_spec(name)
    if weights_available(spec):
        return load_model(name)
    return spec.build().freeze()


def sample_image(side: int, aspect: float) -> torch.Tensor:
    from reverie.io.images import load_image
    from reverie.samples import sample_path
    from reverie.tensors import resize_picture, to_tensor

    width, height = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
    return to_tensor(resize_picture(load_image(sample_path("chelsea")), (width, height)).rgb)


def forward_flops_per_pixel(model: nn.Module, layers: list[str], image: torch.Tensor) -> float:
    """Multiply-adds x 2 of every convolution and linear layer run, per input pixel."""
    total = 0.0

    def count(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2.0 * kernel * output.numel()
        elif isinstance(module, nn.Linear):
            total += 2.0 * module.in_features * output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(image, layers)
    for hook in hooks:
        hook.remove()
    return total / (image.shape[-2] * image.shape[-1])


def run_job(job: Job) -> Measurement:
    from reverie.models.optimise import fold_batch_norms, speed_up
    from reverie.objectives import parse_layer_spec
    from reverie.render import octave_sizes, render
    from reverie.settings import DreamSettings

    torch.manual_seed(0)
    model = build_network(job.model)
    image = sample_image(job.side, job.aspect)
    layers = parse_layer_spec(job.layers).layers
    flops = forward_flops_per_pixel(model, layers, image[..., :512, :512])  # per pixel: any crop will do
    settings = DreamSettings(
        model=job.model,
        layers=job.layers,
        steps=job.steps,
        octaves=job.octaves,
        octave_scale=job.octave_scale,
        max_side=0,
        tile_size=job.tile_size,
    )
    sizes = octave_sizes((image.shape[-1], image.shape[-2]), job.octaves, job.octave_scale, model.min_side)
    pixel_steps = float(sum(w * h for w, h in sizes) * job.steps)
    if job.impl.startswith("reverie"):
        model = speed_up(model)
        if job.impl == "reverie+bf16":
            settings = settings.with_changes(precision="bf16")
        started = time.perf_counter()
        if job.impl == "reverie+compile":
            model = torch.compile(model, dynamic=True)  # timed with its compilation, as a user meets it
        render(model, parse_layer_spec(job.layers), image, settings)
    else:
        from plain_loop import dream as plain_dream

        steps_on = set(job.impl.split("+")[1:])
        if "fold" in steps_on:
            fold_batch_norms(model)
        if "channels_last" in steps_on:
            model = model.to(memory_format=torch.channels_last)
            image = image.contiguous(memory_format=torch.channels_last)
        started = time.perf_counter()
        plain_dream(model, image, layers, sizes, job.steps, to_logits="to_logits" in steps_on)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Measurement(job, seconds, pixel_steps, flops, peak)


# ----------------------------------------------------------------------------- parent side


def measure(job: Job, timeout: float | None = None) -> Measurement:
    """Run ``job`` in a fresh interpreter and read its measurement back."""
    env = dict(os.environ, PYTHONPATH=f"{BENCH}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(asdict(job))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{done.stderr}")
    return measurement_from(json.loads(done.stdout.strip().splitlines()[-1]))


def conv_throughput(repeats: int = 5) -> float:
    """This machine's dense fp32 convolution speed, FLOP/s: a large 3x3 conv, best of ``repeats``."""
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 256, 128, 128).contiguous(memory_format=torch.channels_last)
    flops = 2.0 * 256 * 256 * 9 * 128 * 128
    best = float("inf")
    with torch.no_grad():
        conv(x)
        for _ in range(repeats):
            started = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - started)
    return flops / best


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


#: (model, layers, octaves, steps): the head-to-head work. The default model runs the issue's
#: target work (3 octaves x 20 steps); the heavy dense models fewer steps of the same kind.
COMPARISONS = (
    ("efficientnet_lite0", "blocks.8,blocks.11", 3, 20),
    ("efficientnet_lite1", "blocks.11,blocks.15", 3, 10),
    ("efficientnet_lite2", "blocks.11,blocks.15", 3, 10),
    ("inception_v3", "mixed3,mixed5", 3, 4),
    ("vgg16", "relu4_2,relu4_3", 2, 2),
)
SCALING_SIDES = (512, 1024, 2048, 4096, 8192)  # squares: 0.25 to 64 megapixels
#: The reference loop run to the logits (as hooked ports do), then the plain truncated loop with
#: Reverie's speed-ups added one at a time, then Reverie itself: where the speed comes from.
ABLATION = (
    "reference+to_logits",
    "reference",
    "reference+fold",
    "reference+fold+channels_last",
    "reverie",
    "reverie+bf16",
)


def run_comparisons(
    sides: tuple[int, ...], quick: bool, repeats: int
) -> list[tuple[Measurement, Measurement]]:
    """Reverie vs reference for every model and size, alternating, the faster of ``repeats`` runs kept."""
    pairs = []
    for model, layers, octaves, steps in COMPARISONS:
        for side in sides:
            steps_here = 1 if quick else steps
            jobs = [Job(impl, model, layers, side, octaves, steps_here) for impl in ("reverie", "reference")]
            runs = [[measure(job) for job in jobs] for _ in range(repeats)]
            reverie, reference = (min((run[i] for run in runs), key=lambda m: m.seconds) for i in range(2))
            pairs.append((reverie, reference))
            print(
                f"{model:<20} {side:>5}px  reverie {reverie.seconds_per_step:7.3f} s/step "
                f"{reverie.megapixel_steps_per_second:6.2f} MP-steps/s {reverie.peak_rss_mib:6.0f} MiB | "
                f"reference {reference.seconds_per_step:7.3f} s/step | speed-up "
                f"{reference.seconds / reverie.seconds:4.2f}x",
                flush=True,
            )
    return pairs


def run_scaling(sides: tuple[int, ...]) -> list[Measurement]:
    results = []
    for side in sides:
        job = Job(
            "reverie",
            "efficientnet_lite0",
            "blocks.8,blocks.11",
            side,
            octaves=1,
            steps=2,
            aspect=1.0,
            tile_size=512,
        )
        result = measure(job)
        results.append(result)
        print(
            f"scaling {side}x{side} ({side * side / 1e6:5.2f} MP): {result.seconds_per_step:7.2f} s/step, "
            f"{result.seconds_per_step / (side * side / 1e6):.3f} s per MP-step, "
            f"peak {result.peak_rss_mib:.0f} MiB",
            flush=True,
        )
    return results


def run_ablation(side: int, steps: int) -> list[Measurement]:
    """Each speed-up's share on the default model, one fresh process per variant."""
    results = []
    for impl in ABLATION:
        result = measure(Job(impl, "efficientnet_lite0", "blocks.8,blocks.11", side, 3, steps))
        results.append(result)
        print(f"ablation {impl:<40} {result.seconds_per_step:.3f} s/step", flush=True)
    return results


def tf_comparison(tf_python: str, pairs: list[tuple[Measurement, Measurement]]) -> list[dict]:
    """The tutorial's loop in TensorFlow (bench/reference_tf.py) on the inception_v3 rows' work."""
    from reverie.render import octave_sizes

    rows = []
    for reverie, _reference in pairs:
        job = reverie.job
        if job.model != "inception_v3":
            continue
        width, height = job.side, round(job.side / job.aspect)
        sizes = octave_sizes((width, height), job.octaves, job.octave_scale, 75)
        spec = {"layers": job.layers, "sizes": sizes, "steps": job.steps}
        done = subprocess.run(
            [tf_python, str(BENCH / "reference_tf.py"), json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"TensorFlow run failed:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result.update(side=job.side, octaves=job.octaves, steps=job.steps, reverie_seconds=reverie.seconds)
        rows.append(result)
        print(
            f"tensorflow inception_v3 {job.side}px: {result['seconds']:.2f} s, "
            f"reverie {reverie.seconds:.2f} s ({result['seconds'] / reverie.seconds:.2f}x)",
            flush=True,
        )
    return rows


def compile_check(side: int, steps: int, timeout: float = 420) -> str:
    """Whether torch.compile pays: a whole dream with compilation, or how long it failed to finish."""
    job = Job("reverie+compile", "efficientnet_lite0", "blocks.8,blocks.11", side, 3, steps)
    try:
        result = measure(job, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"torch.compile: the dream had not finished after {timeout:.0f} s (compiling); not used"
    except RuntimeError as error:
        return f"torch.compile: failed ({str(error).strip().splitlines()[-1][:200]}); not used"
    return f"torch.compile: the same dream took {result.seconds:.1f} s including compilation"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def precision_check() -> dict[str, float]:
    """How different a bf16 dream is from the fp32 one, next to how different another seed is.

    Gradient ascent is chaotic: any change (a seed, float rounding) grows into a different dream of
    the same kind, so bf16 counts as visually equivalent when it differs from fp32 no more than a
    second fp32 seed does, and reaches the same objective.
    """
    from reverie import Dreamer, dream, load_image
    from reverie.samples import sample_path

    dreamer = Dreamer(device="cpu")
    cat = load_image(sample_path("chelsea"))
    fp32 = dream(cat, dreamer=dreamer).picture.rgb
    other_seed = dream(cat, dreamer=dreamer, seed=1).picture.rgb
    bf16 = dream(cat, dreamer=dreamer, precision="bf16").picture.rgb
    return {
        "psnr_bf16_vs_fp32": psnr(bf16, fp32),
        "psnr_seed1_vs_seed0": psnr(other_seed, fp32),
        "psnr_fp32_vs_photo": psnr(fp32, cat.rgb),
    }


def plot_scaling(results: list[Measurement], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    megapixels = [r.job.side**2 / 1e6 for r in results]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(megapixels, [r.seconds_per_step for r in results], "o-")
    left.set(xlabel="megapixels", ylabel="seconds per step", title="Time vs image size (lite0)")
    right.plot(megapixels, [r.peak_rss_mib / 1024 for r in results], "o-", color="tab:red")
    right.axhline(4, linestyle="--", color="grey")
    right.set(xlabel="megapixels", ylabel="peak RSS, GiB", title="Peak memory (tile 512)")
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


COMPARISON_HEADER = (
    "| model | long side px | octaves x steps | Reverie s/step | MP-steps/s | GFLOP/s (of peak) | peak MiB "
    "| reference s/step | reference peak MiB | speed-up |\n" + "| --- " * 10 + "|"
)


def targets_section(
    peak_flops: float, pairs: list[tuple[Measurement, Measurement]], scaling: list[Measurement]
) -> str:
    """The issue's targets, each checked against these figures: met or not, with the number."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    target = [(a, b) for a, b in pairs if a.job.model == "efficientnet_lite0" and a.job.side == 1024]
    lines = ["| target | figure | verdict |", "| --- | --- | --- |"]
    if target:
        speed_up = target[0][1].seconds / target[0][0].seconds
        lines.append(
            f"| >= 1.9x the plain truncated loop, efficientnet_lite0, 1024 px, 3x20, compute only "
            f"| {speed_up:.2f}x | {verdict(speed_up >= 1.9)} |"
        )
    dense = [a for a, _ in pairs if a.job.model in ("inception_v3", "vgg16")]
    if dense:
        share = min(a.flops_per_second / peak_flops for a in dense)
        lines.append(
            f"| >= 40% of dense conv throughput (inception_v3, vgg16) | lowest {share:.0%} | "
            f"{verdict(share >= 0.4)} |"
        )
    largest = max(scaling, key=lambda m: m.job.side, default=None)
    if largest is not None:
        lines.append(
            f"| {largest.job.side}x{largest.job.side} dream under 4 GiB | "
            f"{largest.peak_rss_mib / 1024:.2f} GiB | {verdict(largest.peak_rss_mib < 4096)} |"
        )
        per_mp = [m.seconds_per_step / (m.job.side**2 / 1e6) for m in scaling]
        lines.append(
            f"| time linear in pixels, 0.25 to 64 MP | {min(per_mp):.2f} to {max(per_mp):.2f} s "
            f"per MP-step | {verdict(max(per_mp) <= 2 * min(per_mp))} (within 2x) |"
        )
    return "\n".join(lines) + "\n"


def tensorflow_section(rows: list[dict] | None) -> str:
    """The TensorFlow comparison's table, or why it is missing."""
    if not rows:
        return (
            "The same comparison against the tutorial's loop in TensorFlow runs when "
            "`--tf-python` names an interpreter with `tensorflow-cpu`; it was not run for these results.\n"
        )
    lines = [
        "The tutorial's loop in TensorFlow itself (`bench/reference_tf.py`: `tf.function`, "
        "`InceptionV3(weights=None)`, layers `mixed3,mixed5`), on the `inception_v3` rows' work, against "
        "Reverie's `inception_v3` with random weights:",
        "",
        "| long side px | octaves x steps | TensorFlow s | Reverie s | speed-up | TensorFlow peak MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['side']} | {row['octaves']}x{row['steps']} | {row['seconds']:.2f} | "
            f"{row['reverie_seconds']:.2f} | **{row['seconds'] / row['reverie_seconds']:.2f}x** | "
            f"{row['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(
    machine: str,
    peak_flops: float,
    pairs: list[tuple[Measurement, Measurement]],
    ablation: list[Measurement],
    scaling: list[Measurement],
    precision: dict[str, float],
    compiled: str,
    tensorflow: list[dict] | None = None,
) -> None:
    rows = []
    for reverie, reference in pairs:
        job = reverie.job
        rows.append(
            f"| {job.model} | {job.side} | {job.octaves}x{job.steps} | {reverie.seconds_per_step:.3f} | "
            f"{reverie.megapixel_steps_per_second:.2f} | {reverie.flops_per_second / 1e9:.0f} "
            f"({reverie.flops_per_second / peak_flops:.0%}) | {reverie.peak_rss_mib:.0f} | "
            f"{reference.seconds_per_step:.3f} | {reference.peak_rss_mib:.0f} | "
            f"**{reference.seconds / reverie.seconds:.2f}x** |"
        )
    base, p = ablation[0].job, precision
    ablation_rows = [
        f"| `{m.job.impl}` | {m.seconds_per_step:.3f} | {ablation[0].seconds / m.seconds:.2f}x |"
        for m in ablation
    ]
    scale_rows = [
        f"| {r.job.side}x{r.job.side} | {r.job.side**2 / 1e6:.2f} | {r.seconds_per_step:.2f} | "
        f"{r.seconds_per_step / (r.job.side**2 / 1e6):.3f} | {r.peak_rss_mib:.0f} |"
        for r in scaling
    ]
    text = f"""# Benchmark results

Made by `bench/bench_dream.py` (`--report-only` rewrites it from `results.json`).

Machine: {machine}.
Measured dense fp32 convolution throughput (3x3, 256 -> 256 channels, 128x128, channels-last):
**{peak_flops / 1e9:.0f} GFLOP/s**.

## Targets

{targets_section(peak_flops, pairs, scaling)}
## Reverie vs the tutorial's literal loop

Same network, photo (the bundled cat, resized), layers, octave sizes (scale 1.4) and steps. The
reference (`bench/plain_loop.py`) is the TensorFlow tutorial's algorithm written literally in
PyTorch, stopping at the deepest chosen layer as the tutorial's Keras model does. Models without
installed weights run with random weights: timing does not depend on them.
GFLOP/s counts the useful convolution work (forward plus input gradient, about twice the forward)
and its share of the measured dense throughput. Peak memory is each run's own process RSS.

{COMPARISON_HEADER}
{chr(10).join(rows)}

{tensorflow_section(tensorflow)}
## Where the speed comes from

`efficientnet_lite0` at {base.side} px, {base.octaves} octaves x {base.steps} steps, layers
`blocks.8,blocks.11`: the reference run to the logits with hooks, the plain truncated reference
with Reverie's speed-ups added one at a time, then
Reverie's own loop (tile size from memory and the model's preferred tile, aligned context, in-place
updates, no rolled copies),
then the same with `--precision bf16`.

| variant | s/step | speed-up over reference |
| --- | --- | --- |
{chr(10).join(ablation_rows)}

bf16 check (default settings on the 451x300 cat), PSNR: bf16 dream vs fp32 dream
{p["psnr_bf16_vs_fp32"]:.1f} dB; a second fp32 seed vs the first {p["psnr_seed1_vs_seed0"]:.1f} dB;
fp32 dream vs the photo {p["psnr_fp32_vs_photo"]:.1f} dB. Gradient ascent turns any change into a
different dream of the same kind, so bf16 is as close to fp32 as another seed is; it is an
option, not the default, because on this CPU it does not pay.

Also tried, on the target work (efficientnet_lite0, 1024 px, 3 octaves x 20 steps):
{compiled}.

## Scaling to huge images

`efficientnet_lite0`, layers `blocks.8,blocks.11`, one octave of 2 steps, square images, tile 512.

| image | megapixels | s/step | s per MP-step | peak RSS MiB |
| --- | --- | --- | --- | --- |
{chr(10).join(scale_rows)}

![time and memory vs megapixels](scaling.png)
"""
    (BENCH / "RESULTS.md").write_text(text)


def measurement_from(values: dict) -> Measurement:
    return Measurement(**{**values, "job": Job(**values["job"])})


def rewrite_report(summary: dict) -> None:
    """RESULTS.md again from saved figures (to change the report's wording without re-measuring)."""
    write_report(
        summary["machine"],
        summary["conv_flops_per_second"],
        [(measurement_from(a), measurement_from(b)) for a, b in summary["comparisons"]],
        [measurement_from(m) for m in summary["ablation"]],
        [measurement_from(m) for m in summary["scaling"]],
        summary["precision"],
        summary["compile"],
        summary.get("tensorflow"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one step per octave, small images only")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per comparison; best kept")
    parser.add_argument("--report-only", action="store_true", help="rewrite RESULTS.md from results.json")
    parser.add_argument("--tf-python", help="a Python with tensorflow-cpu, for the TensorFlow comparison")
    parser.add_argument(
        "--tf-only", action="store_true", help="add the TensorFlow comparison to the saved results.json"
    )
    args = parser.parse_args()
    if args.tf_only:
        summary = json.loads((BENCH / "results.json").read_text())
        pairs = [(measurement_from(a), measurement_from(b)) for a, b in summary["comparisons"]]
        summary["tensorflow"] = tf_comparison(args.tf_python, pairs)
        (BENCH / "results.json").write_text(json.dumps(summary, indent=1))
        rewrite_report(summary)
        return
    if args.report_only:
        rewrite_report(json.loads((BENCH / "results.json").read_text()))
        return
    if args.worker:
        result = run_job(Job(**json.loads(args.worker)))
        values = asdict(result)
        print(json.dumps(values))
        return
    machine = machine_description()
    print(machine, flush=True)
    peak_flops = conv_throughput()
    print(f"dense fp32 conv throughput: {peak_flops / 1e9:.0f} GFLOP/s", flush=True)
    pairs = run_comparisons((512,) if args.quick else (512, 1024), args.quick, args.repeats)
    ablation = run_ablation(512 if args.quick else 1024, 1 if args.quick else 20)
    scaling = run_scaling(SCALING_SIDES[:2] if args.quick else SCALING_SIDES)
    precision = precision_check()
    compiled = compile_check(1024, 20) if not args.quick else "not measured in --quick"
    print(compiled, flush=True)
    tensorflow = tf_comparison(args.tf_python, pairs) if args.tf_python else None
    print("precision check (PSNR, dB):", {k: round(v, 1) for k, v in precision.items()}, flush=True)
    if args.quick:
        return
    plot_scaling(scaling, BENCH / "scaling.png")
    summary = {
        "machine": machine,
        "conv_flops_per_second": peak_flops,
        "comparisons": [[asdict(a), asdict(b)] for a, b in pairs],
        "ablation": [asdict(r) for r in ablation],
        "scaling": [asdict(r) for r in scaling],
        "precision": precision,
        "compile": compiled,
        "tensorflow": tensorflow,
    }
    (BENCH / "results.json").write_text(json.dumps(summary, indent=1))
    write_report(machine, peak_flops, pairs, ablation, scaling, precision, compiled, tensorflow)
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
