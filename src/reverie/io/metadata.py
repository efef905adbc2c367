"""Where a result carries its recipe: one JSON object stored under the key ``reverie``.

PNG stores it as a text chunk named ``reverie`` (tEXt, or iTXt when the text is not Latin-1).
JPEG, WebP and TIFF store ``{"reverie": OBJECT}`` as ASCII JSON in the EXIF ImageDescription tag
(0x010E), and nothing else from the source (no GPS, no camera data). BMP and GIF have no standard
place for text, so the object is silently dropped. What the object holds is :mod:`reverie.recipe`'s
business; this module only puts it in a file and finds it again.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

#: The PNG chunk keyword and the EXIF JSON key under which the object is stored.
METADATA_KEY = "reverie"
EXIF_IMAGE_DESCRIPTION = 0x010E
#: Formats whose metadata goes into EXIF ImageDescription.
EXIF_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "TIFF"})
#: JPEG keeps EXIF in one APP1 segment, at most 65533 bytes including its header.
JPEG_MAX_EXIF_BYTES = 65533

Metadata = dict[str, Any]


def metadata_save_options(image_format: str, metadata: Metadata | None) -> dict[str, object]:
    """Keyword arguments for ``Image.save`` that embed ``metadata`` in an ``image_format`` file.

    A JPEG can hold at most 64 KB of EXIF; larger metadata is left out with a warning.
    """
    if not metadata:
        return {}
    text = json.dumps(metadata, sort_keys=True)
    if image_format == "PNG":
        info = PngInfo()
        info.add_text(METADATA_KEY, text)
        return {"pnginfo": info}
    if image_format not in EXIF_FORMATS:
        return {}
    exif = Image.Exif()
    exif[EXIF_IMAGE_DESCRIPTION] = json.dumps({METADATA_KEY: metadata}, ensure_ascii=True, sort_keys=True)
    data = exif.tobytes()
    if image_format == "JPEG" and len(data) > JPEG_MAX_EXIF_BYTES:
        warnings.warn(
            f"metadata is {len(data):,} bytes, more than a JPEG can hold ({JPEG_MAX_EXIF_BYTES:,}); "
            "saved without it (use .png to keep it)",
            stacklevel=3,
        )
        return {}
    return {"exif": data}


def metadata_of(image: Image.Image) -> Metadata | None:
    """The object stored in an opened image, or None when it holds none (or one not ours).

    Files written before the object was stored whole (EXIF holding ``{"reverie": {"reverie":
    "<json>"}}``) are read too.
    """
    if image.format == "PNG":
        return json_object(image.text.get(METADATA_KEY))  # type: ignore[attr-defined]
    if image.format not in EXIF_FORMATS:
        return None
    try:
        description = image.getexif().get(EXIF_IMAGE_DESCRIPTION)
    except (OSError, SyntaxError, ValueError, EOFError):
        return None  # a damaged EXIF block: a foreign file's problem, not a reason to fail
    if isinstance(description, bytes):
        description = description.decode("utf-8", "replace")
    document = json_object(description.rstrip("\0") if isinstance(description, str) else None)
    ours = document.get(METADATA_KEY) if document else None
    if isinstance(ours, dict) and set(ours) == {METADATA_KEY} and isinstance(ours[METADATA_KEY], str):
        return json_object(ours[METADATA_KEY])  # the earlier, doubly nested form
    return ours if isinstance(ours, dict) else None


def json_object(text: str | None) -> Metadata | None:
    """``text`` parsed as a JSON object, or None when it is missing or anything else."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
