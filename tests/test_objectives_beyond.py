"""Class and guide objectives, masks, kept colours and dreams from noise, each raising its own measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverie import Dreamer, Picture, SettingsError
from reverie.cli import main
from reverie.dreamer import read_settings
from reverie.imaging import load_image, resize_picture, to_tensor
from reverie.objectives import ClassTerm, GuideTerm, class_index, imagenet_class, parse_layer_spec

QUICK = {"steps": 4, "octaves": 2, "max_side": 128}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def logit(dreamer: Dreamer, picture: Picture, index: int) -> float:
    with torch.no_grad():
        return float(dreamer.model.classify(to_tensor(picture.rgb))[0, index])


def test_class_names_and_indices_parse() -> None:
    assert class_index("tabby") == 281 and class_index("Espresso") == 967 and class_index("5") == 5
    assert parse_layer_spec("class:tabby=0.5").terms == (ClassTerm(281, 0.5),)
    assert imagenet_class(967).spec() == "class:967"
    with pytest.raises(SettingsError, match="ambiguous"):
        class_index("crane")
    with pytest.raises(SettingsError, match="unknown ImageNet class"):
        class_index("unicorn")
    with pytest.raises(SettingsError, match=r"0\.\.999"):
        class_index("1000")


def test_class_objective_raises_its_logit(dreamer: Dreamer, small_cat: Picture) -> None:
    before = logit(dreamer, small_cat, 967)
    result = dreamer.dream(small_cat, layers="class:espresso", **QUICK).picture
    working = resize_picture(small_cat, (result.width, result.height))
    assert logit(dreamer, result, 967) > logit(dreamer, working, 967) + 1.0
    assert logit(dreamer, result, 967) > before


def test_guided_dream_moves_towards_the_guide(
    dreamer: Dreamer, small_cat: Picture, coffee_path: Path
) -> None:
    guided = {**QUICK, "max_side": 0, "layers": "guide:blocks.9", "guide": str(coffee_path)}
    settings = dreamer.dream(small_cat, **{**guided, "steps": 1, "octaves": 1}).settings
    objective = dreamer.objective(settings)
    assert isinstance(objective.terms[0], GuideTerm) and objective.terms[0].features is not None
    result = dreamer.dream(small_cat, **guided).picture
    plain = dreamer.dream(small_cat, **{**QUICK, "max_side": 0, "layers": "blocks.9"}).picture

    def match(picture: Picture) -> float:
        with torch.no_grad():
            return float(objective(dreamer.model(to_tensor(picture.rgb), objective.layers)))

    assert match(result) > match(small_cat) + 1.0
    assert match(result) > match(plain)


def test_guide_alone_turns_layers_into_guide_terms(dreamer: Dreamer, coffee_path: Path) -> None:
    settings = dreamer.dream(np.full((64, 64, 3), 0.5, np.float32), steps=1, octaves=1).settings
    objective = dreamer.objective(settings.with_changes(guide=str(coffee_path)))
    assert all(isinstance(term, GuideTerm) for term in objective.terms)
    with pytest.raises(SettingsError, match="--guide"):
        dreamer.objective(settings.with_changes(layers="guide:blocks.9"))


def test_mask_leaves_black_pixels_unchanged(dreamer: Dreamer, small_cat: Picture, tmp_path: Path) -> None:
    mask = np.zeros((80, 120), np.uint8)
    mask[:, 60:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    result = dreamer.dream(small_cat, mask=str(tmp_path / "mask.png"), steps=4, octaves=2, max_side=0).picture
    change = np.abs(result.rgb - small_cat.rgb).mean(axis=2)
    assert change[:, :45].max() == 0.0  # black, beyond the feathered edge: untouched
    assert change[:, 75:].mean() > 0.01  # white: dreamed


def test_keep_colors_keeps_chroma_and_changes_luma(dreamer: Dreamer, small_cat: Picture) -> None:
    plain = dreamer.dream(small_cat, steps=4, octaves=2, max_side=0).picture.rgb
    kept = dreamer.dream(small_cat, steps=4, octaves=2, max_side=0, keep_colors=True).picture.rgb

    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb - (rgb @ LUMA)[..., None]

    original = small_cat.rgb
    assert (
        np.abs(chroma(kept) - chroma(original)).mean() < 0.5 * np.abs(chroma(plain) - chroma(original)).mean()
    )
    assert np.abs(kept @ LUMA - original @ LUMA).mean() > 0.01


def test_dream_from_noise_on_the_command_line(tmp_path: Path) -> None:
    output = tmp_path / "noise.png"
    args = [
        "dream",
        "--from-noise",
        "--size",
        "96x64",
        "-o",
        str(output),
        "--layers",
        "blocks.6:5",
        "-q",
        "--steps",
        "2",
        "--octaves",
        "1",
    ]
    assert main(args) == 0
    assert load_image(output).rgb.shape == (64, 96, 3)
    assert read_settings(output).layers == "blocks.6:5"
    assert main(["dream", str(output), "--from-noise", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["dream", "--from-noise", "--size", "big", "-o", str(tmp_path / "x.png")]) == 2


def test_guide_mask_and_colours_travel_in_the_metadata(
    chelsea_path: Path, coffee_path: Path, tmp_path: Path
) -> None:
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(mask)
    output = tmp_path / "out.png"
    args = [
        "dream",
        str(chelsea_path),
        "-o",
        str(output),
        "--guide",
        str(coffee_path),
        "--mask",
        str(mask),
        "--keep-colors",
        "-q",
        "--steps",
        "1",
        "--octaves",
        "1",
        "--max-side",
        "96",
    ]
    assert main(args) == 0
    settings = read_settings(output)
    assert settings.guide == str(coffee_path.resolve()) and settings.mask == str(mask.resolve())
    assert settings.keep_colors is True
