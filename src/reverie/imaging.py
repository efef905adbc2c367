"""Reading and writing pictures: every file the user names passes through here.

Loading gives float32 RGB in [0, 1] plus an optional alpha plane, whatever the file stores: EXIF
orientation is applied, greyscale/palette/CMYK/1-bit become RGB, 16-bit greyscale keeps its full
range (0..65535 -> 0..1), and transparency is kept only when some pixel is not fully opaque.
Only JPEG (and camera MPO), PNG, WebP, TIFF, BMP and GIF (first frame) are opened, so Pillow never
hands a user file to an external program such as Ghostscript.

Decompression bombs are stopped by our own pixel-count guard (``max_pixels``, the CLI's
``--max-pixels``), read from the header before any pixel is decoded; Pillow's own bomb check is
switched off while we load so that only one, actionable, message can appear.

Saving picks the format from the extension and is atomic: the file is written under a hidden
temporary name in the target folder and renamed over the target, so an interrupted run never
leaves half an image, and an existing output is only replaced by a complete one. The input image is
protected: passing it in ``protect`` makes any write onto it (however the path is spelled) fail.

Transparency on output: PNG, WebP and TIFF store RGBA. JPEG and BMP have no alpha channel, so the
picture is composited over white (what most viewers show for transparent areas). GIF is saved as a
256-colour palette image of the picture composited over white: GIF transparency is one on/off index,
which would turn soft edges into jagged ones.

Metadata (the settings that reproduce a result) is a ``dict[str, str]``. PNG stores one text chunk
per key (tEXt, or iTXt for non-Latin-1 text). JPEG, WebP and TIFF store ``{"reverie": metadata}``
as ASCII JSON in the EXIF ImageDescription tag (0x010E), and nothing else from the source (no GPS,
no camera data). BMP and GIF have no standard place for text, so metadata is silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError, features
from PIL.PngImagePlugin import PngInfo

from reverie.errors import ImageError, PixelLimitError, ReverieError, SettingsError

PathLike = str | os.PathLike[str]

#: Largest picture (width * height) loaded unless the caller raises it: 100 megapixels is about
#: 1.2 GB as float32 RGB, well above any camera photo and well below what a bomb file claims.
DEFAULT_MAX_PIXELS: int = 100_000_000

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

#: Output formats whose metadata goes into EXIF ImageDescription as JSON.
EXIF_FORMATS = frozenset({"JPEG", "WEBP", "TIFF"})

#: Quality for lossy formats (JPEG, WebP), 0..100: high enough that dream detail survives.
LOSSY_QUALITY = 95

EXIF_IMAGE_DESCRIPTION = 0x010E
METADATA_KEY = "reverie"

#: BT.601 weights turning RGB into luma (brightness), shared by masks, colour keeping and animation.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: JPEG keeps EXIF in one APP1 segment, at most 65533 bytes including its header.
JPEG_MAX_EXIF_BYTES = 65533
#: PNG chunk keywords are 1..79 Latin-1 characters.
PNG_MAX_KEY_LENGTH = 79

# Pillow's bomb limit and truncated-image switch are process-wide; the lock keeps two loads (e.g.
# web requests) from restoring each other's values halfway.
_PILLOW_SETTINGS_LOCK = threading.Lock()


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


# ---------------------------------------------------------------------------------------- loading


@contextlib.contextmanager
def strict_pillow() -> Iterator[None]:
    """Pillow settings for loading user files: no bomb check of its own, no truncated images.

    Our guard in :func:`open_image` compares the header size with ``max_pixels`` instead, so the
    user sees one message that names the option to change.
    """
    with _PILLOW_SETTINGS_LOCK:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def existing_image_path(path: PathLike) -> Path:
    """``path`` as a Path after checking it names a non-empty file; ImageError otherwise."""
    return existing_file(path, "image", ImageError)


def existing_file(path: PathLike, kind: str, error: type[ReverieError]) -> Path:
    """``path`` as a Path if it names a non-empty file, else ``error`` saying so about a ``kind``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise error(f"{kind} not found: {path}")
    if path.is_dir():
        raise error(f"{path} is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind} file")
    if path.stat().st_size == 0:
        raise error(f"{kind} file is empty (0 bytes): {path}")
    return path


