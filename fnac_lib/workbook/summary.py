"""Machine-readable summaries of a demo or a study: ``{method: {test_set: {metric: value}}}``.

Methods are the trained runs (their audio-visual maps) and the reference maps: ``random``,
``perfect``, ``largest-object`` and ``objectness`` (the visual-only map of the evaluation's
objectness network). Metrics are fractions in [0, 1]: ``cIoU`` (the share of samples with
cIoU >= 0.5), ``AUC`` and ``pointing_game`` on localisation test sets, ``listening`` on the
listening tests. A study writes the same shape with ``{mean, ci_low, ci_high}`` per metric.

Notebook 04 writes ``run_root/summary.json`` (``runs/demo/summary.json`` under ``make demo``); the
same file can be rebuilt from the rows 04 saves::

    python -m fnac_lib.workbook.summary runs/demo/figures/04_benchmark_evaluation.json runs/demo/summary.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..files import write_json
from .scoring import LARGEST_OBJECT, LISTENING, PERFECT_MAP, RANDOM_MAP

SUMMARY_METRICS = ("cIoU", "AUC", "pointing_game", LISTENING)
REFERENCE_NAMES = {RANDOM_MAP: "random", PERFECT_MAP: "perfect", LARGEST_OBJECT: "largest-object"}
OBJECTNESS = "objectness"


def summary_from_rows(rows: list[dict]) -> dict:
    """``{method: {test_set: {metric: value}}}`` from ``scoring`` rows (notebook 04).

    A run is keyed by its run name (the method, in the notebooks' ``run_root/<method>`` layout)
    and scored by its AV map; the reference maps by their short names. The objectness map comes
    from a frozen network (ImageNet weights, or a frozen run trunk), so it is the same for every
    run and reported once, as ``objectness``; runs whose objectness maps differ (trunks that were
    trained) are reported as ``objectness (<run>)``.
    """
    summary: dict = {}
    objectness: dict[str, dict] = {}
    for row in rows:
        if row["metric"] not in SUMMARY_METRICS or row["protocol"] not in ("localization", LISTENING):
            continue
        if row["map"] == "av":
            method = REFERENCE_NAMES.get(row["run"], row["run"])
            summary.setdefault(method, {}).setdefault(row["test_set"], {})[row["metric"]] = row["value"]
        elif row["map"] == "obj":
            objectness.setdefault(row["run"], {}).setdefault(row["test_set"], {})[row["metric"]] = row["value"]
    distinct = {json.dumps(scores, sort_keys=True) for scores in objectness.values()}
    if len(distinct) == 1:
        summary[OBJECTNESS] = next(iter(objectness.values()))
    else:
        summary.update({f"{OBJECTNESS} ({run})": scores for run, scores in objectness.items()})
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m fnac_lib.workbook.summary ROWS_JSON OUT_JSON``: notebook 04's rows to a summary."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    source, target = Path(args[0]), Path(args[1])
    try:
        rows = json.loads(source.read_text())["rows"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        print(f"{source}: not notebook 04's results ({error})", file=sys.stderr)
        return 1
    write_json(target, summary_from_rows(rows))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
