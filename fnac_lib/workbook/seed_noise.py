"""How far a difference between two runs moves from seed to seed, and the verdict read against it.

One seed's score is not a constant: CPU kernels differ between processors, and the same seed of
``make demo`` on two machines moved a listening rate by several points and turned which method led.
So a notebook calls a difference between two methods a *lead* only where it exceeds the spread that
difference shows over seeds, and otherwise says "within seed noise", citing that spread.

``SEED_SPREAD`` is that spread, defined here once for every notebook's reading: per metric, the
standard deviation over seeds of a paired difference (method minus baseline, both trained with the
same seed and scored on the same test scenes), as a fraction, as ``make study`` measured it
(notebook 06 reports it per metric); ``SPREAD_SOURCE`` names the measurement in every sentence that
cites it. ``study_spread`` computes the table
from a study's ``differences.json``; run this module on that file to print it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Seed-to-seed standard deviation of a paired difference, per metric (fractions of 1): the values
# ``python -m fnac_lib.workbook.seed_noise runs/study/differences.json`` prints after ``make study``.
SEED_SPREAD: dict[str, float] = {
    "cIoU": 0.0438,
    "AUC": 0.0211,
    "pointing_game": 0.0907,
    "listening": 0.0837,
}
SPREAD_SOURCE = ("measured by `make study`: FNAC - EZ-VSL over 5 seeds, the largest over its test sets; "
                 "the README's \"The study\"")

METRIC_NAMES = {"cIoU": "cIoU", "AUC": "AUC", "mean_cIoU": "mean cIoU", "pointing_game": "pointing game",
                "listening": "listening rate", "AP": "AP", "max_F1": "max-F1", "mIoU": "mIoU", "F_score": "F-score"}
WITHIN = "within seed noise"


def metric_name(metric: str) -> str:
    """``pointing_game`` -> ``pointing game``: a metric as a sentence names it."""
    return METRIC_NAMES.get(metric, metric)


def points(fraction: float, signed: bool = False) -> str:
    """A fraction in percentage points with one decimal: ``0.075`` -> ``7.5`` (``+7.5`` when ``signed``)."""
    value = round(100 * fraction, 1) + 0.0  # + 0.0: a difference that rounds to zero prints +0.0, never -0.0
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def span(values, signed: bool = False) -> str:
    """Fractions as a range in points, ``51.8 to 59.2``, or one number where they agree."""
    low, high = points(min(values), signed), points(max(values), signed)
    return low if low == high else f"{low} to {high}"


def listed(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def spread(metric: str) -> float | None:
    """The seed-to-seed spread of a paired difference in ``metric`` (a fraction); None where none is known."""
    return SEED_SPREAD.get(metric)


def is_lead(difference: float, metric: str) -> bool:
    """Whether ``difference`` (a fraction) exceeds ``metric``'s seed spread at the precision a reading
    prints (0.1 points: a gap shown as 4.0 against a spread of 4.0 does not exceed it); never without
    a known spread."""
    known = spread(metric)
    return known is not None and round(100 * abs(difference), 1) > round(100 * known, 1)


def verdict(difference: float, metric: str, method: str, baseline: str) -> str:
    """``FNAC leads``, ``EZ-VSL leads`` or ``within seed noise`` for ``difference`` = method - baseline."""
    if spread(metric) is None:
        return f"no seed spread known for {metric_name(metric)}"
    if not is_lead(difference, metric):
        return WITHIN
    return f"{method} leads" if difference > 0 else f"{baseline} leads"


def gap_phrase(difference: float, metric: str, method: str, baseline: str) -> str:
    """A difference (method - baseline) in words: ``FNAC leads by 7.5 points, beyond the seed spread
    of 4.0`` or ``+0.3 points, within seed noise (spread 1.5)``."""
    known = spread(metric)
    if known is None:
        return f"{points(difference, True)} points (no seed spread known for {metric_name(metric)})"
    if not is_lead(difference, metric):
        return f"{points(difference, True)} points, {WITHIN} (spread {points(known)})"
    leader = method if difference > 0 else baseline
    return f"{leader} leads by {points(abs(difference))} points, beyond the seed spread of {points(known)}"


def spread_note(metrics=tuple(SEED_SPREAD)) -> str:
    """The sentence every reading ends with: which spreads it used, and where they come from."""
    listed = ", ".join(f"{metric_name(m)} {points(SEED_SPREAD[m])}" for m in metrics if m in SEED_SPREAD)
    return (f"A difference between methods is called a lead only where it exceeds the seed-to-seed spread of a "
            f"paired difference (standard deviation over seeds, in points: {listed}; {SPREAD_SOURCE}).")


def study_spread(differences: dict, comparison: str = "fnac - ezvsl") -> dict[str, float]:
    """``SEED_SPREAD`` from a study's ``differences.json``: per metric, the largest seed-to-seed
    standard deviation of ``comparison`` over the test sets that measure it (the largest, so that a
    lead is called only beyond the noisiest test set's spread)."""
    found: dict[str, float] = {}
    for by_metric in differences["spread"][comparison].values():
        for metric, sd in by_metric.items():
            found[metric] = max(found.get(metric, 0.0), float(sd))
    return {metric: round(sd, 4) for metric, sd in found.items()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fnac_lib.workbook.seed_noise runs/study/differences.json")
    print(study_spread(json.loads(Path(sys.argv[1]).read_text())))
