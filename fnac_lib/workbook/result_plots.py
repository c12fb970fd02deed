"""Figures of test results (notebook 04): success-rate curves and heatmap grids over the scenes."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ..metrics import AUC_THRESHOLDS, batch_ciou, success_curve
from .labels import MAP_LABELS, method_label
from .plots import draw_boxes
from .scoring import map_columns
from .test_sets import TestSet


def success_curves(cious: dict[str, np.ndarray], thresholds=AUC_THRESHOLDS, title: str = "") -> Figure:
    """Fraction of samples with cIoU >= t against t, one line per entry; AUC is the area under it."""
    fig = Figure(figsize=(4.5, 3.5), layout="constrained")
    ax = fig.subplots()
    for name, values in cious.items():
        curve = success_curve(values, thresholds)
        ax.plot(thresholds, curve, marker=".", label=f"{name} (AUC {100 * np.trapezoid(curve, thresholds):.1f})")
    ax.axvline(0.5, color="grey", ls=":", lw=1)  # the reported "cIoU" reads the curve here
    ax.set_xlabel("cIoU threshold t")
    ax.set_ylabel("fraction of samples with cIoU >= t")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or "success-rate curves")
    ax.legend(fontsize="small")
    return fig


def heatmap_grid(samples: list[dict], columns: dict[str, torch.Tensor], cell: float = 2.2) -> Figure:
    """Rows: samples; columns: the image with its gt boxes, then each map over the image.

    ``columns`` maps titles to (N, H, W) maps aligned with ``samples``; every panel carries the
    ground-truth boxes and the sample's cIoU for that map (median threshold, as the protocol).
    """
    names = list(columns)
    fig = Figure(figsize=(cell * (1 + len(names)), cell * len(samples)), layout="constrained")
    axes = fig.subplots(len(samples), 1 + len(names), squeeze=False)
    for row, sample in enumerate(samples):
        image = sample["image"].permute(1, 2, 0).numpy()  # (H, W, 3) uint8
        size = image.shape[:2]
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(str(sample["id"])[-24:], fontsize=8)
        for col, name in enumerate(names, start=1):
            m = columns[name][row]
            score = float(batch_ciou(m[None], sample["gt_map"][None])[0])
            axes[row, col].imshow(image)
            axes[row, col].imshow(m.numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            axes[row, col].set_title(f"{name}  cIoU {score:.2f}", fontsize=8)
        for ax in axes[row]:
            draw_boxes(ax, sample["boxes"], size)
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_title("image + gt boxes\n" + axes[0, 0].get_title(), fontsize=8)
    return fig


def heatmap_columns(predictions: dict, test_name: str, baseline: str, method: str,
                    indices) -> dict[str, torch.Tensor]:
    """Grid columns for ``indices`` of one test set: the baseline's AV map, then the method's
    AV, objectness and AV+OGL maps (those it has; OGL at the evaluation's alpha)."""
    index = torch.as_tensor(list(indices))
    columns = {f"{method_label(baseline)} AV": predictions[(baseline, test_name)].av[index]}
    for key, maps in map_columns(predictions[(method, test_name)]).items():
        columns[f"{method_label(method)} {MAP_LABELS[key]}"] = maps[index]
    return columns


def prediction_samples(test: TestSet, indices) -> list[dict]:
    """The samples of ``test`` at ``indices`` (images, boxes, gt) for a heatmap grid."""
    return [test.dataset[int(i)] for i in indices]
