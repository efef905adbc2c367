"""Pictures in and out: every image file the user names passes through here.

Loading gives float32 RGB in [0, 1] plus an optional alpha plane, whatever the file stores: EXIF
orientation is applied, greyscale/palette/CMYK/1-bit become RGB, 16-bit greyscale keeps its full
range (0..65535 -> 0..1), 32-bit integer images (which have no standard white level) are stretched
from 0 (or their minimum, if negative) to their maximum, and transparency is kept only when some
pixel is not fully opaque. Only JPEG (and camera MPO), PNG, WebP, TIFF, BMP and GIF (first frame)
are opened, so Pillow never hands a user file to an external program such as Ghostscript.

Decompression bombs are stopped by our own pixel-count guard (``max_pixels``, the CLI's
``--max-pixels``), read from the header before any pixel is decoded, so the user sees one message
that names the option to change. Pillow's own bomb check reads a process-wide setting
(``Image.MAX_IMAGE_PIXELS``) that Reverie never changes: lifting it for one load would lift it for
every other thread, and a lock around it would make loads run one at a time. Files are opened by
asking Pillow's readers for the :data:`INPUT_FORMATS` in turn, as ``Image.open`` does, less the
size check it adds (:func:`identified_image`), and the TIFF reader's repeat of that check is met
before it decodes (:func:`make_room_for_tiff`). So loads run side by side, other threads keep
Pillow's check, and a picture within a raised ``--max-pixels`` loads without Pillow's warning or
error. Two readers still check on their own while they read the header: WebP above twice Pillow's
limit (179 megapixels by default) and a GIF whose first frame reaches past its declared screen;
such a file is refused with a message that says Pillow refuses it. Truncated files fail as Pillow
fails them by default (``ImageFile.LOAD_TRUNCATED_IMAGES``, process-wide too, is left as set).

Saving picks the format from the extension and is atomic (:func:`reverie.io.paths.atomic_output`):
an interrupted run never leaves half an image, and an existing output is only replaced by a
complete one. The input is protected: passing it in ``protect`` makes any write onto it fail.

Transparency on output: PNG, WebP and TIFF store RGBA. JPEG and BMP have no alpha channel, so the
picture is composited over white (what most viewers show for transparent areas). GIF is saved as a
256-colour palette image of the picture composited over white: GIF transparency is one on/off index,
which would turn soft edges into jagged ones.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, features

from reverie.errors import (
    DreamFailedError,
    File,
    ImageError,
    PixelLimitError,
    Setting,
    UnsupportedImageError,
    one_line,
    reason,
)
from reverie.io.metadata import Metadata, metadata_of, metadata_save_options
from reverie.io.paths import atomic_output, check_output_location, existing_file
from reverie.settings import DEFAULT_MAX_PIXELS

PathLike = str | os.PathLike[str]


#: Lower-case output extension -> Pillow format name.
OUTPUT_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}

#: Pillow formats that load_image opens; anything else is reported as "not a supported image".
#: (Camera MPO files open through the JPEG entry and report format "MPO".)
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")

#: Output formats that keep an alpha channel; the others get the picture composited over white.
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})

#: Quality for lossy formats (JPEG, WebP), 0..100: high enough that dream detail survives.
LOSSY_QUALITY = 95

#: Pillow modes of 16-bit greyscale, whose white is 65535.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass
class Picture:
    """A decoded image: straight (not premultiplied) colour plus optional coverage.

    ``rgb`` is float32 (H, W, 3) in [0, 1]. ``alpha`` is float32 (H, W) in [0, 1], 0 = transparent,
    or None when every pixel is opaque. ``source`` is the file it was loaded from, if any.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"Picture.rgb must have shape (H, W, 3), got {self.rgb.shape}")
        if self.alpha is not None and self.alpha.shape != self.rgb.shape[:2]:
            raise ValueError(f"Picture.alpha must have shape {self.rgb.shape[:2]}, got {self.alpha.shape}")

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, Pillow's order."""
        return self.width, self.height


def noise_picture(width: int, height: int, seed: int = 0) -> Picture:
    """Mid-grey with faint uniform noise: the blank canvas for dreams without a photo."""
    if width < 1 or height < 1:
        raise ValueError(f"a canvas needs at least 1x1 pixels, got {width}x{height}")
    rng = np.random.default_rng(seed)
    rgb = 0.5 + rng.uniform(-0.1, 0.1, size=(height, width, 3))
    return Picture(rgb.astype(np.float32), None)


# ---------------------------------------------------------------------------------------- loading