def open_image(path: Path) -> ImageFile.ImageFile:
    """The image opened lazily (header read, pixels not yet decoded); call within strict_pillow."""
    try:
        return Image.open(path, formats=INPUT_FORMATS)
    except PermissionError:
        raise ImageError(f"permission denied reading {path}: make the file readable") from None
    except UnidentifiedImageError:
        supported = ", ".join(INPUT_FORMATS)
        raise ImageError(f"{path} is not an image in a supported format ({supported})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(f"cannot read image {path}: {one_line(err)}") from None


def check_pixel_count(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """ImageError when width * height is above ``max_pixels`` (checked before decoding)."""
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise PixelLimitError(
            f"{path} is {size[0]}x{size[1]} = {pixels:,} pixels, more than the limit of {max_pixels:,}; "
            f"if you trust this file, raise the limit with --max-pixels {pixels}"
        )


def decoded_upright(image: ImageFile.ImageFile, path: Path) -> Image.Image:
    """The first frame fully decoded (so corrupt data fails here) and turned upright per EXIF."""
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(f"image is truncated or corrupt: {path} ({one_line(err)})") from None


def load_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read a picture as float32 RGB in [0, 1] (+ alpha); every failure is one-line ImageError.

    ``max_pixels`` bounds width * height (read from the header, before decoding) to stop
    decompression bombs; raise it for genuinely huge images.
    """
    if max_pixels < 1:
        raise SettingsError(f"--max-pixels must be a positive number of pixels, got {max_pixels}")
    path = existing_image_path(path)
    with strict_pillow(), open_image(path) as image:
        check_pixel_count(path, image.size, max_pixels)
        upright = decoded_upright(image, path)
        rgb, alpha = float_planes(upright, path)
    return Picture(rgb=rgb, alpha=alpha, source=path)


def float_planes(image: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb, alpha or None) as float32 in [0, 1] for any mode Pillow decodes."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = np.asarray(image).astype(np.float32) / 65535.0
        return grey_to_rgb(np.clip(grey, 0.0, 1.0)), None
    if image.mode == "F":
        grey = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        return grey_to_rgb(np.clip(grey, 0.0, 1.0)), None
    has_alpha = has_transparency(image)
    try:
        converted = image.convert("RGBA" if has_alpha else "RGB")
    except ValueError as err:
        raise ImageError(f"unsupported colour mode {image.mode} in {path}: {one_line(err)}") from None
    pixels = np.asarray(converted, dtype=np.float32) / 255.0
    if not has_alpha:
        return np.ascontiguousarray(pixels), None
    alpha = np.ascontiguousarray(pixels[:, :, 3])
    return np.ascontiguousarray(pixels[:, :, :3]), (None if alpha.min() >= 1.0 else alpha)


def has_transparency(image: Image.Image) -> bool:
    """Whether the image stores any transparency (an alpha band, a tRNS key or an RGBA palette).

    Same as Pillow's ``has_transparency_data``, which Pillow 10.0 (our minimum) lacks.
    """
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        return True
    return image.mode == "P" and image.palette is not None and image.palette.mode == "RGBA"


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) float32, the grey value in all three channels."""
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2), dtype=np.float32)


