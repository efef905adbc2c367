"""Contact sheets: one photo dreamed at several layers, side by side and labelled.

The quickest way to learn what each layer of a network "sees". This module lays panels out;
:class:`reverie.tasks.SheetTask` dreams them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from reverie.io.images import Picture, to_uint8


def spread_layers(names: Sequence[str], count: int = 5) -> list[str]:
    """``count`` layers evenly spread from shallow to deep (the first excluded: mostly noise)."""
    names = list(names[1:]) or list(names)
    if count >= len(names):
        return names
    if count == 1:
        return [names[-1]]
    return [names[round(i * (len(names) - 1) / (count - 1))] for i in range(count)]


def label(image: Image.Image, text: str) -> Image.Image:
    """``image`` with ``text`` on a black strip in its top-left corner."""
    draw = ImageDraw.Draw(image)
    _, _, right, bottom = draw.textbbox((4, 2), text)
    draw.rectangle((0, 0, right + 4, bottom + 3), fill="black")
    draw.text((4, 2), text, fill="white")
    return image


def contact_sheet(panels: Sequence[tuple[str, np.ndarray]], columns: int = 3) -> Picture:
    """(label, RGB) panels of one size in a grid ``columns`` wide, each labelled, on white."""
    height, width = panels[0][1].shape[:2]
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for index, (text, rgb) in enumerate(panels):
        panel = label(Image.fromarray(to_uint8(rgb)), text)
        sheet.paste(panel, ((index % columns) * width, (index // columns) * height))
    return Picture(np.asarray(sheet, dtype=np.float32) / 255, None)


def labelled_grid(
    cells: Sequence[Sequence[np.ndarray]], row_labels: Sequence[Sequence[str]], column_labels: Sequence[str]
) -> Picture:
    """Panels of one size in rows and columns, with each row's labels (one line each) in a margin on
    the left and each column's label above it, black on white."""
    height, width = cells[0][0].shape[:2]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_width(text: str) -> int:
        return int(probe.textbbox((0, 0), text)[2])

    line = 12
    left = 8 + max((text_width(text) for labels in row_labels for text in labels), default=0)
    top = line + 6 if any(column_labels) else 0
    sheet = Image.new("RGB", (left + len(cells[0]) * width, top + len(cells) * height), "white")
    draw = ImageDraw.Draw(sheet)
    for column, text in enumerate(column_labels):
        draw.text((left + column * width + 4, 3), text, fill="black")
    for row, panels in enumerate(cells):
        for index, text in enumerate(row_labels[row]):
            draw.text((4, top + row * height + 4 + index * line), text, fill="black")
        for column, rgb in enumerate(panels):
            sheet.paste(Image.fromarray(to_uint8(rgb)), (left + column * width, top + row * height))
    return Picture(np.asarray(sheet, dtype=np.float32) / 255, None)
