"""Loading, saving and metadata of pictures, on the shipped photos and files derived from them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverie import imaging
from reverie.errors import ImageError, SettingsError
from reverie.imaging import (
    DEFAULT_MAX_PIXELS,
    OUTPUT_FORMATS,
    Picture,
    check_output_path,
    fit_within,
    from_tensor,
    load_image,
    read_metadata,
    resize_picture,
    save_image,
    to_tensor,
)

SAMPLES = Path(__file__).parents[1] / "src" / "reverie" / "samples"
CHELSEA = SAMPLES / "chelsea.png"
COFFEE = SAMPLES / "coffee.png"
CHELSEA_SIZE = (451, 300)

METADATA = {
    "reverie": '{"settings": {"layers": "blocks.9", "steps": 20}, "version": "0.1.0"}' * 300,
    "title": "Chelsea rêve — 猫の夢 ✓",
    "empty": "",
}


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    with Image.open(CHELSEA) as image:
        return image.convert("RGB")


def assert_one_line_error(info: pytest.ExceptionInfo[ImageError], *fragments: str) -> None:
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def assert_valid_picture(picture: Picture, size: tuple[int, int]) -> None:
    assert picture.size == size
    assert (picture.width, picture.height) == size
    assert picture.rgb.shape == (size[1], size[0], 3)
    assert picture.rgb.dtype == np.float32
    assert picture.rgb.min() >= 0.0 and picture.rgb.max() <= 1.0


def half_transparent(picture: Picture) -> Picture:
    """The picture with alpha ramping 0 -> 1 from left to right."""
    ramp = np.linspace(0.0, 1.0, picture.width, dtype=np.float32)
    return Picture(picture.rgb, np.tile(ramp, (picture.height, 1)))


# ------------------------------------------------------------------------------------ input formats


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".bmp"])
def test_each_input_format_loads_with_its_size_and_range(tmp_path, chelsea, suffix):
    path = tmp_path / f"chelsea{suffix}"
    chelsea.save(path)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert picture.alpha is None
    assert picture.source == path
    reference = np.asarray(chelsea, dtype=np.float32) / 255
    assert np.abs(picture.rgb - reference).mean() < 0.02  # lossy formats are close, others exact


def test_png_loads_exactly(chelsea):
    picture = load_image(CHELSEA)
    assert np.array_equal(np.rint(picture.rgb * 255).astype(np.uint8), np.asarray(chelsea))


def test_gif_loads_the_first_frame_only(tmp_path, chelsea):
    path = tmp_path / "two.gif"
    dark = Image.new("RGB", CHELSEA_SIZE, (0, 0, 0))
    chelsea.save(path, save_all=True, append_images=[dark], duration=100)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    reference = np.asarray(chelsea, dtype=np.float32) / 255
    assert np.abs(picture.rgb - reference).mean() < 0.05


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40x20: top half red, bottom half blue. Orientation 6 means "rotate 90 deg clockwise to
    # view", so the viewed picture is 20x40 with the red half on the right.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10] = (255, 0, 0)
    stored[10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    picture = load_image(path)
    assert picture.size == (20, 40)
    right, left = picture.rgb[:, 15], picture.rgb[:, 4]
    assert right[:, 0].min() > 0.8 and right[:, 2].max() < 0.2
    assert left[:, 2].min() > 0.8 and left[:, 0].max() < 0.2


# ------------------------------------------------------------------------------------ colour modes


def test_greyscale_becomes_rgb(tmp_path, chelsea):
    path = tmp_path / "grey.png"
    chelsea.convert("L").save(path)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert np.array_equal(picture.rgb[..., 0], picture.rgb[..., 1])
    assert np.array_equal(picture.rgb[..., 0], picture.rgb[..., 2])


def test_palette_with_transparency_keeps_alpha(tmp_path, chelsea):
    palette = chelsea.quantize(16)
    indices = np.asarray(palette)
    path = tmp_path / "palette.png"
    palette.save(path, transparency=int(indices[0, 0]))
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert picture.alpha is not None
    assert np.array_equal(picture.alpha == 0, indices == indices[0, 0])


def test_palette_without_transparency_has_no_alpha(tmp_path, chelsea):
    path = tmp_path / "palette.gif"
    chelsea.quantize(64).save(path)
    assert load_image(path).alpha is None


def test_la_keeps_alpha(tmp_path, chelsea):
    alpha = Image.linear_gradient("L").resize(CHELSEA_SIZE)
    la = chelsea.convert("L")
    la.putalpha(alpha)
    path = tmp_path / "la.png"
    la.save(path)
    picture = load_image(path)
    assert picture.alpha is not None and picture.alpha.dtype == np.float32
    assert np.allclose(picture.alpha, np.asarray(alpha) / 255)


def test_fully_opaque_alpha_is_dropped(tmp_path, chelsea):
    path = tmp_path / "opaque.png"
    chelsea.convert("RGBA").save(path)
    assert load_image(path).alpha is None


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((8, 8, 4), np.uint8)
    cmyk[:4, :, 0] = 255  # pure cyan on top, paper white below
    path = tmp_path / "cmyk.tif"
    Image.fromarray(cmyk, "CMYK").save(path)
    picture = load_image(path)
    assert np.allclose(picture.rgb[0, 0], (0, 1, 1))
    assert np.allclose(picture.rgb[7, 7], (1, 1, 1))


def test_cmyk_jpeg_loads(tmp_path, chelsea):
    path = tmp_path / "cmyk.jpg"
    chelsea.convert("CMYK").save(path, quality=95)
    assert_valid_picture(load_image(path), CHELSEA_SIZE)


def test_16_bit_greyscale_keeps_its_scale(tmp_path):
    values = np.array([[0, 255, 1000], [32768, 60000, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert picture.rgb[1, 2, 0] == pytest.approx(1.0)
    assert picture.rgb[1, 0, 1] == pytest.approx(0.5, abs=1e-4)
    assert picture.rgb[0, 1, 2] == pytest.approx(255 / 65535)
    assert np.allclose(picture.rgb[..., 0], values / 65535, atol=1e-6)


def test_float_image_is_clipped(tmp_path):
    values = np.array([[-0.5, 0.25], [0.75, 2.0]], np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert np.allclose(picture.rgb[..., 0], [[0, 0.25], [0.75, 1]])


def test_one_bit_becomes_rgb(tmp_path, chelsea):
    path = tmp_path / "bits.png"
    chelsea.convert("1").save(path)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert set(np.unique(picture.rgb)) == {0.0, 1.0}


# ------------------------------------------------------------------------------------- pixel guard


def test_pixel_guard_names_the_option():
    with pytest.raises(ImageError) as info:
        load_image(CHELSEA, max_pixels=10_000)
    assert_one_line_error(info, "--max-pixels", "135,300", "10,000", str(CHELSEA))


def test_pixel_guard_rejects_a_nonpositive_limit():
    with pytest.raises(SettingsError):
        load_image(CHELSEA, max_pixels=0)


def test_pillows_own_bomb_check_never_speaks(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # chelsea is > 2x this: Pillow would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        picture = load_image(CHELSEA)
        read_metadata(CHELSEA)
    assert picture.size == CHELSEA_SIZE
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after loading
    assert DEFAULT_MAX_PIXELS == 100_000_000


# -------------------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_one_line_error(info, "not found", str(path))


def test_directory(tmp_path):
    with pytest.raises(ImageError) as info:
        load_image(tmp_path)
    assert_one_line_error(info, "folder", str(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_one_line_error(info, "empty", str(path))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(tmp_path, chelsea, suffix):
    whole = tmp_path / f"whole{suffix}"
    chelsea.save(whole)
    path = tmp_path / f"half{suffix}"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_one_line_error(info, "truncated", str(path))


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_one_line_error(info, "not an image", str(path))
    with pytest.raises(ImageError):
        read_metadata(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path, chelsea):
    path = tmp_path / "secret.png"
    chelsea.save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert_one_line_error(info, "permission", str(path))
    finally:
        path.chmod(0o600)


def test_permission_error_is_reported(monkeypatch):
    # Runs as root too (where chmod cannot make a file unreadable): the open itself is refused.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imaging.Image, "open", refuse)
    with pytest.raises(ImageError) as info:
        load_image(CHELSEA)
    assert_one_line_error(info, "permission denied", str(CHELSEA))


# ------------------------------------------------------------------------------------------ saving


@pytest.mark.parametrize("suffix", sorted(OUTPUT_FORMATS))
def test_each_output_format_round_trips(tmp_path, suffix):
    picture = load_image(CHELSEA)
    path = save_image(tmp_path / f"out{suffix}", picture)
    assert path == tmp_path / f"out{suffix}"
    again = load_image(path)
    assert_valid_picture(again, CHELSEA_SIZE)
    tolerance = 0.03 if suffix == ".gif" else 0.01
    assert np.abs(again.rgb - picture.rgb).mean() < tolerance
    assert os.listdir(tmp_path) == [f"out{suffix}"]


def test_lossless_output_is_exact(tmp_path):
    picture = load_image(CHELSEA)
    for suffix in (".png", ".tif", ".bmp"):
        assert np.array_equal(load_image(save_image(tmp_path / f"x{suffix}", picture)).rgb, picture.rgb)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_alpha_is_kept(tmp_path, suffix):
    picture = half_transparent(load_image(CHELSEA))
    again = load_image(save_image(tmp_path / f"alpha{suffix}", picture))
    assert again.alpha is not None
    assert np.abs(again.alpha - picture.alpha).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".gif"])
def test_alpha_is_composited_over_white(tmp_path, suffix):
    rgb = np.zeros((16, 16, 3), np.float32)
    rgb[..., 0] = 1.0  # red
    alpha = np.zeros((16, 16), np.float32)
    alpha[:, 8:] = 1.0  # left half transparent, right half opaque
    again = load_image(save_image(tmp_path / f"flat{suffix}", Picture(rgb, alpha)))
    assert again.alpha is None
    assert np.allclose(again.rgb[4, 2], (1, 1, 1), atol=0.05)
    assert np.allclose(again.rgb[4, 13], (1, 0, 0), atol=0.05)


def test_output_rounds_to_8_bits(tmp_path):
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    rgb[0, 0] = (-1.0, 2.0, 100 / 255 + 0.4 / 255)
    again = load_image(save_image(tmp_path / "round.png", Picture(rgb, None)))
    assert np.allclose(again.rgb[0, 0] * 255, (0, 255, 100))
    assert np.allclose(again.rgb[1, 1] * 255, 128)  # round(127.5) -> 128 (half to even)


def test_existing_output_is_replaced(tmp_path, chelsea):
    path = tmp_path / "out.png"
    Image.new("RGB", (5, 5)).save(path)
    save_image(path, load_image(CHELSEA))
    assert load_image(path).size == CHELSEA_SIZE


def test_new_output_is_not_private(tmp_path):
    path = save_image(tmp_path / "shared.png", load_image(COFFEE))
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch, failure):
    existing = tmp_path / "out.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(existing)
    before = existing.read_bytes()

    def half_written_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial data")
        raise failure

    temporaries = []

    def recording_mkstemp(*args, **kwargs):
        descriptor, name = real_mkstemp(*args, **kwargs)
        temporaries.append(Path(name))
        return descriptor, name

    real_mkstemp = imaging.tempfile.mkstemp
    monkeypatch.setattr(imaging.tempfile, "mkstemp", recording_mkstemp)
    monkeypatch.setattr(Image.Image, "save", half_written_save)
    picture = load_image(CHELSEA)
    for target in (existing, tmp_path / "new.png"):
        expected = ImageError if isinstance(failure, OSError) else KeyboardInterrupt
        with pytest.raises(expected) as info:
            save_image(target, picture)
        if expected is ImageError:
            assert_one_line_error(info, "disk full", str(target))
    assert os.listdir(tmp_path) == ["out.png"]
    assert existing.read_bytes() == before
    assert len(temporaries) == 2
    for temporary in temporaries:  # hidden, beside the target, same suffix, and gone
        assert temporary.parent == tmp_path and temporary.name.startswith(".") and temporary.suffix == ".png"
        assert not temporary.exists()


def test_protect_refuses_the_input(tmp_path, monkeypatch, chelsea):
    source = tmp_path / "input.png"
    chelsea.save(source)
    before = source.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(source)
    hard = tmp_path / "hard.png"
    os.link(source, hard)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    picture = load_image(COFFEE)
    spellings = [source, "./input.png", "sub/../input.png", str(tmp_path) + "//input.png", link, hard]
    for target in spellings:
        with pytest.raises(ImageError) as info:
            save_image(target, picture, protect=["input.png"])
        assert_one_line_error(info, "input", "overwrite")
    with pytest.raises(ImageError):
        save_image("input.png", picture, protect=[link])  # the input itself given via a symlink
    assert source.read_bytes() == before
    assert save_image("out.png", picture, protect=["input.png"]) == Path("out.png")


def test_unknown_extension(tmp_path):
    for name in ("dream.xyz", "dream"):
        with pytest.raises(ImageError) as info:
            save_image(tmp_path / name, load_image(COFFEE))
        assert_one_line_error(info, ".png", ".jpg", ".webp", ".tif", ".bmp", ".gif")
    assert os.listdir(tmp_path) == []


def test_uppercase_extension_is_known(tmp_path):
    assert load_image(save_image(tmp_path / "DREAM.JPG", load_image(COFFEE))).size == (600, 400)


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "ok.webp") == tmp_path / "ok.webp"
    missing = tmp_path / "missing" / "out.png"
    with pytest.raises(ImageError) as info:
        check_output_path(missing)
    assert_one_line_error(info, "does not exist", str(missing.parent))
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(ImageError) as info:
        check_output_path(folder)
    assert_one_line_error(info, "folder", str(folder))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_check_output_path_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ImageError) as info:
        check_output_path(locked / "out.png")
    assert_one_line_error(info, "permission", str(locked))


def test_check_output_path_reports_an_unwritable_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(imaging.os, "access", lambda path, mode: False)
    with pytest.raises(ImageError) as info:
        check_output_path(tmp_path / "out.png")
    assert_one_line_error(info, "permission denied", str(tmp_path))


# ---------------------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_metadata_round_trip(tmp_path, suffix):
    path = save_image(tmp_path / f"meta{suffix}", load_image(COFFEE), metadata=METADATA)
    assert read_metadata(path) == METADATA


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_exif_carries_only_our_description(tmp_path, suffix):
    path = save_image(tmp_path / f"meta{suffix}", load_image(COFFEE), metadata={"seed": "7"})
    with Image.open(path) as image:
        exif = image.getexif()
    assert 0x010E in exif
    if suffix != ".tif":  # a TIFF's own structure tags live in the same directory
        assert list(exif) == [0x010E]


@pytest.mark.parametrize("suffix", [".bmp", ".gif"])
def test_formats_without_metadata_drop_it_silently(tmp_path, suffix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_image(tmp_path / f"meta{suffix}", load_image(COFFEE), metadata=METADATA)
    assert read_metadata(path) == {}


def test_metadata_absent_or_foreign(tmp_path, chelsea):
    plain = save_image(tmp_path / "plain.png", load_image(COFFEE))
    assert read_metadata(plain) == {}
    foreign = tmp_path / "foreign.jpg"
    exif = Image.Exif()
    exif[0x010E] = "Holiday 2009"
    chelsea.save(foreign, exif=exif)
    assert read_metadata(foreign) == {}
    other_json = tmp_path / "other.webp"
    exif[0x010E] = '{"camera": "x"}'
    chelsea.save(other_json, exif=exif)
    assert read_metadata(other_json) == {}


def test_read_metadata_errors(tmp_path):
    with pytest.raises(ImageError):
        read_metadata(tmp_path / "missing.png")
    with pytest.raises(ImageError):
        read_metadata(tmp_path)


def test_metadata_too_long_for_jpeg_warns_and_still_saves(tmp_path):
    huge = {"reverie": "x" * 70_000}
    with pytest.warns(UserWarning, match="more than a JPEG can hold"):
        path = save_image(tmp_path / "huge.jpg", load_image(COFFEE), metadata=huge)
    assert load_image(path).size == (600, 400)
    assert read_metadata(save_image(tmp_path / "huge.png", load_image(COFFEE), metadata=huge)) == huge


# ------------------------------------------------------------------------------ resizing and tensors


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((451, 300), None, (451, 300)),
        ((451, 300), 1000, (451, 300)),
        ((451, 300), 451, (451, 300)),
        ((451, 300), 200, (200, 133)),
        ((300, 451), 200, (133, 200)),
        ((4000, 3), 100, (100, 1)),
        ((3, 4000), 10, (1, 10)),
        ((500, 500), 7, (7, 7)),
    ],
)
def test_fit_within(size, max_side, expected):
    assert fit_within(size, max_side) == expected


def test_fit_within_rejects_a_nonpositive_side():
    with pytest.raises(SettingsError):
        fit_within((10, 10), 0)


def test_resize_picture():
    picture = load_image(CHELSEA)
    small = resize_picture(picture, (200, 133))
    assert_valid_picture(small, (200, 133))
    assert small.alpha is None
    assert abs(float(small.rgb.mean()) - float(picture.rgb.mean())) < 0.01
    big = resize_picture(half_transparent(picture), (902, 600))
    assert_valid_picture(big, (902, 600))
    assert big.alpha is not None and big.alpha.shape == (600, 902) and big.alpha.dtype == np.float32
    assert big.alpha[:, 0].max() < 0.01 and big.alpha[:, -1].min() > 0.99


def test_resize_ignores_colour_hidden_under_transparency():
    rgb = np.zeros((8, 8, 3), np.float32)
    rgb[:, :4] = (1.0, 0.0, 0.0)  # invisible red
    rgb[:, 4:] = (0.0, 0.0, 1.0)  # visible blue
    alpha = np.zeros((8, 8), np.float32)
    alpha[:, 4:] = 1.0
    resized = resize_picture(Picture(rgb, alpha), (5, 5))
    visible = resized.alpha > 0.05
    assert resized.rgb[visible][:, 0].max() < 0.02  # no red fringe on the blue edge


def test_tensor_round_trip():
    picture = load_image(COFFEE)
    tensor = to_tensor(picture.rgb)
    assert tensor.shape == (1, 3, 400, 600) and tensor.dtype == torch.float32
    assert torch.equal(tensor[0, :, 5, 7], torch.from_numpy(picture.rgb[5, 7]))
    back = from_tensor(tensor)
    assert back.dtype == np.float32 and np.array_equal(back, picture.rgb)
    clamped = from_tensor(torch.tensor([[[[-1.0]], [[0.5]], [[2.0]]]], dtype=torch.float64))
    assert clamped.dtype == np.float32 and clamped.tolist() == [[[0.0, 0.5, 1.0]]]


def test_tensor_shapes_are_checked():
    with pytest.raises(ValueError):
        to_tensor(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        from_tensor(torch.zeros(2, 3, 4, 4))


def test_module_docstring_documents_alpha_choice():
    assert "composited over white" in (imaging.__doc__ or "")
