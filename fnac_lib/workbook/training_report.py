"""Training runs side by side (notebook 03): train each method once, then its curves and summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..config import RunConfig, apply_overrides
from ..losses import LossWeights
from ..runs import train_or_load
from ..step import LOGGED_TERMS
from ..training import selection_score
from .labels import method_label


def loss_curves(metrics: dict[str, dict], terms=LOGGED_TERMS, warmup_epochs: int | None = None,
                batch_size: int | None = None) -> Figure:
    """One panel per logged loss term (``loss`` is the optimised total), one line per run.

    ``metrics`` maps run names to ``runs.read_metrics`` dicts. Every run logs every term, so the
    FNAC terms of EZ-VSL are measured but not optimised; a dotted line marks the end of warm-up,
    and with ``batch_size`` a dashed line the base loss at chance, 2 ln B (both InfoNCE directions).
    """
    fig = Figure(figsize=(3.2 * len(terms), 3.0), layout="constrained")
    axes = fig.subplots(1, len(terms), squeeze=False)[0]
    for ax, term in zip(axes, terms):
        for name, run in metrics.items():
            steps = [entry["step"] for entry in run["history"]]
            ax.plot(steps, [entry[term] for entry in run["history"]], label=method_label(name), lw=1.2)
        if warmup_epochs:
            boundary = _first_step_of_epoch(next(iter(metrics.values()))["history"], warmup_epochs)
            if boundary is not None:
                ax.axvline(boundary, color="grey", ls=":", lw=1)
        if batch_size and term == "base":
            ax.axhline(2 * np.log(batch_size), color="grey", ls="--", lw=1)
        ax.set_title("total loss" if term == "loss" else term)
        ax.set_xlabel("step")
    axes[-1].legend(fontsize="small")
    return fig


def _first_step_of_epoch(history: list[dict], epoch: int) -> int | None:
    """The step where ``epoch`` starts: the last logged step of the epoch before it."""
    before = [entry["step"] for entry in history if entry["epoch"] < epoch]
    return max(before) if before and any(entry["epoch"] >= epoch for entry in history) else None


def train_methods(base: RunConfig, methods, run_root, progress: bool = True) -> dict[str, dict]:
    """``runs.train_or_load`` one run per method into ``run_root/<method>``, everything else equal
    (seed, data, initial weights): the metrics of each run by method."""
    metrics = {}
    for method in methods:
        _, _, metrics[method] = train_or_load(apply_overrides(base, {"train.method": method}),
                                              Path(run_root) / method, progress=progress)
    return metrics


def describe_method(config: RunConfig) -> str:
    """One line: which loss terms a run optimises, and from when."""
    train = config.train
    weights = LossWeights.for_method(train.method, train.term_weight, train.warmup_epochs)
    terms = [f"{w:g} x {name}" for name in ("fns_audio", "fns_visual", "tne") if (w := getattr(weights, name))]
    if not terms:
        return "base (EZ-VSL InfoNCE) only"
    return f"base, then base + {' + '.join(terms)} from epoch {weights.warmup_epochs + 1}"


def validation_curves(metrics: dict[str, dict], keys=("cIoU", "AUC")) -> Figure:
    """Validation scores (percent) after every epoch, one panel per score, one line per run."""
    fig = Figure(figsize=(4.0 * len(keys), 3.0), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for name, run in metrics.items():
            epochs = [entry["epoch"] + 1 for entry in run["validation"]]
            ax.plot(epochs, [100 * entry[key] for entry in run["validation"]], marker="o", ms=3,
                    label=method_label(name))
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))  # from 0, so a flat 0 reads as 0, not as noise
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"validation {key} (%)")
        ax.set_xlabel("epoch")
    axes[-1].legend(fontsize="small")
    return fig


def final_validation(metrics: dict[str, dict]) -> dict[str, dict]:
    """Per run: the last epoch's validation scores and the best epoch's (the kept checkpoint)."""
    result = {}
    for name, run in metrics.items():
        validation = run["validation"]
        if not validation:
            raise ValueError(f"run {name!r} has no validation scores (trained without a validation set)")
        best = max(validation, key=selection_score)  # as the trainer keeps best.pt
        result[name] = {"final": dict(validation[-1]), "best": dict(best), "steps": run["global_step"]}
    return result
