"""Notebook 06, the multi-seed study: which runs it trains, how each is scored, and the tables,
figures and verdicts of its statistics (``fnac_lib.statistics``).

A *setting* is what a run trains on (``SETTINGS``): ``objects-fine`` (few same-class negatives per
batch) and ``objects-few`` (eight classes: many), and ``objects-coarse`` (the objects' scenes with
coarse labels) and ``digits``. Labels decide what counts as a false negative, not what the scenes
look like, and only the oracle reads them: EZ-VSL, FNAC and the shuffled control train one run per
seed that serves both label granularities of one data set, and the oracle trains once per
granularity. Every run of a seed starts from the same weights and sees the same scenes in the same
order, so two methods are compared seed by seed.

Each run is scored on its data's test sets (objects: heard, unheard and listening; objects-few and
digits: their test and its listening test) by its audio-visual map, sample by sample, so that the
intervals account for test scenes as well as seeds (``fnac_lib.statistics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import statistics
from ..config import RunConfig, apply_overrides
from ..data.default.scene_cache import remove_scene_cache
from ..data.factory import scene_cache_path
from ..data.test_sets import TestSet, default_test_set
from ..device import resolve_device
from ..evaluation import ScoredModel, eval_loader, predict_together
from ..progress import Progress
from ..runs import checkpoint_path, load_model, train_or_load
from ..scoring import LISTENING, REFERENCE_NAMES, reference_generator, reference_sample_scores
from ..shared_features import TrainingFeatures
from ..warmup import SOURCE, Fork
from .common import markdown_table, method_label
from .seed_noise import points

# setting -> (data.dataset, data.labels): objects with fine labels (few same-class negatives per batch),
# objects-few (eight classes with many pictures and recordings each: one negative in eight is a real
# false negative), and the coarse labels and digits of earlier versions of the study.
SETTINGS = {"objects-fine": ("objects", "fine"), "objects-few": ("objects-few", "fine"),
            "objects-coarse": ("objects", "coarse"), "digits": ("digits", "fine")}
LABEL_READERS = ("oracle",)  # methods whose training reads the labels (the others are blind to them)
BASELINE = "ezvsl"


@dataclass(frozen=True)
class StudyRun:
    """One training run of the study."""

    method: str  # a METHODS objective
    dataset: str  # "objects" or "digits"
    labels: str  # "fine" or "coarse": what the oracle counts as a false negative
    seed: int
    run_dir: Path

    @property
    def key(self) -> str:
        """The method as the study reports it: ``oracle (coarse labels)`` for the coarse oracle."""
        return f"{self.method} (coarse labels)" if self.labels == "coarse" else self.method


def plan_runs(settings, methods, seeds, run_root) -> list[StudyRun]:
    """The runs of a study, without duplicates: a label-blind method trains once per data set and
    seed, a label reader once per setting (``run_root/<dataset>/seed<k>/<method>[-coarse]``)."""
    planned: dict[Path, StudyRun] = {}
    for setting in settings:
        if setting not in SETTINGS:
            raise ValueError(f"unknown study setting {setting!r}; choose from {sorted(SETTINGS)}")
        dataset, labels = SETTINGS[setting]
        for seed in seeds:
            for method in methods:
                used = labels if method in LABEL_READERS else "fine"
                name = method if used == "fine" else f"{method}-{used}"
                run_dir = Path(run_root) / dataset / f"seed{seed}" / name
                planned.setdefault(run_dir, StudyRun(method, dataset, used, int(seed), run_dir))
    return list(planned.values())


def run_config(base: RunConfig, run: StudyRun) -> RunConfig:
    """``base`` with the run's data, labels, method and seed."""
    return apply_overrides(base, {"data.dataset": run.dataset, "data.labels": run.labels, "data.data_root": None,
                                  "train.method": run.method, "train.seed": run.seed})


def train_runs(base: RunConfig, runs: list[StudyRun], progress: bool = True) -> dict[Path, dict]:
    """Train (or load) every run; the metrics of each by run directory. The runs of one data set,
    labels and seed share their frozen trunk's features (``TrainingFeatures``) and, with
    ``data.cache_dir``, their rendered scenes (``data.default.scene_cache``); both are dropped
    after the group's last run: no other seed draws those scenes. EZ-VSL trains first, its group's
    FNAC runs from the end of its warm-up (``warmup``)."""
    groups = [scene_group(run) for run in runs]
    runs = sorted(runs, key=lambda run: (groups.index(scene_group(run)), run.method != SOURCE))  # EZ-VSL first
    configs = {run.run_dir: run_config(base, run) for run in runs}
    metrics, shared = {}, TrainingFeatures()
    for number, run in enumerate(runs, 1):
        if progress:
            print(f"[study] run {number}/{len(runs)}: {run.method} on {run.dataset} ({run.labels} labels), "
                  f"seed {run.seed}", flush=True)
        forks = [Fork(configs[later.run_dir], later.run_dir) for later in runs[number:]]  # warmup.forks_of picks
        metrics[run.run_dir] = train_or_load(configs[run.run_dir], run.run_dir, progress, shared, forks)[2]
        if scene_group(run) not in {scene_group(later_run) for later_run in runs[number:]}:
            shared.clear()
            if base.data.cache_dir is not None:
                remove_scene_cache(scene_cache_path(configs[run.run_dir]))
    return metrics


