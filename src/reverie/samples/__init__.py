"""Sample photographs that install with Reverie, so demos and tests need no network.

Both are CC0 photographs from scikit-image's sample data (see LICENSE.txt here).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from reverie.errors import ImageError

SAMPLES = ("chelsea", "coffee")


def sample_path(name: str = "chelsea") -> Path:
    """Path of a bundled sample photo: ``chelsea`` (a cat, 451x300) or ``coffee`` (espresso, 600x400)."""
    if name not in SAMPLES:
        raise ImageError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    return Path(str(resources.files(__name__).joinpath(f"{name}.png")))
