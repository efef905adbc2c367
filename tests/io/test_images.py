"""Loading and saving pictures, on the shipped photos and files derived from them."""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from reverie.cli import cli_message
from reverie.errors import DreamFailedError, ImageError, OutputPathError, PixelLimitError, ReverieError
from reverie.io import images, paths
from reverie.io.images import (
    DEFAULT_MAX_PIXELS,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    Picture,
    check_image_output,
    check_pixel_count,
    composite_over_white,
    load_image,
    noise_picture,
    opened_image,
    picture_to_pil,
    probe_image,
    read_metadata,
    save_image,
    to_uint8,
)
from reverie.samples import sample_path

CHELSEA = sample_path("chelsea")
COFFEE = sample_path("coffee")
CHELSEA_SIZE = (451, 300)
COFFEE_SIZE = (600, 400)
PILLOWS_LIMIT = Image.MAX_IMAGE_PIXELS  # as Pillow comes: it warns above, refuses above twice


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    with Image.open(CHELSEA) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def coffee() -> Picture:
    return load_image(COFFEE)


def assert_message(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


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


def truncated_copy(image: Image.Image, path: Path) -> Path:
    """``image`` saved at ``path`` and cut to half its bytes: the header intact, the pixels not."""
    image.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def rotated_jpeg(path: Path) -> Path:
    """Stored 40x20, top half red, bottom half blue, with EXIF orientation 6 ("rotate 90 deg clockwise
    to view"): the viewed picture is 20x40 with the red half on the right."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10] = (255, 0, 0)
    stored[10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    return path


# ------------------------------------------------------------------------------------------- Picture


def test_picture_checks_its_planes():
    rgb = np.zeros((4, 6, 3), np.float32)
    assert Picture(rgb, np.ones((4, 6), np.float32)).size == (6, 4)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        Picture(np.zeros((4, 6), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        Picture(np.zeros((4, 6, 4), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        Picture(rgb, np.ones((6, 4), np.float32))


def test_noise_picture():
    canvas = noise_picture(30, 20, seed=3)
    assert_valid_picture(canvas, (30, 20))
    assert canvas.alpha is None
    assert canvas.rgb.min() >= 0.4 and canvas.rgb.max() <= 0.6  # faint noise around mid-grey
    assert abs(float(canvas.rgb.mean()) - 0.5) < 0.01
    assert np.array_equal(canvas.rgb, noise_picture(30, 20, seed=3).rgb)
    assert not np.array_equal(canvas.rgb, noise_picture(30, 20, seed=4).rgb)
    assert noise_picture(1, 1).size == (1, 1)
    for width, height in ((0, 20), (30, 0), (-1, 5)):
        with pytest.raises(ValueError, match="at least 1x1"):
            noise_picture(width, height)


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
    assert np.abs(picture.rgb - reference).mean() < 0.05  # the cat, not the black second frame


def test_other_formats_are_not_opened(tmp_path, chelsea):
    # Pillow reads these, but only the listed formats are ours to open (no external programs).
    assert set(INPUT_FORMATS) == {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"}
    for name in ("chelsea.ppm", "chelsea.pcx", "chelsea.tga"):
        path = tmp_path / name
        chelsea.save(path)
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert_message(info.value, "not an image in a supported format", str(path), "JPEG, PNG")
        with pytest.raises(ImageError, match="supported format"):
            probe_image(path)


def test_exif_orientation_is_applied(tmp_path):
    picture = load_image(rotated_jpeg(tmp_path / "rotated.jpg"))
    assert picture.size == (20, 40)
    right, left = picture.rgb[:, 15], picture.rgb[:, 4]
    assert right[:, 0].min() > 0.8 and right[:, 2].max() < 0.2
    assert left[:, 2].min() > 0.8 and left[:, 0].max() < 0.2


def reduced_cases(tmp_path: Path, chelsea: Image.Image) -> dict[str, Path]:
    """One file per way load_image turns pixels into floats: 8-bit colour, alpha, palette with
    transparency, 16-bit grey, and an EXIF-rotated JPEG."""
    names = ("rgb", "alpha", "palette", "grey16")
    cases = {name: tmp_path / f"{name}.png" for name in names}
    chelsea.save(cases["rgb"])
    rgba = chelsea.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(chelsea.size))
    rgba.save(cases["alpha"])
    chelsea.quantize(64).save(cases["palette"], transparency=0)
    grey = (np.asarray(chelsea.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey).save(cases["grey16"])
    cases["rotated"] = rotated_jpeg(tmp_path / "rotated.jpg")
    return cases


def test_a_reduced_load_is_the_working_picture_of_the_full_one(tmp_path, chelsea):
    """Loading with max_side gives exactly the pixels of reducing the full-size picture, so a dream
    from a file equals a dream from the same picture held in memory."""
    from reverie.tensors import working_picture

    for name, path in reduced_cases(tmp_path, chelsea).items():
        full = load_image(path)
        reduced = load_image(path, max_side=31)
        expected = working_picture(full, 31)
        assert reduced.size == expected.size and max(reduced.size) == 31, name
        assert np.array_equal(reduced.rgb, expected.rgb), name
        assert (reduced.alpha is None) == (expected.alpha is None), name
        if expected.alpha is not None:
            assert np.array_equal(reduced.alpha, expected.alpha), name
        assert load_image(path, max_side=5000).size == full.size, name  # never enlarged


def test_a_reduced_load_never_holds_the_picture_as_full_size_floats(tmp_path):
    """A 12-megapixel photo reduced as it loads: numpy's peak is about two full-size float planes
    (one being resized, one a copy Pillow makes), not the 3 or 4 planes of float RGB(A)."""
    import tracemalloc

    noise = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), np.uint8)
    Image.fromarray(noise).save(path := tmp_path / "big.png", compress_level=1)
    plane = 3000 * 4000 * 4
    tracemalloc.start()
    try:
        picture = load_image(path, max_side=512)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert picture.size == (512, 384)
    assert peak < 2.2 * plane, peak / plane


# ------------------------------------------------------------------------------------ colour modes


def test_greyscale_becomes_rgb(tmp_path, chelsea):
    path = tmp_path / "grey.png"
    grey = chelsea.convert("L")
    grey.save(path)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert picture.alpha is None
    for channel in range(3):
        assert np.array_equal(picture.rgb[..., channel] * 255, np.asarray(grey, np.float32))


def test_palette_with_transparency_keeps_alpha(tmp_path, chelsea):
    palette = chelsea.quantize(16)
    indices = np.asarray(palette)
    path = tmp_path / "palette.png"
    palette.save(path, transparency=int(indices[0, 0]))
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert picture.alpha is not None
    assert np.array_equal(picture.alpha == 0, indices == indices[0, 0])
    assert set(np.unique(picture.alpha)) == {0.0, 1.0}


def test_palette_without_transparency_has_no_alpha(tmp_path, chelsea):
    path = tmp_path / "palette.gif"
    palette = chelsea.quantize(64)
    palette.save(path)
    picture = load_image(path)
    assert picture.alpha is None
    expected = np.asarray(palette.convert("RGB"), np.float32) / 255
    assert np.array_equal(picture.rgb, expected)


def test_la_keeps_alpha(tmp_path, chelsea):
    alpha = Image.linear_gradient("L").resize(CHELSEA_SIZE)
    la = chelsea.convert("L")
    la.putalpha(alpha)
    path = tmp_path / "la.png"
    la.save(path)
    picture = load_image(path)
    assert picture.alpha is not None and picture.alpha.dtype == np.float32
    assert np.allclose(picture.alpha, np.asarray(alpha) / 255)
    assert np.allclose(picture.rgb[..., 1], np.asarray(chelsea.convert("L")) / 255)


def test_fully_opaque_alpha_is_dropped(tmp_path, chelsea):
    path = tmp_path / "opaque.png"
    chelsea.convert("RGBA").save(path)
    picture = load_image(path)
    assert picture.alpha is None
    assert np.array_equal(picture.rgb, load_image(CHELSEA).rgb)


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
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    reference = np.asarray(chelsea.convert("CMYK").convert("RGB"), np.float32) / 255
    assert np.abs(picture.rgb - reference).mean() < 0.03  # colours right, not inverted


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_greyscale_keeps_its_scale(tmp_path, suffix):
    values = np.array([[0, 255, 1000], [32768, 60000, 65535]], np.uint16)
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert picture.rgb[1, 2, 0] == pytest.approx(1.0)
    assert picture.rgb[1, 0, 1] == pytest.approx(0.5, abs=1e-4)
    assert picture.rgb[0, 1, 2] == pytest.approx(255 / 65535)
    assert np.allclose(picture.rgb[..., 0], values / 65535, atol=1e-6)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_dim_16_bit_greyscale_is_not_stretched(tmp_path, suffix):
    """16-bit files have a white level (65535): a dark one stays dark."""
    values = np.array([[0, 1000, 32768]], np.uint16)
    path = tmp_path / f"dim{suffix}"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert np.allclose(picture.rgb[0, :, 0], values[0] / 65535, atol=1e-6)


def test_32_bit_integers_are_scaled_from_their_own_range(tmp_path):
    values = np.array([[0, 500_000, 1_000_000]], np.int32)
    path = tmp_path / "deep.tif"
    Image.fromarray(values).save(path)
    with Image.open(path) as image:
        assert image.mode == "I"
    picture = load_image(path)
    assert np.allclose(picture.rgb, np.array([0.0, 0.5, 1.0])[None, :, None], atol=1e-6)


def test_negative_32_bit_integers_start_at_their_minimum(tmp_path):
    values = np.array([[-1000, 0], [500, 1000]], np.int32)
    path = tmp_path / "signed.tif"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert np.allclose(picture.rgb[..., 2], [[0.0, 0.5], [0.75, 1.0]], atol=1e-6)
    flat = tmp_path / "flat.tif"
    Image.fromarray(np.zeros((2, 2), np.int32)).save(flat)
    assert np.array_equal(load_image(flat).rgb, np.zeros((2, 2, 3), np.float32))  # no division by 0


def test_float_image_is_clipped(tmp_path):
    values = np.array([[-0.5, 0.25], [0.75, 2.0]], np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    picture = load_image(path)
    assert np.allclose(picture.rgb[..., 0], [[0, 0.25], [0.75, 1]])


def test_one_bit_becomes_rgb(tmp_path, chelsea):
    path = tmp_path / "bits.png"
    bits = chelsea.convert("1")
    bits.save(path)
    picture = load_image(path)
    assert_valid_picture(picture, CHELSEA_SIZE)
    assert np.array_equal(picture.rgb[..., 0] == 1.0, np.asarray(bits))
    assert set(np.unique(picture.rgb)) == {0.0, 1.0}


# ------------------------------------------------------------------------------------- pixel guard


def test_pixel_guard_names_the_option():
    with pytest.raises(PixelLimitError) as info:
        load_image(CHELSEA, max_pixels=10_000)
    assert_message(info.value, "max_pixels 135300", "135,300", "10,000", str(CHELSEA))
    assert info.value.value == 135_300 and info.value.limits == {"maximum": 10_000}
    assert "raise the limit with --max-pixels 135300" in cli_message(info.value)  # the option, on the shell
    assert load_image(CHELSEA, max_pixels=451 * 300).size == CHELSEA_SIZE  # the limit itself is allowed


def test_pixel_guard_runs_before_decoding(tmp_path, chelsea, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(images, "decoded_upright", no_decoding)
    half = truncated_copy(chelsea, tmp_path / "half.png")
    for path in (CHELSEA, half):
        with pytest.raises(PixelLimitError):
            load_image(path, max_pixels=1000)


def test_check_pixel_count():
    check_pixel_count(Path("x.png"), (100, 10), 1000)
    with pytest.raises(PixelLimitError, match="100x11 = 1,100 pixels"):
        check_pixel_count(Path("x.png"), (100, 11), 1000)


def test_a_nonpositive_limit_is_a_programming_error():
    for limit in (0, -5):
        with pytest.raises(ValueError, match="max_pixels") as info:
            load_image(CHELSEA, max_pixels=limit)
        assert not isinstance(info.value, ReverieError)


def test_pillows_own_bomb_check_never_speaks(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # chelsea is > 2x this: Pillow would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        picture = load_image(CHELSEA)
        assert probe_image(CHELSEA) == CHELSEA_SIZE
        read_metadata(CHELSEA)
    assert picture.size == CHELSEA_SIZE
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after loading
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_pillows_process_wide_settings_are_never_changed(monkeypatch):
    # Another thread reads them at any moment: they must hold what the program set during a load too.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    seen = []
    decode = images.decoded_upright

    def watched(image, path):
        seen.append((Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES))
        return decode(image, path)

    monkeypatch.setattr(images, "decoded_upright", watched)
    load_image(CHELSEA, max_pixels=10**12)
    assert seen == [(PILLOWS_LIMIT, True)]


# Chelsea's 135,300 pixels are above Pillow's limit of 100,000 (it warns) and twice 1000 (it refuses);
# Pillow's WebP reader refuses on its own above twice its limit (next test).
ABOVE_PILLOWS_LIMIT = [
    (suffix, limit)
    for suffix in (".jpg", ".png", ".webp", ".tif", ".bmp", ".gif")
    for limit in (100_000, 1000)
    if (suffix, limit) != (".webp", 1000)
]


@pytest.mark.parametrize(("suffix", "pillow_limit"), ABOVE_PILLOWS_LIMIT)
def test_a_picture_within_max_pixels_loads_whatever_pillows_limit(
    tmp_path, chelsea, monkeypatch, suffix, pillow_limit
):
    path = tmp_path / f"chelsea{suffix}"
    chelsea.save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)  # as if the picture were 100+ MP
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        picture = load_image(path, max_pixels=200_000)
    assert picture.size == CHELSEA_SIZE


def test_a_webp_above_twice_pillows_limit_is_refused_in_one_line(tmp_path, chelsea, monkeypatch):
    path = tmp_path / "chelsea.webp"
    chelsea.save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=200_000)
    assert_message(info.value, str(path), "Pillow", "refuses", "PNG or TIFF")


def test_a_tiff_turned_by_exif_loads_above_pillows_limit(tmp_path, chelsea, monkeypatch):
    path = tmp_path / "turned.tif"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees; Pillow's TIFF reader swaps its size
    chelsea.save(path, exif=exif)
    expected = load_image(path).rgb
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert np.array_equal(load_image(path).rgb, expected)


def pillow_bomb(path: Path) -> Path:
    """A PNG of a few bytes whose header claims 14000 x 14000 pixels, just above Pillow's refusal."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 14000, 14000, 1, 0, 0, 0, 0)
    png = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png)
    return path


