"""Benchmark protocols beyond plain cIoU: SLAVC's open-set test and AVSBench S4 segmentation.

Pure functions of batched tensors on any device, shared by the notebooks and the CLI
(README, "Protocols beyond cIoU"). Upstream FNAC ships neither protocol; the definitions follow
SLAVC (``stoneMo/SLAVC``, ``utils.EvaluatorFull``) and AVSBench (``OpenNLPLab/AVSBench``,
``avs_s4/utils/utility.py``), with the deviations stated in each docstring.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import metrics

OBJECTNESS_VALUE_RANGE = (0.0, 2.5)  # SLAVC's fixed range for the ResNet-18 objectness map


def _as_bhw(maps: torch.Tensor, what: str) -> torch.Tensor:
    """Accept (B, H, W) or (B, 1, H, W); return (B, H, W)."""
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise ValueError(f"{what} must be (B, H, W) or (B, 1, H, W), got {tuple(maps.shape)}")
    return maps


# ---------------------------------------------------------------------------------------------
# SLAVC's extended (open-set) test.


def fixed_range_normalize(maps: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Map ``value_range`` linearly onto [0, 1]. Unlike per-sample min-max, this keeps how
    strongly a pair matches, which is what tells a silent pair from a sounding one."""
    low, high = value_range
    return (maps - low) / (high - low)


def av_value_range(tau: float) -> tuple[float, float]:
    """The range of the audio-visual map S = cos / tau of a run trained at ``tau``: [-1/tau, 1/tau]."""
    return -1.0 / tau, 1.0 / tau


def open_set_confidence(
    maps: torch.Tensor, value_range: tuple[float, float], top_fraction: float = 0.25
) -> torch.Tensor:
    """SLAVC's detection confidence: the mean of the top ``top_fraction`` of each map after the
    fixed-range normalisation. Returns (B,).

    Pass *raw* maps with the range they live in: for the audio-visual map S = cos / tau that is
    ``av_value_range(tau)`` (so the score is (cos + 1) / 2); for SLAVC's objectness map
    ``OBJECTNESS_VALUE_RANGE``; for a combination of normalised maps ``(0, 1)``.
    """
    flat = fixed_range_normalize(_as_bhw(maps, "maps").flatten(1).float(), value_range)  # (B, N)
    k = max(1, math.ceil(flat.shape[1] * top_fraction))  # SLAVC: sorted[-N // 4:], i.e. ceil(N / 4) values
    return flat.topk(k, dim=1).values.mean(dim=1)


def open_set_pr(
    confidence: torch.Tensor, ciou: torch.Tensor, on_screen: torch.Tensor, ciou_threshold: float = 0.5
) -> dict:
    """Precision-recall of SLAVC's open-set detection over every distinct confidence threshold.

    A pair is detected when its confidence >= thr. A detected on-screen pair with cIoU >=
    ``ciou_threshold`` is a true positive; any other detection (off-screen/silent pair, or a
    wrong place) a false positive; an undetected on-screen pair a false negative (SLAVC's
    counting: a mislocalised detection is a false positive but not also a miss).

    AP is the all-point interpolated area (precision made non-increasing in recall, summed over
    recall steps from 0). SLAVC evaluates at most 200 subsampled thresholds and drops the first
    recall step, and its max-F1 looks at ~10 thresholds; here every threshold counts, so values
    can differ slightly (upward) from SLAVC's printout. Returns fractions in [0, 1].
    """
    conf = confidence.detach().flatten().double()
    on = on_screen.detach().flatten().bool().to(conf.device)
    good = on & (ciou.detach().flatten().to(conf.device) >= ciou_threshold)
    if not (conf.numel() == on.numel() == good.numel()) or conf.numel() == 0:
        raise ValueError("confidence, ciou and on_screen must be non-empty and of one length")
    order = torch.argsort(conf, descending=True, stable=True)
    sorted_conf = conf[order]
    true_pos = good[order].double().cumsum(0)  # detections are the first i+1 pairs in this order
    false_pos = torch.arange(1, conf.numel() + 1, device=conf.device, dtype=torch.float64) - true_pos
    false_neg = on.double().sum() - on[order].double().cumsum(0)
    last_of_tie = torch.ones_like(sorted_conf, dtype=torch.bool)  # a threshold admits all of a tie
    last_of_tie[:-1] = sorted_conf[:-1] != sorted_conf[1:]
    tp, fp, fn = true_pos[last_of_tie], false_pos[last_of_tie], false_neg[last_of_tie]
    precision = tp / (tp + fp)  # every threshold detects at least one pair
    recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp_min(1e-12), torch.ones_like(tp))
    envelope = precision.flip(0).cummax(0).values.flip(0)  # best precision at this recall or higher
    steps = recall - torch.cat([recall.new_zeros(1), recall[:-1]])
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp_min(1e-12),
                     torch.zeros_like(precision))
    return {
        "AP": float((steps * envelope).sum()),
        "max_F1": float(f1.max()),
        "precision": precision.cpu(),
        "recall": recall.cpu(),
        "f1": f1.cpu(),
        "thresholds": sorted_conf[last_of_tie].cpu(),
    }


