"""How well FNAC's adjacency matrices find the pairs that truly share a class (notebook 02).

Each (B, B) matrix scores every off-diagonal pair of a batch; with the labels known, it is a
detector of same-class pairs, scored by ROC, precision-recall and R-precision. No sklearn: the
ROC / precision-recall code is plain numpy.
"""

from __future__ import annotations

import numpy as np
import torch

from ..constants import FG_THRESHOLD, TAU
from ..losses import audio_adjacency, foreground_adjacency, mil_logits, visual_adjacency
from .false_negatives import same_class_pairs


def adjacency_matrices(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float = TAU, fg_threshold: float = FG_THRESHOLD,
    fg_eps: float = 1e-8,
) -> dict[str, torch.Tensor]:
    """FNAC's three intra-modal adjacency matrices and the image-audio MIL logits, each (B, B)."""
    with torch.no_grad():
        return {
            "audio": audio_adjacency(aud_emb, tau),
            "visual": visual_adjacency(img_maps, tau),
            "foreground": foreground_adjacency(img_maps, aud_emb, tau, fg_threshold, fg_eps),
            "image-audio logits": mil_logits(img_maps, aud_emb, tau),
        }


def row_softmax(matrix) -> np.ndarray:
    """Row-wise softmax, the normalisation FNAC applies before comparing matrices."""
    matrix = np.asarray(matrix, dtype=float)
    shifted = np.exp(matrix - matrix.max(axis=1, keepdims=True))  # subtract the row max: no overflow at 1/tau
    return shifted / shifted.sum(axis=1, keepdims=True)


def off_diagonal(matrix) -> np.ndarray:
    """(B (B - 1),) off-diagonal entries, row by row."""
    matrix = np.asarray(matrix)
    return matrix[~np.eye(len(matrix), dtype=bool)]


def _ranked(scores, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Cumulative TP / FP counts at each distinct threshold, highest score first."""
    scores = np.asarray(scores, dtype=float).ravel()
    targets = np.asarray(targets, dtype=bool).ravel()
    positives = int(targets.sum())
    if positives == 0 or positives == targets.size:
        raise ValueError("need both positive and negative pairs to score a detector")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], targets[order]
    last = np.r_[np.flatnonzero(np.diff(ranked) != 0), ranked.size - 1]  # the end of each run of tied scores
    tp = np.cumsum(hits)[last]
    fp = last + 1 - tp
    return tp, fp, ranked[last], positives, targets.size - positives


def roc_curve(scores, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), from (0, 0) at threshold +inf.

    Tied scores form one point, so the area counts a tied positive-negative pair as one half.
    """
    tp, fp, thresholds, positives, negatives = _ranked(scores, targets)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives], np.r_[np.inf, thresholds]


def auroc(scores, targets) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties 1/2."""
    fpr, tpr, _ = roc_curve(scores, targets)
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(scores, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at each distinct threshold, highest first."""
    tp, fp, thresholds, positives, _ = _ranked(scores, targets)
    return tp / (tp + fp), tp / positives, thresholds


def average_precision(scores, targets) -> float:
    """Sum over thresholds of (R_n - R_{n-1}) P_n: the step-wise area under precision-recall."""
    precision, recall, _ = precision_recall_curve(scores, targets)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def r_precision(matrix, labels) -> float:
    """Mean over anchors with k > 0 same-class partners of the same-class fraction among the
    k highest-scoring other items of its row: precision at the anchor's own recall target."""
    scores = np.asarray(matrix, dtype=float).copy()
    np.fill_diagonal(scores, -np.inf)  # an item is never its own neighbour
    same = same_class_pairs(labels)  # (B, B)
    k = same.sum(axis=1)  # (B,)
    order = np.argsort(-scores, axis=1, kind="stable")  # (B, B)
    hits = np.cumsum(np.take_along_axis(same, order, axis=1), axis=1)  # (B, B)
    rows = np.flatnonzero(k > 0)
    if rows.size == 0:
        raise ValueError("no anchor has a same-class partner in this batch")
    return float(np.mean(hits[rows, k[rows] - 1] / k[rows]))


def pair_detection(matrix, labels) -> dict[str, float]:
    """How well a (B, B) score matrix finds same-class pairs among its off-diagonal entries.

    ``auroc`` (0.5 is chance), ``average_precision`` (chance is ``positive_rate``, the fraction of
    off-diagonal pairs that share a class) and ``r_precision``.
    """
    matrix = np.asarray(matrix, dtype=float)
    scores, targets = off_diagonal(matrix), off_diagonal(same_class_pairs(labels))
    return {
        "auroc": auroc(scores, targets),
        "average_precision": average_precision(scores, targets),
        "r_precision": r_precision(matrix, labels),
        "positive_rate": float(targets.mean()),
    }


def order_by_class(labels) -> tuple[np.ndarray, np.ndarray]:
    """A permutation sorting a batch by class (stable) and the positions where a new class starts
    after the first, where a heatmap draws its class-boundary lines."""
    labels = np.asarray(labels).ravel()
    order = np.argsort(labels, kind="stable")
    boundaries = np.flatnonzero(np.diff(labels[order]) != 0) + 1
    return order, boundaries


def detection_rows(detection: dict[str, dict[str, dict[str, dict[str, float]]]]) -> list[dict]:
    """Flatten {model: {label set: {matrix: scores}}} into one row per (model, labels, matrix)."""
    return [{"model": model, "labels": labels, "matrix": matrix, **values}
            for model, by_labels in detection.items()
            for labels, by_matrix in by_labels.items()
            for matrix, values in by_matrix.items()]