@contextlib.contextmanager
def opened_image(path: PathLike) -> Iterator[ImageFile.ImageFile]:
    """The image at ``path`` opened lazily (header read, pixels not decoded), closed on leaving.

    Pillow has not checked its size: the caller does, with :func:`check_pixel_count`, before it
    decodes anything (see the module docstring).
    """
    path = existing_file(path, "image", ImageError)
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below, after the caller is done)
    except PermissionError:
        raise ImageError("permission denied reading ", File(path), ": make the file readable") from None
    except OSError as err:
        raise ImageError("cannot read image ", File(path), f": {reason(err)}") from None
    with stream:
        try:
            image = identified_image(stream, path)
        except Image.DecompressionBombError as err:
            raise ImageError(
                "cannot read image ",
                File(path),
                ": Pillow's reader for it refuses a picture this large "
                f"({one_line(err)}); save it as PNG or TIFF",
            ) from None
        with image:
            yield image


def identified_image(stream: io.BufferedReader, path: Path) -> ImageFile.ImageFile:
    """What ``Image.open(stream, formats=INPUT_FORMATS)`` returns, less its bomb check.

    Each reader is asked in turn whether the first bytes are its format, and the first that accepts
    and parses the header wins, as in ``Image.open``; a file none of them reads is an
    :class:`UnsupportedImageError`. ``Image.open`` would then compare the size with Pillow's
    process-wide limit, refusing pictures the user allowed with ``--max-pixels`` unless that limit
    were changed for every thread.
    """
    prefix = stream.read(16)
    for factory, accept in pillow_readers():
        if not accepts(accept, prefix):
            continue
        stream.seek(0)
        try:
            return factory(stream, str(path))
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # Pillow's readers say "not mine after all" this way; Image.open tries the next
        except (OSError, ValueError, EOFError) as err:
            raise ImageError("cannot read image ", File(path), f": {reason(err)}") from None
    supported = ", ".join(INPUT_FORMATS)
    raise UnsupportedImageError(File(path), f" is not an image in a supported format ({supported})")


def pillow_readers() -> list[tuple[Callable[..., ImageFile.ImageFile], Callable[[bytes], object] | None]]:
    """Pillow's (factory, accept) pairs for :data:`INPUT_FORMATS`, in that order.

    Readers register themselves in ``Image.OPEN`` when their plugin is imported; ``Image.init``
    imports them all, as ``Image.open`` does when a format it is asked for is missing. A format
    this Pillow was built without (WebP) is left out.
    """
    if any(name not in Image.OPEN for name in INPUT_FORMATS):
        Image.init()
    return [Image.OPEN[name] for name in INPUT_FORMATS if name in Image.OPEN]


def accepts(accept: Callable[[bytes], object] | None, prefix: bytes) -> bool:
    """Whether a reader's ``accept`` takes a file starting with ``prefix``, as ``Image.open``
    reads its answer: none means yes, and a string is a reason for no."""
    if accept is None:
        return True
    answer = accept(prefix)
    return bool(answer) and not isinstance(answer, str)