@pytest.fixture(scope="module")
def large_photo(tmp_path_factory) -> Path:
    """A 6-megapixel JPEG of smooth noise: loading it takes a good fraction of a second."""
    noise = np.random.default_rng(0).integers(0, 256, (250, 375, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("large") / "large.jpg"
    Image.fromarray(noise).resize((3000, 2000), Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def bomb_let_through_during_a_load(bomb: Path, photo: Path) -> str:
    """What plain Pillow did with ``bomb`` when it did not refuse it (opened it, or failed on its
    pixels), trying again and again in one thread while another loaded ``photo``; "" if it always
    refused. Both threads start together."""
    start = threading.Barrier(2, timeout=30)
    loaded = threading.Event()
    let_through: list[str] = []

    def load() -> None:
        start.wait()
        try:
            load_image(photo)
        finally:
            loaded.set()

    def open_bombs() -> None:
        start.wait()
        while not loaded.is_set() and not let_through:
            try:
                with Image.open(bomb) as image:
                    image.load()
                let_through.append(f"decoded {image.size}")
            except Image.DecompressionBombError:
                pass
            except Exception as error:  # the check was off: Pillow went on to the missing pixels
                let_through.append(repr(error))

    threads = [threading.Thread(target=load), threading.Thread(target=open_bombs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert loaded.is_set() and not any(thread.is_alive() for thread in threads)
    return "".join(let_through)


def test_other_threads_keep_pillows_bomb_check_while_we_load(tmp_path, large_photo):
    bomb = pillow_bomb(tmp_path / "bomb.png")
    for _ in range(3):
        assert bomb_let_through_during_a_load(bomb, large_photo) == ""


def test_reading_metadata_refuses_a_bomb_before_decoding(tmp_path):
    with pytest.raises(PixelLimitError):
        read_metadata(pillow_bomb(tmp_path / "bomb.png"))


def test_two_loads_run_at_once(monkeypatch):
    both_decoding = threading.Barrier(2, timeout=10)  # broken, not hung, if loads take turns
    decode = images.decoded_upright

    def meet(image, path):
        both_decoding.wait()
        return decode(image, path)

    monkeypatch.setattr(images, "decoded_upright", meet)
    with ThreadPoolExecutor(2) as pool:
        loads = [pool.submit(load_image, CHELSEA), pool.submit(load_image, COFFEE)]
        assert [load.result(timeout=30).size for load in loads] == [CHELSEA_SIZE, COFFEE_SIZE]


# ------------------------------------------------------------------------------------------ probing


def test_probe_reads_the_stored_size(tmp_path, chelsea):
    assert probe_image(CHELSEA) == CHELSEA_SIZE
    assert probe_image(rotated_jpeg(tmp_path / "rotated.jpg")) == (40, 20)  # as stored, not as viewed
    path = tmp_path / "chelsea.webp"
    chelsea.save(path)
    assert probe_image(path, max_pixels=451 * 300) == CHELSEA_SIZE


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_probe_reads_only_the_header(tmp_path, chelsea, suffix):
    half = truncated_copy(chelsea, tmp_path / f"half{suffix}")
    assert probe_image(half) == CHELSEA_SIZE
    with pytest.raises(ImageError) as info:
        load_image(half)
    assert_message(info.value, "truncated", str(half))


def test_probe_refuses_oversize_before_decoding(tmp_path, chelsea):
    half = truncated_copy(chelsea, tmp_path / "half.png")  # would fail if decoded
    with pytest.raises(PixelLimitError) as info:
        probe_image(half, max_pixels=10_000)
    assert_message(info.value, "max_pixels", str(half))


def test_probe_errors_match_load_errors(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n" * 10)
    empty = tmp_path / "empty.png"
    empty.touch()
    for path in (tmp_path / "missing.png", tmp_path, empty, text):
        with pytest.raises(ImageError) as loaded:
            load_image(path)
        with pytest.raises(ImageError) as probed:
            probe_image(path)
        assert str(probed.value) == str(loaded.value)


def test_opened_image_is_lazy_and_closed():
    with opened_image(CHELSEA) as image:
        assert image.size == CHELSEA_SIZE and image.format == "PNG"
        assert image.tile  # header read, pixels still to decode
    assert image.fp is None  # closed on leaving


# -------------------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_message(info.value, "not found", str(path))


def test_directory(tmp_path):
    with pytest.raises(ImageError) as info:
        load_image(tmp_path)
    assert_message(info.value, "folder", str(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_message(info.value, "empty", str(path))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(tmp_path, chelsea, suffix):
    path = truncated_copy(chelsea, tmp_path / f"half{suffix}")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_message(info.value, "truncated", str(path))


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_message(info.value, "not an image", str(path))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path, chelsea):
    path = tmp_path / "secret.png"
    chelsea.save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert_message(info.value, "permission", str(path))
    finally:
        path.chmod(0o600)


def test_permission_error_is_reported(monkeypatch):
    # Runs as root too (where chmod cannot make a file unreadable): the open itself is refused.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open", refuse, raising=False)  # the module's own open() of the file
    for read in (load_image, probe_image, read_metadata):
        with pytest.raises(ImageError) as info:
            read(CHELSEA)
        assert_message(info.value, "permission denied", str(CHELSEA))


# ------------------------------------------------------------------------------------------ saving


@pytest.mark.parametrize("suffix", sorted(OUTPUT_FORMATS))
def test_each_output_format_round_trips(tmp_path, coffee, suffix):
    path = save_image(tmp_path / f"out{suffix}", coffee)
    assert path == tmp_path / f"out{suffix}"
    with Image.open(path) as image:
        assert image.format == OUTPUT_FORMATS[suffix]
    again = load_image(path)
    assert_valid_picture(again, COFFEE_SIZE)
    tolerance = 0.03 if suffix == ".gif" else 0.01
    assert np.abs(again.rgb - coffee.rgb).mean() < tolerance
    assert os.listdir(tmp_path) == [f"out{suffix}"]


def test_lossless_output_is_exact(tmp_path, coffee):
    for suffix in (".png", ".tif", ".bmp"):
        assert np.array_equal(load_image(save_image(tmp_path / f"x{suffix}", coffee)).rgb, coffee.rgb)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_alpha_is_kept(tmp_path, coffee, suffix):
    picture = half_transparent(coffee)
    again = load_image(save_image(tmp_path / f"alpha{suffix}", picture))
    assert again.alpha is not None
    assert np.abs(again.alpha - picture.alpha).max() <= 1 / 255 + 1e-6
    opaque = picture.alpha > 0.5  # straight colour survives where it can be seen
    assert np.abs(again.rgb[opaque] - coffee.rgb[opaque]).mean() < 0.01


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".gif"])
def test_alpha_is_composited_over_white(tmp_path, suffix):
    rgb = np.zeros((16, 16, 3), np.float32)
    rgb[..., 0] = 1.0  # red
    alpha = np.zeros((16, 16), np.float32)
    alpha[:, 8:] = 1.0  # left half transparent, right half opaque
    alpha[:, 7] = 0.5
    again = load_image(save_image(tmp_path / f"flat{suffix}", Picture(rgb, alpha)))
    assert again.alpha is None
    assert np.allclose(again.rgb[4, 2], (1, 1, 1), atol=0.05)
    assert np.allclose(again.rgb[4, 13], (1, 0, 0), atol=0.05)
    if suffix == ".bmp":  # lossless: the half-covered column is exactly half way to white
        assert np.allclose(again.rgb[4, 7] * 255, (255, 128, 128))


def test_composite_over_white():
    rgb = np.array([[[1.0, 0.0, 0.2], [2.0, -1.0, 0.5]]], np.float32)
    alpha = np.array([[0.25, 1.0]], np.float32)
    assert np.allclose(composite_over_white(rgb, alpha), [[[1.0, 0.75, 0.8], [1.0, 0.0, 0.5]]])


def test_gif_is_a_palette_of_the_composited_picture(coffee):
    image = picture_to_pil(half_transparent(coffee), "GIF")
    assert image.mode == "P" and image.size == COFFEE_SIZE
    assert "transparency" not in image.info
    assert picture_to_pil(half_transparent(coffee), "PNG").mode == "RGBA"
    assert picture_to_pil(coffee, "JPEG").mode == "RGB"


def test_output_rounds_to_8_bits(tmp_path):
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    rgb[0, 0] = (-1.0, 2.0, 100 / 255 + 0.4 / 255)
    again = load_image(save_image(tmp_path / "round.png", Picture(rgb, None)))
    assert np.allclose(again.rgb[0, 0] * 255, (0, 255, 100))
    assert np.allclose(again.rgb[1, 1] * 255, 128)  # round(127.5) -> 128 (half to even)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_picture_that_is_not_finite_is_never_saved(tmp_path, bad: float):
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    rgb[0, 1] = (bad, 0.0, 1.0)
    with pytest.raises(DreamFailedError, match="not finite"):
        save_image(tmp_path / "nan.png", Picture(rgb, None))
    assert list(tmp_path.iterdir()) == []


def test_to_uint8():
    values = np.array([-0.1, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 7.0], np.float32)
    converted = to_uint8(values)
    assert converted.dtype == np.uint8
    assert converted.tolist() == [0, 0, 0, 2, 128, 255, 255]  # rounded half to even, clipped


def test_existing_output_is_replaced(tmp_path, coffee):
    path = tmp_path / "out.png"
    Image.new("RGB", (5, 5)).save(path)
    save_image(path, coffee)
    assert load_image(path).size == COFFEE_SIZE
    assert os.listdir(tmp_path) == ["out.png"]


def test_new_output_is_not_private(tmp_path, coffee):
    saved = os.umask(0o022)
    try:
        path = save_image(tmp_path / "shared.png", coffee)
    finally:
        os.umask(saved)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch, coffee, failure):
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

    real_mkstemp = paths.tempfile.mkstemp
    monkeypatch.setattr(paths.tempfile, "mkstemp", recording_mkstemp)
    monkeypatch.setattr(images.Image.Image, "save", half_written_save)
    for target in (existing, tmp_path / "new.png"):
        expected = ImageError if isinstance(failure, OSError) else KeyboardInterrupt
        with pytest.raises(expected) as info:
            save_image(target, coffee)
        if expected is ImageError:
            assert_message(info.value, "disk full", str(target))
    assert os.listdir(tmp_path) == ["out.png"]
    assert existing.read_bytes() == before
    assert len(temporaries) == 2
    for temporary in temporaries:  # hidden, beside the target, same suffix, and gone
        assert temporary.parent == tmp_path and temporary.name.startswith(".") and temporary.suffix == ".png"
        assert not temporary.exists()


def test_protect_refuses_the_input(tmp_path, monkeypatch, chelsea, coffee):
    source = tmp_path / "input.png"
    chelsea.save(source)
    before = source.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(source)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    for target in (source, "sub/../input.png", link):
        with pytest.raises(OutputPathError) as info:
            save_image(target, coffee, protect=["input.png"])
        assert_message(info.value, "input", "overwrite")
    assert source.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["input.png", "link.png", "sub"]
    assert save_image("out.png", coffee, protect=["input.png"]) == Path("out.png")


def test_unknown_extension(tmp_path, coffee):
    for name in ("dream.xyz", "dream", "dream.ppm"):
        with pytest.raises(ImageError) as info:
            save_image(tmp_path / name, coffee)
        assert not isinstance(info.value, OutputPathError)
        assert_message(info.value, str(tmp_path / name), ".png", ".jpg", ".webp", ".tif", ".bmp", ".gif")
    assert os.listdir(tmp_path) == []


def test_uppercase_extension_is_known(tmp_path, coffee):
    path = save_image(tmp_path / "DREAM.JPG", coffee)
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == COFFEE_SIZE


def test_check_image_output(tmp_path, monkeypatch):
    assert check_image_output(tmp_path / "ok.webp") == tmp_path / "ok.webp"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_image_output("~/ok.TIFF") == tmp_path / "ok.TIFF"
    with pytest.raises(ImageError, match=r"'\.mp4' is not a supported image format"):
        check_image_output(tmp_path / "dream.mp4")
    missing = tmp_path / "missing" / "out.png"
    with pytest.raises(OutputPathError) as info:
        check_image_output(missing)
    assert_message(info.value, "does not exist", str(missing.parent))
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OutputPathError) as info:
        check_image_output(folder)
    assert_message(info.value, "folder", str(folder))
    with pytest.raises(OutputPathError, match="refusing to overwrite"):
        check_image_output(CHELSEA, protect=[CHELSEA])


def test_an_unwritable_folder_is_reported_before_saving(tmp_path, monkeypatch, coffee):
    monkeypatch.setattr(paths.os, "access", lambda path, mode: False)
    with pytest.raises(OutputPathError) as info:
        save_image(tmp_path / "out.png", coffee)
    assert_message(info.value, "permission denied", str(tmp_path))
    assert os.listdir(tmp_path) == []
