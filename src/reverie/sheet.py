"""Contact sheets: one photo dreamed at several layers, side by side and labelled.

The quickest way to learn what each layer of a network "sees", and how the README's gallery is made.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from reverie.dreamer import Dreamer
from reverie.imaging import Picture
from reverie.models.base import Backbone
from reverie.render import ProgressCallback
from reverie.settings import DreamSettings


def spread_layers(model: Backbone, count: int = 5) -> list[str]:
    """``count`` layers evenly spread from shallow to deep (the first stage excluded: mostly noise)."""
    names = model.layer_names[1:] or model.layer_names
    if count >= len(names):
        return list(names)
    return (
        [names[round(i * (len(names) - 1) / (count - 1))] for i in range(count)] if count > 1 else [names[-1]]
    )


def label(image: Image.Image, text: str) -> Image.Image:
    """``image`` with ``text`` on a black strip in its top-left corner."""
    draw = ImageDraw.Draw(image)
    _, _, right, bottom = draw.textbbox((4, 2), text)
    draw.rectangle((0, 0, right + 4, bottom + 3), fill="black")
    draw.text((4, 2), text, fill="white")
    return image


def to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))


def contact_sheet(
    dreamer: Dreamer,
    picture: Picture,
    terms: list[str],
    settings: DreamSettings | None = None,
    columns: int = 3,
    progress: ProgressCallback | None = None,
) -> Picture:
    """The photo and one dream per layer term (e.g. ``["blocks.4", "blocks.8", "class:tabby"]``).

    Every panel uses the same ``settings`` (seed included) except for its layers, so the panels
    differ only in what is maximised.
    """
    settings = settings or DreamSettings(model=dreamer.model_name)
    first = dreamer.dream(picture, settings.with_changes(layers=terms[0]), progress).picture
    size = (first.width, first.height)
    panels = [label(to_image(dreamer.working_picture(picture, settings.max_side).rgb), "photo")]
    panels.append(label(to_image(first.rgb), terms[0]))
    for term in terms[1:]:
        dreamed = dreamer.dream(picture, settings.with_changes(layers=term), progress).picture
        panels.append(label(to_image(dreamed.rgb), term))
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    sheet = Image.new("RGB", (columns * size[0], rows * size[1]), "white")
    for index, panel in enumerate(panels):
        sheet.paste(panel.resize(size), ((index % columns) * size[0], (index // columns) * size[1]))
    return Picture(np.asarray(sheet, dtype=np.float32) / 255, None)
