"""Figures of notebooks 01 and 02: each function takes arrays or tensors (and labels) and returns a
matplotlib Figure; the notebook decides whether to show or save it. Sizes and fonts follow
``figure_style`` (legible at the width JupyterLab and the HTML report show them).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import adjacency, false_negatives
from .figure_style import MAX_WIDTH, legible

STYLE = "whitegrid"
HEATMAP_STYLE = "white"


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _name(class_names, index: int) -> str:
    if index < 0:
        return "unknown"
    return str(class_names[index]) if class_names is not None else str(index)


def save_figure(fig: Figure, out_dir: Path | str, name: str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``out_dir/name.png`` (creating the folder) and return the path."""
    path = Path(out_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def draw_boxes(ax, boxes, size: tuple[int, int], color: str = "lime", lw: float = 1.5) -> None:
    """Draw normalised ``x1, y1, x2, y2`` boxes on an axis showing an ``(H, W)`` image (pixel
    centres at integers, as ``imshow`` places them: a box edge sits half a pixel before)."""
    height, width = size
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        ax.add_patch(Rectangle((x1 * width - 0.5, y1 * height - 0.5), (x2 - x1) * width, (y2 - y1) * height,
                               fill=False, edgecolor=color, lw=lw))


@legible
def sample_gallery(samples: list[dict], class_names=None, ncols: int = 3, size: float = 3.3) -> Figure:
    """Pictures of a few samples with their sounding boxes, the sounding class as the title and
    every object's class underneath."""
    ncols = min(ncols, len(samples))
    nrows = -(-len(samples) // ncols)
    with sns.axes_style(HEATMAP_STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.8) * nrows), squeeze=False)
    for ax in axes.flat[len(samples):]:
        fig.delaxes(ax)
    for ax, sample in zip(axes.flat, samples):
        image = _numpy(sample["image"]).transpose(1, 2, 0)  # (H, W, 3)
        height, width = image.shape[:2]
        ax.imshow(image)
        draw_boxes(ax, _numpy(sample["boxes"]), (height, width), color="yellow", lw=2)
        sounding = _name(class_names, int(sample["label"]))
        ax.set_title(f"sounds: {sounding}" if sample.get("on_screen", True) else f"{sounding} (off screen)")
        scene = ", ".join(_name(class_names, int(c)) for c in _numpy(sample["classes"]).ravel())
        ax.set_xlabel(f"in the picture: {scene}", wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


@legible
def plot_same_class_negatives(batch_sizes, curves: dict[str, dict],
                              panels: dict[str, list[str]] | None = None) -> Figure:
    """False negatives per anchor against batch size: lines are (B - 1) sum_c p_c^2, markers the
    mean (+- std) over sampled batches, one colour per label set.

    ``curves``: {label set: {"expected": (n,), "measured": (n,), "std": (n,)}} as
    ``false_negatives.false_negative_curves`` returns; ``panels``: {title: [label sets]} (default: one panel).
    """
    sizes = _numpy(batch_sizes)
    panels = panels or {"": list(curves)}
    colours = dict(zip(curves, sns.color_palette("deep")))
    with sns.axes_style(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, (title, names) in zip(axes.flat, panels.items()):
        for name in names:
            values = curves[name]
            ax.plot(sizes, values["expected"], color=colours[name], label=f"{name}: expected")
            if "measured" in values:
                ax.errorbar(sizes, values["measured"], yerr=values.get("std"), fmt="o", color=colours[name], ms=4,
                            capsize=2, label=f"{name}: measured")
        ax.set(xscale="log", yscale="log", title=title, xlabel="batch size B")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.legend(loc="lower right")  # the counts rise to the upper right: this corner stays empty
    axes.flat[0].set_ylabel("same-class negatives per anchor")
    fig.tight_layout()
    return fig


@legible
def plot_infonce_floor(batch_sizes, floors: dict[str, np.ndarray]) -> Figure:
    """Left: the expected symmetric-InfoNCE floor per label set against the chance loss 2 log B.
    Right: the floor as a fraction of the chance loss, the part training can never remove."""
    sizes = _numpy(batch_sizes)
    chance = false_negatives.chance_infonce(sizes)
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(sizes, chance, "k--", label="chance, 2 log B")
    for colour, (name, floor) in zip(sns.color_palette("deep"), floors.items()):
        left.plot(sizes, _numpy(floor), "o-", color=colour, ms=4, label=name)
        right.plot(sizes, _numpy(floor) / chance, "o-", color=colour, ms=4, label=name)
    left.set(xscale="log", xlabel="batch size B", ylabel="symmetric InfoNCE", title="lowest reachable loss")
    right.set(xscale="log", xlabel="batch size B", ylabel="floor / chance", ylim=(0, 1),
              title="share of the starting loss that cannot go")
    for ax in (left, right):
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.legend()
    fig.tight_layout()
    return fig


@legible
def plot_gradient_split(summaries: dict[str, dict]) -> Figure:
    """Where InfoNCE's push apart goes, per condition (``false_negatives.gradient_split_summary``).

    Left: two shares per condition, of the negative pairs that are same-class and of the push
    that lands on them. Right: the mean push on one same-class pair against one true-negative pair.
    """
    names = list(summaries)
    y = np.arange(len(names))
    palette = sns.color_palette("deep")
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(MAX_WIDTH, 1.2 + 0.5 * len(names)), sharey=True)
    left.barh(y - 0.2, [summaries[n]["fn_rate"] for n in names], 0.4, color=palette[7],
              label="same-class share of the negative pairs")
    left.barh(y + 0.2, [summaries[n]["fn_push_share"] for n in names], 0.4, color=palette[3],
              label="same-class share of the push")
    left.set(xlabel="share (0 to 1)", xlim=(0, 1), title="how much of the push hits same-class pairs")
    right.barh(y - 0.2, [summaries[n]["push_per_tn_pair"] for n in names], 0.4, color=palette[0],
               label="one true negative")
    right.barh(y + 0.2, [summaries[n]["push_per_fn_pair"] for n in names], 0.4, color=palette[3],
               label="one same-class negative")
    right.set(xlabel="dL / dL_ij, mean per pair", title="push on one pair")
    left.set_yticks(y, names)
    left.invert_yaxis()  # first condition on top
    for ax in (left, right):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / len(names)), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def _class_ticks(labels_sorted: np.ndarray, boundaries: np.ndarray, class_names, max_labels: int) -> list:
    """(centre, name) of the class blocks to label, skipping a name that would overlap the previous one."""
    starts = np.r_[0, boundaries]
    centres = (starts + np.r_[boundaries, len(labels_sorted)] - 1) / 2
    gap, shown, last = len(labels_sorted) / max_labels, [], -np.inf
    for start, centre in zip(starts, centres):
        if centre - last >= gap:
            shown.append((centre, _name(class_names, int(labels_sorted[start]))))
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
    order, boundaries = adjacency.order_by_class(labels)
    labels_sorted = _numpy(labels)[order]
    ticks = _class_ticks(labels_sorted, boundaries, class_names, max_labels=int(size * 6))  # ~one per 12 px
    with sns.axes_style(HEATMAP_STYLE):
        fig, axes = plt.subplots(len(matrices), len(rows), figsize=(MAX_WIDTH, (size + 1.0) * len(matrices)),
                                 squeeze=False, layout="constrained")
    for r, (name, matrix) in enumerate(matrices.items()):
        for c, kind in enumerate(rows):
            values = _numpy(matrix).astype(float)
            values = adjacency.row_softmax(values) if kind == "row softmax" else values
            values = values[np.ix_(order, order)]  # (B, B), grouped by class
            # Self-similarity (1 / tau for unit vectors) would swamp the scale: fit it to the
            # off-diagonal pairs, where the false negatives are, and let the diagonal saturate.
            rest = adjacency.off_diagonal(values)
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
    targets = adjacency.off_diagonal(false_negatives.same_class_pairs(labels))
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(MAX_WIDTH, 4.6))
    for colour, (name, matrix) in zip(sns.color_palette("deep"), matrices.items()):
        scores = adjacency.off_diagonal(_numpy(matrix))
        fpr, tpr, _ = adjacency.roc_curve(scores, targets)
        precision, recall, _ = adjacency.precision_recall_curve(scores, targets)
        left.plot(fpr, tpr, color=colour, label=f"{name} (AUROC {adjacency.auroc(scores, targets):.2f})")
        right.step(recall, precision, where="post", color=colour,
                   label=f"{name} (AP {adjacency.average_precision(scores, targets):.2f})")
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
