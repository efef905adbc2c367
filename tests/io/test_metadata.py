"""The settings object a result carries: where each format keeps it, and finding it again."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from reverie.errors import ImageError
from reverie.io.images import Picture, load_image, read_metadata, save_image
from reverie.io.metadata import (
    EXIF_IMAGE_DESCRIPTION,
    METADATA_KEY,
    json_object,
    metadata_of,
    metadata_save_options,
)
from reverie.samples import sample_path

COFFEE = sample_path("coffee")

#: A realistic object: nested settings, numbers, non-ASCII text, an empty string, and about 20 kB.
METADATA = {
    "settings": {"layers": ["blocks.9", "blocks.10"], "steps": 20, "step_size": 0.015, "mask": None},
    "version": "0.1.0",
    "title": "Chelsea rêve — 猫の夢 ✓",
    "empty": "",
    "notes": ["octave 1 of 4, tile 3 of 12"] * 700,
}


@pytest.fixture(scope="module")
def picture() -> Picture:
    return load_image(COFFEE)


def exif_description(path) -> str:
    with Image.open(path) as image:
        return image.getexif()[EXIF_IMAGE_DESCRIPTION]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_metadata_round_trip(tmp_path, picture, suffix):
    path = save_image(tmp_path / f"meta{suffix}", picture, metadata=METADATA)
    assert read_metadata(path) == METADATA
    assert load_image(path).size == picture.size


def test_png_holds_the_object_as_json_text(tmp_path, picture):
    path = save_image(tmp_path / "meta.png", picture, metadata=METADATA)
    with Image.open(path) as image:
        assert set(image.text) == {METADATA_KEY}
        assert json.loads(image.text[METADATA_KEY]) == METADATA


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_exif_description_holds_the_object_once(tmp_path, picture, suffix):
    path = save_image(tmp_path / f"meta{suffix}", picture, metadata=METADATA)
    description = exif_description(path)
    assert description.isascii()  # EXIF ASCII: non-ASCII text travels as JSON escapes
    document = json.loads(description)
    assert set(document) == {METADATA_KEY}
    assert document[METADATA_KEY] == METADATA  # the object itself, not a JSON string inside it


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_exif_carries_only_our_description(tmp_path, suffix):
    # The source is a photo with camera data and GPS; none of it reaches the output.
    source = tmp_path / f"camera{suffix}"
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0x0110] = "Camera model"
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0)})
    with Image.open(COFFEE) as image:
        image.convert("RGB").save(source, exif=exif)
    with Image.open(source) as image:
        assert image.getexif()[0x010F] == "Camera maker"  # the source really carries it
    path = save_image(tmp_path / f"meta{suffix}", load_image(source), metadata={"seed": 7})
    with Image.open(path) as image:
        written = image.getexif()
    assert EXIF_IMAGE_DESCRIPTION in written
    assert not {0x010F, 0x0110, 0x8825} & set(written)
    if suffix != ".tif":  # a TIFF's own structure tags live in the same directory
        assert list(written) == [EXIF_IMAGE_DESCRIPTION]


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_the_earlier_doubly_nested_form_still_reads(tmp_path, suffix):
    """Versions before the object was stored whole wrote {"reverie": {"reverie": "<json string>"}}."""
    settings = {"settings": {"layers": "blocks.9", "steps": 20}, "version": "0.0.9"}
    exif = Image.Exif()
    exif[EXIF_IMAGE_DESCRIPTION] = json.dumps({"reverie": {"reverie": json.dumps(settings)}})
    path = tmp_path / f"old{suffix}"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, exif=exif.tobytes())
    assert read_metadata(path) == settings


@pytest.mark.parametrize("suffix", [".bmp", ".gif"])
def test_formats_without_metadata_drop_it_silently(tmp_path, picture, suffix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_image(tmp_path / f"meta{suffix}", picture, metadata=METADATA)
    assert read_metadata(path) is None
    assert load_image(path).size == picture.size


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif", ".bmp", ".gif"])
def test_no_metadata_reads_as_none(tmp_path, picture, suffix):
    for metadata in (None, {}):
        assert read_metadata(save_image(tmp_path / f"plain{suffix}", picture, metadata=metadata)) is None


def test_foreign_metadata_is_ignored(tmp_path):
    photo = Image.new("RGB", (16, 8), (200, 100, 50))
    foreign = {
        "holiday.jpg": "Holiday 2009",  # plain text
        "camera.webp": '{"camera": "x"}',  # JSON, but not ours
        "list.tif": '["reverie"]',  # JSON, not an object
        "string.jpg": '{"reverie": "not an object"}',
        "number.webp": '{"reverie": 3}',
        "broken.jpg": '{"reverie": {"steps": ',  # cut short
    }
    for name, description in foreign.items():
        exif = Image.Exif()
        exif[EXIF_IMAGE_DESCRIPTION] = description
        photo.save(tmp_path / name, exif=exif.tobytes())
        assert read_metadata(tmp_path / name) is None, name
    info = PngInfo()
    info.add_text("reverie", "written by another program")
    info.add_text("Comment", '{"steps": 5}')
    photo.save(tmp_path / "other.png", pnginfo=info)
    assert read_metadata(tmp_path / "other.png") is None


def test_read_metadata_errors(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        read_metadata(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a folder"):
        read_metadata(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageError, match="not an image"):
        read_metadata(text)


def test_metadata_too_long_for_jpeg_warns_and_still_saves(tmp_path, picture):
    huge = {"notes": "x" * 70_000}
    with pytest.warns(UserWarning, match="more than a JPEG can hold"):
        path = save_image(tmp_path / "huge.jpg", picture, metadata=huge)
    assert load_image(path).size == picture.size
    assert read_metadata(path) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # other formats have room
        for suffix in (".png", ".webp", ".tif"):
            assert read_metadata(save_image(tmp_path / f"huge{suffix}", picture, metadata=huge)) == huge


def test_save_options():
    assert metadata_save_options("PNG", None) == {}
    assert metadata_save_options("JPEG", {}) == {}
    assert metadata_save_options("BMP", {"seed": 1}) == {}
    assert metadata_save_options("GIF", {"seed": 1}) == {}
    assert set(metadata_save_options("PNG", {"seed": 1})) == {"pnginfo"}
    for image_format in ("JPEG", "WEBP", "TIFF", "MPO"):
        exif = Image.Exif()
        exif.load(metadata_save_options(image_format, {"seed": 1})["exif"])
        assert json.loads(exif[EXIF_IMAGE_DESCRIPTION]) == {"reverie": {"seed": 1}}


def test_metadata_of_an_opened_image(tmp_path):
    path = save_image(tmp_path / "meta.webp", Picture(np.zeros((4, 4, 3), np.float32)), {"seed": 3})
    with Image.open(path) as image:
        assert metadata_of(image) == {"seed": 3}
    assert metadata_of(Image.new("RGB", (4, 4))) is None  # no format: not from a file


def test_json_object():
    assert json_object('{"a": [1, 2]}') == {"a": [1, 2]}
    for text in (None, "", "[1, 2]", '"text"', "3", "{cut", "Holiday 2009"):
        assert json_object(text) is None, text
