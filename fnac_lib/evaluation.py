"""Batched evaluation on the device: localisation maps, cIoU / AUC, pointing game.

Upstream evaluates one sample at a time with a CPU sort per sample; here every batch is scored
on the device (``metrics.batch_ciou``) and results cross to the host once, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .augment import normalize_images
from .cache import collate
from .localization import OGL_ALPHA, object_guided, objectness_maps, raw_av_maps
from .losses import normalize_maps
from .metrics import LocalizationMeter
from .model import AVModel
from .protocols import localisation_to_mask_logits, open_set_scores, s4_fscore, s4_miou


@dataclass
class Predictions:
    """Everything an evaluation produced, on the CPU, for metrics, tables and figures."""

    av: torch.Tensor  # (N, H, W) audio-visual maps in [0, 1]
    gt: torch.Tensor  # (N, H, W) ground-truth maps
    labels: torch.Tensor  # (N,) sounding class ids
    on_screen: torch.Tensor  # (N,) False for silent / off-screen pairs
    img_emb: torch.Tensor  # (N, D) spatial mean of each visual map
    aud_emb: torch.Tensor  # (N, D) audio embeddings
    objectness: torch.Tensor | None = None  # (N, H, W) objectness maps when a trunk was given
    masks: torch.Tensor | None = None  # (N, H, W) segmentation masks when the dataset has them
    ids: list[str] = field(default_factory=list)
    av_raw: torch.Tensor | None = None  # (N, H, W) un-normalised maps S[i, i] = cos / tau (open-set confidence)

    def ogl(self, alpha: float = OGL_ALPHA) -> torch.Tensor:
        if self.objectness is None:
            raise ValueError("these predictions have no objectness maps: evaluate with an objectness trunk")
        return object_guided(self.av, self.objectness, alpha)


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A loader that visits ``dataset`` once in order (``cache.collate``: cached batches pass through)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate, pin_memory=pin_memory)


@torch.no_grad()
def predict(
    model: AVModel,
    loader: DataLoader,
    device: torch.device | str = "cpu",
    objectness_trunk: nn.Module | None = None,
    amp: bool = True,
    progress: bool = False,
    keep_maps: bool = True,
) -> Predictions:
    """Run ``model`` over ``loader`` and collect maps and embeddings (no per-sample Python)."""
    device = torch.device(device)
    model.eval()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    parts: dict[str, list] = {k: [] for k in ("av", "av_raw", "gt", "labels", "on_screen", "img_emb", "aud_emb", "obj",
                                              "masks")}
    ids: list[str] = []
    for batch in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        images = normalize_images(batch["image"].to(device, non_blocking=True))
        waves = batch["audio"].to(device, non_blocking=True)
        with autocast:
            img_maps, aud_emb = model(images, model.frontend(waves))
        img_maps, aud_emb = img_maps.float(), aud_emb.float()
        size = tuple(images.shape[2:])
        raw = raw_av_maps(img_maps, aud_emb, size)  # (b, H, W)
        parts["av_raw"].append(raw)
        parts["av"].append(normalize_maps(raw))
        parts["img_emb"].append(img_maps.mean(dim=(2, 3)))
        parts["aud_emb"].append(aud_emb)
        if objectness_trunk is not None:
            with autocast:
                parts["obj"].append(objectness_maps(objectness_trunk, images).float())
        parts["gt"].append(batch["gt_map"].to(device))
        parts["labels"].append(batch["label"])
        parts["on_screen"].append(batch["on_screen"])
        if "mask" in batch:
            parts["masks"].append(batch["mask"])
        ids.extend(batch["id"])
    if not ids:
        raise ValueError("the evaluation loader yielded no samples")
    joined = {k: torch.cat(v).cpu() if v else None for k, v in parts.items()}
    return Predictions(
        av=joined["av"], gt=joined["gt"], labels=joined["labels"], on_screen=joined["on_screen"],
        img_emb=joined["img_emb"], aud_emb=joined["aud_emb"], objectness=joined["obj"], masks=joined["masks"],
        ids=ids, av_raw=joined["av_raw"],
    )


def localization_scores(maps: torch.Tensor, gt: torch.Tensor, on_screen: torch.Tensor | None = None) -> dict:
    """cIoU (AP50), mean cIoU, AUC and pointing game over the on-screen samples of a test set."""
    if on_screen is not None:
        maps, gt = maps[on_screen], gt[on_screen]
    meter = LocalizationMeter()
    meter.update(maps, gt)
    return meter.summary()


def evaluate(
    model: AVModel,
    dataset: Dataset,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    objectness_trunk: nn.Module | None = None,
    alpha: float = OGL_ALPHA,
    num_workers: int = 0,
    progress: bool = False,
) -> tuple[dict, Predictions]:
    """Score a model on a localisation test set: AV alone, and OBJ and AV+OGL with a trunk."""
    loader = eval_loader(dataset, batch_size, num_workers, pin_memory=torch.device(device).type == "cuda")
    preds = predict(model, loader, device, objectness_trunk, progress=progress)
    scores = {"av": localization_scores(preds.av, preds.gt, preds.on_screen)}
    if preds.objectness is not None:
        scores["obj"] = localization_scores(preds.objectness, preds.gt, preds.on_screen)
        scores["av_ogl"] = localization_scores(preds.ogl(alpha), preds.gt, preds.on_screen)
    scores.update(protocol_scores(preds))
    return scores, preds


def protocol_scores(preds: Predictions) -> dict:
    """The protocols a test set supports beyond cIoU: SLAVC's open set when it holds silent or
    off-screen pairs, AVSBench S4 mIoU / F-score when it carries segmentation masks."""
    scores = {}
    if not bool(preds.on_screen.all()):
        open_set = open_set_scores(preds.av_raw, preds.gt, preds.on_screen)
        scores["open_set"] = {"AP": float(open_set["AP"]), "max_F1": float(open_set["max_F1"])}
    if preds.masks is not None:
        logits = localisation_to_mask_logits(preds.av, tuple(preds.masks.shape[1:]))
        scores["s4"] = {"mIoU": s4_miou(logits, preds.masks), "F_score": s4_fscore(logits, preds.masks)}
    return scores
