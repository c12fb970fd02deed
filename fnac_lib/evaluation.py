"""Batched evaluation on the device: localisation maps, cIoU / AUC, pointing game, open set, S4.

Upstream evaluates one sample at a time with a CPU sort per sample. Here each batch is scored
where it was computed (``score_batch``: median thresholds by ``kthvalue``, cIoU, pointing game,
SLAVC's open-set confidence, AVSBench's frame IoU and F-beta curves), per-sample scores stay on
the device, and they cross to the host once, at the end. Maps travel to the host only when a
caller keeps them for figures (``keep_maps``). ``summarize_scores`` turns per-sample scores into
the benchmark numbers; the CLI, the trainer's validation and the notebooks' tables all use it.
``predict_together`` scores several models in one pass over a test set, computing the features of
a trunk they share once per batch (``shared_features``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from .config import EvalConfig
from .constants import OGL_ALPHA
from .data.sample import clip_names, collate
from .device import use_on
from .localization import object_guided, raw_av_maps
from .losses import normalize_maps
from .metrics import batch_ciou, pointing_game, summarize
from .model import AVModel
from .progress import track
from .shared_features import encode, feature_keys, objectness_once
from .protocols import (av_value_range, fscore_from_curves, localisation_to_mask_logits, open_set_confidence, open_set_pr,
                        s4_frame_iou, s4_fscore_curves)

PROTOCOLS = ("localization", "open_set", "segmentation")
MAPS = ("av", "obj", "av_ogl")  # the maps an evaluation scores: AV, and with objectness OBJ and AV+OGL
SEGMENTED_MAPS = ("av", "av_ogl")  # the maps AVSBench's S4 scores (objectness alone knows no sound)


@dataclass
class SampleScores:
    """Per-sample scores of one test set (N samples), computed batch by batch on the device."""

    on_screen: torch.Tensor  # (N,) False for silent / off-screen pairs
    annotated: torch.Tensor  # (N,) the samples cIoU summaries count: on screen (with a non-empty gt, or any: empty_gt)
    ciou: dict[str, torch.Tensor]  # map name ("av", "obj", "av_ogl") -> (N,) cIoU under the median rule
    pointing: dict[str, torch.Tensor]  # map name -> (N,) 1 where the map's peak falls on the gt
    confidence: torch.Tensor  # (N,) SLAVC's open-set confidence of the raw AV map
    frame_iou: dict[str, torch.Tensor] = field(default_factory=dict)  # map -> (N,) S4 IoU (sets with masks)
    fscore_curves: dict[str, torch.Tensor] = field(default_factory=dict)  # map -> (N, 255) S4 F-beta curves
    has_object: torch.Tensor | None = None  # (N,) frames whose mask is not empty (sets with masks)
    empty_gt: torch.Tensor | None = None  # (N,) on screen with an empty gt map: dropped or scored 0 (empty_gt)

    @classmethod
    def concatenate(cls, parts: list["SampleScores"]) -> "SampleScores":
        """Join per-batch scores in order and move them to the host (the one sync of an evaluation)."""
        def join(values):
            return torch.cat(values).cpu()

        first = parts[0]
        return cls(
            on_screen=join([p.on_screen for p in parts]),
            annotated=join([p.annotated for p in parts]),
            ciou={k: join([p.ciou[k] for p in parts]) for k in first.ciou},
            pointing={k: join([p.pointing[k] for p in parts]) for k in first.pointing},
            confidence=join([p.confidence for p in parts]),
            frame_iou={k: join([p.frame_iou[k] for p in parts]) for k in first.frame_iou},
            fscore_curves={k: join([p.fscore_curves[k] for p in parts]) for k in first.fscore_curves},
            has_object=join([p.has_object for p in parts]) if first.has_object is not None else None,
            empty_gt=join([p.empty_gt for p in parts]) if first.empty_gt is not None else None,
        )


def localisation_maps(av_raw: torch.Tensor, objectness: torch.Tensor | None = None,
                      alpha: float = OGL_ALPHA) -> dict[str, torch.Tensor]:
    """The maps the protocols score, by name: ``av`` (raw S[i, i] normalised to [0, 1]), and with
    an objectness map (B, H, W) in [0, 1] also ``obj`` and ``av_ogl``."""
    maps = {"av": normalize_maps(av_raw)}  # (B, H, W)
    if objectness is not None:
        maps["obj"] = objectness
        maps["av_ogl"] = object_guided(maps["av"], objectness, alpha)
    return maps


def score_batch(
    maps: dict[str, torch.Tensor],
    av_raw: torch.Tensor,
    gt: torch.Tensor,
    on_screen: torch.Tensor,
    tau: float,
    masks: torch.Tensor | None = None,
    count_empty_gt: bool = False,
) -> SampleScores:
    """Score one batch where it lies: ``localisation_maps`` of raw AV maps S[i, i] = cos / tau
    (B, H, W) against gt maps (B, H, W).

    ``masks`` (B, H', W') adds AVSBench's per-frame IoU and F-beta curves. The open-set cIoU is
    the AV map's: min-max normalisation is increasing per sample, so the median rule picks the
    same pixels as on the raw map. ``count_empty_gt`` counts on-screen samples whose gt map is
    empty, at cIoU 0, as upstream's test.py (``EvalConfig.empty_gt``); otherwise they leave the count.
    """
    gt = gt.to(av_raw.device).float()
    on_screen = on_screen.to(av_raw.device).bool()
    empty_gt = on_screen & (gt.flatten(1).sum(dim=1) == 0)  # (B,)
    scores = SampleScores(
        on_screen=on_screen,
        annotated=on_screen if count_empty_gt else on_screen & ~empty_gt,
        ciou={name: batch_ciou(m, gt) for name, m in maps.items()},
        pointing={name: pointing_game(m, gt) for name, m in maps.items()},
        confidence=open_set_confidence(av_raw, av_value_range(tau)),
        empty_gt=empty_gt,
    )
    if masks is not None:
        masks = masks.to(av_raw.device)
        for name in (n for n in SEGMENTED_MAPS if n in maps):
            logits = localisation_to_mask_logits(maps[name], tuple(masks.shape[1:]))  # (B, H', W')
            scores.frame_iou[name] = s4_frame_iou(logits, masks)
            scores.fscore_curves[name], scores.has_object = s4_fscore_curves(logits, masks)
    return scores


def summarize_scores(scores: SampleScores, protocols=None, clips: torch.Tensor | None = None) -> dict:
    """The benchmark numbers of a test set from its per-sample scores (fractions in [0, 1]).

    ``protocols`` (default: all of ``PROTOCOLS``) limits what is reported; each is reported only
    where the data allows it:

    * ``localization`` (sets whose pairs are all on screen): per map (``av``, ``obj``,
      ``av_ogl``) cIoU (the fraction >= 0.5), AUC, mean cIoU and pointing game over the
      ``annotated`` samples;
    * ``open_set`` (sets with silent or off-screen pairs): SLAVC's AP and max-F1 of the AV map;
    * ``segmentation`` (sets with masks): ``{"s4": {map: {"mIoU", "F_score", "n"}}}``, the F-score
      per clip when ``clips`` (N,) gives each frame's clip, as AVSBench's test script.
    """
    wanted = PROTOCOLS if protocols is None else tuple(protocols)
    unknown = set(wanted) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; choose from {PROTOCOLS}")
    result: dict = {}
    annotated = scores.annotated
    if "localization" in wanted and bool(scores.on_screen.all()) and bool(annotated.any()):
        for name, values in scores.ciou.items():
            result[name] = {**summarize(values[annotated].numpy()),
                            "pointing_game": float(scores.pointing[name][annotated].mean())}
    if "open_set" in wanted and not bool(scores.on_screen.all()):
        pr = open_set_pr(scores.confidence, scores.ciou["av"], scores.on_screen)
        result["open_set"] = {"AP": pr["AP"], "max_F1": pr["max_F1"], "n": int(scores.on_screen.numel())}
    if "segmentation" in wanted and scores.has_object is not None and bool(scores.has_object.any()):
        result["s4"] = {name: {"mIoU": float(scores.frame_iou[name].mean()),
                               "F_score": fscore_from_curves(scores.fscore_curves[name], scores.has_object, clips),
                               "n": int(scores.has_object.numel())}
                        for name in scores.frame_iou}
    return result


@dataclass
class Predictions:
    """Everything an evaluation produced, on the CPU: per-sample scores, embeddings and, when
    kept, the maps behind them (for figures)."""

    scores: SampleScores
    labels: torch.Tensor  # (N,) sounding class ids
    img_emb: torch.Tensor  # (N, D) spatial mean of each visual map
    aud_emb: torch.Tensor  # (N, D) audio embeddings
    ids: list[str] = field(default_factory=list)
    clips: torch.Tensor | None = None  # (N,) clip index of each frame (AVSBench S4), else None
    av: torch.Tensor | None = None  # (N, H, W) audio-visual maps in [0, 1]
    av_raw: torch.Tensor | None = None  # (N, H, W) un-normalised maps S[i, i] = cos / tau
    gt: torch.Tensor | None = None  # (N, H, W) ground-truth maps
    objectness: torch.Tensor | None = None  # (N, H, W) objectness maps when a trunk was given
    masks: torch.Tensor | None = None  # (N, H', W') segmentation masks when the dataset has them
    alpha: float = OGL_ALPHA  # the OGL weight the ``av_ogl`` scores used

    @classmethod
    def from_maps(cls, av_raw: torch.Tensor, gt: torch.Tensor, on_screen: torch.Tensor, *, tau: float,
                  objectness: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                  alpha: float = OGL_ALPHA, ids: list[str] | None = None, clips: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, count_empty_gt: bool = False) -> "Predictions":
        """Predictions of maps made elsewhere (reference maps, tests), scored as ``predict`` does."""
        n = av_raw.shape[0]
        maps = localisation_maps(av_raw, objectness, alpha)
        scores = SampleScores.concatenate([score_batch(maps, av_raw, gt, on_screen, tau, masks, count_empty_gt)])
        return cls(scores=scores, labels=labels if labels is not None else torch.zeros(n, dtype=torch.long),
                   img_emb=torch.zeros(n, 0), aud_emb=torch.zeros(n, 0),
                   ids=ids if ids is not None else [str(i) for i in range(n)], clips=clips,
                   av=maps["av"], av_raw=av_raw, gt=gt, objectness=objectness, masks=masks, alpha=alpha)

    @property
    def on_screen(self) -> torch.Tensor:
        """(N,) False for silent / off-screen pairs."""
        return self.scores.on_screen

    def empty_gt_ids(self) -> list[str]:
        """Ids of the on-screen samples whose ground truth is empty: left out of the cIoU counts or
        scored 0 (``EvalConfig.empty_gt``), never silently."""
        empty = self.scores.empty_gt
        return [] if empty is None else [self.ids[i] for i in empty.nonzero().flatten().tolist()]

    def summary(self, protocols=None) -> dict:
        """``summarize_scores`` of these predictions."""
        return summarize_scores(self.scores, protocols, self.clips)

    def ogl(self, alpha: float | None = None) -> torch.Tensor:
        """The OGL maps (N, H, W), at the evaluation's ``alpha`` unless another is given."""
        if self.objectness is None or self.av is None:
            raise ValueError("these predictions hold no objectness maps: evaluate with an objectness trunk "
                             "and keep_maps=True")
        return object_guided(self.av, self.objectness, self.alpha if alpha is None else alpha)


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A loader that visits ``dataset`` once in order (``sample.collate``: cached batches pass through)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate, pin_memory=pin_memory)


