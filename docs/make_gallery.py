"""Regenerate the README's gallery (docs/presets.jpg, docs/chelsea-dream.jpg) with the public API.

Run: .venv/bin/python docs/make_gallery.py   (about a minute on a 2-core CPU)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from reverie import Dreamer, dream, load_image
from reverie.samples import sample_path

DOCS = Path(__file__).parent
PRESETS = ("edges", "textures", "patterns", "objects")


def to_pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))


def labelled(image: Image.Image, label: str) -> Image.Image:
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 * len(label) + 8, 16), fill="black")
    draw.text((4, 2), label, fill="white")
    return image


def main() -> None:
    dreamer = Dreamer()
    cat = load_image(sample_path("chelsea"))
    tiles = [labelled(to_pil(cat.rgb), "photo")]
    for preset in PRESETS:
        dreamed = to_pil(dream(cat, dreamer=dreamer, preset=preset).picture.rgb)
        if preset == "patterns":
            dreamed.save(DOCS / "chelsea-dream.jpg", quality=90)
        tiles.append(labelled(dreamed, preset))
    coffee = dream(sample_path("coffee"), dreamer=dreamer, preset="objects").picture
    tiles.append(labelled(to_pil(coffee.rgb).resize(tiles[0].size), "objects (coffee)"))
    width, height = tiles[0].size
    sheet = Image.new("RGB", (width * 3, height * 2), "white")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % 3) * width, (index // 3) * height))
    sheet.save(DOCS / "presets.jpg", quality=88)


if __name__ == "__main__":
    main()
