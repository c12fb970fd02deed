"""Notebook 06's conclusion: one paragraph per data set, read from the study's intervals.

Per data set it says whether removing the true false negatives (the oracle) changed EZ-VSL's
scores, whether FNAC did, and what FNAC's share of the oracle's gain is; where an interval holds
zero it gives both ends of the interval, which bound the effect either way. Nothing here is
typed about a particular run: every number comes from ``study.study_statistics``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..data.test_sets import TestSet
from ..statistics import excludes_zero
from .common import method_label
from .seed_noise import listed, points
from .study import difference_label, difference_of, interval_points, measures

ORACLE = "oracle"
FNAC = "fnac"
SHUFFLED = "fnac_shuffled"


def _interval(value: dict) -> str:
    """"+1.2 [-0.4, +2.8] points"."""
    return f"{interval_points(value)} points"


def effect(stats: dict, method: str, judged: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """How ``method`` - EZ-VSL came out on the ``judged`` measures, in a clause, and the measures
    on which it was told from zero (either way)."""
    diffs = [(test, metric, d) for test, metric in judged if (d := difference_of(stats, method, test, metric))]
    if not diffs:
        return "was not measured", []
    above = [(t, m, d) for t, m, d in diffs if d["ci_low"] > 0]
    below = [(t, m, d) for t, m, d in diffs if d["ci_high"] < 0]
    if above or below:
        said = []
        if above:
            said.append("raised " + listed([f"{t} {m} by {_interval(d)}" for t, m, d in above]))
        if below:
            said.append("lowered " + listed([f"{t} {m} by {_interval(d)}" for t, m, d in below]))
        rest = len(diffs) - len(above) - len(below)
        tail = f", and changed the other {rest} by no amount told from zero" if rest else ""
        return f"{' and '.join(said)}{tail}", [(t, m) for t, m, _ in above + below]
    bounds = listed([f"{points(d['ci_low'], True)} to {points(d['ci_high'], True)} points of {t} {m}"
                      for t, m, d in diffs])
    return (f"changed none of the {len(diffs)} measures by an amount told from zero: its 95% intervals run "
            f"from {bounds}, which bound the effect either way"), []


def conclusion(stats: dict, dataset: str, tests: list[TestSet], metrics) -> str:
    """The paragraph for one data set: the oracle's effect (what false negatives cost EZ-VSL),
    FNAC's, and FNAC's share of the oracle's gain where that gain is told from zero."""
    judged = measures(tests, metrics)
    oracle_said, oracle_found = effect(stats, ORACLE, judged)
    fnac_said, fnac_found = effect(stats, FNAC, judged)
    lines = [f"**{dataset}.** Removing the true false negatives from EZ-VSL's loss (the oracle) {oracle_said}.",
             f"{method_label(FNAC)}, against EZ-VSL, {fnac_said}."]
    gains = [(t, m) for t, m in oracle_found if difference_of(stats, ORACLE, t, m)["ci_low"] > 0]
    shares = stats["recovered"].get(f"{FNAC} / {ORACLE}", {})
    if gains:
        said = []
        for test, metric in gains:
            share = shares.get(test, {}).get(metric)
            if share is not None:
                bounds = (f"[{share['ci_low']:.2f}, {share['ci_high']:.2f}]" if share["bounded"]
                          else "(interval unbounded)")
                said.append(f"{share['mean']:.2f} {bounds} on {test} {metric} (more than half? {share['exceeds']})")
        if said:
            lines.append(f"Of the oracle's gain, FNAC recovers {listed(said)}.")
    elif oracle_found:
        lines.append("The oracle gained nothing told from zero, so there is no gain for FNAC to take a share of.")
    else:
        lines.append("With no oracle gain told from zero, FNAC's share of it has no bounded interval: "
                     "these runs measure no cost of false negatives for a method to recover.")
    lines += _unexplained(stats, fnac_found)
    return " ".join(lines)


def _unexplained(stats: dict, fnac_found: list[tuple[str, str]]) -> list[str]:
    """A sentence for each FNAC gain the oracle does not match with a gain of its own: removing the
    true false negatives gained no amount told from zero there, so the runs do not tie FNAC's gain
    to false negatives; shuffled FNAC (the same terms, random adjacency) says what the terms alone did."""
    said = []
    for test, metric in fnac_found:
        fnac, oracle = difference_of(stats, FNAC, test, metric), difference_of(stats, ORACLE, test, metric)
        if fnac["ci_low"] <= 0 or oracle is None or oracle["ci_low"] > 0:
            continue
        sentence = (f"On {test} {metric} the oracle, which removes the true false negatives, gained no amount told "
                    f"from zero ({_interval(oracle)}), so these runs do not tie FNAC's gain there to false negatives")
        shuffled = difference_of(stats, SHUFFLED, test, metric)
        if shuffled is not None:
            sentence += (f"; FNAC with its adjacency matrices permuted (the control: the same terms without their "
                         f"information) changed it by {_interval(shuffled)}")
        said.append(sentence + ".")
    return said


def conclusions(stats: dict, sets: dict[str, list[TestSet]], metrics) -> list[str]:
    """``conclusion`` for every data set of the study, in the order of ``sets``."""
    return [conclusion(stats, dataset, tests, metrics) for dataset, tests in sets.items()]


def replication(first: dict, second: dict, metrics=("AUC", "pointing_game", "listening"),
                names: tuple[str, str] = ("the first run", "the replication")) -> list[str]:
    """Two runs of a study (their ``differences.json`` "differences") read side by side: every paired
    difference told from zero in either, and whether the other run finds it too (told from zero with
    the same sign); then how many each run told from zero. A finding of one run is a lead until the
    other finds it too."""
    said, counts, both = [], [0, 0], 0
    shared = [(name, test, metric) for name, by_test in first.items() for test, values in by_test.items()
              for metric in values if metric in metrics and metric in second.get(name, {}).get(test, {})]
    for name, test, metric in shared:
        pair = (first[name][test][metric], second[name][test][metric])
        told = [excludes_zero(value) for value in pair]
        counts = [count + int(t) for count, t in zip(counts, told)]
        if not any(told):
            continue
        label = (f"{difference_label(name)}, {test} {metric}: {_interval(pair[0])} in {names[0]}, "
                 f"{_interval(pair[1])} in {names[1]}")
        same_sign = (pair[0]["mean"] > 0) == (pair[1]["mean"] > 0)
        if all(told) and same_sign:
            both += 1
            said.append(f"{label}: found in both")
        elif all(told):
            said.append(f"{label}: found in both with opposite signs")
        else:
            said.append(f"{label}: found in {names[0] if told[0] else names[1]} alone, not replicated")
    said.append(f"Of {len(shared)} paired differences, {names[0]} told {counts[0]} from zero, {names[1]} "
                f"{counts[1]}, and {both} were found in both with the same sign.")
    return said


def main(argv: list[str] | None = None) -> None:
    """``python -m fnac_lib.workbook.study_conclusion FIRST/differences.json SECOND/differences.json``:
    the ``replication`` reading of two runs of a study (``make study`` and ``make study SEED_OFFSET=5``)."""
    paths = sys.argv[1:] if argv is None else argv
    if len(paths) != 2:
        raise SystemExit("usage: python -m fnac_lib.workbook.study_conclusion FIRST/differences.json "
                         "SECOND/differences.json")
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(Path(path).read_text())["differences"])
        except (OSError, ValueError, KeyError) as error:
            raise SystemExit(f"{path}: not a study's differences.json ({error!r})") from None
    first, second = runs
    print("\n".join(f"* {line}" for line in replication(first, second)))


if __name__ == "__main__":
    main()
