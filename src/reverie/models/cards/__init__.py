"""Model cards: what Reverie knows of each architecture before building it, one module each.

Importing this package registers every model (see :mod:`reverie.models.registry`); nothing here
imports PyTorch.
"""

from __future__ import annotations

from reverie.models.cards import efficientnet_lite, googlenet, inception_v3, vgg  # noqa: F401
