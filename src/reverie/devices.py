"""Which device a dream runs on: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked with one clear error;
and whether bfloat16 is fast on it."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from reverie.errors import Setting, SettingsError

#: CPU feature flags (``/proc/cpuinfo``) of bfloat16 arithmetic in hardware: AVX512-BF16 and AMX on
#: x86, the BF16 extension on Arm. Without them PyTorch emulates bf16, slower than fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})

#: Device types already warned that bf16 is slow on them: one warning per run, not one per dream.
_warned_slow_bf16: set[str] = set()


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


def warn_if_bf16_is_slow(precision: str, device: torch.device) -> None:
    """Warn once per process when ``precision`` is bf16 on a CPU without native bfloat16.

    bf16 is offered because it is faster on GPUs and on CPUs that compute it in hardware; elsewhere
    PyTorch emulates it and a dream takes longer than in fp32 (2x to 14x, by CPU and model) for
    nothing the picture shows, so the user could not tell why. A batch, a zoom or a video warns
    once, not per photo or frame.
    """
    if precision != "bf16" or native_bf16(device) or device.type in _warned_slow_bf16:
        return
    _warned_slow_bf16.add(device.type)
    warnings.warn(
        "bf16 precision is slower on this CPU, which has no native bfloat16 (AVX512-BF16 or AMX) and "
        "emulates it: fp32 is faster here",
        stacklevel=3,
    )


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 at full speed: a GPU, or a CPU with it in hardware."""
    return device.type != "cpu" or cpu_has_native_bf16()


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this machine's CPU has bfloat16 instructions, from ``/proc/cpuinfo`` on Linux, else
    from PyTorch's own checks of x86 CPUs; True when neither can tell (no warning on a guess)."""
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & NATIVE_BF16_FLAGS)
    names = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    checks = [getattr(torch.cpu, name, None) for name in names]
    if not all(callable(check) for check in checks):
        return True
    return any(check() for check in checks)  # type: ignore[misc]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The first CPU's feature flags (x86 ``flags``, Arm ``Features``), or None where not listed."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None
