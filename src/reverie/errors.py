"""One exception type per kind of user mistake, structured so that each front end words it its own way.

Every error a user can cause derives from :class:`ReverieError`. Besides its text it carries what it is
about: ``field`` (the setting or input at fault, e.g. ``"steps"``; empty when none), ``value`` (what
the user gave) and ``limits`` (the bound or choices missed, e.g. ``{"maximum": 10000}``). A message
names other settings and files through :class:`Setting` and :class:`File` parts rather than in
words, so the command line writes ``--max-side`` and a path, the web page writes "Size" and "your
photo 'cat.jpg'", and Python writes ``max_side``, all from one error, with no message ever parsed
(:meth:`ReverieError.render`). Errors follow the layers that raise them: image files raise
:class:`ImageError`, videos and animations :class:`VideoError`, output paths
:class:`OutputPathError`, settings :class:`SettingsError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    """A setting named inside a message (by its field name, ``"max_side"``)."""

    name: str


@dataclass(frozen=True)
class File:
    """A file named inside a message."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))


@dataclass(frozen=True)
class Command:
    """A kind of job named inside a message (``"zoom"``): ``reverie zoom`` on the command line, the
    page's name for that kind of job in the browser."""

    name: str


#: A piece of a message: plain words, or a setting, file or command each front end names its own way.
Part = str | Setting | File | Command


def command_line(name: str) -> str:
    return f"reverie {name}"


@dataclass(frozen=True)
class Words:
    """How one front end writes the settings, files and commands a message names."""

    setting: Callable[[str], str] = str
    file: Callable[[Path], str] = str
    command: Callable[[str], str] = command_line


#: Python's words: settings by their field names, files by their paths.
PYTHON_WORDS = Words()


class ReverieError(Exception):
    """Base class of every error caused by input a user can correct.

    ``parts`` make the message (see the module docstring); ``field``, ``value`` and ``limits`` say
    what it is about, for front ends that point at a form field or answer an API call.
    """

    def __init__(
        self,
        *parts: Part,
        field: str = "",
        value: Any = None,
        limits: Mapping[str, Any] | None = None,
    ) -> None:
        self.parts: tuple[Part, ...] = parts
        self.field = field
        self.value = value
        self.limits: dict[str, Any] = dict(limits or {})
        super().__init__(self.render())

    def render(self, words: Words = PYTHON_WORDS) -> str:
        """The message in one front end's words."""
        pieces = []
        for part in self.parts:
            if isinstance(part, Setting):
                pieces.append(words.setting(part.name))
            elif isinstance(part, File):
                pieces.append(words.file(part.path))
            elif isinstance(part, Command):
                pieces.append(words.command(part.name))
            else:
                pieces.append(part)
        return "".join(pieces)

    def prefixed(self, *parts: Part, field: str | None = None) -> ReverieError:
        """The same error (same type, value and limits) with ``parts`` before its message:
        ``error.prefixed("guide image: ", field="guide")``."""
        return type(self)(
            *parts,
            *self.parts,
            field=self.field if field is None else field,
            value=self.value,
            limits=self.limits,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Errors cross process boundaries (Ray workers) whole, parts and all."""
        return (rebuild_error, (type(self), self.parts, self.field, self.value, self.limits))


def rebuild_error(
    kind: type[ReverieError], parts: tuple[Part, ...], field: str, value: Any, limits: dict[str, Any]
) -> ReverieError:
    return kind(*parts, field=field, value=value, limits=limits)


class ImageError(ReverieError):
    """An image cannot be read or written (missing, not an image, corrupt, unwritable...)."""


class UnsupportedImageError(ImageError):
    """A file that is not an image in a format Reverie reads (a web upload answers 415)."""


class PixelLimitError(ImageError):
    """An image has more pixels than the limit the caller set (a decompression-bomb guard)."""


class VideoError(ReverieError):
    """A video or animation cannot be read, written or resumed."""


class OutputPathError(ReverieError):
    """An output path cannot be used: its folder is missing or read-only, or it names the input."""


class UnknownModelError(ReverieError):
    """A model name that is not in the registry."""


class UnknownLayerError(ReverieError):
    """A layer name (or channel) that the chosen model does not have."""


class WeightsNotFoundError(ReverieError):
    """A model's weight file is not installed or not where the user said."""


class WeightsDownloadError(WeightsNotFoundError):
    """A weight file could not be fetched: no network, not on the server, or cut off (resumable).

    A kind of :class:`WeightsNotFoundError`, since the weights stay missing: whoever handles the
    one handles the other.
    """


class WeightsMismatchError(ReverieError):
    """A weight file exists but does not fit the architecture (wrong model, corrupt, truncated)."""


class SettingsError(ReverieError):
    """A setting is out of range, of the wrong type, or malformed."""


class ResourceError(ReverieError):
    """Something Reverie was pointed at cannot be used now: a port in use, a Ray cluster out of reach
    or without room, a data folder another server holds, an optional package not installed. Not a
    malformed setting: the same command may work later, or elsewhere."""


class DreamFailedError(ReverieError):
    """A dream could not be completed from these settings: its objective or gradient stopped being
    a finite number (weights or step sizes that overflow), or it ran out of memory."""


def out_of_memory() -> DreamFailedError:
    """A dream too big for its device's memory (``MemoryError``, or PyTorch's ``OutOfMemoryError``):
    the user can ask for a smaller one."""
    return DreamFailedError(
        "out of memory: try a smaller ", Setting("tile_size"), " or ", Setting("max_side")
    )


def internal_error(failure: BaseException) -> str:
    """A bug in one line: ``internal error: TYPE: its first line``."""
    return f"internal error: {type(failure).__name__}: {one_line(failure)}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean blocks.8?)"`` when ``word`` is a near miss of one of ``choices`` (a typo, a
    missing letter, the wrong case), else ``""``: for messages that also list every valid name."""
    options = list(choices)
    by_case = {choice.lower(): choice for choice in options}
    close = get_close_matches(word.lower(), list(by_case), n=1, cutoff=0.75)
    return f" (did you mean {by_case[close[0]]}?)" if close else ""


def reason(error: BaseException) -> str:
    """Why an operating-system or library call failed, in one line and without the path it names
    (an ``OSError``'s ``strerror``): messages name their files as :class:`File` parts instead."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return one_line(error)


def one_line(error: BaseException) -> str:
    """An exception's message as one line: its first non-empty line, spaces collapsed.

    Library messages (Pillow, FFmpeg, torch) can run over many lines of detail; the first says
    what happened. An exception without a message is named by its type.
    """
    for line in str(error).splitlines():
        if line.strip():
            return " ".join(line.split())
    return type(error).__name__