def scene_group(run: StudyRun) -> tuple[str, str, int]:
    """The runs that draw the same training scenes (and share a scene cache)."""
    return run.dataset, run.labels, run.seed


def study_test_sets(base: RunConfig, datasets, length: int | None = None) -> dict[str, list[TestSet]]:
    """The test sets each data set's runs are scored on."""
    plans = {"objects": (("single", "heard"), ("single", "unheard"), ("listening", "heard")),
             "objects-few": (("single", "test"), ("listening", "heard")),
             "digits": (("single", "test"), ("listening", "heard"))}
    return {dataset: [default_test_set(base, dataset, variant, length, split) for variant, split in plans[dataset]]
            for dataset in datasets}


def sample_scores(preds, listening: bool) -> dict[str, np.ndarray]:
    """Per-sample contributions of one run's AV map (``statistics.per_sample``), or the listening
    test's hits (1 where the map peaks on the object heard)."""
    scores = preds.scores
    keep = scores.annotated
    if listening:
        return {LISTENING: scores.pointing["av"][keep].numpy().astype(np.float64)}
    return statistics.per_sample(scores.ciou["av"][keep].numpy(), scores.pointing["av"][keep].numpy())


def score_runs(runs: list[StudyRun], sets: dict[str, list[TestSet]], batch_size: int = 64, device: str = "auto",
               progress: bool = True) -> tuple[dict, dict]:
    """Score every run's kept checkpoint on its data's test sets by its AV map.

    The runs of one data set are scored on each of its test sets in one pass
    (``evaluation.predict_together``): their frozen visual trunk's features are computed once per
    batch for all of them, which changes no number. Returns ``{(method key, test set): {metric:
    (seeds, samples) array}}`` (seeds in increasing order) and, per test set, the first run's
    predictions with their maps (for the references).
    """
    device, found, kept = resolve_device(device), {}, {}  # found: {(method key, test set): {seed: scores}}
    bar = Progress(sum(len(sets[run.dataset]) for run in runs), "scoring the study", progress)
    for dataset, tests in sets.items():
        group = [run for run in runs if run.dataset == dataset]
        loaded = [load_model(checkpoint_path(run.run_dir, "best"), device) for run in group]
        for test in tests:
            bar.set_note(test.name)
            jobs = [ScoredModel(model, config.train.tau, amp=config.eval.amp, keep_maps=not index,
                                settings=config.eval) for index, (model, config) in enumerate(loaded)]
            loader = eval_loader(test.dataset, batch_size, pin_memory=device.type == "cuda")
            for run, preds in zip(group, predict_together(jobs, loader, device)):
                kept.setdefault(test.name, preds)
                found.setdefault((run.key, test.name), {})[run.seed] = sample_scores(preds, test.listening)
            bar.update(len(group))
    bar.close(f"{len(runs)} runs scored")
    values = {key: {metric: np.stack([per_seed[s][metric] for s in sorted(per_seed)]) for metric in
                    next(iter(per_seed.values()))} for key, per_seed in found.items()}
    return values, kept


def reference_values(sets: dict[str, list[TestSet]], predictions: dict, seed: int = 0) -> dict:
    """``{(reference, test set): {metric: (1, samples) array}}`` of the reference maps (named as in
    the demo's summary: ``random``, ``perfect``, ``largest-object``), from the predictions
    ``score_runs`` kept (their ground truth) per test set."""
    values = {}
    for dataset, tests in sets.items():
        for test in tests:
            generator = reference_generator(seed, test.name)
            for name, (cious, pointing) in reference_sample_scores(predictions[test.name], test, generator).items():
                scores = ({LISTENING: pointing.numpy()} if test.listening
                          else statistics.per_sample(cious.numpy(), pointing.numpy()))
                values[(REFERENCE_NAMES[name], test.name)] = {metric: v[None].astype(np.float64)
                                                              for metric, v in scores.items()}
    return values


def comparisons(methods) -> list[tuple[str, str]]:
    """The paired differences a study reports: each method against EZ-VSL (the coarse oracle too)."""
    keys = [m for m in methods if m != BASELINE] + [f"{m} (coarse labels)" for m in methods if m in LABEL_READERS]
    return [(key, BASELINE) for key in keys]


