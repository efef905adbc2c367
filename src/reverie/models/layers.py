"""Network units shared by the architectures: one convolution -> batch norm -> ReLU, one epsilon.

The published weights of every architecture here were trained with batch-norm epsilon 1e-3
(TensorFlow's default, which torchvision's Inception and GoogLeNet ports kept). The ``conv``/``bn``
attribute names are the ones the published state dicts use.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3

Kernel = int | tuple[int, int]


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """A batch norm with the epsilon the published weights were trained with."""
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class ConvBnRelu(nn.Module):
    """A bias-free convolution, batch norm and ReLU (ReLU6 for EfficientNet-Lite).

    torchvision's ``BasicConv2d`` (Inception, GoogLeNet) and EfficientNet's stem and head. The
    convolution is passed in, so TF-style "same" padding (EfficientNet) and plain padding share it.
    """

    def __init__(self, conv: nn.Conv2d, relu6: bool = False) -> None:
        super().__init__()
        self.conv = conv
        self.bn = batch_norm(conv.out_channels)
        self.relu6 = relu6

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.relu6 else F.relu(x)


def conv_bn_relu(
    channels_in: int, channels_out: int, kernel: Kernel, stride: int = 1, padding: Kernel = 0
) -> ConvBnRelu:
    """A :class:`ConvBnRelu` with a plain, bias-free ``nn.Conv2d``."""
    return ConvBnRelu(nn.Conv2d(channels_in, channels_out, kernel, stride, padding, bias=False))
