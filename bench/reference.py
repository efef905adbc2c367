"""The TensorFlow DeepDream tutorial's algorithm, written literally in PyTorch: the baseline.

Deliberately unoptimised, as the tutorial is: every step rolls the whole image, runs the network
forward and backward on it, divides the gradient by its standard deviation, adds it and clips;
octaves resize the dreamed image itself. Like PyTorch ports of the tutorial, it runs the whole
network and reads the layers with forward hooks (``truncate=True`` stops after the deepest layer
instead, for the ablation). It uses the same network, layers and octave sizes as the Reverie run
it is compared with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reverie.models.base import Backbone, stage_key


def hooked_activations(model: Backbone, image: Tensor, layers: list[str]) -> dict[str, Tensor]:
    """Run the whole network (to the logits) and capture ``layers`` with forward hooks."""
    found: dict[str, Tensor] = {}
    hooks = [
        model.stages[stage_key(name)].register_forward_hook(
            lambda _module, _inputs, output, name=name: found.__setitem__(name, output)
        )
        for name in layers
    ]
    try:
        model.classify(image)
    finally:
        for hook in hooks:
            hook.remove()
    return found


def reference_loss(model: Backbone, image: Tensor, layers: list[str], truncate: bool) -> Tensor:
    """The tutorial's ``calc_loss``: the sum over layers of each activation's mean."""
    activations = model(image, layers) if truncate else hooked_activations(model, image, layers)
    return sum(activations[name].mean() for name in layers)


def reference_step(
    model: Backbone, image: Tensor, layers: list[str], step_size: float, shift: int, truncate: bool
) -> Tensor:
    """One tutorial step on the whole image: roll, gradient, unroll, normalise, ascend, clip."""
    dy, dx = torch.randint(-shift, shift + 1, (2,)).tolist()
    rolled = torch.roll(image, shifts=(dy, dx), dims=(2, 3)).detach().requires_grad_(True)
    loss = reference_loss(model, rolled, layers, truncate)
    (gradient,) = torch.autograd.grad(loss, rolled)
    gradient = torch.roll(gradient, shifts=(-dy, -dx), dims=(2, 3))
    gradient = gradient / (gradient.std() + 1e-8)
    return torch.clamp(image + gradient * step_size, 0, 1)


def reference_dream(
    model: Backbone,
    image: Tensor,
    layers: list[str],
    sizes: list[tuple[int, int]],
    steps: int,
    step_size: float = 0.01,
    shift: int = 32,
    truncate: bool = False,
) -> Tensor:
    """The tutorial's ``run_deep_dream_with_octaves`` over the given (width, height) octave sizes."""
    torch.manual_seed(0)
    for width, height in sizes:
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)
        for _ in range(steps):
            image = reference_step(model, image, layers, step_size, shift, truncate)
    return image.detach()