def clip_index(dataset: Dataset) -> torch.Tensor | None:
    """(N,) clip index of each sample when ``dataset`` groups frames into clips (its
    ``clip_names``: AVSBench S4, and a cache of it), else None."""
    names = clip_names(dataset)
    if names is None:
        return None
    if len(names) != len(dataset):
        raise ValueError(f"{type(dataset).__name__}: {len(names)} clip names for {len(dataset)} samples")
    order: dict[str, int] = {}
    return torch.tensor([order.setdefault(name, len(order)) for name in names])


@dataclass
class ScoredModel:
    """One model of an evaluation pass and how it is scored (``predict``'s settings)."""

    model: AVModel
    tau: float  # the run's train.tau: its maps are S = cos / tau
    objectness_trunk: nn.Module | None = None  # OGL's objectness network; None: the AV map alone
    alpha: float = OGL_ALPHA
    amp: bool | str = "auto"  # bf16 autocast for the encoders ("auto": on CUDA only)
    keep_maps: bool = True
    settings: EvalConfig = field(default_factory=EvalConfig)


@torch.no_grad()
def predict(
    model: AVModel,
    loader: DataLoader,
    *,
    tau: float,
    device: torch.device | str = "cpu",
    objectness_trunk: nn.Module | None = None,
    alpha: float = OGL_ALPHA,
    amp: bool | str = "auto",
    progress: bool = False,
    keep_maps: bool = True,
    settings: EvalConfig | None = None,
) -> Predictions:
    """Run ``model`` (trained at ``tau``) over ``loader``, scoring each batch on the device (no
    per-sample Python).

    ``amp``: bf16 autocast for the encoders ("auto": on CUDA only); maps and scores stay fp32.
    ``keep_maps=False`` keeps only scores and embeddings, for evaluations that need no figures.
    ``settings``: how maps are upsampled and empty gts counted (default ``EvalConfig()``).
    """
    job = ScoredModel(model, tau, objectness_trunk, alpha, amp, keep_maps, settings or EvalConfig())
    return predict_together([job], loader, device, progress, share_features=False)[0]


