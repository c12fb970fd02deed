"""Which device a run uses, and device-dependent switches ("auto" means "on CUDA only")."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError


def resolve_device(name: str = "auto", local_rank: int = 0, setting: str = "train.device") -> torch.device:
    """``"auto"``: this process's GPU (``local_rank`` under torchrun) when there is one, else the CPU.

    A device this machine does not have raises ``ConfigError`` naming ``setting``, before any work.
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"{setting}: {name!r} is not a device; use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{setting}: {name!r} asks for CUDA, but this machine has no usable CUDA device; "
                          "use cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"{setting}: {name!r} does not exist; this machine has "
                          f"{torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{setting}: {name!r} asks for Apple's MPS, which this machine does not have; "
                          "use cpu or auto")
    return device


def use_on(switch: bool | str, device: torch.device | str, name: str = "the switch") -> bool:
    """Resolve a device-dependent switch: ``"auto"`` is on for CUDA only; true / false force it."""
    if switch == "auto":
        return torch.device(device).type == "cuda"
    if isinstance(switch, bool):
        return switch
    raise ConfigError(f"{name} must be 'auto', true or false, got {switch!r}")


def loader_workers(setting: int | str, device: torch.device | str) -> int:
    """DataLoader processes for ``data.num_workers`` while a run trains or scores on ``device``.

    ``"auto"``: up to 8 (one per core) on CUDA, where they decode while the GPU computes, and none on
    the CPU, where a busy worker takes a core from the compute threads and every parallel region
    waits for the thread it displaced (benchmarks/RESULTS.md).
    """
    if setting == "auto":
        return min(8, os.cpu_count() or 1) if torch.device(device).type == "cuda" else 0
    return int(setting)


def decode_workers(setting: int | str) -> int | None:
    """Processes that decode a cache once, before training: ``"auto"`` (or 0) lets the cache builder
    use every core up to 8 (None), since nothing else runs while it builds."""
    return None if setting in ("auto", 0) else int(setting)