def check_pixel_count(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """:class:`PixelLimitError` when width * height is above ``max_pixels`` (checked before decoding)."""
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise PixelLimitError(
            File(path), f" is {size[0]}x{size[1]} = {pixels:,} pixels, more than the limit of "
            f"{max_pixels:,}; if you trust this file, raise the limit with ", Setting("max_pixels"),
            f" {pixels}", value=pixels, limits={"maximum": max_pixels},
        )  # fmt: skip


def probe_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the image at ``path`` as stored, from its header only: a missing,
    foreign or oversized file is reported before anything is decoded (or a model loaded)."""
    with opened_image(path) as image:
        check_pixel_count(Path(path).expanduser(), image.size, max_pixels)
        return image.size


def load_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = 0) -> Picture:
    """Read a picture as float32 RGB in [0, 1] (+ alpha); every failure is a one-line ImageError.

    ``max_pixels`` bounds width * height (read from the header, before decoding) to stop
    decompression bombs; raise it for genuinely huge images. ``max_side`` (0: full size) reduces
    the long side as the picture loads, one float plane at a time: a 40-megapixel photo dreamed at
    1024 px then costs about 12 bytes per pixel at its peak instead of 50. The pixels are exactly
    those of :func:`reverie.tensors.working_picture` on the full-size picture, so a dream from a
    file and one from the same picture in memory are the same.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    path = Path(path).expanduser()
    with opened_image(path) as image:
        check_pixel_count(path, image.size, max_pixels)
        upright = decoded_upright(image, path)
        rgb, alpha = float_planes(upright, path, fit_within(upright.size, max_side))
    return Picture(rgb=rgb, alpha=alpha, source=path)


def fit_within(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled down, never up, so the long side is at most ``max_side`` pixels.

    Keeps the aspect ratio (each side rounded, at least 1 px); None or 0 means no limit.
    """
    width, height = size
    if not max_side:
        return width, height
    if max_side < 0:
        raise ValueError(f"maximum side must be positive, got {max_side}")
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    return max(1, round(width * max_side / long_side)), max(1, round(height * max_side / long_side))


def decoded_upright(image: ImageFile.ImageFile, path: Path) -> Image.Image:
    """The first frame fully decoded (so corrupt data fails here) and turned upright per EXIF.

    Call it once the size has passed :func:`check_pixel_count`. The picture is turned in place:
    a copy of an upright one would be a second full-size picture in memory for nothing, and two
    loads may now run at once.
    """
    try:
        make_room_for_tiff(image)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError("image is truncated or corrupt: ", File(path), f" ({reason(err)})") from None


def make_room_for_tiff(image: ImageFile.ImageFile) -> None:
    """Give a TIFF above Pillow's own pixel limit its pixel buffer before it loads.

    Pillow's TIFF reader repeats the bomb check as it allocates that buffer, warning above
    ``Image.MAX_IMAGE_PIXELS`` and refusing above twice it; by then the user's limit has been
    checked, and a picture they allowed must not be refused by a setting they cannot see. The
    buffer is what the reader would allocate (the size as stored, before EXIF turns it); anything
    else loads as Pillow loads it.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if image.format != "TIFF" or limit is None or image.width * image.height <= limit:
        return
    image.im = Image.core.new(image.mode, getattr(image, "_tile_size", image.size))


def float_planes(
    image: Image.Image, path: Path, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb, alpha or None) as float32 in [0, 1] for any mode Pillow decodes, resized to ``size``
    (width, height; default: as decoded) by :func:`resized_colour`."""
    size = size or image.size
    grey = grey_plane(image)
    if grey is not None:
        return grey_to_rgb(grey if size == image.size else np.clip(resize_plane(grey, size), 0.0, 1.0)), None
    has_alpha = image.has_transparency_data
    mode = "RGBA" if has_alpha else "RGB"
    try:
        converted = image if image.mode == mode else image.convert(mode)
    except ValueError as err:
        raise ImageError(
            f"unsupported colour mode {image.mode} in ", File(path), f": {reason(err)}"
        ) from None

    def channel(index: int) -> np.ndarray:
        plane = np.asarray(converted.getchannel(index), dtype=np.float32)
        plane /= 255.0
        return plane

    alpha = channel(3) if has_alpha else None
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    if size == image.size:
        return np.stack([channel(index) for index in range(3)], axis=2), alpha
    return resized_colour(channel, alpha, size)


def grey_plane(image: Image.Image) -> np.ndarray | None:
    """The (H, W) float32 plane of a 16-bit, 32-bit integer or float greyscale image; None for
    the 8-bit modes, whose colour :func:`float_planes` converts."""
    if image.mode in SIXTEEN_BIT_MODES:
        return np.clip(np.asarray(image).astype(np.float32) / 65535.0, 0.0, 1.0)
    if image.mode == "I":
        return stretched(np.asarray(image, dtype=np.int64))
    if image.mode == "F":
        return np.clip(np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0), 0.0, 1.0)
    return None


def resized_colour(
    channel: Callable[[int], np.ndarray], alpha: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Straight colour (``channel(0..2)``, each a new (H, W) float plane that this overwrites, asked
    for one at a time so a large picture never exists as three float planes at once) and alpha
    resized to ``size`` with Lanczos in float (no 8-bit rounding), clipped to [0, 1] (Lanczos overshoots).

    Colour is resized premultiplied by alpha, so transparent pixels' hidden colour does not bleed
    into the edges; where the resized alpha is next to nothing, the straight colour is kept.
    """
    if alpha is None:
        rgb = np.stack([resize_plane(channel(index), size) for index in range(3)], axis=2)
        return np.clip(rgb, 0.0, 1.0), None
    resized_alpha = np.clip(resize_plane(alpha, size), 0.0, 1.0)
    covered = resized_alpha > 1.0 / 512.0
    safe_alpha = np.where(covered, resized_alpha, 1.0)
    planes = []
    for index in range(3):
        colour = channel(index)
        straight = resize_plane(colour, size)
        colour *= alpha
        planes.append(np.where(covered, resize_plane(colour, size) / safe_alpha, straight))
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32), resized_alpha


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One (H, W) plane resized with Lanczos in Pillow's 32-bit float mode (no 8-bit rounding)."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)


def stretched(values: np.ndarray) -> np.ndarray:
    """32-bit integers mapped to [0, 1] from 0 (or the minimum, if negative) to the maximum (or 0).

    Such images (scientific cameras, depth maps) have no standard white level, and dividing by
    2**31 would show black; their own range is the only scale they carry.
    """
    low = min(int(values.min(initial=0)), 0)
    high = max(int(values.max(initial=0)), low + 1)
    return ((values - low) / (high - low)).astype(np.float32)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) float32, the grey value in all three channels."""
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2), dtype=np.float32)


def read_metadata(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Metadata | None:
    """The object :func:`save_image` embedded in the file at ``path``, or None when it holds none.

    Missing, non-image and corrupt files raise :class:`ImageError`. A PNG's text may follow its
    pixels, so Pillow decodes the whole picture to read it: ``max_pixels`` is checked first.
    """
    with opened_image(path) as image:
        check_pixel_count(Path(path).expanduser(), image.size, max_pixels)
        try:
            return metadata_of(image)
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageError("image is truncated or corrupt: ", File(path), f" ({reason(err)})") from None


# ----------------------------------------------------------------------------------------- saving


def check_image_output(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Validate an image output path before a long computation (see :func:`check_output_location`);
    its extension must also name a format we write."""
    path = Path(path).expanduser()
    output_format(path)
    return check_output_location(path, protect)


