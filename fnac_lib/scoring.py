"""Scoring trained runs on test sets: tidy rows, one per (run, test set, map, metric), the reference
maps that frame them (perfect, random, largest object), and their machine-readable summary.

``evaluate_runs`` scores every run on every test set (notebook 04), the runs that share a frozen
trunk in one pass (``evaluation.predict_together``); ``reference_rows`` scores the reference maps.
``summary_from_rows`` gives ``{method: {test_set: {metric: value}}}``: methods are the trained runs
(their audio-visual maps) and the reference maps, ``random``, ``perfect``, ``largest-object`` and
``objectness`` (the visual-only map of the evaluation's objectness network). Metrics are fractions
in [0, 1]: ``cIoU`` (the share of samples with cIoU >= 0.5), ``AUC`` and ``pointing_game`` on
localisation test sets, ``listening`` on the listening tests. A study writes the same shape with
``{mean, ci_low, ci_high}`` per metric.

Notebook 04 writes ``run_root/summary.json`` (``runs/demo/summary.json`` under ``make demo``); the
same file can be rebuilt from the rows 04 saves::

    python -m fnac_lib.scoring runs/demo/figures/04_benchmark_evaluation.json runs/demo/summary.json
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .constants import OGL_ALPHA, TAU
from .data.boxes import boxes_to_map, masks_to_boxes
from .data.test_sets import TestSet, config_inputs
from .device import resolve_device
from .evaluation import MAPS, Predictions, ScoredModel, eval_loader, predict_together
from .files import write_json
from .metrics import batch_ciou, median_rule_ceiling, pointing_game, summarize
from .model import objectness_trunk
from .progress import Progress
from .runs import checkpoint_path, load_model

PERFECT_MAP = "perfect map"
RANDOM_MAP = "random map"
LARGEST_OBJECT = "largest object"
LISTENING = "listening"  # the listening test's metric (and protocol): how often a map peaks on the object heard
REFERENCES = (PERFECT_MAP, RANDOM_MAP, LARGEST_OBJECT)
REFERENCE_NAMES = {RANDOM_MAP: "random", PERFECT_MAP: "perfect", LARGEST_OBJECT: "largest-object"}  # in summaries
SUMMARY_METRICS = ("cIoU", "AUC", "pointing_game", LISTENING)
OBJECTNESS = "objectness"


def evaluate_runs(
    runs: dict[str, Path],
    sets: list[TestSet],
    objectness: str | None = "model",
    alpha: float = OGL_ALPHA,
    batch_size: int = 64,
    device: str = "auto",
    imagenet_weights: str = "torch-cache",
    checkpoint: str = "best",
    progress: bool = True,
    share_trunks: bool = True,
) -> tuple[list[dict], dict[tuple[str, str], Predictions]]:
    """Score every run's ``checkpoint`` (``best``: the one training kept; ``last``) on every test set.

    Returns tidy rows ``{run, method, trained_on, test_set, protocol, map, metric, value, n}``
    (values are fractions) and the predictions behind them by ``(run, test set name)``, for figures.
    ``device="auto"`` takes the GPU when there is one. With ``share_trunks`` every run is scored on
    a test set in one pass over it (``evaluation.predict_together``): each batch's trunk features
    are computed once for the runs whose frozen visual trunks hold the same weights, and the
    objectness maps once for all of them; without, the runs are scored one by one. Every run's
    model stays loaded meanwhile (the CPU demo's are a few MB each).
    """
    device = resolve_device(device)
    rows, predictions = [], {}
    network = None  # a frozen objectness network serves every run
    if objectness not in (None, "none", "model") and runs:
        network = objectness_trunk(None, objectness, imagenet_weights).to(device)
    jobs, configs = {}, {}
    for run, run_dir in runs.items():
        model, configs[run] = load_model(checkpoint_path(run_dir, checkpoint), device)
        trunk = network or objectness_trunk(model, objectness, imagenet_weights)
        jobs[run] = ScoredModel(model, configs[run].train.tau, trunk.to(device) if trunk is not None else None, alpha,
                                configs[run].eval.amp, settings=configs[run].eval)
    bar = Progress(len(runs) * len(sets), "scoring runs", progress)
    for test in sets:
        for run, config in configs.items():
            if config_inputs(config) != test.inputs:
                raise ValueError(f"run {run} takes inputs {config_inputs(config)} (image size, rate, seconds) but "
                                 f"{test.name} was built for {test.inputs}: build the test sets from its config")
        loader = eval_loader(test.dataset, batch_size, pin_memory=device.type == "cuda")
        groups = [list(jobs)] if share_trunks else [[run] for run in jobs]
        for group in groups:
            bar.set_note(f"{', '.join(group)} on {test.name}")
            found = predict_together([jobs[run] for run in group], loader, device, share_features=share_trunks)
            for run, preds in zip(group, found):
                fields = {"run": run, "method": configs[run].train.method, "trained_on": configs[run].data.dataset}
                rows.extend({**fields, **row} for row in score_predictions(preds, test))
                predictions[(run, test.name)] = preds
            bar.update(len(group))
    bar.close(f"{len(runs)} runs on {len(sets)} test sets")
    return rows, predictions


def score_predictions(preds: Predictions, test_set: TestSet) -> list[dict]:
    """Metric rows (without run fields) of one run's predictions on one test set.

    The numbers are ``evaluation.summarize_scores``'s, the same the CLI prints: localisation
    (cIoU, AUC...) on sets whose pairs are all on screen, the listening rate on the listening test,
    SLAVC's open-set AP / max-F1 on sets with silent pairs, AVSBench's mIoU / F-score where the
    samples carry masks.
    """
    rows = []

    def add(protocol, map_name, values, keys):
        rows.extend({"test_set": test_set.name, "protocol": protocol, "map": map_name, "metric": metric,
                     "value": float(values[metric]), "n": int(values["n"])} for metric in keys)

    summary = preds.summary(test_set.protocols)
    if test_set.listening:  # the rate at which each map peaks on the object whose sound plays
        for name in (n for n in MAPS if n in summary):
            add(LISTENING, name, {LISTENING: summary[name]["pointing_game"], "n": summary[name]["n"]}, (LISTENING,))
        return rows
    for name in MAPS:
        if name in summary:
            add("localization", name, summary[name], ("cIoU", "AUC", "mean_cIoU", "pointing_game"))
    if "open_set" in summary:
        add("open_set", "av", summary["open_set"], ("AP", "max_F1"))
    for name, values in summary.get("s4", {}).items():
        add("segmentation", name, values, ("mIoU", "F_score"))
    return rows


def reference_rows(predictions: dict, sets: list[TestSet], seed: int = 0) -> list[dict]:
    """Scores of reference maps on each test set, under every protocol it supports: the frame to
    read runs in.

    ``perfect map``: the ground truth (the mask on sets with masks); under the median rule it
    reaches the ceiling ``median_rule_ceiling`` allows (on scenes with small sounding objects the
    reported cIoU is capped far below 1 whatever a model does), and on open-set pairs it is
    confident exactly where something sounds in the picture. ``random map``: uniform noise, a map
    that knows nothing; a run below it points away from the sounding object more often than chance.
    ``largest object`` (default-data localisation scenes): the box of the object that covers most
    of the picture, ties broken at random: the shortcut of scenes whose sounding object is the
    biggest; where every object draws its size from one range it guesses among the objects. On the
    listening test each reference is scored by where it peaks (``listening``): a map that ignores
    the sound points at the same place in both renderings of a picture, so it is right at most half
    the time.
    """
    rows = []
    by_name = {name: preds for (_, name), preds in predictions.items()}
    for test in sets:
        preds = by_name.get(test.name)
        if preds is None or preds.gt is None:
            continue
        generator = reference_generator(seed, test.name)
        references = reference_sample_scores(preds, test, generator)
        for name, (cious, pointing) in references.items():
            rows.extend({"run": name, "method": name, "trained_on": "-", "test_set": test.name, **row}
                        for row in _reference_scores(test, cious, pointing))
        if not references:  # open-set pairs or masks: the maps themselves, through every protocol
            rows.extend(_reference_maps_rows(preds, test, generator))
    return rows


def reference_generator(seed: int, test_name: str) -> torch.Generator:
    """The random draws of one test set's reference maps, from ``seed`` and the set's name: a set's
    references are the same whichever sets were scored before it (a study of one setting, or of all)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(test_name.encode()))


