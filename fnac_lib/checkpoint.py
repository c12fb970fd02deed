"""Checkpoints: training states saved atomically (``files.atomic_write``) and loaded with a
``CheckpointError`` that names the file when it is missing, truncated or foreign; the run
directory that holds them, checked before a run starts and locked while it trains.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .config import RunConfig, upgrade
from .errors import CheckpointError, ConfigError
from .files import atomic_write, hold_lock

REQUIRED_KEYS = ("model", "config", "epoch", "step_in_epoch", "global_step")
RESUME_KEYS = ("optimizer", "best_score", "history", "validation", "rng_cpu", "rng_augment")  # and to resume


def save_checkpoint(path: Path, state: dict) -> None:
    """Save a training state dict (model, optimizer, counters, RNG states) atomically."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, map_location="cpu", resume: bool = False) -> dict:
    """Load a checkpoint, raising ``CheckpointError`` that names the file when it is bad (or, with
    ``resume``, when it lacks the optimizer and random states a resumed run needs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # noqa: BLE001 - truncated zips, pickles and garbage all land here
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise CheckpointError(f"{path}: not an FNAC workbook checkpoint (expected keys {list(REQUIRED_KEYS)})")
    missing = [key for key in RESUME_KEYS if key not in state] if resume else []
    if missing:
        raise CheckpointError(f"{path}: holds no {', '.join(missing)}: it can be evaluated, not resumed; "
                              "train into another run directory")
    return state


def checkpoint_config(saved: dict, path: Path) -> RunConfig:
    """The run configuration a checkpoint holds (``config.upgrade``d when an older version wrote it);
    a refused value names the checkpoint too."""
    try:
        return RunConfig.from_dict(upgrade(saved["config"]))
    except (ConfigError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{path}: holds a configuration this version refuses ({error})") from error


def load_into(target, state: dict, path: Path) -> None:
    """``target.load_state_dict(state)`` (a model or an optimizer), naming the checkpoint when it does not fit."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: its {type(target).__name__} state does not fit this run "
                              f"({' '.join(str(error).split())[:300]})") from error


RUN_LOCK = ".training.lock"  # held by the process training into a run directory


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse, before any work, a run directory that cannot hold this run: a file, a finished or
    partial run without ``resume``, no ``last.pt`` with ``resume``, or a folder that cannot be created."""
    run_dir = Path(run_dir)
    last = run_dir / "last.pt"
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: the run directory is a file; choose another --run-dir")
    if resume and not last.is_file():
        raise CheckpointError(f"{last}: no such checkpoint to resume; drop --resume to start this run afresh")
    if not resume and last.exists():
        raise CheckpointError(f"{last} exists: pass --resume (resume=True) to continue that run, "
                              "or choose another run directory")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"{run_dir}: cannot create the run directory ({error.strerror or error})") from error


def lock_run_dir(run_dir: Path):
    """A context holding ``run_dir``'s training lock: a second process training into the same
    directory at the same time would interleave two runs' checkpoints, so it is refused."""
    busy = CheckpointError(f"{run_dir}: another process is training into this run directory; wait for it to "
                           "finish or choose another run directory")
    return hold_lock(Path(run_dir) / RUN_LOCK, busy)