def open_set_scores(
    maps: torch.Tensor,
    gt_maps: torch.Tensor,
    on_screen: torch.Tensor,
    value_range: tuple[float, float],
    top_fraction: float = 0.25,
    ciou_threshold: float = 0.5,
) -> dict:
    """SLAVC's extended-test scores of raw localisation maps (B, H, W) against gt maps.

    Confidence as ``open_set_confidence``; cIoU with the FNAC/EZ-VSL median threshold
    (``metrics.batch_ciou``; SLAVC's default instead thresholds the normalised map at 0.5);
    silent or mismatched pairs carry ``on_screen=False`` and an empty gt map. Returns
    ``open_set_pr``'s dict (``AP``, ``max_F1``, the PR curve) plus per-pair ``confidence``, ``ciou``.
    """
    maps, gt_maps = _as_bhw(maps, "maps"), _as_bhw(gt_maps, "gt_maps")
    confidence = open_set_confidence(maps, value_range, top_fraction)  # (B,)
    ciou = metrics.batch_ciou(maps.float(), gt_maps.to(maps.device).float())  # (B,)
    result = open_set_pr(confidence, ciou, on_screen, ciou_threshold)
    result.update(confidence=confidence.detach().cpu(), ciou=ciou.detach().cpu())
    return result


# ---------------------------------------------------------------------------------------------
# AVSBench S4.