def output_format(path: Path) -> str:
    """Pillow format name for the path's extension; ImageError listing the known ones otherwise."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        known = " ".join(OUTPUT_FORMATS)
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise ImageError(
            "cannot save ", File(path), f": {shown} is not a supported image format (use one of {known})"
        )
    return OUTPUT_FORMATS[suffix]


def save_image(
    path: PathLike,
    picture: Picture,
    metadata: Metadata | None = None,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write ``picture`` atomically in the format of the extension and return the path written.

    ``metadata`` (a JSON object) is embedded as :mod:`reverie.io.metadata` describes. An existing
    output is replaced only once the new file is complete; a path in ``protect`` is never written.
    """
    path = check_image_output(path, protect)
    image_format = output_format(path)
    image = picture_to_pil(picture, image_format)  # a picture that cannot be saved opens no file
    try:
        with atomic_output(path) as temporary, open(temporary, "wb") as stream:
            encode(image, image_format, metadata, stream)
    except (OSError, ValueError) as err:
        raise ImageError("could not write ", File(path), f" as {image_format}: {reason(err)}") from None
    return path


def image_bytes(picture: Picture, image_format: str = "PNG", metadata: Metadata | None = None) -> bytes:
    """``picture`` encoded in memory, exactly as :func:`save_image` writes it to a file of that
    format: a preview to send, or a worker's result on its way to the machine that saves it."""
    buffer = io.BytesIO()
    encode(picture_to_pil(picture, image_format), image_format, metadata, buffer)
    return buffer.getvalue()


def encode(image: Image.Image, image_format: str, metadata: Metadata | None, stream: BinaryIO) -> None:
    """Write ``image`` to ``stream`` in ``image_format``, with its quality and ``metadata``."""
    options = {**encoder_options(image_format), **metadata_save_options(image_format, metadata)}
    image.save(stream, format=image_format, **options)


def picture_to_pil(picture: Picture, image_format: str) -> Image.Image:
    """8-bit Pillow image ready for ``image_format``: RGBA, RGB, or (GIF) a 256-colour palette.

    A picture holding NaN or infinity is refused rather than written black: such a picture is a
    failed dream, never a result.
    """
    rgb = picture.rgb.astype(np.float32)
    if not np.isfinite(rgb).all():
        raise DreamFailedError("the picture holds values that are not finite numbers; it was not saved")
    alpha = None if picture.alpha is None else np.clip(picture.alpha.astype(np.float32), 0.0, 1.0)
    if alpha is not None and image_format in ALPHA_FORMATS:
        rgba = np.concatenate([rgb, alpha[:, :, None]], axis=2)
        return Image.fromarray(to_uint8(rgba), "RGBA")
    if alpha is not None:
        rgb = composite_over_white(rgb, alpha)
    image = Image.fromarray(to_uint8(rgb), "RGB")
    if image_format == "GIF":
        return image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    return image


def encoder_options(image_format: str) -> dict[str, object]:
    """Quality and compression for ``Image.save``."""
    if image_format in ("JPEG", "WEBP"):
        return {"quality": LOSSY_QUALITY}
    if image_format == "TIFF" and features.check("libtiff"):
        return {"compression": "tiff_deflate"}
    return {}


def to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 by round(v * 255), clipped."""
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def composite_over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight-alpha colour laid over a white background, float32 (H, W, 3)."""
    coverage = alpha[:, :, None]
    return (np.clip(rgb, 0.0, 1.0) * coverage + (1.0 - coverage)).astype(np.float32)
