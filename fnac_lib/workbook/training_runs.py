"""Notebook 03: training runs side by side (``runs.train_methods`` trains them), their loss and
validation curves, and the table of what each run kept."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..config import RunConfig
from ..losses import OBJECTIVES
from ..step import LOGGED_TERMS
from ..training import selection_score
from .common import (MAX_WIDTH, colours, draw_runs, identical_note, legible, markdown_table, method_label, percent,
                     run_handles)
from .published import published_gaps
from .seed_noise import gap_phrase, listed, metric_name, spread, spread_note

TERM_TITLES = {"loss": "total loss (what each run optimises)", "base": "base: EZ-VSL InfoNCE",
               "fns_audio": "FNS-audio term", "fns_visual": "FNS-visual term", "tne": "TNE term"}


@legible
def loss_curves(metrics: dict[str, dict], terms=LOGGED_TERMS, warmup_epochs: int | None = None,
                batch_size: int | None = None, ncols: int = 3) -> Figure:
    """One panel per logged loss term (``loss`` is the optimised total), one line per run, the
    legend in the last cell of the grid.

    ``metrics`` maps run names to ``runs.read_metrics`` dicts. Every run logs every term, so the
    FNAC terms of EZ-VSL are measured but not optimised; a dotted line marks the end of warm-up,
    and with ``batch_size`` a dashed line the base loss at chance, 2 ln B (both InfoNCE directions).
    Runs whose curves coincide are drawn nested; identical ones are named under the panel.
    """
    nrows = -(-(len(terms) + 1) // ncols)
    fig = Figure(figsize=(MAX_WIDTH, 3.1 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    names = [method_label(name) for name in metrics]
    colour_of = colours(names)
    marks = []
    for ax, term in zip(axes, terms):
        steps = {method_label(name): [entry["step"] for entry in run["history"]] for name, run in metrics.items()}
        values = {method_label(name): [entry[term] for entry in run["history"]] for name, run in metrics.items()}
        note = identical_note(draw_runs(ax, steps, values, colour_of))
        if warmup_epochs:
            boundary = _first_step_of_epoch(next(iter(metrics.values()))["history"], warmup_epochs)
            if boundary is not None:
                marks.append(ax.axvline(boundary, color="grey", ls=":", lw=1.2, label="end of warm-up"))
        if batch_size and term == "base":
            marks.append(ax.axhline(2 * np.log(batch_size), color="grey", ls="--", lw=1.2,
                                    label=f"chance, 2 ln {batch_size}"))
        ax.set_title(TERM_TITLES.get(term, term))
        ax.set(xlabel="training step" + (f"\n{note}" if note else ""), ylabel="loss")
    _legend_cell(fig, axes[len(terms):], run_handles(names, colour_of) + list({m.get_label(): m for m in marks}.values()),
                 "runs (mean loss of each logged window)")
    return fig


def _legend_cell(fig, spare, handles, title: str) -> None:
    """Put one legend for every panel in the first spare cell of the grid; drop the other cells."""
    spare[0].axis("off")
    spare[0].legend(handles=handles, loc="center", frameon=False, title=title)
    for ax in spare[1:]:
        fig.delaxes(ax)


def _first_step_of_epoch(history: list[dict], epoch: int) -> int | None:
    """The step where ``epoch`` starts: the last logged step of the epoch before it."""
    before = [entry["step"] for entry in history if entry["epoch"] < epoch]
    return max(before) if before and any(entry["epoch"] >= epoch for entry in history) else None


def describe_method(config: RunConfig) -> str:
    """One line: which loss terms a run optimises, and from when."""
    train = config.train
    objective = OBJECTIVES[train.method]
    base = "base (EZ-VSL InfoNCE)" if objective.base == "infonce" else "base without same-class negatives (oracle)"
    terms = [f"{train.term_weight:g} x {name}" for name in objective.terms] if train.term_weight else []
    shuffled = " (adjacency shuffled)" if objective.adjacency == "shuffled" else ""
    if not terms:
        return f"{base} only"
    start = f" from epoch {train.warmup_epochs + 1}" if objective.warmup else ""
    return f"base, then base + {' + '.join(terms)}{shuffled}{start}" if objective.warmup else \
        f"{base} + {' + '.join(terms)}{shuffled}"


@legible
def validation_curves(metrics: dict[str, dict], keys=("cIoU", "AUC")) -> Figure:
    """Validation scores (percent) after every epoch, one panel per score, one line per run;
    coinciding runs are drawn nested and identical ones said to be."""
    fig = Figure(figsize=(MAX_WIDTH, 3.6), layout="constrained")
    axes = fig.subplots(1, len(keys) + 1, squeeze=False, width_ratios=[3] * len(keys) + [2])[0]
    names = [method_label(name) for name in metrics]
    colour_of = colours(names)
    for ax, key in zip(axes, keys):
        epochs = {method_label(name): [entry["epoch"] + 1 for entry in run["validation"]] for name, run in metrics.items()}
        values = {method_label(name): [100 * entry[key] for entry in run["validation"]] for name, run in metrics.items()}
        note = identical_note(draw_runs(ax, epochs, values, colour_of, marker="o", ms=4))
        top = max(1.0, ax.get_ylim()[1])
        ax.set_ylim(-0.03 * top, top)  # from 0, so a flat 0 reads as 0 (and shows above the axis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=f"validation {key}", xlabel="epoch" + (f"\n{note}" if note else ""), ylabel=f"{key} (%)")
    _legend_cell(fig, axes[len(keys):], run_handles(names, colour_of), "runs")
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


def validation_markdown(final: dict[str, dict]) -> str:
    """``final_validation`` as a table in percent: the last epoch and the kept (best) epoch."""
    body = [[method_label(name), scores["steps"], percent(scores["final"]["cIoU"]), percent(scores["final"]["AUC"]),
             scores["best"]["epoch"] + 1, percent(scores["best"]["cIoU"]), percent(scores["best"]["AUC"])]
            for name, scores in final.items()]
    header = ["run", "steps", "final cIoU", "final AUC", "kept epoch", "kept cIoU", "kept AUC"]
    return markdown_table(header, body)


# ---------------------------------------------------------------------------------------------
# The reading: what the curves and the table say about these runs, computed from their numbers.

LEARNED = 0.1  # a base loss this far below chance (2 ln B, nats) says a run tells clips apart
VALIDATION_METRICS = ("cIoU", "AUC", "pointing_game")


def reading(metrics: dict[str, dict], final: dict[str, dict], batch_size: int, baseline: str = "ezvsl") -> str:
    """Notebook 03's reading, computed from the runs' numbers: where each run's last logged base
    loss sits against chance (2 ln B), then every other run's kept validation scores against
    ``baseline``'s, each difference a lead only beyond the seed spread (``seed_noise``), and the
    published gap beside it."""
    chance = 2 * np.log(batch_size)
    base = {name: run["history"][-1]["base"] for name, run in metrics.items() if run["history"]}
    learned = [method_label(name) for name, loss in base.items() if loss < chance - LEARNED]
    waiting = [method_label(name) for name in base if method_label(name) not in learned]
    lines = [f"**Base loss at the end** (last logged window) against chance, 2 ln {batch_size} = {chance:.2f}: "
             + listed([f"{method_label(name)} {loss:.2f}" for name, loss in base.items()]) + ". "
             + (f"{listed(learned)} fell below it: {'they tell' if len(learned) > 1 else 'it tells'} matching clips "
                "from the others." if learned else "") + (" " if learned and waiting else "")
             + (f"{listed(waiting)} did not: {'their' if len(waiting) > 1 else 'its'} validation scores do not come "
                "from audio-visual correspondence yet; train longer (`train.epochs`) before comparing." if waiting else "")]
    if baseline in final:
        for name, scores in final.items():
            if name == baseline:
                continue
            kept = [metric for metric in VALIDATION_METRICS if metric in scores["best"]]
            gaps = [f"{metric_name(metric)} " + gap_phrase(scores["best"][metric] - final[baseline]["best"][metric],
                                                           metric, method_label(name), method_label(baseline))
                    for metric in kept if metric in final[baseline]["best"]]
            lines.append(f"**{method_label(name)} - {method_label(baseline)}**, kept checkpoints on the validation "
                         f"scenes: " + "; ".join(gaps) + ".")
        published = [line["gap"] for line in published_gaps(baseline, "fnac")] if "fnac" in final else []
        if published:
            small = max(map(abs, published)) < 100 * min(spread("cIoU"), spread("AUC"))
            lines.append(f"The published FNAC - EZ-VSL gaps are {min(published):+.2f} to {max(published):+.2f} points "
                         "(cIoU and AUC)" + (": smaller than the seed spread, so one seed cannot show a gain of that "
                                            "size" if small else "") + "; notebook 06 (`make study`) compares the "
                         "methods over seeds.")
    return "\n".join(f"* {line}" for line in lines) + f"\n\n{spread_note(VALIDATION_METRICS)}"
