"""The TensorFlow DeepDream tutorial's loop, ported to PyTorch as a user would write it: the baseline.

One program from photo to file, so it can be timed whole: load the published weights into the
network (batch norms left as they are, channels-first, no compilation), then per octave resize the
image and take steps that roll it, run the network up to the deepest chosen layer (as the
tutorial's ``tf.keras.Model(inputs, outputs=[chosen layers])`` does), ``backward()`` the summed
layer means, unroll, divide by the standard deviation, step and clip. No tiling, no in-place
tricks, no Reverie render code: only the network modules (which are the published architecture)
come from Reverie.

``--to-logits`` runs the whole network to the classifier and reads the layers with forward hooks
instead, as many PyTorch ports do; the bench times both to show what that costs.

    python bench/plain_loop.py PHOTO OUT.png --model efficientnet_lite0 --layers blocks.8,blocks.11 \\
        --size 1024 --octaves 3 --steps 20 --octave-scale 1.4 [--weights FILE] [--to-logits]

Prints one JSON line: the seconds spent dreaming (compute only) and the octave sizes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from reverie.models import get_spec
from reverie.models.base import Backbone, stage_key
from reverie.weights import apply_state_dict, find_weights


def load_network(name: str, weights: str | None) -> Backbone:
    """The network with its published weights, in eval mode, nothing folded or re-laid out."""
    spec = get_spec(name)
    path = find_weights(spec, weights)
    model = spec.build()
    apply_state_dict(model, spec.convert_weights(path), path, name)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def truncated_activations(model: Backbone, image: Tensor, layers: list[str]) -> list[Tensor]:
    """Run the stages in order up to the deepest chosen layer; the chosen outputs."""
    x = (image - model.input_mean) / model.input_std
    found: dict[str, Tensor] = {}
    for name, stage in zip(model.stage_names, model.stages.values(), strict=True):
        x = stage(x)
        if name in layers:
            found[name] = x
            if len(found) == len(layers):
                break
    return [found[name] for name in layers]


def hooked_activations(model: Backbone, image: Tensor, layers: list[str]) -> list[Tensor]:
    """Run the whole network to the logits and catch the chosen layers with forward hooks."""
    found: dict[str, Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
            found[name] = output

        return hook

    handles = [model.stages[stage_key(name)].register_forward_hook(keep(name)) for name in layers]
    try:
        model.classify(image)
    finally:
        for handle in handles:
            handle.remove()
    return [found[name] for name in layers]


def octave_sizes(width: int, height: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """The tutorial's octave sizes, smallest first, the last the photo's own."""
    return [
        (round(width / scale**level), round(height / scale**level)) for level in range(octaves - 1, -1, -1)
    ]


def dream(
    model: Backbone,
    image: Tensor,
    layers: list[str],
    sizes: list[tuple[int, int]],
    steps: int,
    step_size: float = 0.01,
    shift: int = 32,
    to_logits: bool = False,
) -> Tensor:
    """The tutorial's ``run_deep_dream_with_octaves``, step for step."""
    activations = hooked_activations if to_logits else truncated_activations
    generator = torch.Generator().manual_seed(0)
    for width, height in sizes:
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)
        for _ in range(steps):
            dy, dx = torch.randint(-shift, shift + 1, (2,), generator=generator).tolist()
            rolled = torch.roll(image, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
            loss = sum(activation.mean() for activation in activations(model, rolled, layers))
            loss.backward()
            gradient = torch.roll(rolled.grad, shifts=(-dy, -dx), dims=(2, 3))
            gradient = gradient / (gradient.std() + 1e-8)
            image = torch.clamp(image + gradient * step_size, 0, 1).detach()
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo")
    parser.add_argument("output")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--layers", default="blocks.8,blocks.11")
    parser.add_argument("--size", type=int, default=1024, help="long side, px")
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--octave-scale", type=float, default=1.4)
    parser.add_argument("--to-logits", action="store_true")
    args = parser.parse_args()

    model = load_network(args.model, args.weights)
    photo = Image.open(args.photo).convert("RGB")
    photo.thumbnail((args.size, args.size), Image.Resampling.LANCZOS)
    image = torch.from_numpy(np.asarray(photo, np.float32) / 255).permute(2, 0, 1)[None]
    sizes = octave_sizes(photo.width, photo.height, args.octaves, args.octave_scale)
    started = time.perf_counter()
    dreamed = dream(model, image, args.layers.split(","), sizes, args.steps, to_logits=args.to_logits)
    seconds = time.perf_counter() - started
    pixels = (dreamed[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(Path(args.output))
    print(json.dumps({"dream_seconds": seconds, "sizes": sizes, "steps": args.steps}))


if __name__ == "__main__":
    main()
