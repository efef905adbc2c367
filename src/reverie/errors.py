"""One exception type per kind of user mistake, and the one-line form every front end prints.

Every error a user can cause derives from :class:`ReverieError`; front ends (CLI, web) print its
message as one line and exit non-zero, so each message must say what went wrong and what to do.
Errors follow the layers that raise them: image files raise :class:`ImageError`, videos and
animations :class:`VideoError`, output paths :class:`OutputPathError`, settings :class:`SettingsError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class ReverieError(Exception):
    """Base class of every error caused by input a user can correct."""


class ImageError(ReverieError):
    """An image cannot be read or written (missing, not an image, corrupt, unwritable...)."""


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
    """A dream setting is out of range or malformed."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean blocks.8?)"`` when ``word`` is a near miss of one of ``choices`` (a typo, a
    missing letter, the wrong case), else ``""``: for messages that also list every valid name."""
    options = list(choices)
    by_case = {choice.lower(): choice for choice in options}
    close = get_close_matches(word.lower(), list(by_case), n=1, cutoff=0.75)
    return f" (did you mean {by_case[close[0]]}?)" if close else ""


def one_line(error: BaseException) -> str:
    """An exception's message as one line: its first non-empty line, spaces collapsed.

    Library messages (Pillow, FFmpeg, torch) can run over many lines of detail; the first says
    what happened. An exception without a message is named by its type.
    """
    for line in str(error).splitlines():
        if line.strip():
            return " ".join(line.split())
    return type(error).__name__
