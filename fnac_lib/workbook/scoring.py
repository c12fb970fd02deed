"""Scoring every run on every test set (notebook 04): tidy rows, one per (run, test set, map, metric),
and the random and perfect reference maps that frame them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import OGL_ALPHA, TAU
from ..device import resolve_device
from ..evaluation import Predictions, evaluate
from ..model import objectness_trunk
from ..progress import Progress
from ..runs import checkpoint_path, load_model
from .labels import MAP_LABELS, method_label
from .test_sets import TestSet, _inputs

PERFECT_MAP = "perfect map"


RANDOM_MAP = "random map"


def reference_rows(predictions: dict, sets: list[TestSet], seed: int = 0) -> list[dict]:
    """Scores of two reference maps on each test set, under every protocol it supports: the frame
    to read runs in.

    ``perfect map``: the ground truth (the mask on sets with masks), ties broken at random; under
    the median rule it reaches the ceiling ``median_rule_ceiling`` allows, and on open-set pairs it
    is confident exactly where something sounds in the picture. ``random map``: uniform noise, a
    map that knows nothing, as confident on a silent pair as on a sounding one; a run below it
    points away from the sounding object more often than chance.
    """
    rows = []
    by_name = {name: preds for (_, name), preds in predictions.items()}
    generator = torch.Generator().manual_seed(seed)
    for test in sets:
        preds = by_name.get(test.name)
        if preds is None or preds.gt is None:
            continue
        truth = preds.gt  # (N, H, W)
        if preds.masks is not None:
            truth = F.interpolate(preds.masks[:, None].float(), size=truth.shape[1:], mode="nearest")[:, 0]
        noise = torch.rand(truth.shape, generator=generator)  # (N, H, W) in [0, 1)
        for name, unit in ((PERFECT_MAP, truth.clamp(0, 1) + 1e-3 * noise), (RANDOM_MAP, noise)):
            raw = (2 * unit.clamp(0, 1) - 1) / TAU  # (N, H, W) in the AV map's range +-1/tau
            reference = Predictions.from_maps(raw, preds.gt, preds.on_screen, masks=preds.masks, clips=preds.clips)
            rows.extend({"run": name, "method": name, "trained_on": "-", **row}
                        for row in score_predictions(reference, test) if row["map"] == "av")
    return rows


def map_columns(preds: Predictions) -> dict[str, torch.Tensor]:
    """The maps a prediction holds by key: ``av``, and ``obj`` and ``av_ogl`` with objectness."""
    maps = {"av": preds.av}
    if preds.objectness is not None:
        maps.update(obj=preds.objectness, av_ogl=preds.ogl())
    return maps


def sample_cious(preds: Predictions, map_name: str = "av") -> np.ndarray:
    """Per-sample cIoU of one map (``av``, ``obj``, ``av_ogl``) over the annotated on-screen samples."""
    scores = preds.scores
    return scores.ciou[map_name][scores.annotated].numpy()


def score_predictions(preds: Predictions, test_set: TestSet) -> list[dict]:
    """Metric rows (without run fields) of one run's predictions on one test set.

    The numbers are ``evaluation.summarize_scores``'s, the same the CLI prints: localisation
    (cIoU, AUC...) on sets whose pairs are all on screen, SLAVC's open-set AP / max-F1 on sets
    with silent pairs, AVSBench's mIoU / F-score where the samples carry masks.
    """
    rows = []

    def add(protocol, map_name, values, keys):
        rows.extend({"test_set": test_set.name, "protocol": protocol, "map": map_name, "metric": metric,
                     "value": float(values[metric]), "n": int(values["n"])} for metric in keys)

    summary = preds.summary(test_set.protocols)
    for name in MAP_LABELS:
        if name in summary:
            add("localization", name, summary[name], ("cIoU", "AUC", "mean_cIoU", "pointing_game"))
    if "open_set" in summary:
        add("open_set", "av", summary["open_set"], ("AP", "max_F1"))
    for name, values in summary.get("s4", {}).items():
        add("segmentation", name, values, ("mIoU", "F_score"))
    return rows


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
) -> tuple[list[dict], dict[tuple[str, str], Predictions]]:
    """Score every run's ``checkpoint`` (``best``: the one training kept; ``last``) on every test set.

    Returns tidy rows ``{run, method, trained_on, test_set, protocol, map, metric, value, n}``
    (values are fractions) and the predictions behind them by ``(run, test set name)``, for figures.
    ``device="auto"`` takes the GPU when there is one.
    """
    device = resolve_device(device)
    rows, predictions = [], {}
    work = [(run, test) for run in runs for test in sets]
    bar = Progress(len(work), "scoring runs", progress)
    loaded: dict[str, tuple] = {}  # the current run only: one model in memory at a time
    for run, test in work:
        bar.set_note(f"{run} on {test.name}")
        if run not in loaded:
            model, config = load_model(checkpoint_path(runs[run], checkpoint), device)
            trunk = objectness_trunk(model, objectness, imagenet_weights)
            loaded = {run: (model, config, trunk.to(device) if trunk is not None else None)}
        model, config, trunk = loaded[run]
        if _inputs(config) != test.inputs:
            raise ValueError(f"run {run} takes inputs {_inputs(config)} (image size, rate, seconds) but "
                             f"{test.name} was built for {test.inputs}: build the test sets from its config")
        _, preds = evaluate(model, test.dataset, batch_size=batch_size, device=device, objectness_trunk=trunk,
                            alpha=alpha, protocols=test.protocols, amp=config.eval.amp, settings=config.eval)
        fields = {"run": run, "method": config.train.method, "trained_on": config.data.dataset}
        rows.extend({**fields, **row} for row in score_predictions(preds, test))
        predictions[(run, test.name)] = preds
        bar.update()
    bar.close(f"{len(runs)} runs on {len(sets)} test sets")
    return rows, predictions


def run_cious(predictions: dict, test_name: str, ogl_of: str | None = None) -> dict:
    """Per-sample cIoU of every run's AV map on one test set (and ``ogl_of``'s AV+OGL map)."""
    found = {run: preds for (run, name), preds in predictions.items() if name == test_name}
    cious = {f"{method_label(run)} AV": sample_cious(preds, "av") for run, preds in found.items()}
    if ogl_of is not None and "av_ogl" in found[ogl_of].scores.ciou:
        cious[f"{method_label(ogl_of)} AV+OGL"] = sample_cious(found[ogl_of], "av_ogl")
    return cious
