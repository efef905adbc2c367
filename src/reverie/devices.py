"""Which device a dream runs on: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked with one clear error."""

from __future__ import annotations

import torch

from reverie.errors import Setting, SettingsError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; an unusable device is a :class:`SettingsError`."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise SettingsError(f"unknown device {device!r}; use cpu, cuda or auto", field="device", value=name)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError(
            Setting("device"),
            f" {name} was asked for, but no CUDA GPU is available",
            field="device",
            value=name,
        )
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise SettingsError(
            f"unknown device {device!r}; use cpu, cuda, cuda:N or auto", field="device", value=name
        ) from None
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise SettingsError(
            f"no GPU {resolved.index}; this machine has {torch.cuda.device_count()}",
            field="device",
            value=name,
        )
    return resolved