@torch.no_grad()
def predict_together(jobs: list[ScoredModel], loader: DataLoader, device: torch.device | str = "cpu",
                     progress: bool = False, share_features: bool = True) -> list[Predictions]:
    """``predict`` of several models in one pass over ``loader``: one ``Predictions`` per job.

    With ``share_features``, each batch's trunk features are computed once per group of trunks
    that hold the same weights and take the same input (``shared_features``): the frozen visual
    trunk of runs that kept their ImageNet weights, and an objectness network several jobs read.
    Each model reads its group's features through ``VisualEncoder.embed``, so its maps, scores and
    embeddings are those of a pass of its own, bit for bit. Without, every model runs whole.
    """
    device = torch.device(device)
    for job in jobs:
        job.model.eval()
    bf16 = [use_on(job.amp, device, "amp") for job in jobs]
    keys, digests = [(None, None)] * len(jobs), {}
    if share_features:
        keys = [feature_keys(job.model, job.objectness_trunk, on, digests) for job, on in zip(jobs, bf16)]
    collected = [_Collected(job) for job in jobs]
    for batch in track(loader, "evaluating", enabled=progress, leave=False, unit="batches"):
        images = batch["image"].to(device, non_blocking=True)  # (b, 3, H, W) uint8
        waves = batch["audio"].to(device, non_blocking=True)  # (b, T)
        gt = batch["gt_map"].to(device, non_blocking=True)
        masks = batch["mask"].to(device, non_blocking=True) if "mask" in batch else None
        computed: dict[tuple, torch.Tensor] = {}  # this batch's shared features and objectness maps
        for job, on, (visual_key, objectness_key), out in zip(jobs, bf16, keys, collected):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on):
                img_maps, aud_emb = encode(job.model, images, waves, computed, visual_key)  # (b, D, h, w), (b, D)
                objectness = None
                if job.objectness_trunk is not None:
                    objectness = objectness_once(job.objectness_trunk, images, job.settings.objectness_upsample,
                                                 computed, objectness_key)  # (b, H, W)
            out.add(batch, images, gt, masks, img_maps, aud_emb, objectness)
    return [out.predictions(loader.dataset) for out in collected]


