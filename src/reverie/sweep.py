"""Parameter sweeps: one photo dreamed with every combination of some settings, laid out in a grid.

``--vary seed=1,2,3 --vary layers=blocks.4,blocks.8`` makes six dreams. Rows follow the first varied
knob (and any knobs after the second), columns the second. Each dream is also written beside the
sheet with its settings embedded, so ``--settings-from`` reproduces any cell.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reverie.cluster import Engine, Outcome
from reverie.errors import DreamFailedError, Setting, SettingsError, did_you_mean
from reverie.io.images import (
    DEFAULT_MAX_PIXELS,
    Picture,
    check_image_output,
    load_image,
    probe_image,
    save_image,
)
from reverie.recipe import recipe
from reverie.schema import check_type, declared
from reverie.settings import DreamSettings
from reverie.sheet import labelled_grid
from reverie.tasks import DreamTask, check_engine
from reverie.tensors import resize_picture

#: Settings that a sweep may vary: every dream knob but the file paths.
KNOBS = tuple(item.name for item in declared(DreamSettings) if not item.knob.file)


@dataclass(frozen=True)
class Knob:
    """One varied setting and the values it takes, in order."""

    name: str
    values: tuple[Any, ...]


def parse_vary(text: str) -> Knob:
    """``KNOB=V1,V2,...`` as a :class:`Knob`; values separated by ``;`` when one holds a comma
    (``layers=blocks.4,blocks.8;blocks.11``). Names take dashes or underscores."""
    typed, has_values, listing = text.partition("=")
    name = typed.strip().replace("-", "_")
    if name not in KNOBS:
        spelt = [knob.replace("_", "-") for knob in KNOBS]  # as the options are spelt
        hint = did_you_mean(typed.strip().replace("_", "-"), spelt)
        raise SettingsError(f"cannot vary {typed.strip()!r}{hint}; knobs: {', '.join(spelt)}", field="vary")
    if not has_values:
        raise SettingsError(
            Setting("vary"),
            f" {text!r} gives no values; use e.g. ",
            Setting("vary"),
            " seed=1,2,3",
            field="vary",
        )
    return Knob(name, parse_values(name, listing))


def parse_values(name: str, listing: str) -> tuple[Any, ...]:
    """The values of the knob ``name`` (one of :data:`KNOBS`) in the type of its setting, each once,
    from their text: separated by commas, or by ``;`` when one holds a comma. A mistake names the
    knob as its field, so each front end points at its own input."""
    separator = ";" if ";" in listing else ","
    words = [word.strip() for word in listing.split(separator) if word.strip()]
    if not words:
        raise SettingsError("no values given for ", Setting(name), field=name, value=listing)
    kind = type(getattr(DreamSettings(), name))
    return tuple(dict.fromkeys(parse_value(name, word, kind) for word in words))


def parse_value(name: str, word: str, kind: type) -> Any:
    """One value of a knob in the type of its setting; a word that is none is refused as the
    settings refuse a value of the wrong type (:func:`reverie.schema.check_type`)."""
    try:
        if kind is bool:
            if word.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(word)
            return word.lower() in ("true", "yes", "1")
        return kind(word)
    except ValueError:
        check_type(name, word, kind)
        raise  # check_type refuses any word that is not of the type: not reached


@dataclass(frozen=True)
class Cell:
    """One combination: its place in the grid, its row's and column's labels, its checked settings."""

    row: int
    column: int
    row_label: tuple[str, ...]
    column_label: str
    settings: DreamSettings

    @property
    def label(self) -> str:
        return ", ".join(part for part in (*self.row_label, self.column_label) if part)


def plan_cells(
    base: DreamSettings, knobs: list[Knob], weights: str, device: str, max_pixels: int
) -> list[Cell]:
    """Every combination of the knobs' values, each checked (so a bad one stops the sweep before
    any work); rows are the first knob and those after the second, columns the second."""
    if not knobs:
        raise SettingsError("a sweep needs at least one --vary KNOB=V1,V2,...")
    names = [knob.name for knob in knobs]
    if len(set(names)) != len(names):
        raise SettingsError("each knob can be varied once", field="vary", value=names)
    row_knobs = [knobs[0], *knobs[2:]]
    column_knob = knobs[1] if len(knobs) > 1 else None
    rows = list(itertools.product(*(knob.values for knob in row_knobs)))
    columns = list(column_knob.values) if column_knob else [None]
    cells = []
    for row, row_values in enumerate(rows):
        for column, column_value in enumerate(columns):
            changes = dict(zip((knob.name for knob in row_knobs), row_values, strict=True))
            if column_knob is not None:
                changes[column_knob.name] = column_value
            changes = {name: changes[name] for name in names}  # in the order they were given
            settings = base.changed(**changes)
            row_label = tuple(
                f"{knob.name}={value}" for knob, value in zip(row_knobs, row_values, strict=True)
            )
            column_label = f"{column_knob.name}={column_value}" if column_knob else ""
            checked = check_engine(settings, weights, device, max_pixels)
            cells.append(Cell(row, column, row_label, column_label, checked))
    return cells


#: Sheet formats that carry no settings: the cells beside such a sheet are PNG instead.
NO_METADATA_SUFFIXES = (".bmp", ".gif")


def cell_path(sheet: Path, cell: Cell) -> Path:
    """Where a cell's own image goes: beside the sheet, named after its settings, in a format that
    keeps them (so ``--settings-from`` makes it again)."""
    safe = re.sub(r"[^A-Za-z0-9._=+-]+", "_", cell.label.replace(", ", "--"))
    suffix = ".png" if sheet.suffix.lower() in NO_METADATA_SUFFIXES else sheet.suffix
    return sheet.with_name(f"{sheet.stem}--{safe}{suffix}")


def run_sweep(
    source: Path,
    sheet: Path,
    cells: list[Cell],
    engine: Engine,
    on_cell: Any = None,
    **engine_options: Any,
) -> Picture:
    """Dream every cell on ``engine`` (each written beside ``sheet``), then lay out and save the sheet.

    Every cell runs; if any failed, the sweep fails with the first failure's error and writes no
    sheet. The sheet itself carries the first cell's settings.
    """
    probe_image(source, engine_options.get("max_pixels", DEFAULT_MAX_PIXELS))
    check_image_output(sheet, protect=[source])
    tasks = [
        DreamTask(source, cell_path(sheet, cell), settings=cell.settings, **engine_options) for cell in cells
    ]
    run_all(engine, tasks, on_cell, "cells")
    pictures = [load_image(Path(str(task.output))) for task in tasks]
    size = pictures[0].size
    columns = 1 + max(cell.column for cell in cells)
    grid = [[] for _ in range(1 + max(cell.row for cell in cells))]
    for cell, picture in zip(cells, pictures, strict=True):
        grid[cell.row].append(resize_picture(picture, size).rgb)
    row_labels = [cell.row_label for cell in cells if cell.column == 0]
    picture = labelled_grid(grid, row_labels, [cell.column_label for cell in cells[:columns]])
    save_image(sheet, picture, recipe(cells[0].settings), protect=[source])
    return picture


def run_all(engine: Engine, tasks: list[DreamTask], on_each: Any, what: str, among: int = 0) -> None:
    """Run every task on ``engine`` (``on_each`` hears each ending); if any failed, a
    :class:`DreamFailedError` names how many of the ``among`` (default: all) ``what`` failed and the
    first failure."""
    failures: list[str] = []

    def collect(task: DreamTask, outcome: Outcome) -> None:
        if outcome.error:
            failures.append(f"{Path(str(task.output)).name}: {outcome.error}")
        if on_each is not None:
            on_each(task, outcome)

    engine.run(tasks, collect)
    if failures:
        raise DreamFailedError(
            f"{len(failures)} of {among or len(tasks)} {what} failed; first: {failures[0]}"
        )
