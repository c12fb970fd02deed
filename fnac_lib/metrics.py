"""Localisation metrics of the Flickr-SoundNet / VGG-SS protocol (README, "Protocols").

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


def ciou_of_masks(predicted: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """sum(pred * gt) / (sum(gt) + sum(pred * [gt == 0])) over the last two dims (0 where empty).

    ``predicted`` is a 0/1 mask, ``gt`` a possibly fractional map of the same shape (..., H, W).
    """
    predicted, gt = predicted.float(), gt.float()
    dims = (-2, -1)
    intersection = (predicted * gt).sum(dim=dims)
    union = gt.sum(dim=dims) + (predicted * (gt == 0)).sum(dim=dims)
    return torch.where(union > 0, intersection / union.clamp_min(1e-12), torch.zeros_like(union))


def batch_ciou(pred_maps: torch.Tensor, gt_maps: torch.Tensor) -> torch.Tensor:
    """cIoU of every map in a (B, H, W) batch, computed on the maps' device. Returns (B,)."""
    if pred_maps.shape != gt_maps.shape or pred_maps.ndim != 3:
        raise ValueError(
            f"batch_ciou expects (B, H, W) maps of one shape, got {tuple(pred_maps.shape)} and {tuple(gt_maps.shape)}"
        )
    return ciou_of_masks(median_threshold_masks(pred_maps.float()), gt_maps)


def ciou_at_threshold(pred_maps: torch.Tensor, gt_maps: torch.Tensor, threshold: float) -> torch.Tensor:
    """cIoU with the pixels where map >= ``threshold`` predicted (the protocol uses the median).

    Takes (H, W) or (B, H, W) maps; returns a 0-d or (B,) tensor.
    """
    if pred_maps.shape != gt_maps.shape or pred_maps.ndim not in (2, 3):
        raise ValueError(f"expected two (H, W) or (B, H, W) maps of one shape, got "
                         f"{tuple(pred_maps.shape)} and {tuple(gt_maps.shape)}")
    return ciou_of_masks(pred_maps.float() >= threshold, gt_maps)


def median_rule_ceiling(gt_maps: torch.Tensor) -> torch.Tensor:
    """The best cIoU any map can reach under the protocol's median rule: (..., H, W) -> (...).

    The rule predicts N - N // 2 pixels; the best such set takes the highest gt values, which
    maximises the overlap and predicts as little background as possible. A binary box covering
    a share s < 1/2 of the image caps cIoU at 2s: below a quarter of the image, cIoU >= 0.5 (the
    reported "cIoU") is out of reach even for a perfect map.
    """
    values = gt_maps.float().flatten(-2).sort(dim=-1, descending=True).values  # (..., N)
    chosen = values[..., : values.shape[-1] - values.shape[-1] // 2]  # (..., N - N // 2)
    union = values.sum(dim=-1) + (chosen == 0).sum(dim=-1)
    return torch.where(union > 0, chosen.sum(dim=-1) / union.clamp_min(1e-12), torch.zeros_like(union))


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

