"""Run directories: train a configuration once, then load it ("load if present, else train").

A finished run directory holds ``config.json``, ``metrics.json``, ``last.pt`` and, when it had
a validation set, ``best.pt``; ``evaluate`` adds ``test_metrics.json``. ``train_methods`` trains
one run per method side by side (``run_root/<method>``) and ``find_runs`` finds finished runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from .checkpoint import checkpoint_config, load_checkpoint, load_into
from .config import RunConfig, apply_overrides, check_resumable
from .losses import METHODS
from .data.default.scene_cache import remove_scene_cache
from .data.factory import DEFAULT_KINDS, make_dataset, make_validation_set, scene_cache_path
from .errors import CheckpointError
from .model import AVModel
from .shared_features import TrainingFeatures
from .training import train
from .warmup import Fork, source_first


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """``best.pt`` (falling back to ``last.pt`` for runs without validation), ``last.pt``, or a file."""
    run_dir = Path(run_dir)
    if which == "best":
        best = run_dir / "best.pt"
        return best if best.exists() else run_dir / "last.pt"
    if which == "last":
        return run_dir / "last.pt"
    return Path(which)


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[AVModel, RunConfig]:
    """The model and configuration stored in a checkpoint, ready for evaluation."""
    saved = load_checkpoint(path)
    config = checkpoint_config(saved, path)
    # The weights come from the checkpoint: never reach for ImageNet files here.
    model = AVModel(replace(config.model, imagenet_weights=None), config.audio)
    load_into(model, saved["model"], path)
    return model.to(device).eval(), config


def is_finished(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a run that reached its last epoch."""
    last = Path(run_dir) / "last.pt"
    if not last.exists():
        return False
    saved = load_checkpoint(last)
    return saved["epoch"] >= checkpoint_config(saved, last).train.epochs


def train_or_load(config: RunConfig, run_dir: Path, progress: bool = True,
                  shared: TrainingFeatures | None = None, forks: list[Fork] = ()) -> tuple[AVModel, RunConfig, dict]:
    """Load the finished run in ``run_dir``; otherwise train it (resuming a partial one), reading
    the frozen-trunk features of earlier runs of the same seed from ``shared``; an EZ-VSL run writes
    the first checkpoint of those ``forks`` that share its warm-up (``warmup``).

    A finished run of another configuration (``config.check_resumable``: how it ran may differ,
    not what it computed) is refused rather than loaded in place of the one asked for.
    Returns the best model, its configuration and the run's metrics history.
    """
    run_dir = Path(run_dir)
    say = print if progress else (lambda *args: None)
    if is_finished(run_dir):
        if (run_dir / "config.json").is_file():
            check_resumable(RunConfig.load(run_dir / "config.json"), config, run_dir / "config.json")
        say(f"{config.train.method}: loaded the finished run in {run_dir}")
    else:
        train_set = make_dataset(config, "train")
        val_set = make_validation_set(config)
        resume = (run_dir / "last.pt").exists()
        train_config = config.train
        say(f"{train_config.method}: {'resuming' if resume else 'training'} in {run_dir}, {train_config.epochs} epochs "
            f"of {len(train_set) // train_config.batch_size} steps (batch {train_config.batch_size})"
            + (warmup_note(run_dir, train_config.warmup_epochs) if resume else ""))
        train(config, run_dir, train_set, val_set, resume=resume, progress=progress, shared=shared, forks=forks)
    model, saved_config = load_model(checkpoint_path(run_dir, "best"))
    return model, saved_config, read_metrics(run_dir)


def train_methods(base: RunConfig, methods, run_root, progress: bool = True) -> dict[str, dict]:
    """``train_or_load`` one run per method into ``run_root/<method>``, everything else equal
    (seed, data, initial weights): the metrics of each run by method.

    With ``data.cache_dir`` set on the default data, the methods read one scene cache
    (``data.default.scene_cache``: the very scenes each would render), deleted after the last run.
    A frozen visual trunk computes each batch's features once for all of them (``TrainingFeatures``).
    EZ-VSL trains first, and FNAC starts from the end of its warm-up (``warmup``: the same steps).
    """
    run_root = Path(run_root)
    configs = {method: apply_overrides(base, {"train.method": method}) for method in methods}
    untrained = [method for method in methods if not is_finished(run_root / method)]
    metrics, shared = {}, TrainingFeatures() if len(untrained) > 1 else None  # kept only for a later run
    for method in source_first(methods):
        forks = [Fork(configs[other], run_root / other) for other in untrained if other != method]
        _, _, metrics[method] = train_or_load(configs[method], run_root / method, progress=progress, shared=shared,
                                              forks=forks)
    if base.data.cache_dir is not None and base.data.dataset in DEFAULT_KINDS:
        remove_scene_cache(scene_cache_path(base))
    return {method: metrics[method] for method in methods}


def train_or_load_with(config: RunConfig, run_name: str, methods, run_root, progress: bool = True
                       ) -> tuple[AVModel, RunConfig, dict]:
    """``train_or_load`` the run ``run_root/run_name``; if it is one of ``methods`` (notebook 03's
    runs), all of them are trained first, together (``train_methods``), so that the runs of one
    seed compute a frozen trunk's features once whichever notebook trains them."""
    if run_name in methods:
        train_methods(config, methods, run_root, progress)
    return train_or_load(config, Path(run_root) / run_name, progress)


def find_runs(run_root) -> dict[str, Path]:
    """Finished run directories under ``run_root`` by name (path relative to it), methods in order."""
    run_root = Path(run_root)
    found = {}
    for config_file in sorted(run_root.rglob("config.json")):
        run_dir = config_file.parent
        if is_finished(run_dir):
            found[run_dir.relative_to(run_root).as_posix()] = run_dir
    order = {m: i for i, m in enumerate(METHODS)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0].split("/")[-1], len(order)), item[0])))


def warmup_note(run_dir: Path, warmup_epochs: int) -> str:
    """How a run that resumes came by its first epochs, when another run trained them (``warmup``)."""
    metrics_file = Path(run_dir) / "metrics.json"
    source = read_metrics(run_dir).get("warmup_from") if metrics_file.is_file() else None
    span = "epoch 1" if warmup_epochs == 1 else f"epochs 1-{warmup_epochs}"
    return f"; {span} (its warm-up) trained by {source}, the same steps" if source else ""


def read_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable run metrics ({error})") from error
