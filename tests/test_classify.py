"""ImageNet class names and the evaluation view classification sees."""

from __future__ import annotations

import torch

from reverie.classify import center_crop_input, classify, imagenet_class_names
from reverie.io.images import Picture, load_image
from reverie.models import load_model


def test_class_names_are_the_imagenet_thousand() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"


def test_the_evaluation_view_is_a_centre_crop_at_the_training_size(chelsea_path) -> None:
    picture = load_image(chelsea_path)  # 451x300
    view = center_crop_input(picture, 224)
    assert view.shape == (1, 3, 224, 224) and view.min() >= 0 and view.max() <= 1
    wide = Picture(torch.linspace(0, 1, 300).repeat(100, 1)[..., None].repeat(1, 1, 3).numpy())
    centre = center_crop_input(wide, 64)[0, 0, 32]  # a left-to-right ramp: the middle stays the middle
    assert abs(float(centre.mean()) - 0.5) < 0.02


def test_classify_ranks_the_top_classes(coffee_path) -> None:
    predictions = classify(load_model("efficientnet_lite0"), load_image(coffee_path), top=3)
    assert predictions[0].index == 967 and len(predictions) == 3
    assert predictions[0].probability >= predictions[1].probability >= predictions[2].probability
