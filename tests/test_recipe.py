"""Recipes: the settings a result carries, read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from reverie.errors import ImageError, SettingsError
from reverie.io.images import Picture, load_image, read_metadata, save_image
from reverie.recipe import read_settings, recipe
from reverie.settings import DreamSettings
from reverie.version import __version__

SETTINGS = DreamSettings(model="efficientnet_lite0", layers="blocks.6:3+5=2", seed=11, tv_weight=0.25)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_settings_round_trip_through_every_format_that_holds_text(
    tmp_path: Path, chelsea_path, suffix
) -> None:
    path = save_image(tmp_path / f"r{suffix}", load_image(chelsea_path), recipe(SETTINGS))
    assert read_settings(path) == SETTINGS
    assert read_metadata(path) == {"version": __version__, "settings": SETTINGS.to_dict()}


def test_results_without_a_recipe_say_so(tmp_path: Path, chelsea_path: Path) -> None:
    with pytest.raises(SettingsError, match="holds no Reverie settings"):
        read_settings(chelsea_path)
    bmp = save_image(tmp_path / "r.bmp", load_image(chelsea_path), recipe(SETTINGS))  # BMP holds no text
    with pytest.raises(SettingsError, match="holds no Reverie settings"):
        read_settings(bmp)
    broken = save_image(tmp_path / "b.png", Picture(load_image(chelsea_path).rgb), {"settings": "steps=3"})
    with pytest.raises(SettingsError, match="unreadable"):
        read_settings(broken)
    typed = save_image(
        tmp_path / "t.png", Picture(load_image(chelsea_path).rgb), {"settings": {"steps": "x"}}
    )
    with pytest.raises(SettingsError, match="steps must be a whole number"):
        read_settings(typed)
    with pytest.raises(ImageError, match="not found"):
        read_settings(tmp_path / "none.png")
