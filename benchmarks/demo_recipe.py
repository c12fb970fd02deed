"""Variants of a CPU preset, trained and scored side by side (README, "The learning rate" and "The length of the runs").

    python benchmarks/demo_recipe.py runs/recipe --variant lr1e-3 train.lr=1e-3 \
        --variant lr3e-3 train.lr=3e-3 --variant fnac-lr3e-3 train.method=fnac train.lr=3e-3

Each ``--variant NAME section.field=value ...`` is the preset (``cpu-demo`` by default, EZ-VSL
unless a variant names another method; ``--set`` overrides it for every variant) with those
overrides, trained into ``ROOT/NAME`` (a run
already there is loaded, not retrained). Runs of one seed share their frozen trunk's training
features (``shared_features.TrainingFeatures``: the same numbers, each run after the first in about
60% of the time), and a FNAC variant that differs from an earlier EZ-VSL variant only in the method
starts from that run's checkpoint at the end of its warm-up (``fnac_lib.warmup``). Every run is then
scored on the heard objects test (pointing game, AUC) and on three listening tests: held-out pictures
and recordings (``objects-listening``), the same pictures and layouts heard through the training
recordings (``objects-pictures-listening``: new pictures alone) and the training pictures and
recordings (validation scenes: how far a run listens to what it has seen, beside how far it carries
that over to new pictures and new recordings), and where each listening test's maxima fell
(``workbook.listening``: on the object heard, beside it, on the other sounding object...).
Variants of another image size, rate or clip length are scored on the same scenes built for their
inputs. The tables are printed and written to ``ROOT/scores.json`` and ``ROOT/listening.json``.
One seed per variant: two variants whose scores differ by less than the seed-to-seed spread the
study measures (README, "How far one seed moves") are not told apart.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fnac_lib.cli_options import parse_overrides
from fnac_lib.config import apply_overrides, preset
from fnac_lib.data.test_sets import config_inputs, default_test_set, default_test_sets
from fnac_lib.runs import train_or_load
from fnac_lib.scoring import evaluate_runs, summary_from_rows
from fnac_lib.shared_features import TrainingFeatures
from fnac_lib.warmup import Fork
from fnac_lib.workbook.listening import listening_table, places_markdown

SCORES = (("objects-heard", "pointing_game"), ("objects-heard", "AUC"), ("objects-listening", "listening"),
          ("objects-pictures-listening", "listening"), ("objects-val-listening", "listening"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="one run directory per variant goes here")
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--set", nargs="+", default=[], metavar="OVERRIDE", dest="common",
                        help="section.field=value overrides of the preset for every variant")
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "OVERRIDE"),
                        help="a name, then section.field=value overrides of the preset")
    parser.add_argument("--test-length", type=int, default=None, help="scenes per test set (default: the preset's)")
    args = parser.parse_args()

    base = apply_overrides(preset(args.preset, **{"train.method": "ezvsl"}), parse_overrides(args.common))
    shared = TrainingFeatures()
    configs = {name: apply_overrides(base, parse_overrides(pairs)) for name, *pairs in args.variant}
    runs = {name: args.root / name for name in configs}
    for number, name in enumerate(configs, 1):  # a later FNAC variant of an EZ-VSL one starts from its warm-up
        forks = [Fork(configs[later], runs[later]) for later in list(configs)[number:]]
        train_or_load(configs[name], runs[name], progress=True, shared=shared, forks=forks)
    # the heard objects test and the three listening tests (objects-listening, -pictures-, -val-), built once
    # for each image size, rate and clip length among the variants (the same scenes at each)
    rows, misses = [], {}  # misses: {listening test: {variant: where its maxima fell}} (workbook.listening)
    for inputs in dict.fromkeys(config_inputs(config) for config in configs.values()):
        group = {name: runs[name] for name, config in configs.items() if config_inputs(config) == inputs}
        config = configs[next(iter(group))]
        sets = [default_test_set(config, "objects", "single", args.test_length, "heard"),
                *default_test_sets(config, "objects", "listening", args.test_length)]
        found, predictions = evaluate_runs(group, sets, objectness=None, progress=True)
        rows += found
        for test, entries in listening_table(predictions, sets).items():
            misses.setdefault(test, {}).update(entries)
    summary = summary_from_rows(rows)  # {run: {test set: {metric: value}}}
    scores = {name: {f"{test} {metric}": summary[name][test][metric] for test, metric in SCORES} for name in runs}
    (args.root / "scores.json").write_text(json.dumps(scores, indent=1))
    width = max(len(f"{test} {metric}") for test, metric in SCORES) + 2
    print(f"{'variant':<20}" + "".join(f"{test + ' ' + metric:>{width}}" for test, metric in SCORES))
    for name, values in scores.items():
        print(f"{name:<20}" + "".join(f"{values[f'{test} {metric}']:>{width}.3f}" for test, metric in SCORES))
    (args.root / "listening.json").write_text(json.dumps(misses, indent=1))
    print("\nWhere each listening test's maxima fell, in percent of its renderings (notebook 04's breakdown):")
    print(places_markdown(misses))


if __name__ == "__main__":
    main()
