"""The public Python API: dream(), Dreamer, settings travelling into the file and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reverie
from reverie import Dreamer, DreamSettings, ImageError, Picture, SettingsError, dream, read_settings

QUICK = {"steps": 2, "octaves": 2, "max_side": 96}


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_dream_function_writes_a_file_with_its_recipe(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "d.webp"
    result = dream(chelsea_path, output, layers="blocks.9", seed=5, device="cpu", **QUICK)
    assert output.is_file()
    assert read_settings(output) == result.settings
    assert result.settings.layers == "blocks.9" and result.settings.seed == 5


def test_dreamer_accepts_paths_pictures_and_arrays(dreamer: Dreamer, small_cat: Picture) -> None:
    from_picture = dreamer.dream(small_cat, **QUICK).picture
    from_array = dreamer.dream(small_cat.rgb, **QUICK).picture
    assert np.array_equal(from_picture.rgb, from_array.rgb)
    assert from_picture.rgb.shape == (64, 96, 3)  # reduced to max_side 96
    assert from_picture.rgb.dtype == np.float32 and 0 <= from_picture.rgb.min() <= from_picture.rgb.max() <= 1


def test_alpha_is_carried_through(dreamer: Dreamer, small_cat: Picture) -> None:
    alpha = np.tile(np.linspace(0, 1, small_cat.width, dtype=np.float32), (small_cat.height, 1))
    result = dreamer.dream(Picture(small_cat.rgb, alpha), **QUICK).picture
    assert result.alpha is not None and result.alpha.shape == result.rgb.shape[:2]


def test_presets_resolve_to_their_layers(dreamer: Dreamer, small_cat: Picture) -> None:
    result = dreamer.dream(small_cat, preset="objects", **QUICK)
    assert result.settings.layers == "blocks.12,blocks.14"
    with pytest.raises(SettingsError, match="unknown preset"):
        dreamer.dream(small_cat, preset="surreal")


def test_mistakes_get_library_errors(dreamer: Dreamer, small_cat: Picture) -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        dreamer.dream(small_cat, stepz=3)
    with pytest.raises(SettingsError, match="holds efficientnet_lite0"):
        dreamer.dream(small_cat, DreamSettings(model="efficientnet_lite1"))
    with pytest.raises(ImageError, match="too small"):
        dreamer.dream(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(ImageError, match="shape"):
        dreamer.dream(np.zeros((10, 10), dtype=np.float32))


def test_public_api_is_what_the_readme_promises() -> None:
    for name in ("dream", "Dreamer", "load_model", "list_models", "classify", "DreamSettings", "layer"):
        assert hasattr(reverie, name)
    assert "efficientnet_lite0" in reverie.list_models()
