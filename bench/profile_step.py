"""Where one dream step's milliseconds go, by kind of work: the profile beside bench/VERSUS.md.

    .venv/bin/python bench/profile_step.py [--model inception_v3] [--layers mixed3,mixed5] [--side 1024]

Runs Reverie's step (the network as Reverie prepares it, untiled when it fits, as the default tile
size chooses) under ``torch.profiler`` and groups the operators' own CPU time into convolutions
(forward and input gradient), other network operators (activations, pooling, concatenation and
their gradients), the step's own elementwise work (normalisation, update, clip), and copies.
Appends the table to ``bench/PROFILE.md``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from reverie.models import get_spec
from reverie.models.optimise import speed_up
from reverie.objectives import parse_layer_spec
from reverie.render import gradient_ascent_step
from reverie.settings import DreamSettings

BENCH = Path(__file__).resolve().parent

#: Operator name fragments -> the kind of work they are.
KINDS = (
    ("convolution", ("conv", "mkldnn_convolution")),
    ("copies and layout", ("copy_", "contiguous", "clone", "index", "empty", "to_", "_to_copy")),
    ("pooling", ("pool",)),
    ("activations", ("relu", "threshold", "hardtanh", "clamp_min")),
    ("concatenation", ("cat", "narrow", "slice")),
    ("reductions", ("mean", "sum", "std", "var")),
    ("elementwise", ("add", "mul", "div", "sub", "clamp", "fill")),
)


def kind_of(name: str) -> str:
    lowered = name.lower()
    for kind, fragments in KINDS:
        if any(fragment in lowered for fragment in fragments):
            return kind
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="inception_v3")
    parser.add_argument("--layers", default="mixed3,mixed5")
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    model = speed_up(get_spec(args.model).build().freeze())
    objective = parse_layer_spec(args.layers)
    image = torch.rand(1, 3, round(args.side / 1.5), args.side).contiguous(memory_format=torch.channels_last)
    settings = DreamSettings(model=args.model, layers=args.layers, steps=args.steps)
    generator = torch.Generator().manual_seed(0)
    gradient_ascent_step(model, objective, image, settings, generator)  # warm up
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(args.steps):
            gradient_ascent_step(model, objective, image, settings, generator)
    totals: dict[str, float] = defaultdict(float)
    for event in profiler.key_averages():
        totals[kind_of(event.key)] += event.self_cpu_time_total / 1000 / args.steps
    whole = sum(totals.values())
    lines = [
        f"\n## {args.model}, {args.side}x{round(args.side / 1.5)}, layers {args.layers}: "
        f"{whole:.0f} ms per step\n",
        "| work | ms per step | share |",
        "| --- | --- | --- |",
        *(
            f"| {kind} | {ms:.0f} | {ms / whole:.0%} |"
            for kind, ms in sorted(totals.items(), key=lambda item: -item[1])
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    report = BENCH / "PROFILE.md"
    if not report.exists():
        report.write_text(
            "# Where a dream step's time goes\n\nMade by `bench/profile_step.py`: operators' own CPU time "
            "under torch.profiler, grouped by kind, averaged over the profiled steps.\n"
        )
    with report.open("a") as stream:
        stream.write(text)


if __name__ == "__main__":
    main()