def one_line(err: BaseException) -> str:
    """An exception's text on a single line (messages are printed as one line)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


# ----------------------------------------------------------------------------------------- saving


def check_output_path(path: PathLike, protect: Iterable[PathLike] = ()) -> Path:
    """Validate an output path before a long computation; ImageError says what to fix.

    The extension must be one of :data:`OUTPUT_FORMATS`, the folder must exist and be writable, the
    path must not be a folder, and it must not be the same file as any ``protect`` path (the input
    image), whether spelled differently, through a symlink or a hard link.
    """
    path = Path(path).expanduser()
    output_format(path)
    return check_output_location(path, protect)


def check_output_location(path: Path, protect: Iterable[PathLike] = ()) -> Path:
    """The checks of :func:`check_output_path` but the extension's, for outputs of any kind."""
    if path.is_dir():
        raise ImageError(f"output path {path} is a folder: give a file name such as {path / 'dream.png'}")
    folder = path.parent
    if not folder.is_dir():
        raise ImageError(f"output folder does not exist: {folder} (create it first or choose another path)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageError(f"permission denied writing to folder {folder}: choose another output path")
    for protected in protect:
        if same_file(path, Path(protected).expanduser()):
            raise ImageError(
                f"refusing to overwrite the input {protected} with output {path}: "
                "choose a different output path"
            )
    return path


def output_format(path: Path) -> str:
    """Pillow format name for the path's extension; ImageError listing the known ones otherwise."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        known = " ".join(OUTPUT_FORMATS)
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise ImageError(f"cannot save {path}: {shown} is not a supported image format (use one of {known})")
    return OUTPUT_FORMATS[suffix]


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: by inode when both exist, else by resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def save_image(
    path: PathLike,
    picture: Picture,
    metadata: dict[str, str] | None = None,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write ``picture`` atomically in the format of the extension and return the path written.

    ``metadata`` is embedded as described in the module docstring. An existing output is replaced
    only once the new file is complete; a path in ``protect`` is never written.
    """
    path = check_output_path(path, protect)
    image_format = output_format(path)
    image = picture_to_pil(picture, image_format)
    options = save_options(image_format, metadata or {})
    write_atomically(path, image, image_format, options)
    return path


def picture_to_pil(picture: Picture, image_format: str) -> Image.Image:
    """8-bit Pillow image ready for ``image_format``: RGBA, RGB, or (GIF) a 256-colour palette."""
    rgb = np.nan_to_num(picture.rgb.astype(np.float32), nan=0.0)
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


def to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 by round(v * 255), clipped."""
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def composite_over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight-alpha colour laid over a white background, float32 (H, W, 3)."""
    coverage = alpha[:, :, None]
    return (np.clip(rgb, 0.0, 1.0) * coverage + (1.0 - coverage)).astype(np.float32)


def save_options(image_format: str, metadata: dict[str, str]) -> dict[str, object]:
    """Keyword arguments for ``Image.save``: quality, compression and the embedded metadata."""
    check_metadata(metadata)
    options: dict[str, object] = {}
    if image_format in ("JPEG", "WEBP"):
        options["quality"] = LOSSY_QUALITY
    if image_format == "TIFF" and features.check("libtiff"):
        options["compression"] = "tiff_deflate"
    if image_format == "PNG" and metadata:
        options["pnginfo"] = png_text(metadata)
    if image_format in EXIF_FORMATS and metadata:
        exif = metadata_exif(metadata)
        if image_format == "JPEG" and len(exif) > JPEG_MAX_EXIF_BYTES:
            warnings.warn(
                f"metadata is {len(exif):,} bytes, more than a JPEG can hold ({JPEG_MAX_EXIF_BYTES:,}); "
                "saved without it (use .png to keep it)",
                stacklevel=3,
            )
        else:
            options["exif"] = exif
    return options


def check_metadata(metadata: dict[str, str]) -> None:
    """ValueError unless metadata maps usable keys to strings (keys come from code, not users)."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
        if not 1 <= len(key) <= PNG_MAX_KEY_LENGTH or not key.isprintable():
            raise ValueError(f"metadata key must be 1..{PNG_MAX_KEY_LENGTH} printable characters: {key!r}")
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"metadata key must be Latin-1 (a PNG keyword): {key!r}") from None


def png_text(metadata: dict[str, str]) -> PngInfo:
    """One tEXt chunk per key, iTXt where the value is not Latin-1 (PngInfo decides)."""
    info = PngInfo()
    for key, value in metadata.items():
        info.add_text(key, value)
    return info


def metadata_exif(metadata: dict[str, str]) -> bytes:
    """EXIF block holding only ImageDescription = ASCII JSON ``{"reverie": metadata}``."""
    exif = Image.Exif()
    exif[EXIF_IMAGE_DESCRIPTION] = json.dumps({METADATA_KEY: metadata}, ensure_ascii=True)
    return exif.tobytes()


def write_atomically(path: Path, image: Image.Image, image_format: str, options: dict[str, object]) -> None:
    """Save ``image`` to ``path`` through :func:`atomic_output`."""
    try:
        with atomic_output(path) as temporary, open(temporary, "wb") as stream:
            image.save(stream, format=image_format, **options)
    except (OSError, ValueError) as err:
        raise ImageError(f"could not write {path} as {image_format}: {one_line(err)}") from None


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``path``; renamed over ``path`` when the block succeeds.

    On any failure, Ctrl-C included, the temporary file is removed and ``path`` is left as it was,
    so no reader ever sees half an image or half a video.
    """
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, new_file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def new_file_mode(path: Path) -> int:
    """Permissions for the output: those of the file it replaces, else 0o666 minus the umask.

    mkstemp creates files readable by the owner only, which would surprise a user sharing results.
    """
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set-and-restore."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------------------- metadata


def read_metadata(path: PathLike) -> dict[str, str]:
    """Metadata written by :func:`save_image`; {} when the file has none (or not ours).

    PNG: every text chunk (ours are plain key/value chunks). JPEG/WebP/TIFF: the ``reverie`` dict in
    the EXIF ImageDescription JSON. Other formats: {}. Missing or non-image files raise ImageError.
    """
    path = existing_image_path(path)
    with strict_pillow(), open_image(path) as image:
        if image.format == "PNG":
            try:
                return dict(image.text)
            except (OSError, SyntaxError, ValueError, EOFError) as err:
                raise ImageError(f"image is truncated or corrupt: {path} ({one_line(err)})") from None
        if image.format in ("JPEG", "MPO", "WEBP", "TIFF"):
            return exif_metadata(image)
    return {}


def exif_metadata(image: Image.Image) -> dict[str, str]:
    """The ``reverie`` dict from EXIF ImageDescription JSON, or {} if absent or written by others."""
    try:
        description = image.getexif().get(EXIF_IMAGE_DESCRIPTION)
    except (OSError, SyntaxError, ValueError, EOFError):
        return {}
    if isinstance(description, bytes):
        description = description.decode("utf-8", "replace")
    if not isinstance(description, str):
        return {}
    try:
        document = json.loads(description.rstrip("\0"))
    except ValueError:
        return {}
    ours = document.get(METADATA_KEY) if isinstance(document, dict) else None
    if not isinstance(ours, dict):
        return {}
    return {str(key): str(value) for key, value in ours.items() if isinstance(value, str)}


# ----------------------------------------------------------------------------- resizing and tensors


def fit_within(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled down, never up, so the long side is at most ``max_side`` pixels.

    Keeps the aspect ratio (each side rounded, at least 1 px); None means no limit.
    """
    width, height = size
    if max_side is None:
        return width, height
    if max_side < 1:
        raise SettingsError(f"maximum side must be at least 1 pixel, got {max_side}")
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    return max(1, round(width * max_side / long_side)), max(1, round(height * max_side / long_side))


def resize_picture(picture: Picture, size: tuple[int, int]) -> Picture:
    """The picture resampled to (width, height) with Lanczos, in float (no 8-bit rounding).

    Colour is resized premultiplied by alpha, so transparent pixels' hidden colour does not bleed
    into the edges; alpha is resized alongside. Results are clipped to [0, 1] (Lanczos overshoots).
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"resize size must be at least 1x1 pixels, got {width}x{height}")
    if picture.alpha is None:
        rgb = resize_planes(picture.rgb, size)
        return Picture(rgb=np.clip(rgb, 0.0, 1.0), alpha=None, source=picture.source)
    alpha = np.clip(resize_planes(picture.alpha[:, :, None], size)[:, :, 0], 0.0, 1.0)
    premultiplied = resize_planes(picture.rgb * picture.alpha[:, :, None], size)
    straight = resize_planes(picture.rgb, size)
    covered = alpha > 1.0 / 512.0
    safe_alpha = np.where(covered, alpha, 1.0)[:, :, None]
    rgb = np.where(covered[:, :, None], premultiplied / safe_alpha, straight)
    return Picture(rgb=np.clip(rgb, 0.0, 1.0).astype(np.float32), alpha=alpha, source=picture.source)


def resize_planes(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) float planes resized to (width, height), one channel at a time."""
    return np.stack([resize_plane(planes[:, :, c], size) for c in range(planes.shape[2])], axis=2)


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One (H, W) plane resized with Lanczos in Pillow's 32-bit float mode (no 8-bit rounding)."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)


def to_tensor(rgb: np.ndarray, share: bool = False) -> torch.Tensor:
    """(H, W, 3) array -> (1, 3, H, W) float32 tensor, a copy (not sharing memory with ``rgb``).

    With ``share`` it is a view of ``rgb`` instead (channels-last strides, which convolutions on
    the CPU prefer): no copy, which matters for gigapixel dreams; the caller must not modify it.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    array = np.ascontiguousarray(rgb, dtype=np.float32)
    view = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return view if share else view.contiguous()


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor -> (H, W, 3) float32 array clamped to [0, 1] (NaN -> 0)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got shape {tuple(t.shape)}")
    values = torch.nan_to_num(t.detach().to("cpu", torch.float32), nan=0.0).clamp(0.0, 1.0)
    return np.ascontiguousarray(values.permute(1, 2, 0).numpy(), dtype=np.float32)


def load_mask(path: PathLike, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A dream mask at ``size`` (width, height): (H, W) float32, 1 where white, 0 where black.

    Its brightness is used (an alpha channel multiplies in), and its edges are feathered with a
    Gaussian blur of about 0.5% of the long side so the dreamed region fades into the photo.
    """
    picture = load_image(path, max_pixels=max_pixels)
    weights = picture.rgb @ LUMA_WEIGHTS
    if picture.alpha is not None:
        weights = weights * picture.alpha
    image = Image.fromarray(np.ascontiguousarray(weights, dtype=np.float32), mode="F")
    resized = np.array(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(gaussian_blur(resized, sigma=max(1.0, max(size) / 200)), 0.0, 1.0)


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) array blurred by a Gaussian of ``sigma`` px, cut at 3 sigma (beyond it: exactly 0)."""
    radius = int(3 * sigma) + 1
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    tensor = torch.nn.functional.pad(tensor, (radius, radius, radius, radius), mode="replicate")
    tensor = torch.nn.functional.conv2d(tensor, kernel.view(1, 1, 1, -1))
    tensor = torch.nn.functional.conv2d(tensor, kernel.view(1, 1, -1, 1))
    return tensor[0, 0].numpy()


def keep_colours(dreamed: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``dreamed``'s brightness with ``original``'s colour (BT.601 luma/chroma), both (H, W, 3).

    DeepDream tints photos with the network's favourite hues; keeping the chroma of the photo
    leaves only the dreamed shapes.
    """
    dreamed_luma = dreamed @ LUMA_WEIGHTS
    chroma = original - (original @ LUMA_WEIGHTS)[..., None]
    return np.clip(dreamed_luma[..., None] + chroma, 0.0, 1.0).astype(np.float32)


def noise_picture(width: int, height: int, seed: int = 0) -> Picture:
    """Mid-grey with faint uniform noise: the blank canvas for dreams without a photo."""
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise SettingsError(f"noise size must be between 1 and 16384 px per side; got {width}x{height}")
    rng = np.random.default_rng(seed)
    rgb = 0.5 + rng.uniform(-0.1, 0.1, size=(height, width, 3)).astype(np.float32)
    return Picture(rgb.astype(np.float32), None)