def _reference_maps_rows(preds: Predictions, test: TestSet, generator: torch.Generator) -> list[dict]:
    """Perfect and random maps scored like a run's (open set, segmentation)."""
    truth = preds.gt  # (N, H, W)
    if preds.masks is not None:
        truth = F.interpolate(preds.masks[:, None].float(), size=truth.shape[1:], mode="nearest")[:, 0]
    noise = torch.rand(truth.shape, generator=generator)  # (N, H, W) in [0, 1)
    rows = []
    for name, unit in ((PERFECT_MAP, truth.clamp(0, 1) + 1e-3 * noise), (RANDOM_MAP, noise)):
        raw = (2 * unit.clamp(0, 1) - 1) / TAU  # (N, H, W) in the range of an AV map at the published tau
        reference = Predictions.from_maps(raw, preds.gt, preds.on_screen, tau=TAU, masks=preds.masks, clips=preds.clips)
        rows.extend({"run": name, "method": name, "trained_on": "-", **row}
                    for row in score_predictions(reference, test) if row["map"] == "av")
    return rows


def reference_sample_scores(preds: Predictions, test: TestSet,
                            generator: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-sample (cIoU, pointing) of each reference map on the annotated samples of ``preds``
    (``reference_rows``), in ``REFERENCES`` order; empty where the test set has no localisation."""
    if (~preds.on_screen).any() or "localization" not in (test.protocols or ("localization",)):
        return {}
    keep = preds.scores.annotated
    if not keep.any():
        return {}
    gt = preds.gt[keep]  # (n, H, W)
    maps = {RANDOM_MAP: torch.rand(gt.shape, generator=generator)}  # (n, H, W)
    largest = largest_object_maps(test.dataset, torch.nonzero(keep).flatten().tolist(), generator)
    if largest is not None:
        maps[LARGEST_OBJECT] = largest
    references = {PERFECT_MAP: (median_rule_ceiling(gt), torch.ones(len(gt)))}  # a perfect map peaks on the object
    references.update({name: (batch_ciou(m, gt), pointing_game(m, gt)) for name, m in maps.items()})
    return {name: references[name] for name in REFERENCES if name in references}


def _reference_scores(test: TestSet, cious: torch.Tensor, pointing: torch.Tensor) -> list[dict]:
    """Rows (protocol, map, metric, value, n) of one reference map's per-sample scores."""
    if test.listening:
        return [{"protocol": LISTENING, "map": "av", "metric": LISTENING, "value": float(pointing.mean()),
                 "n": len(pointing)}]
    summary = {**summarize(cious.numpy()), "pointing_game": float(pointing.mean())}
    return [{"protocol": "localization", "map": "av", "metric": metric, "value": summary[metric], "n": summary["n"]}
            for metric in ("cIoU", "AUC", "mean_cIoU", "pointing_game")]


def largest_object_maps(dataset, indices: list[int], generator: torch.Generator) -> torch.Tensor | None:
    """(n, H, W) maps marking the tight box of the object with the most visible pixels in each scene
    of ``indices``, with a little noise so that the median rule breaks ties at random; None for
    datasets that do not know their objects (only the default data's scenes do)."""
    if not hasattr(dataset, "scene"):
        return None
    maps = []
    for index in indices:
        owner = dataset.scene(index).owner  # (S, S): which object shows at each pixel, -1 for none
        largest = int(np.bincount(owner[owner >= 0].ravel()).argmax())
        box = masks_to_boxes((owner == largest)[None])  # (1, 4)
        maps.append(boxes_to_map(box, owner.shape[0], "union", edges="round"))
    maps = torch.stack(maps)  # (n, S, S)
    return maps + 1e-3 * torch.rand(maps.shape, generator=generator)


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
    """``python -m fnac_lib.scoring ROWS_JSON OUT_JSON``: notebook 04's rows to a summary."""
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
