"""Recipes: the settings stored in a result, so ``--settings-from`` (or :func:`read_settings`) can
make it again.

A recipe is one JSON object, ``{"version": "0.1.0", "settings": {...}}``, that
:mod:`reverie.io.images` embeds in PNG, JPEG, WebP and TIFF outputs.
"""

from __future__ import annotations

import os
from typing import Any

from reverie.errors import SettingsError
from reverie.io.images import read_metadata
from reverie.settings import DreamSettings
from reverie.version import __version__

#: Settings that name files: a recipe read from a file never supplies these (a result made
#: elsewhere, or crafted, must not make Reverie open a path it names, such as ``/etc/passwd``).
FILE_SETTINGS = ("guide", "mask")


def without_files(settings: DreamSettings) -> tuple[DreamSettings, dict[str, str]]:
    """``settings`` with every file path blanked, and the paths so dropped (setting -> path)."""
    dropped = {name: getattr(settings, name) for name in FILE_SETTINGS if getattr(settings, name)}
    return settings.changed(**dict.fromkeys(dropped, "")), dropped


def recipe(settings: DreamSettings) -> dict[str, Any]:
    """What makes a result reproducible: its settings (model and seed included) and Reverie's version."""
    return {"version": __version__, "settings": settings.to_dict()}


def read_settings(path: str | os.PathLike[str]) -> DreamSettings:
    """The settings stored in a Reverie result; :class:`SettingsError` if it holds none."""
    stored = read_metadata(path)
    if stored is None:
        raise SettingsError(f"{path} holds no Reverie settings (was it made by reverie dream?)")
    settings = stored.get("settings")
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} has unreadable Reverie settings")
    return DreamSettings.from_dict(settings)
