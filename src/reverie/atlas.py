"""A neuron atlas: every chosen channel of a layer (or every chosen class) dreamed from noise, one
labelled tile each, in one grid, so that a channel is chosen by sight rather than by number.

Each tile is also written beside the atlas with its settings (``atlas--blocks.11_37.png``), so
``reverie dream --from-noise --size WxH --settings-from TILE`` makes it again; a tile already there
with the same settings is reused, so a second run of the same atlas dreams nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reverie.cluster import Engine, OutcomeCallback
from reverie.errors import Setting, SettingsError, UnknownLayerError
from reverie.io.images import Picture, check_image_output, load_image, save_image
from reverie.models import get_spec
from reverie.objectives import LayerTerm
from reverie.recipe import read_settings, recipe
from reverie.settings import DreamSettings
from reverie.sheet import contact_sheet
from reverie.sweep import run_all
from reverie.tasks import DreamTask, NoiseCanvas

#: Most tiles one atlas may hold.
MAX_TILES = 1024


@dataclass(frozen=True)
class Tile:
    """One channel or class of an atlas: its label, the term it dreams and its file."""

    label: str
    term: str
    path: Path


def parse_channels(text: str) -> list[int]:
    """``0-63``, ``3,17,40`` or both mixed (``0-7,12``) as channel numbers, in order, each once."""
    channels: list[int] = []
    for part in (piece.strip() for piece in text.split(",") if piece.strip()):
        first, dash, last = part.partition("-")
        try:
            numbers = range(int(first), int(last) + 1) if dash else [int(first)]
        except ValueError:
            raise SettingsError(
                Setting("channels"), f" takes numbers and ranges such as 0-63 or 3,17; got {part!r}",
                field="channels", value=part,
            ) from None  # fmt: skip
        channels += [number for number in numbers if number not in channels]
    if not channels:
        raise SettingsError(Setting("channels"), " names no channel; give e.g. 0-15", field="channels")
    return channels


def check_channels(model: str, layer: str, channels: list[int]) -> None:
    """``layer`` is one of ``model``'s and has every one of ``channels``; else the catalogue's error,
    about the atlas's own fields ``layer`` or ``channels``, not ``layers``."""
    spec = get_spec(model)
    try:
        spec.layer(layer)
    except UnknownLayerError as error:
        raise error.prefixed(field="layer") from None
    try:
        LayerTerm(layer, tuple(channels)).check(spec)
    except UnknownLayerError as error:
        raise error.prefixed(field="channels") from None


def plan_tiles(sheet: Path, layer: str, channels: list[int], classes: list[str]) -> list[Tile]:
    """The tiles of an atlas of ``layer``'s ``channels``, or of ``classes``, written beside ``sheet``."""
    if bool(channels) == bool(classes):
        raise SettingsError(
            "an atlas shows ", Setting("channels"), " of a ", Setting("layer"), ", or ",
            Setting("classes"), ": give one of them", field="channels",
        )  # fmt: skip
    terms = [(f"{layer}:{channel}", f"{layer}:{channel}") for channel in channels]
    terms += [(f"class:{name}", name) for name in classes]
    if len(terms) > MAX_TILES:
        raise SettingsError(f"an atlas holds at most {MAX_TILES} tiles; asked for {len(terms)}")
    return [Tile(label, term, tile_path(sheet, term)) for term, label in terms]


def tile_path(sheet: Path, term: str) -> Path:
    """A tile's file beside the sheet, named after its term, as PNG (which keeps its settings)."""
    return sheet.with_name(f"{sheet.stem}--{re.sub(r'[^A-Za-z0-9._=+-]+', '_', term)}.png")


def tile_task(tile: Tile, settings: DreamSettings, size: int, **engine_options: object) -> DreamTask:
    """The dream of one tile: its term from a ``size`` x ``size`` canvas, in Fourier space unless
    the settings say otherwise (``--param pixel``)."""
    param = "fft" if settings.param == "auto" else settings.param
    tile_settings = settings.with_changes(layers=tile.term, param=param)
    return DreamTask(NoiseCanvas(size, size), tile.path, settings=tile_settings, **engine_options)  # type: ignore[arg-type]


def cached(task: DreamTask) -> bool:
    """Whether the tile's file is there already, dreamed with exactly this (checked) task's settings."""
    path = Path(str(task.output))
    try:
        return path.is_file() and read_settings(path) == task.settings
    except Exception:  # an unreadable or foreign file is dreamed again
        return False


def run_atlas(
    sheet: Path,
    tiles: list[Tile],
    settings: DreamSettings,
    size: int,
    engine: Engine,
    columns: int,
    on_tile: OutcomeCallback | None = None,
    **engine_options: object,
) -> tuple[Picture, int]:
    """Dream every tile not cached yet on ``engine``, then lay out and save the labelled atlas; the
    picture and how many tiles were dreamed. Any tile failing fails the atlas (no sheet written)."""
    check_image_output(sheet)
    tasks = [tile_task(tile, settings, size, **engine_options).check() for tile in tiles]
    todo = [task for task in tasks if not cached(task)]
    run_all(engine, todo, on_tile, "tiles", among=len(tiles))
    panels = [(tile.label, load_image(tile.path).rgb) for tile in tiles]
    picture = contact_sheet(panels, columns)
    save_image(sheet, picture, recipe(tasks[0].settings))
    return picture, len(todo)
