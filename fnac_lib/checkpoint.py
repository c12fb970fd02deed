"""Checkpoints: training states saved atomically (``files.atomic_write``) and loaded with a
``CheckpointError`` that names the file when it is missing, truncated or foreign.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import CheckpointError
from .files import atomic_write

REQUIRED_KEYS = ("model", "config", "epoch", "step_in_epoch", "global_step")


def save_checkpoint(path: Path, state: dict) -> None:
    """Save a training state dict (model, optimizer, counters, RNG states) atomically."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint, raising ``CheckpointError`` that names the file when it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # noqa: BLE001 - truncated zips, pickles and garbage all land here
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise CheckpointError(f"{path}: not an FNAC workbook checkpoint (expected keys {list(REQUIRED_KEYS)})")
    return state
