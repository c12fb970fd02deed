"""Notebook 02: how well FNAC's adjacency matrices find the pairs that truly share a class.

Each (B, B) matrix scores every off-diagonal pair of a batch; with the labels known, it is a
detector of same-class pairs, scored by ROC, precision-recall and R-precision (plain numpy, no
sklearn), on one batch and averaged over real batches; then the heatmaps and detector curves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure
from torch.utils.data import Dataset

from ..losses import audio_adjacency, foreground_adjacency, mil_logits, visual_adjacency
from ..model import AVModel
from .common import (HEATMAP_STYLE, MAX_WIDTH, STYLE, as_numpy, batch_features, class_name, false_negative_rate,
                     legible, markdown_table, random_batches, same_class_pairs)
from .seed_noise import listed


def adjacency_matrices(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float, fg_threshold: float, fg_eps: float
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


def adjacency_detection(model: AVModel, dataset: Dataset, label_sets: dict[str, np.ndarray], batch_size: int,
                        num_batches: int, seed: int, tau: float, fg_threshold: float, fg_eps: float,
                        device: torch.device | str = "cpu",
                        progress: bool = True) -> dict[str, dict[str, dict[str, float]]]:
    """``pair_detection`` of every ``adjacency_matrices`` entry, averaged over real batches:
    {label set: {matrix: {auroc, average_precision, r_precision, positive_rate, batches}}}.

    A batch whose labelling has no same-class pair cannot score a detector and is skipped for that
    labelling; ``batches`` counts the ones used.
    """
    scores: dict[str, dict[str, list[dict]]] = {name: {} for name in label_sets}
    for indices, batch in random_batches(dataset, batch_size, num_batches, seed, progress, "pair detection"):
        matrices = adjacency_matrices(*batch_features(model, batch, device), tau, fg_threshold, fg_eps)
        for name, labels in label_sets.items():
            batch_labels = np.asarray(labels)[indices]
            if not 0 < false_negative_rate(batch_labels) < 1:
                continue
            for matrix_name, matrix in matrices.items():
                scores[name].setdefault(matrix_name, []).append(pair_detection(matrix.cpu().numpy(), batch_labels))
    return {name: {matrix_name: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} | {"batches": len(rows)}
                   for matrix_name, rows in per_matrix.items()}
            for name, per_matrix in scores.items()}


# ---------------------------------------------------------------------------------------------
# Figures.


def _class_ticks(labels_sorted: np.ndarray, boundaries: np.ndarray, class_names, max_labels: int) -> list:
    """(centre, name) of the class blocks to label, skipping a name that would overlap the previous one."""
    starts = np.r_[0, boundaries]
    centres = (starts + np.r_[boundaries, len(labels_sorted)] - 1) / 2
    gap, shown, last = len(labels_sorted) / max_labels, [], -np.inf
    for start, centre in zip(starts, centres):
        if centre - last >= gap:
            shown.append((centre, class_name(class_names, int(labels_sorted[start]))))
            last = centre
    return shown


MATRIX_TITLES = {"audio": "audio-audio $A_{aud}$", "visual": "image-image $A_{img}$",
                 "foreground": "sounding region $A_{fg}$", "image-audio logits": "image-audio logits $L$"}


@legible
def plot_adjacency(matrices: dict, labels, class_names=None, rows=("raw", "row softmax"), title: str | None = None,
                   size: float = 3.9) -> Figure:
    """(B, B) matrices as heatmaps with the batch ordered by class and lines at class boundaries:
    same-class pairs are the blocks on the diagonal, named along both axes. One row per matrix;
    columns ``raw`` and/or ``row softmax`` (what FNAC compares, row by row, with the image-audio
    logits). Colours span the off-diagonal entries; the diagonal saturates."""
    order, boundaries = order_by_class(labels)
    labels_sorted = as_numpy(labels)[order]
    ticks = _class_ticks(labels_sorted, boundaries, class_names, max_labels=int(size * 6))  # ~one per 12 px
    with sns.axes_style(HEATMAP_STYLE):
        fig, axes = plt.subplots(len(matrices), len(rows), figsize=(MAX_WIDTH, (size + 1.0) * len(matrices)),
                                 squeeze=False, layout="constrained")
    for r, (name, matrix) in enumerate(matrices.items()):
        for c, kind in enumerate(rows):
            values = as_numpy(matrix).astype(float)
            values = row_softmax(values) if kind == "row softmax" else values
            values = values[np.ix_(order, order)]  # (B, B), grouped by class
            # Self-similarity (1 / tau for unit vectors) would swamp the scale: fit it to the
            # off-diagonal pairs, where the false negatives are, and let the diagonal saturate.
            rest = off_diagonal(values)
            ax = axes[r, c]
            image = ax.imshow(values, cmap="rocket" if kind == "raw" else "mako", interpolation="nearest",
                              vmin=rest.min(), vmax=rest.max())
            bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, extend="max")
            bar.set_label("similarity / tau" if kind == "raw" else "softmax of the row")
            for b in boundaries:
                ax.axhline(b - 0.5, color="white", lw=0.8)
                ax.axvline(b - 0.5, color="white", lw=0.8)
            ax.set_xticks([t for t, _ in ticks], [n for _, n in ticks], rotation=90, fontsize=8)
            ax.set_yticks([t for t, _ in ticks], [n for _, n in ticks] if c == 0 else [], fontsize=8)
            label = MATRIX_TITLES.get(name, name)
            ax.set_title(label if kind == "raw" else f"row softmax of {label}")
    if title:
        fig.suptitle(title)
    return fig


@legible
def plot_detector_roc(matrices: dict, labels, title: str | None = None) -> Figure:
    """ROC (left) and precision-recall (right) of each matrix's off-diagonal entries as a detector
    of same-class pairs, AUROC and average precision in the legends."""
    targets = off_diagonal(same_class_pairs(labels))
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(MAX_WIDTH, 4.6))
    for colour, (name, matrix) in zip(sns.color_palette("deep"), matrices.items()):
        scores = off_diagonal(as_numpy(matrix))
        fpr, tpr, _ = roc_curve(scores, targets)
        precision, recall, _ = precision_recall_curve(scores, targets)
        left.plot(fpr, tpr, color=colour, label=f"{name} (AUROC {auroc(scores, targets):.2f})")
        right.step(recall, precision, where="post", color=colour,
                   label=f"{name} (AP {average_precision(scores, targets):.2f})")
    left.plot([0, 1], [0, 1], "k:", label="chance")
    right.axhline(targets.mean(), color="k", ls=":", label=f"chance ({targets.mean():.2f})")
    left.set(xlabel="false-positive rate", ylabel="true-positive rate", title="same-class pair detection: ROC")
    right.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02), title="precision-recall")
    left.legend(loc="lower right")
    right.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The reading: how well each matrix finds the same-class pairs, computed from the scores.

FINDS, PARTLY = 0.9, 0.65  # AUROC from which a matrix finds the same-class pairs, or finds some of them (0.5: chance)
READS = {"audio": "FNS-audio's target, and TNE's", "visual": "FNS-visual's target", "foreground": "TNE's",
         "image-audio logits": "what InfoNCE trains and the FNS terms pull"}


def detection_verdict(auroc_value: float) -> str:
    """``finds them``, ``finds some`` or ``near chance``, by AUROC (``FINDS``, ``PARTLY``)."""
    return "finds them" if auroc_value >= FINDS else "finds some" if auroc_value >= PARTLY else "near chance"


def reading(detection: dict[str, dict[str, dict[str, dict[str, float]]]], before: str = "untrained",
            after: str = "trained") -> str:
    """Notebook 02's reading of its detection scores (``adjacency_detection`` per model), computed
    from them: a line per label set naming what each matrix of the ``after`` model finds, then a
    table of every matrix before and after training with AP beside its chance level and a verdict."""
    lines, body = [], []
    for labels, scores in detection[after].items():
        verdicts = {name: detection_verdict(values["auroc"]) for name, values in scores.items()}
        auroc = {name: f"{name} ({values['auroc']:.2f})" for name, values in scores.items()}
        found = [f"{word}: " + listed([auroc[name] for name in scores if verdicts[name] == word])
                 for word in ("finds them", "finds some", "near chance") if word in verdicts.values()]
        moves = {name: values["auroc"] - detection[before][labels][name]["auroc"] for name, values in scores.items()
                 if name in detection.get(before, {}).get(labels, {})}
        most = max(moves, key=lambda name: abs(moves[name]), default=None)
        moved = "" if most is None else (f" Training moved {most} most, from "
                                         f"{scores[most]['auroc'] - moves[most]:.2f} to {scores[most]['auroc']:.2f}.")
        lines.append(f"* **{labels} labels**, {after} model, AUROC over {next(iter(scores.values()))['batches']:.0f} "
                     f"batches: " + "; ".join(found) + "." + moved)
        for name, values in scores.items():
            start = detection.get(before, {}).get(labels, {}).get(name, {}).get("auroc")
            body.append([labels, name, READS.get(name, ""), None if start is None else f"{start:.2f}",
                         f"{values['auroc']:.2f}", f"{values['average_precision']:.2f}",
                         f"{values['positive_rate']:.2f}", verdicts[name]])
    header = ["labels", "matrix", "what FNAC reads it for", f"AUROC {before}", f"AUROC {after}", f"AP {after}",
              "AP at chance", "reading"]
    return "\n".join(lines) + "\n\n" + markdown_table(header, body) + (
        f"\n\nA matrix *finds them* from AUROC {FINDS}, *finds some* from {PARTLY} (0.5 is chance). Where the matrix "
        "FNAC reads is near chance, its soft targets soften the push on random pairs as often as on same-class ones.")
