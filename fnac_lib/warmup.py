"""Runs that share their warm-up with the EZ-VSL run of the same seed.

FNAC (and each FNAC term trained alone) trains on EZ-VSL's loss alone for its first
``train.warmup_epochs``: ``losses.total_loss`` returns the base loss, and the FNAC terms, computed
for the log by every method, draw nothing from the random generators. With everything else equal
(seed, data, initial weights, batches, augmentation) such a run's warm-up *is* the EZ-VSL run's
first epochs, step for step. So the EZ-VSL run, at the end of its warm-up, writes each of them a
checkpoint of its own state under their configuration (``write_fork``), and they train only the
epochs after it, resuming from that checkpoint as a killed run resumes: on the CPU the same
weights, bit for bit, as training from the first step (``tests/test_warmup_fork.py``).

Not forked: the oracle (another base loss from the first step) and shuffled-adjacency FNAC (its
warm-up draws a permutation from the run's generator at every step, so the later permutations
would differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checkpoint import load_checkpoint, save_checkpoint
from .config import RunConfig
from .files import write_json
from .losses import OBJECTIVES


SOURCE = "ezvsl"  # the method whose warm-up the others share: it trains first and writes their checkpoints


def source_first(methods) -> list[str]:
    """``methods`` in training order: EZ-VSL first (it writes the others' forks), the others as given."""
    return sorted(methods, key=lambda method: method != SOURCE)


@dataclass(frozen=True)
class Fork:
    """A run that starts from the end of another run's warm-up."""

    config: RunConfig
    run_dir: Path


def shares_warmup(baseline: RunConfig, run: RunConfig) -> bool:
    """True when ``run``'s warm-up is the first ``train.warmup_epochs`` of ``baseline`` step for
    step: ``baseline`` trains EZ-VSL, ``run`` a method with a warm-up on the same base loss and
    adjacency read from the features, and every other setting is the same."""
    objective, train = OBJECTIVES[run.train.method], run.train
    if baseline.train.method != SOURCE or not objective.warmup or objective.base != "infonce":
        return False
    if objective.adjacency != "features" or not 1 <= train.warmup_epochs <= train.epochs:
        return False
    values, baseline_values = run.to_dict(), baseline.to_dict()
    values["train"].pop("method"), baseline_values["train"].pop("method")
    return values == baseline_values


def forks_of(baseline: RunConfig, candidates: list[Fork]) -> list[Fork]:
    """The candidates that share ``baseline``'s warm-up and have no checkpoint of their own yet."""
    return [fork for fork in candidates
            if shares_warmup(baseline, fork.config) and not (Path(fork.run_dir) / "last.pt").exists()]


def write_fork(fork: Fork, checkpoint: dict, metrics: dict, best: Path | None, source: Path) -> bool:
    """Write ``fork``'s run directory from the warm-up's ``checkpoint`` state and ``metrics``
    (``Trainer.checkpoint_state``, ``metrics.json``) and ``best``, the source's ``best.pt`` so far,
    each under the fork's configuration; False (nothing written) when the fork has a ``last.pt``.
    ``last.pt`` comes last: a fork cut short leaves none, and its run then trains from the start."""
    run_dir = Path(fork.run_dir)
    if (run_dir / "last.pt").exists():
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    config, origin = fork.config.to_dict(), {"warmup_from": str(source)}
    fork.config.save(run_dir / "config.json")
    if best is not None and best.is_file():
        save_checkpoint(run_dir / "best.pt", {**load_checkpoint(best), "config": config, **origin})
    write_json(run_dir / "metrics.json", {**metrics, "method": fork.config.train.method, **origin})
    save_checkpoint(run_dir / "last.pt", {**checkpoint, "config": config, **origin})
    return True
