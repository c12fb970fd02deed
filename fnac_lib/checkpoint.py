"""Checkpoints and run-directory files, written atomically.

Every file goes to a temporary name in the same directory, is flushed to disk, and is then
renamed over the target, so a run killed at any moment leaves either the old file or the new
one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or not a checkpoint of this workbook."""


REQUIRED_KEYS = ("model", "config", "epoch", "step_in_epoch", "global_step")


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_json(path: Path, value) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(value, indent=2) + "\n").encode()))


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
