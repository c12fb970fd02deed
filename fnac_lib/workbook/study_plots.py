"""Figures of the multi-seed study (notebook 06): forest plots of means and paired differences."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .labels import method_label

REFERENCE_COLOURS = {"random": "0.55", "perfect": "0.2", "largest-object": "tab:brown"}
MISSING = {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan}  # a row a panel has no value for


def _label(key: str) -> str:
    """``fnac - ezvsl`` -> ``FNAC - EZ-VSL``; ``oracle (coarse labels)`` keeps its note."""
    parts = [p.strip() for p in key.split(" - ")]
    named = []
    for part in parts:
        base, _, note = part.partition(" (")
        named.append(method_label(base) + (f" ({note}" if note else ""))
    return " - ".join(named)


def _forest(ax, entries: list[tuple[str, dict]], colours: dict[str, str] | None = None) -> None:
    """One horizontal interval per entry, top to bottom: (label, {mean, ci_low, ci_high})."""
    for row, (label, value) in enumerate(entries):
        y = len(entries) - 1 - row
        colour = (colours or {}).get(label, "tab:blue")
        if not np.isfinite(value["mean"]):
            continue
        # a ratio's point estimate can sit just outside its percentile interval: never a negative bar
        below, above = max(value["mean"] - value["ci_low"], 0.0), max(value["ci_high"] - value["mean"], 0.0)
        ax.errorbar(value["mean"], y, xerr=[[below], [above]], fmt="o", color=colour, capsize=3, ms=5)
    ax.set_yticks(range(len(entries)), [label for label, _ in reversed(entries)], fontsize=8)


def difference_forest(differences: dict, metric: str, tests: list[str], title: str = "") -> Figure:
    """One panel per test set: each paired difference (method - EZ-VSL, seed by seed) with its
    95% interval; an interval clear of the dashed zero line is a difference the seeds and test
    scenes resolve."""
    fig = Figure(figsize=(3.6 * len(tests), 0.5 * max(len(differences), 2) + 1.2), layout="constrained")
    axes = fig.subplots(1, len(tests), squeeze=False)[0]
    for ax, test in zip(axes, tests):
        entries = [(_label(name), by_test.get(test, {}).get(metric, MISSING)) for name, by_test in differences.items()]
        _forest(ax, entries)
        ax.axvline(0.0, color="grey", ls="--", lw=1)
        ax.set_title(test, fontsize=9)
        ax.set_xlabel(f"difference in {metric}")
    fig.suptitle(title or f"paired differences in {metric} (mean and 95% interval over seeds and test scenes)",
                 fontsize=10)
    return fig


def method_forest(summary: dict, metric: str, tests: list[str], title: str = "") -> Figure:
    """One panel per test set: each method's mean with its 95% interval, beside the reference maps
    (random, perfect, largest object) in grey."""
    fig = Figure(figsize=(3.6 * len(tests), 0.4 * max(len(summary), 2) + 1.2), layout="constrained")
    axes = fig.subplots(1, len(tests), squeeze=False)[0]
    names = list(summary)
    for ax, test in zip(axes, tests):
        entries = [(_label(name), summary[name].get(test, {}).get(metric, MISSING)) for name in names]
        _forest(ax, entries, REFERENCE_COLOURS)
        ax.set_title(test, fontsize=9)
        ax.set_xlabel(metric)
        ax.set_xlim(-0.02, 1.02)
    fig.suptitle(title or f"{metric}: mean and 95% interval over seeds and test scenes", fontsize=10)
    return fig


def recovered_forest(recovered: dict, metric: str, tests: list[str]) -> Figure:
    """Share of the oracle's gain over EZ-VSL that FNAC recovers, per test set, with the half-way
    line the study's question asks about (an interval of a ratio: wide when the oracle gains little)."""
    fig = Figure(figsize=(5.5, 0.5 * max(len(tests) * len(recovered), 2) + 1.2), layout="constrained")
    ax = fig.subplots()
    entries = [(f"{test}: {_label(name.replace(' / ', ' - '))}", shares[test][metric])
               for name, shares in recovered.items() for test in tests if test in shares and metric in shares[test]]
    _forest(ax, entries)
    for x, style in ((0.0, "--"), (0.5, ":"), (1.0, "--")):
        ax.axvline(x, color="grey", ls=style, lw=1)
    ax.set_xlabel(f"share of the oracle's gain in {metric} that FNAC recovers")
    return fig
