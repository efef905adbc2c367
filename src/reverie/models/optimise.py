"""Speed-ups for a frozen network that change no result beyond float rounding.

Each is a separate, testable step; :func:`speed_up` applies those that pay (see bench/RESULTS.md):
batch-norm folding removes a whole pass over every activation (forward and backward), and
channels-last memory layout lets oneDNN run its fastest convolution kernels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: (convolution attribute, batch-norm attribute) pairs where the norm directly follows the conv.
#: Covers every architecture here: ``conv``/``bn`` units and EfficientNet's MBConv names.
CONV_BN_PAIRS = (
    ("conv", "bn"),
    ("_expand_conv", "_bn0"),
    ("_depthwise_conv", "_bn1"),
    ("_project_conv", "_bn2"),
)


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every conv -> batch-norm pair of a frozen ``model``; returns how many were folded.

    Each pair becomes one convolution (PyTorch's ``fuse_conv_bn_eval``: weights ``scale * W``, bias
    ``scale * (b - mean) + beta`` with ``scale = gamma / sqrt(var + eps)``) and the norm an
    ``nn.Identity``, so the forward code stays unchanged.
    """
    if model.training:
        raise ValueError("fold batch norms only in eval mode: training updates their statistics")
    folded = 0
    for module in list(model.modules()):
        for conv_name, norm_name in CONV_BN_PAIRS:
            conv = getattr(module, conv_name, None)
            norm = getattr(module, norm_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
                setattr(module, norm_name, nn.Identity())
                folded += 1
    return folded


def speed_up(model: nn.Module) -> nn.Module:
    """Fold batch norms and switch to channels-last: same results (to rounding), less time."""
    fold_batch_norms(model)
    return model.to(memory_format=torch.channels_last)
