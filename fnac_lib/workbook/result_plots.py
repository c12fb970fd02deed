"""Figures of test results (notebook 04): success-rate curves and heatmap grids over the scenes."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ..metrics import AUC_THRESHOLDS, batch_ciou, median_threshold_masks, success_curve
from .figure_style import (GT_COLOUR, MAX_WIDTH, coinciding, draw_map, draw_runs, joined, legible, map_colorbar,
                           map_legend)
from .labels import MAP_LABELS, method_label, sound_names
from .plots import draw_boxes
from .scoring import map_columns
from .test_sets import TestSet


@legible
def success_curves(cious: dict[str, np.ndarray], thresholds=AUC_THRESHOLDS, title: str = "") -> Figure:
    """Fraction of samples with cIoU >= t against t, one line per entry; AUC is the area under it.
    Entries with identical curves share a line ("EZ-VSL AV = FNAC AV"); the legend sits under
    the axes, off the data."""
    fig = Figure(figsize=(MAX_WIDTH * 0.7, 5.4), layout="constrained")
    ax = fig.subplots()
    curves = {name: success_curve(values, thresholds) for name, values in cious.items()}
    labelled = {f"{joined(group)} (AUC {100 * np.trapezoid(curves[group[0]], thresholds):.1f})": curves[group[0]]
                for group in coinciding(curves)}
    draw_runs(ax, {name: thresholds for name in labelled}, labelled, marker=".")
    ax.axvline(0.5, color="grey", ls=":", lw=1.2, label="t = 0.5: the reported cIoU")
    ax.set_xlabel("cIoU threshold t")
    ax.set_ylabel("fraction of scenes with cIoU >= t")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or "success-rate curves")
    fig.legend(handles=ax.get_lines(), loc="outside lower center", frameon=False)  # under the axes, off the data
    return fig


def merge_identical_columns(columns: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Columns whose maps are identical become one, titled "EZ-VSL AV = FNAC AV"."""
    groups = coinciding({name: maps.flatten().numpy() for name, maps in columns.items()})
    return {joined(group): columns[group[0]] for group in groups}


@legible
def heatmap_grid(samples: list[dict], columns: dict[str, torch.Tensor], names: list[str] | None = None,
                 cell: float | None = None) -> Figure:
    """Rows: samples; columns: the image with its gt boxes, then each map over the image.

    ``columns`` maps titles to (N, H, W) maps in [0, 1] aligned with ``samples``; ``names`` says
    what sounds in each sample (``labels.sound_names``). Every map panel outlines the half of the
    image the protocol predicts (median threshold) and gives that map's cIoU; a colour bar says
    what the colours mean.
    """
    columns = merge_identical_columns(columns)
    titles = list(columns)
    cell = cell or min(2.4, (MAX_WIDTH - 1.0) / (1 + len(titles)))
    fig = Figure(figsize=(cell * (1 + len(titles)) + 1.0, cell * len(samples) + 1.0), layout="constrained")
    axes = fig.subplots(len(samples), 1 + len(titles), squeeze=False)
    names = names or [str(sample["id"]) for sample in samples]
    for row, sample in enumerate(samples):
        image = sample["image"].permute(1, 2, 0).numpy()  # (H, W, 3) uint8
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(names[row], fontsize=10, fontweight="bold")
        for col, title in enumerate(titles, start=1):
            m = columns[title][row]  # (H, W)
            score = float(batch_ciou(m[None], sample["gt_map"][None])[0])
            shown = draw_map(axes[row, col], image, m, median_threshold_masks(m[None])[0])
            axes[row, col].set_title(f"{title}\ncIoU {score:.2f}" if row == 0 else f"cIoU {score:.2f}", fontsize=9)
        for ax in axes[row]:
            draw_boxes(ax, sample["boxes"], image.shape[:2], color=GT_COLOUR, lw=1.8)
            ax.set_xticks([]), ax.set_yticks([])
    map_colorbar(fig, axes[:, 1:], shown)
    fig.legend(handles=map_legend("region the protocol predicts (top half of the map)"), loc="outside lower center",
               ncol=2, frameon=False)
    return fig


def heatmap_columns(predictions: dict, test_name: str, baseline: str, method: str,
                    indices) -> dict[str, torch.Tensor]:
    """Grid columns for ``indices`` of one test set: the baseline's AV map, then the method's
    AV, objectness and AV+OGL maps (those it has; OGL at the evaluation's alpha). The objectness
    column is headed "objectness" alone: it does not depend on the sound."""
    index = torch.as_tensor(list(indices))
    columns = {f"{method_label(baseline)} AV": predictions[(baseline, test_name)].av[index]}
    for key, maps in map_columns(predictions[(method, test_name)]).items():
        # objectness is visual only: the same for every run when a frozen network gives it
        columns[MAP_LABELS[key] if key == "obj" else f"{method_label(method)} {MAP_LABELS[key]}"] = maps[index]
    return columns


def prediction_samples(test: TestSet, indices) -> tuple[list[dict], list[str]]:
    """The samples of ``test`` at ``indices`` (images, boxes, gt) and what sounds in each."""
    samples = [test.dataset[int(i)] for i in indices]
    return samples, sound_names(samples, test.dataset)