def study_statistics(values: dict, methods) -> dict:
    """Everything a study reports, from ``{(method, test set): {metric: (seeds, samples)}}``:

    ``summary`` ``{method: {test set: {metric: {mean, ci_low, ci_high, se, df}}}}`` (the demo's shape),
    ``differences`` ``{"a - b": {test set: {metric: ...}}}`` (paired, seed by seed),
    ``recovered`` ``{"fnac / oracle": {test set: {metric: share of the oracle's gain FNAC recovers,
    with whether it exceeds half}}}`` and ``spread`` ``{"a - b": {test set: {metric: seed sd}}}``:
    how far one seed's paired difference lies from the average over seeds, which is what a rerun
    on another processor moves it by.
    """
    summary: dict = {}
    for (method, test), metrics in values.items():
        summary.setdefault(method, {})[test] = {m: statistics.estimate(v, bounds=(0.0, 1.0)) for m, v in metrics.items()}
    differences, recovered, spread = {}, {}, {}
    tests = list(dict.fromkeys(test for _, test in values))
    for method, baseline in comparisons(methods):
        for test in tests:
            if (method, test) in values and (baseline, test) in values:
                a, b = values[(method, test)], values[(baseline, test)]
                name = f"{method} - {baseline}"
                differences.setdefault(name, {})[test] = {m: statistics.paired_difference(a[m], b[m]) for m in a}
                spread.setdefault(name, {})[test] = {m: statistics.spread(a[m] - b[m]).seed_sd for m in a}
    for oracle in (k for k, _ in comparisons(methods) if k.startswith(LABEL_READERS)):
        for test in tests:
            keys = [("fnac", test), (BASELINE, test), (oracle, test)]
            if all(k in values for k in keys):
                fnac, base, best = (values[k] for k in keys)
                recovered.setdefault(f"fnac / {oracle}", {})[test] = {
                    m: statistics.recovered_share(fnac[m], base[m], best[m]) for m in fnac}
    return {"summary": summary, "differences": differences, "recovered": recovered, "spread": spread}


def verdict(stats: dict, test: str, metric: str, oracle: str = "oracle") -> str:
    """The study's question on one test set and metric, answered in a sentence."""
    share = stats["recovered"].get(f"fnac / {oracle}", {}).get(test, {}).get(metric)
    gain = difference_of(stats, oracle, test, metric)
    if share is None or gain is None:
        return f"{test}, {metric}: not measured"
    if share["exceeds"] == "no oracle gain":  # the oracle does not beat EZ-VSL: no ceiling to share
        fnac = difference_of(stats, "fnac", test, metric)
        fnac_said = "" if fnac is None else f"; FNAC - EZ-VSL: {interval_points(fnac)} points"
        return (f"{test}, {metric}: the oracle does not beat EZ-VSL ({interval_points(gain)} points), so there is no "
                f"oracle gain for FNAC to recover a share of{fnac_said}")
    margin = share["margin"]
    said = {"yes": "exceeds", "no": "falls short of", "cannot tell": "cannot be told apart from"}[share["exceeds"]]
    return (f"{test}, {metric}: the oracle gains {interval_points(gain)} points over EZ-VSL; FNAC recovers "
            f"{share['mean']:.2f} of it {_share_interval(share)}, and its gain {said} half the oracle's "
            f"(FNAC gain - half the oracle's: {interval_points(margin)} points)")


def measures(tests: list[TestSet], metrics) -> list[tuple[str, str]]:
    """(test set, metric) pairs a study judges: the listening rate on listening tests, the others elsewhere."""
    return [(test.name, metric) for test in tests for metric in metrics if (metric == LISTENING) == test.listening]


def answers(stats: dict, sets: dict[str, list[TestSet]], metrics) -> list[str]:
    """``verdict`` on every test set of the study, on each metric it measures (``measures``)."""
    return [verdict(stats, test, metric) for tests in sets.values() for test, metric in measures(tests, metrics)]


def findings(stats: dict, metrics, tests=None) -> list[str]:
    """One sentence per paired difference: a finding where its interval excludes zero (the seeds
    and scenes agree on its sign), "cannot tell" with its interval otherwise."""
    lines = []
    for name, by_test in stats["differences"].items():
        for test, values in by_test.items():
            if tests is not None and test not in tests:
                continue
            for metric in (m for m in metrics if m in values):
                value = values[metric]
                label = difference_label(name)
                if value["ci_low"] == value["ci_high"] == value["mean"] == 0:
                    lines.append(f"{label}, {test} {metric}: identical scores at every seed")
                elif statistics.excludes_zero(value):
                    side = "above" if value["mean"] > 0 else "below"
                    lines.append(f"{label}, {test} {metric}: {interval_points(value)} points, {side} zero "
                                 f"({value['seeds_positive']}/{value['seeds']} seeds ahead)")
                else:
                    lines.append(f"{label}, {test} {metric}: cannot tell, {interval_points(value)} points")
    return lines


