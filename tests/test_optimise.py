"""Speed-ups must not change what the network computes (beyond float rounding)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reverie.models import get_spec, load_model
from reverie.models.optimise import fold_batch_norms, speed_up


def randomise_norms(model: nn.Module) -> None:
    """Give every batch norm non-trivial statistics, as trained weights have."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)


def test_folding_keeps_the_real_models_activations_and_gradients() -> None:
    reference = load_model("efficientnet_lite0")
    fast = speed_up(load_model("efficientnet_lite0"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    image = torch.rand(1, 3, 96, 128)
    layers = ["blocks.8", "blocks.11"]
    gradients = []
    for model in (reference, fast):
        x = image.clone().requires_grad_(True)
        found = model(x, layers)
        sum(a.mean() for a in found.values()).backward()
        gradients.append(x.grad)
        assert found["blocks.11"].shape[1] == 192
    assert torch.allclose(gradients[0], gradients[1], rtol=1e-3, atol=1e-3 * gradients[0].abs().max().item())


@pytest.mark.parametrize("name", ["inception_v3", "googlenet"])
def test_folding_every_bn_architecture(name: str) -> None:
    model = get_spec(name).build()
    randomise_norms(model)
    model.freeze()
    image = torch.rand(1, 3, 80, 96)
    deepest = model.layer_names[-1]
    with torch.no_grad():
        before = model(image, [deepest])[deepest]
        expected_folds = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert fold_batch_norms(model) == expected_folds > 0
        after = model(image, [deepest])[deepest]
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-4 * before.abs().max().item())


def test_folding_refuses_a_training_model() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(get_spec("efficientnet_lite0").build())
