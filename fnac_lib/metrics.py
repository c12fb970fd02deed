"""Localisation metrics of the Flickr-SoundNet / VGG-SS protocol (fnac_method.md, section 4).

Per sample, the map is thresholded at its median (the top half of the pixels is predicted) and
cIoU = sum(pred * gt) / (sum(gt) + sum(pred * [gt == 0])), with fractional gt allowed. Over a
test set the field reports the fraction of samples with cIoU >= 0.5 (called cIoU or AP50) and
the area under the success-rate curve at 21 thresholds (AUC).

``ciou`` scores one map with numpy; ``batch_ciou`` scores a batch on any device with
``torch.kthvalue`` instead of a per-sample CPU sort. ``tests/test_metrics.py`` shows they agree.
"""

from __future__ import annotations

import numpy as np
import torch

from .losses import normalize_maps  # noqa: F401  (re-exported: per-sample min-max to [0, 1])

AUC_THRESHOLDS = np.linspace(0.0, 1.0, 21)  # 0, 0.05, ..., 1.0


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def ciou(pred_map, gt_map) -> float:
    """cIoU of one raw localisation map against a (possibly fractional) gt map."""
    pred, gt = _as_numpy(pred_map), _as_numpy(gt_map)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"ciou expects two (H, W) maps of one shape, got {pred.shape} and {gt.shape}")
    flat = np.sort(pred, axis=None)
    threshold = flat[flat.size // 2]  # the element upstream takes: top half predicted
    predicted = (pred >= threshold).astype(np.float64)
    union = gt.sum() + (predicted * (gt == 0)).sum()
    return float((predicted * gt).sum() / union) if union > 0 else 0.0


def median_threshold_masks(maps: torch.Tensor) -> torch.Tensor:
    """Binary masks of the top half of each (B, H, W) map, thresholded at sorted[N // 2]."""
    flat = maps.flatten(1)  # (B, N)
    # kthvalue is 1-indexed: the (N//2 + 1)-th smallest is sorted[N // 2]
    threshold = flat.kthvalue(flat.shape[1] // 2 + 1, dim=1).values  # (B,)
    return maps >= threshold.view(-1, 1, 1)


def batch_ciou(pred_maps: torch.Tensor, gt_maps: torch.Tensor) -> torch.Tensor:
    """cIoU of every map in a (B, H, W) batch, computed on the maps' device. Returns (B,)."""
    if pred_maps.shape != gt_maps.shape or pred_maps.ndim != 3:
        raise ValueError(
            f"batch_ciou expects (B, H, W) maps of one shape, got {tuple(pred_maps.shape)} and {tuple(gt_maps.shape)}"
        )
    predicted = median_threshold_masks(pred_maps.float()).float()  # (B, H, W)
    gt = gt_maps.float()
    intersection = (predicted * gt).sum(dim=(1, 2))
    union = gt.sum(dim=(1, 2)) + (predicted * (gt == 0)).sum(dim=(1, 2))
    return torch.where(union > 0, intersection / union.clamp_min(1e-12), torch.zeros_like(union))


def success_curve(cious, thresholds=AUC_THRESHOLDS) -> np.ndarray:
    """Fraction of samples with cIoU >= t for each threshold t (the curve behind AUC)."""
    values = _as_numpy(cious).reshape(-1)
    return np.array([(values >= t).mean() for t in thresholds])


def summarize(cious) -> dict:
    """``cIoU`` (fraction >= 0.5), ``mean_cIoU`` and ``AUC`` (trapezoid over 21 thresholds)."""
    values = _as_numpy(cious).reshape(-1)
    if values.size == 0:
        raise ValueError("summarize needs at least one cIoU value")
    curve = success_curve(values)
    return {
        "cIoU": float((values >= 0.5).mean()),
        "mean_cIoU": float(values.mean()),
        "AUC": float(np.trapezoid(curve, AUC_THRESHOLDS)),
        "n": int(values.size),
    }


def pointing_game(pred_maps: torch.Tensor, gt_maps: torch.Tensor) -> torch.Tensor:
    """1 where the map's maximum falls on a ground-truth pixel (gt > 0), else 0. Returns (B,)."""
    flat_index = pred_maps.flatten(1).argmax(dim=1, keepdim=True)  # (B, 1)
    return (gt_maps.flatten(1).gather(1, flat_index).squeeze(1) > 0).float()


class LocalizationMeter:
    """Collects per-sample cIoU and pointing-game hits across batches, without a host sync per batch."""

    def __init__(self) -> None:
        self.cious: list[torch.Tensor] = []
        self.hits: list[torch.Tensor] = []

    def update(self, pred_maps: torch.Tensor, gt_maps: torch.Tensor) -> torch.Tensor:
        scores = batch_ciou(pred_maps, gt_maps)
        self.cious.append(scores.detach())
        self.hits.append(pointing_game(pred_maps, gt_maps).detach())
        return scores

    def values(self) -> np.ndarray:
        return torch.cat(self.cious).cpu().numpy() if self.cious else np.zeros(0)

    def summary(self) -> dict:
        result = summarize(self.values())
        result["pointing_game"] = float(torch.cat(self.hits).mean().item())
        return result
