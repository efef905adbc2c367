"""Speed-ups must not change what the network computes (beyond float rounding)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reverie.models import get_spec, list_models, load_model
from reverie.models.optimise import fold_batch_norms, speed_up


def batch_norms(model: nn.Module) -> int:
    """How many batch norms ``model`` has."""
    return sum(isinstance(module, nn.BatchNorm2d) for module in model.modules())


def meta_model(name: str) -> nn.Module:
    """``name``'s architecture without its weights (cheap to build, cannot run)."""
    with torch.device("meta"):
        return get_spec(name).build()


WITH_BATCH_NORM = [name for name in list_models() if batch_norms(meta_model(name))]


def test_folding_keeps_the_real_models_activations_and_gradients(lite0) -> None:
    fast = speed_up(load_model("efficientnet_lite0"))
    assert batch_norms(fast) == 0 and batch_norms(lite0) > 0
    image = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    layers = ["blocks.8", "blocks.11"]
    gradients = []
    for model in (lite0, fast):
        x = image.clone().requires_grad_(True)
        found = model(x, layers)
        sum(a.mean() for a in found.values()).backward()
        gradients.append(x.grad)
    # The same gradient to rounding: elementwise bounds fail on about one random image in five, where
    # a rounding difference moves an activation across ReLU6's clip and its gradient flips at a pixel
    # (the whole gradient still agrees to 0.3% then; typically to 1e-6).
    assert (gradients[0] - gradients[1]).norm() <= 1e-2 * gradients[0].norm()


@pytest.mark.parametrize("name", list_models())
def test_every_batch_norm_of_every_model_folds(name: str) -> None:
    model = meta_model(name).eval()
    expected = batch_norms(model)
    assert fold_batch_norms(model) == expected
    assert batch_norms(model) == 0


@pytest.mark.parametrize("name", WITH_BATCH_NORM)
def test_folding_keeps_the_activations(name: str, generated_model) -> None:
    model = copy.deepcopy(generated_model(name))
    image = torch.rand(1, 3, 80, 96)
    layers = [model.layer_names[len(model.layer_names) // 2], model.layer_names[-1]]
    with torch.no_grad():
        before = model(image, layers)
        assert fold_batch_norms(model) > 0
        after = model(image, layers)
    for layer in layers:
        scale = before[layer].abs().max().item()
        assert torch.allclose(before[layer], after[layer], rtol=1e-3, atol=1e-3 * scale), layer


def test_folding_refuses_a_training_model() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(get_spec("efficientnet_lite0").build())