def _share_interval(share: dict) -> str:
    """A share's Fieller interval, or "(interval unbounded)" when the oracle's gain is not told from 0."""
    if not share.get("bounded", True):
        return "(interval unbounded: the oracle's gain is not told from zero)"
    return f"[{share['ci_low']:.2f}, {share['ci_high']:.2f}]"


def interval_points(estimate: dict, signed: bool = True) -> str:
    """A mean and its interval in points: "+7.2 [+1.6, +12.7]" (unsigned: "7.2 [1.6, 12.7]")."""
    low, mean, high = (points(estimate[k], signed) for k in ("ci_low", "mean", "ci_high"))
    return f"{mean} [{low}, {high}]"


def difference_of(stats: dict, method: str, test: str, metric: str) -> dict | None:
    """The paired difference ``method`` - EZ-VSL on one test set and metric, or None if not measured."""
    return stats["differences"].get(f"{method} - {BASELINE}", {}).get(test, {}).get(metric)


# ---------------------------------------------------------------------------------------------
# Tables and figures: means and paired differences with their intervals.


def spread_markdown(stats: dict, metrics=("AUC", "pointing_game", "listening")) -> str:
    """The seed-to-seed standard deviation of each paired difference, in points: how far one seed's
    difference lies from the study's mean, and so how far a rerun on another processor can move it."""
    body = [[difference_label(name), test, metric, f"{100 * by_test[test][metric]:.1f}"]
            for name, by_test in stats["spread"].items() for test in by_test for metric in metrics
            if metric in by_test[test]]
    return markdown_table(["difference", "test set", "metric", "seed-to-seed sd (points)"], body)


def study_markdown(summary: dict, metrics=("AUC", "pointing_game", "listening")) -> str:
    """A study's means with 95% intervals in percent: a line per (test set, metric), a column per method."""
    tests = list(dict.fromkeys(test for by_test in summary.values() for test in by_test))
    body = [[test, metric, *(interval_points(summary[m][test][metric], signed=False)
                             if metric in summary[m].get(test, {}) else None for m in summary)]
            for test in tests for metric in metrics if any(metric in summary[m].get(test, {}) for m in summary)]
    return markdown_table(["test set", "metric", *map(method_label, summary)], body)


def differences_markdown(differences: dict, recovered: dict, metrics=("AUC", "pointing_game", "listening")) -> str:
    """Paired differences (percentage points, 95% interval, seeds where it is positive) and the share
    of the oracle's gain FNAC recovers with the verdict on "more than half"."""
    body = []
    for name, by_test in differences.items():
        for test, values in by_test.items():
            for metric in (m for m in metrics if m in values):
                v = values[metric]
                seeds = f"{v['seeds_positive']}/{v['seeds']}"
                body.append([name, test, metric, interval_points(v, signed=False), seeds])
    for name, by_test in recovered.items():
        for test, values in by_test.items():
            for metric in (m for m in metrics if m in values):
                v = values[metric]
                share = f"{v['mean']:.2f} {_share_interval(v)}"
                body.append([f"share {name}", test, metric, share, f"> {v['threshold']:g}? {v['exceeds']}"])
    return markdown_table(["comparison", "test set", "metric", "value [95% interval]", "seeds > 0 / verdict"], body)


REFERENCE_COLOURS = {"random": "0.55", "perfect": "0.2", "largest-object": "tab:brown"}
MISSING = {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan}  # a row a panel has no value for


def difference_label(key: str) -> str:
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
        if not (np.isfinite(value["mean"]) and np.isfinite(value["ci_low"]) and np.isfinite(value["ci_high"])):
            continue  # an unbounded interval (a share whose oracle gains nothing sure) is named in the table
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
        entries = [(difference_label(name), by_test.get(test, {}).get(metric, MISSING))
                   for name, by_test in differences.items()]
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
        entries = [(difference_label(name), summary[name].get(test, {}).get(metric, MISSING)) for name in names]
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
    entries = [(f"{test}: {difference_label(name.replace(' / ', ' - '))}", shares[test][metric])
               for name, shares in recovered.items() for test in tests if test in shares and metric in shares[test]]
    _forest(ax, entries)
    for x, style in ((0.0, "--"), (0.5, ":"), (1.0, "--")):
        ax.axvline(x, color="grey", ls=style, lw=1)
    ax.set_xlabel(f"share of the oracle's gain in {metric} that FNAC recovers")
    return fig
