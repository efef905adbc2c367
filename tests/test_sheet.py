"""Contact sheets: one labelled panel per layer term, in a grid."""

from __future__ import annotations

from pathlib import Path

from reverie.cli import main
from reverie.dreamer import read_settings
from reverie.imaging import load_image
from reverie.models import get_spec
from reverie.sheet import spread_layers

QUICK = ["--steps", "1", "--octaves", "1", "--max-side", "90", "-q"]


def test_sheet_has_the_photo_and_one_panel_per_term(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "sheet.png"
    args = [
        "sheet",
        str(chelsea_path),
        "-o",
        str(output),
        "--layers",
        "blocks.3,blocks.9,class:tabby",
        "--columns",
        "2",
        *QUICK,
    ]
    assert main(args) == 0
    sheet = load_image(output)
    assert (sheet.width, sheet.height) == (2 * 90, 2 * 60)  # 4 panels of 90x60 in 2 columns
    assert read_settings(output).layers == "blocks.3,blocks.9,class:tabby"


def test_sheet_checks_every_term_before_any_work(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "sheet.png"
    assert main(["sheet", str(chelsea_path), "-o", str(output), "--layers", "blocks.3,mixed3", *QUICK]) == 1
    assert "unknown layer 'mixed3'" in capsys.readouterr().err
    assert not output.exists()


def test_default_layers_spread_from_shallow_to_deep() -> None:
    model = get_spec("efficientnet_lite0").build()
    layers = spread_layers(model, 5)
    assert layers[0] == "blocks.0" and layers[-1] == "head" and len(layers) == 5
    assert spread_layers(model, 1) == ["head"]