def s4_frame_iou(pred_logits: torch.Tensor, gt_masks: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-frame IoU of AVSBench S4: prediction = sigmoid(logit) > 0.5. Returns (N,).

    Empty ground truth follows AVSBench's ``mask_iou``: the frame scores the fraction of pixels
    predicted background (intersection = true negatives, union = all pixels), so an empty
    prediction scores 1 and a full one 0.
    """
    pred = (_as_bhw(pred_logits, "pred_logits").flatten(1) > 0).float()  # sigmoid(x) > 0.5  <=>  x > 0
    gt = (_as_bhw(gt_masks, "gt_masks").flatten(1).to(pred.device) > 0.5).float()  # (N, P)
    inter = (pred * gt).sum(1)
    union = torch.maximum(pred, gt).sum(1)
    empty = gt.sum(1) == 0
    inter = torch.where(empty, ((1 - pred) * (1 - gt)).sum(1), inter)
    union = torch.where(empty, torch.full_like(union, gt.shape[1]), union)
    return inter / (union + eps)


def s4_miou(pred_logits: torch.Tensor, gt_masks: torch.Tensor) -> float:
    """AVSBench S4 mIoU: per-frame IoU (``s4_frame_iou``) averaged over frames."""
    return float(s4_frame_iou(pred_logits, gt_masks).mean())


def s4_fscore_curves(
    pred_logits: torch.Tensor, gt_masks: torch.Tensor, beta2: float = 0.3, num_thresholds: int = 255, chunk: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame F-beta curves over AVSBench's thresholds. Returns ((N, T) curves, (N,) has-object).

    Thresholds are ``linspace(0, 1 - 1e-10, T)`` on sigmoid(logit) (float32, as AVSBench), a pixel
    is positive when prob >= thr, precision = tp / (npred + 1e-20), recall = tp / (ngt + 1e-20),
    F = (1 + b2) P R / (b2 P + R) with 0/0 -> 0. Instead of one pass per threshold, each pixel is
    binned once (``bucketize``) and counts per threshold are reverse cumulative sums of the bins.
    """
    probs = torch.sigmoid(_as_bhw(pred_logits, "pred_logits").flatten(1).float())  # (N, P)
    gt = _as_bhw(gt_masks, "gt_masks").flatten(1).to(probs.device) > 0.5  # (N, P)
    thresholds = torch.linspace(0, 1 - 1e-10, num_thresholds, device=probs.device)  # float32, as upstream
    bins = num_thresholds + 1
    curves = []
    for start in range(0, probs.shape[0], chunk):
        p, g = probs[start:start + chunk], gt[start:start + chunk]
        n = p.shape[0]
        level = torch.bucketize(p, thresholds, right=True)  # (n, P): how many thresholds are <= prob
        flat = (level + bins * torch.arange(n, device=p.device).unsqueeze(1)).flatten()
        hist_pred = torch.bincount(flat, minlength=n * bins).view(n, bins).double()
        hist_tp = torch.bincount(flat, weights=g.flatten().double(), minlength=n * bins).view(n, bins)
        # positive at threshold j <=> level > j: counts are sums over levels j+1..T
        npred = hist_pred.flip(1).cumsum(1).flip(1)[:, 1:]  # (n, T)
        tp = hist_tp.flip(1).cumsum(1).flip(1)[:, 1:]  # (n, T)
        ngt = g.sum(1, keepdim=True).double()  # (n, 1)
        precision, recall = tp / (npred + 1e-20), tp / (ngt + 1e-20)
        f = (1 + beta2) * precision * recall / (beta2 * precision + recall)
        curves.append(torch.nan_to_num(f, nan=0.0))
    return torch.cat(curves), gt.any(dim=1)


def s4_fscore(
    pred_logits: torch.Tensor,
    gt_masks: torch.Tensor,
    beta2: float = 0.3,
    num_thresholds: int = 255,
    frames_per_clip: int | None = None,
) -> float:
    """AVSBench S4 F-score: the F-beta curve averaged over frames, maximised over thresholds.

    Frames with an empty ground truth are left out, as AVSBench does. With ``frames_per_clip``
    (5 for S4) consecutive frames form a clip and the score is ``fscore_from_curves`` per clip;
    without it, one curve over all frames is maximised.
    """
    curves, has_object = s4_fscore_curves(pred_logits, gt_masks, beta2, num_thresholds)  # (N, T), (N,)
    clips = None
    if frames_per_clip is not None:
        if curves.shape[0] % frames_per_clip:
            raise ValueError(f"{curves.shape[0]} frames do not split into clips of {frames_per_clip}")
        clips = torch.arange(curves.shape[0], device=curves.device) // frames_per_clip
    return fscore_from_curves(curves, has_object, clips)


def fscore_from_curves(curves: torch.Tensor, has_object: torch.Tensor, clips: torch.Tensor | None = None) -> float:
    """The S4 F-score from per-frame F-beta curves (N, T) (``s4_fscore_curves``).

    Frames with an empty mask are left out. With ``clips`` (N,) (a clip index per frame) the
    maximum over thresholds is taken per clip and averaged over clips, which is what AVSBench's
    test script reports (it runs one clip per batch); clips with no object at all are left out
    (upstream would count them as 0). Without it, one curve over all frames is maximised.
    """
    if not bool(has_object.any()):
        raise ValueError("the S4 F-score needs at least one frame with a non-empty ground-truth mask")
    if clips is None:
        return float(curves[has_object].mean(0).max())
    _, clip = torch.unique(clips.to(curves.device), return_inverse=True)  # (N,) in 0..C-1
    weight = has_object.to(curves.device).double()  # (N,)
    count = torch.zeros(int(clip.max()) + 1, dtype=torch.float64, device=curves.device).index_add_(0, clip, weight)
    total = torch.zeros(count.shape[0], curves.shape[1], dtype=torch.float64, device=curves.device)
    total.index_add_(0, clip, curves.double() * weight.unsqueeze(1))  # (C, T)
    keep = count > 0
    per_clip = total[keep] / count[keep].unsqueeze(1)  # (C', T)
    return float(per_clip.max(dim=1).values.mean())


def localisation_to_mask_logits(
    maps: torch.Tensor, size, threshold: float = 0.5, eps: float = 1e-6
) -> torch.Tensor:
    """Segmentation logits (B, H, W) from [0, 1] localisation maps (B, h, w) or (B, 1, h, w).

    The map is upsampled bilinearly to ``size`` (int or (H, W)) and mapped through
    logit(m) - logit(threshold): sigmoid(logit) > 0.5 exactly where the map exceeds ``threshold``
    (0.5 by default, so S4's mIoU rule thresholds the normalised map at its midpoint), and with
    the default the F-score's probability thresholds sweep the map values themselves. ``eps``
    keeps the logits finite at 0 and 1.
    """
    maps = _as_bhw(maps, "maps").float().unsqueeze(1)  # (B, 1, h, w)
    size = (size, size) if isinstance(size, int) else tuple(size)
    up = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[:, 0]  # (B, H, W)
    up = up.clamp(eps, 1 - eps)
    return torch.logit(up) - math.log(threshold / (1 - threshold))
