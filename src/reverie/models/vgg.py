"""VGG16 and VGG19 (no batch norm), as torchvision builds them, for its published ImageNet weights.

VGG's plain stack of 3x3 convolutions gives the painterly, densely textured dreams of many style
transfer and DeepDream examples. torchvision keeps the layers in one ``features`` Sequential indexed
by position; here every convolution, ReLU and pool is its own named stage (``conv4_2``, ``relu4_2``,
``pool4``) so both pre- and post-activation outputs can be dreamt on, and the converter walks the same
layout to map ``features.N`` to its stage. ReLUs are not in place, or they would overwrite the
convolution outputs a dream asked for.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reverie.models.cards.vgg import FeatureLayer, feature_layers
from reverie.models.registry import Network
from reverie.weights import read_torch_state_dict


def stage_module(layer: FeatureLayer, channels_in: int) -> nn.Module:
    """The torch module of one ``features`` entry."""
    if layer.kind == "conv":
        return nn.Conv2d(channels_in, layer.channels, 3, padding=1)
    if layer.kind == "relu":
        return nn.ReLU()
    return nn.MaxPool2d(2, 2)


class Classifier(nn.Module):
    """Pool to 7x7 and torchvision's three fully connected layers (its dropouts are no-ops in eval)."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 1000),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 7), 1))


def build_vgg(variant: str) -> Network:
    """``variant``'s stages, one per conv, relu and pool, and torchvision's classifier."""
    stages: list[tuple[str, nn.Module]] = []
    channels_in = 3
    for layer in feature_layers(variant):
        stages.append((layer.name, stage_module(layer, channels_in)))
        channels_in = layer.channels
    return stages, Classifier()


def convert_vgg_weights(variant: str, path: Path) -> dict[str, Tensor]:
    """torchvision's ``variant`` file keyed as the built network: ``features.N.*`` -> its conv
    stage, ``classifier.*`` -> head.

    Keys that name no convolution of ``variant`` (such as a VGG16 file's indices read against VGG19)
    are kept as they are, so the mismatch is reported by the file's own key names.
    """
    conv_names = {
        f"features.{layer.index}": layer.name for layer in feature_layers(variant) if layer.kind == "conv"
    }
    renamed: dict[str, Tensor] = {}
    for key, tensor in read_torch_state_dict(path).items():
        module, _, leaf = key.rpartition(".")
        if module in conv_names:
            key = f"stages.{conv_names[module]}.{leaf}"
        elif key.startswith("classifier."):
            key = f"head.{key}"
        renamed[key] = tensor
    return renamed
