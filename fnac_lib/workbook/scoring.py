"""Scoring every run on every test set (notebook 04): tidy rows, one per (run, test set, map, metric),
and the reference maps that frame them (perfect, random, largest object)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..constants import OGL_ALPHA, TAU
from ..data.boxes import boxes_to_map, masks_to_boxes
from ..device import resolve_device
from ..evaluation import Predictions, evaluate
from ..metrics import batch_ciou, median_rule_ceiling, pointing_game, summarize
from ..model import objectness_trunk
from ..progress import Progress
from ..runs import checkpoint_path, load_model
from .labels import MAP_LABELS, method_label
from .test_sets import TestSet, _inputs

PERFECT_MAP = "perfect map"
RANDOM_MAP = "random map"
LARGEST_OBJECT = "largest object"
LISTENING = "listening"  # the listening test's metric (and protocol): how often a map peaks on the object heard
REFERENCES = (PERFECT_MAP, RANDOM_MAP, LARGEST_OBJECT)


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
    generator = torch.Generator().manual_seed(seed)
    for test in sets:
        preds = by_name.get(test.name)
        if preds is None or preds.gt is None:
            continue
        references = reference_sample_scores(preds, test, generator)
        for name, (cious, pointing) in references.items():
            rows.extend({"run": name, "method": name, "trained_on": "-", "test_set": test.name, **row}
                        for row in _reference_scores(test, cious, pointing))
        if not references:  # open-set pairs or masks: the maps themselves, through every protocol
            rows.extend(_reference_maps_rows(preds, test, generator))
    return rows


def _reference_maps_rows(preds: Predictions, test: TestSet, generator: torch.Generator) -> list[dict]:
    """Perfect and random maps scored like a run's (open set, segmentation)."""
    truth = preds.gt  # (N, H, W)
    if preds.masks is not None:
        truth = F.interpolate(preds.masks[:, None].float(), size=truth.shape[1:], mode="nearest")[:, 0]
    noise = torch.rand(truth.shape, generator=generator)  # (N, H, W) in [0, 1)
    rows = []
    for name, unit in ((PERFECT_MAP, truth.clamp(0, 1) + 1e-3 * noise), (RANDOM_MAP, noise)):
        raw = (2 * unit.clamp(0, 1) - 1) / TAU  # (N, H, W) in the AV map's range +-1/tau
        reference = Predictions.from_maps(raw, preds.gt, preds.on_screen, masks=preds.masks, clips=preds.clips)
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
    (cIoU, AUC...) on sets whose pairs are all on screen, the listening rate on the listening test, SLAVC's open-set AP / max-F1 on sets
    with silent pairs, AVSBench's mIoU / F-score where the samples carry masks.
    """
    rows = []

    def add(protocol, map_name, values, keys):
        rows.extend({"test_set": test_set.name, "protocol": protocol, "map": map_name, "metric": metric,
                     "value": float(values[metric]), "n": int(values["n"])} for metric in keys)

    summary = preds.summary(test_set.protocols)
    if test_set.listening:  # the rate at which each map peaks on the object whose sound plays
        for name in (n for n in MAP_LABELS if n in summary):
            add(LISTENING, name, {LISTENING: summary[name]["pointing_game"], "n": summary[name]["n"]}, (LISTENING,))
        return rows
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
    share_trunks: bool = True,
) -> tuple[list[dict], dict[tuple[str, str], Predictions]]:
    """Score every run's ``checkpoint`` (``best``: the one training kept; ``last``) on every test set.

    Returns tidy rows ``{run, method, trained_on, test_set, protocol, map, metric, value, n}``
    (values are fractions) and the predictions behind them by ``(run, test set name)``, for figures.
    ``device="auto"`` takes the GPU when there is one. Test sets are taken one at a time, every run
    on each; with ``share_trunks``, runs whose frozen visual trunks hold the same weights share one
    (``SharedTrunk``), so a test set's trunk features are computed once for all of them. Every
    run's model stays loaded meanwhile (the CPU demo's are a few MB each; features are kept for
    one test set at a time).
    """
    device = resolve_device(device)
    rows, predictions = [], {}
    bar = Progress(len(runs) * len(sets), "scoring runs", progress)
    shared = None  # a frozen objectness network serves every run: its maps are computed once
    if objectness not in (None, "none", "model") and runs:
        shared = SharedObjectness(objectness_trunk(None, objectness, imagenet_weights).to(device))
    loaded, trunks = {}, {}  # every run's model, and the frozen trunks they share, by weights
    for test in sets:
        for run in runs:
            bar.set_note(f"{run} on {test.name}")
            if run not in loaded:
                model, config = load_model(checkpoint_path(runs[run], checkpoint), device)
                if share_trunks and config.model.freeze_visual:
                    model.visual.trunk = trunks.setdefault(weights_digest(model.visual.trunk),
                                                           SharedTrunk(model.visual.trunk))
                trunk = shared or objectness_trunk(model, objectness, imagenet_weights)
                loaded[run] = (model, config, trunk.to(device) if trunk is not None else None)
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
        for memo in (*trunks.values(), shared):
            if memo is not None:
                memo.forget()  # the next test set has other batches
    bar.close(f"{len(runs)} runs on {len(sets)} test sets")
    return rows, predictions


def weights_digest(module: nn.Module) -> str:
    """A hash of a module's parameters and buffers: equal digests, equal weights."""
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class SharedTrunk(nn.Module):
    """A frozen visual trunk that several runs hold with the same weights, remembering what it computed.

    Runs trained with ``model.freeze_visual`` keep the ImageNet trunk they started from, so on one
    test set its features are the same for every such run: the first run computes them, keyed by
    the bytes of the input batch, and the others read them (the same tensors, so the scores are
    those of separate passes). ``forget`` drops them; ``evaluate_runs`` calls it after each test set.
    """

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.seen: dict[str, torch.Tensor] = {}

    def compute(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)  # (B, C, h, w)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        key = hashlib.sha1(images.detach().float().cpu().numpy().tobytes()).hexdigest()
        key += f"/{torch.is_autocast_enabled(images.device.type)}"  # runs scored with and without AMP differ
        if key not in self.seen:
            self.seen[key] = self.compute(images)
        return self.seen[key]

    def __getitem__(self, index):
        return self.trunk[index]  # the wrapped trunk's layers, as the model reads them (``AVModel.channels_last``)

    def forget(self) -> None:
        self.seen.clear()


class SharedObjectness(SharedTrunk):
    """A frozen objectness trunk that remembers what it computed, for scoring many runs.

    ``localization.objectness_maps`` reduces the trunk's features to their mean absolute value
    over channels; this module returns that reduction as a one-channel map (which the same
    reduction leaves unchanged), keyed by the bytes of the input batch, so the second and later
    runs scored on a test set reuse the first run's objectness maps instead of running the network
    again. Only small (B, 1, h, w) maps are kept.
    """

    def compute(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images).abs().mean(dim=1, keepdim=True)  # (B, 1, h, w)


def run_cious(predictions: dict, test_name: str, ogl_of: str | None = None) -> dict:
    """Per-sample cIoU of every run's AV map on one test set (and ``ogl_of``'s AV+OGL map)."""
    found = {run: preds for (run, name), preds in predictions.items() if name == test_name}
    cious = {f"{method_label(run)} AV": sample_cious(preds, "av") for run, preds in found.items()}
    if ogl_of is not None and "av_ogl" in found[ogl_of].scores.ciou:
        cious[f"{method_label(ogl_of)} AV+OGL"] = sample_cious(found[ogl_of], "av_ogl")
    return cious