class _Collected:
    """What one job's evaluation gathers batch by batch: scores, embeddings and kept maps."""

    def __init__(self, job: ScoredModel) -> None:
        self.job = job
        self.scored: list[SampleScores] = []
        self.parts: dict[str, list] = {k: [] for k in ("labels", "img_emb", "aud_emb", "av", "av_raw", "gt", "obj",
                                                       "masks")}
        self.ids: list[str] = []

    def add(self, batch: dict, images: torch.Tensor, gt: torch.Tensor, masks: torch.Tensor | None,
            img_maps: torch.Tensor, aud_emb: torch.Tensor, objectness: torch.Tensor | None) -> None:
        """Score one batch's features where they lie and keep what the predictions hold."""
        settings, parts = self.job.settings, self.parts
        raw = raw_av_maps(img_maps, aud_emb, tuple(images.shape[2:]), self.job.tau, settings.av_upsample)  # (b, H, W)
        maps = localisation_maps(raw, objectness, self.job.alpha)
        self.scored.append(score_batch(maps, raw, gt, batch["on_screen"], self.job.tau, masks,
                                       settings.empty_gt == "score-zero"))
        parts["img_emb"].append(img_maps.mean(dim=(2, 3)))
        parts["aud_emb"].append(aud_emb)
        parts["labels"].append(batch["label"])
        if self.job.keep_maps:  # the host copy waits for the batch: only for callers that draw the maps
            parts["av"].append(maps["av"].cpu())
            parts["av_raw"].append(raw.cpu())
            parts["gt"].append(batch["gt_map"])
            if objectness is not None:
                parts["obj"].append(objectness.cpu())
            if masks is not None:
                parts["masks"].append(batch["mask"])
        self.ids.extend(batch["id"])

    def predictions(self, dataset: Dataset) -> Predictions:
        """Everything gathered, joined on the CPU."""
        if not self.ids:
            raise ValueError("the evaluation loader yielded no samples")
        joined = {k: torch.cat(v).cpu() if v else None for k, v in self.parts.items()}
        return Predictions(
            scores=SampleScores.concatenate(self.scored), labels=joined["labels"],
            img_emb=joined["img_emb"], aud_emb=joined["aud_emb"], ids=self.ids, clips=clip_index(dataset),
            av=joined["av"], av_raw=joined["av_raw"], gt=joined["gt"],
            objectness=joined["obj"], masks=joined["masks"], alpha=self.job.alpha,
        )


def evaluate(
    model: AVModel,
    dataset: Dataset,
    *,
    tau: float,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    objectness_trunk: nn.Module | None = None,
    alpha: float = OGL_ALPHA,
    num_workers: int = 0,
    progress: bool = False,
    keep_maps: bool = True,
    protocols=None,
    amp: bool | str = "auto",
    settings: EvalConfig | None = None,
) -> tuple[dict, Predictions]:
    """Score a model trained at ``tau`` on a test set: ``summarize_scores`` of AV (and OBJ and AV+OGL
    with a trunk), and the predictions behind it; ``settings`` as ``predict`` (a run's ``config.eval``)."""
    loader = eval_loader(dataset, batch_size, num_workers, pin_memory=torch.device(device).type == "cuda")
    preds = predict(model, loader, tau=tau, device=device, objectness_trunk=objectness_trunk, alpha=alpha, amp=amp,
                    progress=progress, keep_maps=keep_maps, settings=settings)
    return preds.summary(protocols), preds
