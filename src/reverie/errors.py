"""One exception type per kind of user mistake.

Every error a user can cause derives from :class:`ReverieError`; front ends (CLI, web) print its
message as one line and exit non-zero, so each message must say what went wrong and what to do.
"""

from __future__ import annotations


class ReverieError(Exception):
    """Base class of every error caused by input a user can correct."""


class ImageError(ReverieError):
    """An image cannot be read or written (missing, not an image, too large, unwritable...)."""


class PixelLimitError(ImageError):
    """An image has more pixels than the limit the caller set (a decompression-bomb guard)."""


class UnknownModelError(ReverieError):
    """A model name that is not in the registry."""


class UnknownLayerError(ReverieError):
    """A layer name (or channel) that the chosen model does not have."""


class WeightsNotFoundError(ReverieError):
    """A model's weight file is not installed or not where the user said."""


class WeightsMismatchError(ReverieError):
    """A weight file exists but does not fit the architecture (wrong model, corrupt, truncated)."""


class SettingsError(ReverieError):
    """A dream setting is out of range or malformed."""


class VideoError(ReverieError):
    """A video cannot be read (missing, not a video, corrupt) or resumed."""
