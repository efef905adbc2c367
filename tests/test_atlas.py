"""``reverie atlas``: a labelled grid of channels or classes dreamed from noise, each tile kept with its
settings (and made again from them), reused by a second run, and dreamed on Ray when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reverie.atlas import parse_channels, plan_tiles
from reverie.cli import main
from reverie.errors import SettingsError
from reverie.io.images import load_image
from reverie.recipe import read_settings

QUICK = ["--tile", "48", "--steps", "2", "--octaves", "1"]


def test_channels_are_ranges_and_lists() -> None:
    assert parse_channels("0-3, 7,2") == [0, 1, 2, 3, 7]
    for bad in ("x", "", "3-"):
        with pytest.raises(SettingsError):
            parse_channels(bad)
    with pytest.raises(SettingsError, match="give one of them"):
        plan_tiles(Path("atlas.png"), "blocks.8", [1], ["tabby"])
    tiles = plan_tiles(Path("out/atlas.png"), "blocks.8", [3], [])
    assert (tiles[0].label, tiles[0].term, tiles[0].path) == (
        "blocks.8:3",
        "blocks.8:3",
        Path("out/atlas--blocks.8_3.png"),
    )


def test_an_atlas_is_a_grid_of_tiles_that_a_second_run_reuses(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "atlas.png"
    command = [
        "atlas",
        "--layer",
        "blocks.11",
        "--channels",
        "0-2",
        "-o",
        str(sheet),
        "--columns",
        "3",
        *QUICK,
    ]
    assert main(command) == 0
    assert "wrote" in capsys.readouterr().out
    tiles = sorted(tmp_path.glob("atlas--*.png"))
    assert [tile.name for tile in tiles] == [f"atlas--blocks.11_{channel}.png" for channel in range(3)]
    assert load_image(sheet).size == (3 * 48, 48)
    settings = read_settings(tiles[1])
    assert (settings.layers, settings.param) == ("blocks.11:1", "fft")
    before = {tile: tile.stat().st_mtime_ns for tile in tiles}
    assert main(command) == 0
    assert "0 dreamed, 3 from an earlier run" in capsys.readouterr().out
    assert {tile: tile.stat().st_mtime_ns for tile in tiles} == before  # nothing dreamed again
    assert main([*command, "--seed", "5"]) == 0  # other settings: every tile anew
    assert "3 dreamed" in capsys.readouterr().out


def test_a_tile_is_made_again_from_its_settings(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "cats.png"
    assert main(["atlas", "--classes", "tabby", "-o", str(sheet), *QUICK]) == 0
    tile = tmp_path / "cats--class_tabby.png"
    again = tmp_path / "again.png"
    assert (
        main(["dream", "--from-noise", "--size", "48x48", "--settings-from", str(tile), "-o", str(again)])
        == 0
    )
    assert np.array_equal(load_image(again).rgb, load_image(tile).rgb)


def test_bad_atlases_are_one_line_errors(tmp_path: Path, capsys) -> None:
    sheet = str(tmp_path / "atlas.png")
    assert main(["atlas", "-o", sheet]) == 1
    assert "give one of them" in capsys.readouterr().err
    assert main(["atlas", "--channels", "1", "-o", sheet]) == 2
    assert "give --layer too" in capsys.readouterr().err
    assert main(["atlas", "--layer", "blocks.11", "--channels", "500", "-o", sheet, *QUICK]) == 1
    assert "--channels: layer blocks.11 has channels 0..191; got 500" in capsys.readouterr().err
    assert main(["atlas", "--layer", "block.11", "--channels", "5", "-o", sheet, *QUICK]) == 1
    assert "error: --layer: unknown layer 'block.11'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_an_atlas_on_the_cluster_is_the_atlas_dreamed_here(ray_cluster: str, tmp_path: Path, capsys) -> None:
    here, there = tmp_path / "here" / "atlas.png", tmp_path / "there" / "atlas.png"
    here.parent.mkdir()
    there.parent.mkdir()
    command = ["atlas", "--layer", "blocks.8", "--channels", "4,9", *QUICK]
    assert main([*command, "-o", str(there), "--ray", ray_cluster]) == 0
    assert main([*command, "-o", str(here), "--workers", "2"]) == 0  # one thread each, as the actors
    for name in ("atlas--blocks.8_4.png", "atlas--blocks.8_9.png"):
        assert np.array_equal(load_image(here.parent / name).rgb, load_image(there.parent / name).rgb), name
