"""Which device a run uses, and device-dependent switches ("auto" means "on CUDA only")."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: this process's GPU (``local_rank`` under torchrun) when there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_on(switch: bool | str, device: torch.device | str, name: str = "the switch") -> bool:
    """Resolve a device-dependent switch: ``"auto"`` is on for CUDA only; true / false force it."""
    if switch == "auto":
        return torch.device(device).type == "cuda"
    if isinstance(switch, bool):
        return switch
    raise ValueError(f"{name} must be 'auto', true or false, got {switch!r}")
