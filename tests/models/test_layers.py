"""The shared units: one batch-norm epsilon for every architecture, and conv-BN-ReLU(6)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reverie.models import get_spec, list_models
from reverie.models.layers import ConvBnRelu


@pytest.mark.parametrize("name", list_models())
def test_every_batch_norm_uses_the_published_epsilon(name: str) -> None:
    # All published weights here were trained in TensorFlow or with its epsilon, 1e-3; torch's
    # default 1e-5 shifts every normalised activation of a low-variance channel.
    with torch.device("meta"):
        model = get_spec(name).build()
    epsilons = {module.eps for module in model.modules() if isinstance(module, nn.BatchNorm2d)}
    assert epsilons <= {1e-3}
    assert bool(epsilons) == (not name.startswith("vgg"))


def identity_conv_bn_relu(relu6: bool) -> ConvBnRelu:
    """One channel in, one out, computing ``x`` exactly (batch norm eps aside) before the activation."""
    unit = ConvBnRelu(nn.Conv2d(1, 1, 1, bias=False), relu6=relu6).eval()
    with torch.no_grad():
        unit.conv.weight.fill_(1.0)
        unit.bn.running_var.fill_(1.0 - unit.bn.eps)
    return unit


@pytest.mark.parametrize(("relu6", "top"), [(False, 10.0), (True, 6.0)])
def test_conv_bn_relu_clips_below_zero_and_above_six_only_for_relu6(relu6: bool, top: float) -> None:
    x = torch.tensor([-3.0, 0.5, 5.0, 10.0]).view(1, 1, 1, 4)
    with torch.no_grad():
        y = identity_conv_bn_relu(relu6)(x)
    assert torch.allclose(y.flatten(), torch.tensor([0.0, 0.5, 5.0, top]))
