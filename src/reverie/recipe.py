"""Recipes: the settings stored in a result, so ``--settings-from`` (or :func:`read_settings`) can
make it again.

A recipe is one JSON object, ``{"version": "0.1.0", "settings": {...}}``, that
:mod:`reverie.io.images` embeds in PNG, JPEG, WebP and TIFF outputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reverie.errors import File, SettingsError
from reverie.io.images import read_metadata
from reverie.schema import declared
from reverie.settings import DreamSettings
from reverie.version import __version__

#: Settings that name files: a recipe read from a file never supplies these (a result made
#: elsewhere, or crafted, must not make Reverie open a path it names, such as ``/etc/passwd``).
FILE_SETTINGS = tuple(item.name for item in declared(DreamSettings) if item.knob.file)


def without_files(settings: DreamSettings) -> tuple[DreamSettings, dict[str, str]]:
    """``settings`` with every file path blanked, and the paths so dropped (setting -> path)."""
    dropped = {name: getattr(settings, name) for name in FILE_SETTINGS if getattr(settings, name)}
    return settings.changed(**dict.fromkeys(dropped, "")), dropped


def recipe(settings: DreamSettings, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What makes a result reproducible: its settings (model and seed included) and Reverie's version.

    Files (the guide, the mask) are recorded by name, never by path: a result shared elsewhere must
    not tell where its files lived (a server's upload folder, someone's home). ``names`` gives the
    names to record (the web's: what the user uploaded); by default each file's own name.
    """
    values = settings.to_dict()
    for name in FILE_SETTINGS:
        if values[name]:
            values[name] = (names or {}).get(name) or Path(values[name]).name
    return {"version": __version__, "settings": values}


def read_settings(path: str | os.PathLike[str]) -> DreamSettings:
    """The settings stored in a Reverie result; :class:`SettingsError` if it holds none."""
    stored = read_metadata(path)
    if stored is None:
        raise SettingsError(File(path), " holds no Reverie settings (was it made by reverie dream?)")
    settings = stored.get("settings")
    if not isinstance(settings, dict):
        raise SettingsError(File(path), " has unreadable Reverie settings")
    return DreamSettings.from_dict(settings)
