"""Parameter sweeps: knobs and values, the grid, and cells reproducible with --settings-from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reverie.cli import main
from reverie.errors import SettingsError, UnknownLayerError
from reverie.io.images import load_image
from reverie.recipe import read_settings
from reverie.settings import DreamSettings
from reverie.sweep import Knob, parse_vary, plan_cells

ENGINE = {"weights": "", "device": "cpu", "max_pixels": 10**8}


def test_knobs_parse_in_their_settings_types() -> None:
    assert parse_vary("seed=1,2,3") == Knob("seed", (1, 2, 3))
    assert parse_vary("step-size=0.01, 0.03") == Knob("step_size", (0.01, 0.03))
    assert parse_vary("keep_colors=yes,no") == Knob("keep_colors", (True, False))
    assert parse_vary("layers=blocks.4;blocks.8,blocks.11") == Knob(
        "layers", ("blocks.4", "blocks.8,blocks.11")
    )
    assert parse_vary("seed=2,2,1") == Knob("seed", (2, 1))  # each value once
    for text, message, field in [
        ("colour=1,2", "cannot vary 'colour'", "vary"),
        (
            "stepsize=1",
            r"cannot vary .stepsize. \(did you mean step-size\?\); knobs: steps, step-size, ",
            "vary",
        ),
        ("octave_scale=x", "octave_scale must be a number; got 'x'", "octave_scale"),
        ("guide=a.png,b.png", "cannot vary 'guide'", "vary"),
        ("seed=one", "seed must be a whole number; got 'one'", "seed"),
        ("seed=", "no values given for seed", "seed"),
        ("seed= ; ", "no values given for seed", "seed"),
        ("seed", "vary 'seed' gives no values", "vary"),
        ("keep-colors=maybe", "keep_colors must be true or false; got 'maybe'", "keep_colors"),
    ]:
        with pytest.raises(SettingsError, match=message) as refused:
            parse_vary(text)
        assert refused.value.field == field  # each front end points at its own input


def test_cells_cover_every_combination_rows_by_the_first_knob() -> None:
    knobs = [Knob("seed", (1, 2)), Knob("octaves", (1, 2, 3)), Knob("steps", (1, 2))]
    cells = plan_cells(DreamSettings(), knobs, **ENGINE)
    assert len(cells) == 12 and {(c.row, c.column) for c in cells} == {
        (r, c) for r in range(4) for c in range(3)
    }
    first = cells[0]
    assert first.row_label == ("seed=1", "steps=1") and first.column_label == "octaves=1"
    assert (first.settings.seed, first.settings.octaves, first.settings.steps) == (1, 1, 1)
    assert cells[-1].settings.layers == "blocks.8,blocks.11"  # checked: the preset resolved
    single = plan_cells(DreamSettings(), [Knob("seed", (5, 6))], **ENGINE)
    assert [(c.row, c.column, c.column_label) for c in single] == [(0, 0, ""), (1, 0, "")]


def test_a_bad_combination_stops_the_sweep_before_any_work() -> None:
    with pytest.raises(UnknownLayerError, match="mixed3"):
        plan_cells(DreamSettings(), [Knob("layers", ("blocks.4", "mixed3"))], **ENGINE)
    with pytest.raises(SettingsError, match="once"):
        plan_cells(DreamSettings(), [Knob("seed", (1,)), Knob("seed", (2,))], **ENGINE)
    varied_model = plan_cells(
        DreamSettings(layers="blocks.4"), [Knob("model", ("efficientnet_lite1",))], **ENGINE
    )
    assert varied_model[0].settings.layers == "blocks.11,blocks.15"  # its own preset's layers


def test_the_sweep_command_writes_a_grid_and_reproducible_cells(
    chelsea_path: Path, tmp_path: Path, capsys
) -> None:
    sheet = tmp_path / "sheet.png"
    args = [
        "sweep",
        str(chelsea_path),
        "-o",
        str(sheet),
        "--vary",
        "seed=1,2",
        "--vary",
        "layers=blocks.4,blocks.9",
    ]
    assert main([*args, "--steps", "2", "--octaves", "2", "--max-side", "96"]) == 0
    assert "2 x 2 cells" in capsys.readouterr().out
    cells = sorted(p.name for p in tmp_path.glob("sheet--*.png"))
    assert cells == [
        "sheet--seed=1--layers=blocks.4.png",
        "sheet--seed=1--layers=blocks.9.png",
        "sheet--seed=2--layers=blocks.4.png",
        "sheet--seed=2--layers=blocks.9.png",
    ]
    grid = load_image(sheet)
    cell = load_image(tmp_path / cells[3])
    assert cell.size == (96, 64) and grid.height == 2 * 64 + 18 and (grid.width - 2 * 96) > 30
    bottom_right = grid.rgb[-64:, -96:]
    assert np.abs(bottom_right - cell.rgb).max() <= 1 / 255 + 1e-6  # the cell, in its place
    assert (
        read_settings(tmp_path / cells[3]).seed == 2
        and read_settings(tmp_path / cells[3]).layers == "blocks.9"
    )
    again = tmp_path / "again.png"
    reproduce = [
        "dream",
        str(chelsea_path),
        "-o",
        str(again),
        "--settings-from",
        str(tmp_path / cells[3]),
        "-q",
    ]
    assert main(reproduce) == 0
    assert np.array_equal(load_image(again).rgb, cell.rgb)


def test_sweep_mistakes_are_one_line_errors(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    for args, code, fragment in [
        (["--vary", "seed=1", "-o", str(tmp_path / "s.doc")], 1, "not a supported image format"),
        (["--vary", "wobble=1", "-o", str(tmp_path / "s.png")], 1, "cannot vary 'wobble'"),
        (["-o", str(tmp_path / "s.png")], 2, "--vary"),
    ]:
        assert main(["sweep", str(chelsea_path), *args]) == code
        err = capsys.readouterr().err
        assert err.startswith("reverie: error: ") and fragment in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
