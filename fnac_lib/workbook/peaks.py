"""Where a map peaks (notebook 04): on the object that sounds, on a silent object, or on the background.

The pointing game and the listening test read only a map's maximum, and the multiple-instance loss
trains only that maximum (L[i, j] is the largest similarity over the map). A map can be brightest
on average over the sounding object and still peak elsewhere; counting where the peaks fall says
which. Only the default data's scenes know every object's pixels (``scene(i).owner``).
"""

from __future__ import annotations

import torch

from ..evaluation import Predictions
from .labels import method_label
from .tables import markdown_table

REGIONS = ("sounding object", "silent object", "background")


def peak_regions(av_maps: torch.Tensor, dataset) -> dict[str, float] | None:
    """Shares of the maps ``av_maps`` (N, H, W), sample i of ``dataset``, whose maximum falls on the
    sounding object, on a silent one, or on no object; None for datasets that do not know their
    objects (real benchmarks)."""
    if not hasattr(dataset, "scene"):
        return None
    counts = dict.fromkeys(REGIONS, 0)
    peaks = av_maps.flatten(1).argmax(dim=1)  # (N,) flat index of each map's maximum
    for index, peak in enumerate(peaks.tolist()):
        scene = dataset.scene(index)
        if scene.owner.shape != av_maps.shape[1:]:
            raise ValueError(f"maps of {tuple(av_maps.shape[1:])} px for scenes of {scene.owner.shape} px")
        row, col = divmod(peak, av_maps.shape[2])
        if scene.masks[:, row, col].any():
            counts["sounding object"] += 1
        elif scene.owner[row, col] >= 0:
            counts["silent object"] += 1
        else:
            counts["background"] += 1
    return {region: count / len(peaks) for region, count in counts.items()}


def peak_table(predictions: dict[tuple[str, str], Predictions], test_set) -> dict[str, dict[str, float]]:
    """``{run label: {region: share}}`` of every run's AV map on one test set (kept maps only)."""
    found = {}
    for (run, name), preds in predictions.items():
        if name == test_set.name and preds.av is not None:
            shares = peak_regions(preds.av, test_set.dataset)
            if shares is not None:
                found[method_label(run)] = shares
    return found


def peak_markdown(table: dict[str, dict[str, float]]) -> str:
    """``peak_table`` as a table in percent: a line per run, a column per region."""
    return markdown_table(["run", *REGIONS], [[run, *(f"{100 * shares[r]:.1f}" for r in REGIONS)]
                                               for run, shares in table.items()])
