"""Notebook 04: every run scored on every test set, read beside the published numbers.

The scores come from ``scoring.evaluate_runs`` (library); here they become the tables of the
notebook (measured scores per protocol and map, the measured gaps beside the published ones, the
published numbers with their sources), its figures (success-rate curves, a grid of maps over the
scenes) and where each map peaks. The pointing game and the listening test read only a map's
maximum, and the multiple-instance loss trains only that maximum (L[i, j] is the largest
similarity over the map): a map can be brightest on average over the sounding object and still
peak elsewhere, and counting where the peaks fall says which. Only the default data's scenes know
every object's pixels (``scene(i).owner``).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ..data.test_sets import TestSet
from ..evaluation import Predictions
from ..metrics import AUC_THRESHOLDS, batch_ciou, median_threshold_masks, success_curve
from ..scoring import PERFECT_MAP, RANDOM_MAP
from .common import (GT_COLOUR, MAP_LABELS, MAX_WIDTH, coinciding, draw_boxes, draw_map, draw_runs, joined, legible,
                     map_colorbar, map_legend, markdown_table, method_label, percent, sound_names)

# ---------------------------------------------------------------------------------------------
# The published numbers beside which the workbook's are read, in percent, with their sources: from
# the FNAC paper's comparison tables (EZ-VSL and FNAC rows) and the SLAVC paper (open set), numbers
# a paper prints, never a leaderboard's approximation of them.

FNAC_PAPER = "FNAC, Sun et al., CVPR 2023 (arXiv 2303.11302), comparison tables"
PUBLISHED: tuple[dict, ...] = (
    *({"method": m, "train_set": t, "test": "vggss", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for m, t, c, a in (("fnac", "VGG-Sound 10k", 37.29, 38.99), ("fnac", "VGG-Sound 144k", 39.50, 39.66),
                         ("fnac", "Flickr 10k", 35.27, 38.00), ("fnac", "Flickr 144k", 33.93, 37.29),
                         ("ezvsl", "VGG-Sound 10k", 37.18, 38.75), ("ezvsl", "VGG-Sound 144k", 38.85, 39.54))),
    *({"method": "ezvsl", "train_set": t, "test": "flickr", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for t, c, a in (("Flickr 10k", 81.93, 62.58), ("Flickr 144k", 83.13, 63.06))),
    {"method": "slavc", "train_set": "VGG-Sound 144k", "test": "flickr/open_set", "AP": 51.63, "max_F1": 59.10,
     "source": "SLAVC, Mo & Morgado, NeurIPS 2022 (extended Flickr-SoundNet)"},
)


def published_rows(test: str | None = None) -> list[dict]:
    """The published numbers (percent), optionally of one test set (``vggss``, ``flickr``...)."""
    return [dict(r) for r in PUBLISHED if test is None or r["test"] == test]


# ---------------------------------------------------------------------------------------------
# Tables in percent: a line per test set, a column per run.


def pivot(rows: list[dict], index=("test_set", "protocol", "map", "metric"),
          column: str = "run") -> tuple[list, dict]:
    """``{index tuple: {column value: value}}`` in first-seen order, and the column values."""
    table: dict[tuple, dict] = {}
    columns: list = []
    for row in rows:
        table.setdefault(tuple(row[k] for k in index), {})[row[column]] = row["value"]
        if row[column] not in columns:
            columns.append(row[column])
    return columns, table


PROTOCOL_METRICS = {"localization": ("cIoU", "AUC"), "open_set": ("AP", "max_F1"), "segmentation": ("mIoU", "F_score")}
PROTOCOL_TITLES = {"localization": "Localisation", "open_set": "Open set (SLAVC's extended test)",
                   "segmentation": "Segmentation (AVSBench S4)"}
REFERENCE_COLUMNS = (RANDOM_MAP, PERFECT_MAP)  # reference maps shown beside the runs
METRIC_LABELS = {"cIoU": "cIoU", "AUC": "AUC", "AP": "AP", "max_F1": "max-F1", "mIoU": "mIoU", "F_score": "F-score"}


def results_tables(rows: list[dict], maps=tuple(MAP_LABELS)) -> list[tuple[str, str]]:
    """Measured scores in percent as (title, markdown table) pairs: one table per protocol and
    map, a line per test set, a column per run and then the reference maps, both metrics of the
    protocol in each cell ("cIoU / AUC"). Runs whose columns are identical share one, headed
    "EZ-VSL = FNAC", so equal numbers are said to be equal rather than repeated."""
    found = []
    for protocol, pair in PROTOCOL_METRICS.items():
        for map_name in maps:
            keep = [r for r in rows if r["protocol"] == protocol and r["map"] == map_name and r["metric"] in pair]
            if not keep:
                continue
            runs, table = pivot(keep, index=("test_set", "metric"))
            tests = list(dict.fromkeys(test for test, _ in table))
            column = {run: [table.get((test, metric), {}).get(run) for test in tests for metric in pair]
                      for run in runs}
            trained = [run for run in runs if run not in REFERENCE_COLUMNS]
            groups = coinciding({run: np.array(column[run], dtype=float) for run in trained})
            shown = [group[0] for group in groups] + [run for run in REFERENCE_COLUMNS if run in runs]
            header = ["test set", *(joined(map(method_label, g)) for g in groups), *shown[len(groups):]]
            body = [[test, *(_pair(table.get((test, pair[0]), {}).get(run), table.get((test, pair[1]), {}).get(run))
                             for run in shown)] for test in tests]
            metrics = " / ".join(METRIC_LABELS[metric] for metric in pair)
            title = f"{PROTOCOL_TITLES[protocol]}, {MAP_LABELS[map_name]} map: {metrics} (%)"
            found.append((title, markdown_table(header, body)))
    return found


def results_markdown(rows: list[dict], maps=tuple(MAP_LABELS)) -> str:
    """``results_tables`` as one markdown text, each table under its title."""
    return "\n\n".join(f"**{title}**\n\n{table}" for title, table in results_tables(rows, maps))


def _pair(first, second) -> str | None:
    if first is None and second is None:
        return None
    return f"{percent(first) or '–'} / {percent(second) or '–'}"


def comparison_rows(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac", label: str = "this workbook",
                    metrics=("cIoU", "AUC")) -> list[dict]:
    """Baseline vs method (percent) and their gap, measured here and as published, side by side."""
    measured = [r for r in rows if r["metric"] in metrics and r["map"] == "av" and r["protocol"] == "localization"]
    _, table = pivot(measured, index=("test_set", "metric"), column="method")
    lines = [{"source": label, "train_set": "-", "test": test, "metric": metric,
              "baseline": 100 * values[baseline], "method": 100 * values[method],
              "gap": 100 * (values[method] - values[baseline])}
             for (test, metric), values in table.items() if baseline in values and method in values]
    # Gaps only between numbers of one source: a leaderboard figure minus a paper's is no gap.
    published: dict[tuple, dict] = {}
    for entry in PUBLISHED:
        for metric in metrics:
            if entry.get(metric) is not None:
                key = (entry["source"], entry["train_set"], entry["test"], metric)
                published.setdefault(key, {})[entry["method"]] = entry[metric]
    for (source, train_set, test, metric), values in published.items():
        if baseline in values and method in values:
            lines.append({"source": source.split(",")[0] + " (published)", "train_set": train_set, "test": test,
                          "metric": metric, "baseline": values[baseline], "method": values[method],
                          "gap": values[method] - values[baseline]})
    return lines


def comparison_markdown(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac",
                        label: str = "this workbook") -> str:
    """``comparison_rows`` as a markdown table (AV maps; percent; gap = method - baseline)."""
    body = [[line["source"], line["train_set"], line["test"], line["metric"], f"{line['baseline']:.2f}",
             f"{line['method']:.2f}", f"{line['gap']:+.2f}"] for line in comparison_rows(rows, baseline, method, label)]
    header = ["source", "train set", "test", "metric", method_label(baseline), method_label(method), "gap"]
    return markdown_table(header, body)


def published_markdown() -> str:
    """The published numbers with their sources."""
    body = [[method_label(r["method"]) if r["method"] != "slavc" else "SLAVC", r["train_set"], r["test"],
             *(None if r.get(k) is None else f"{r[k]:.2f}" for k in ("cIoU", "AUC", "AP", "max_F1")), r["source"]]
            for r in PUBLISHED]
    return markdown_table(["method", "train set", "test", "cIoU", "AUC", "AP", "max-F1", "source"], body)


# ---------------------------------------------------------------------------------------------
# Maps and per-sample scores of the runs.


def map_columns(preds: Predictions) -> dict[str, torch.Tensor]:
    """The maps a prediction holds by key: ``av``, and ``obj`` and ``av_ogl`` with objectness."""
    maps = {"av": preds.av}
    if preds.objectness is not None:
        maps.update(obj=preds.objectness, av_ogl=preds.ogl())
    return maps


def sample_cious(preds: Predictions, map_name: str = "av") -> np.ndarray:
    """Per-sample cIoU of one map (``av``, ``obj``, ``av_ogl``) over the annotated on-screen samples."""
    scores = preds.scores
    return scores.ciou[map_name][scores.annotated].numpy()


def run_cious(predictions: dict, test_name: str, ogl_of: str | None = None) -> dict:
    """Per-sample cIoU of every run's AV map on one test set (and ``ogl_of``'s AV+OGL map)."""
    found = {run: preds for (run, name), preds in predictions.items() if name == test_name}
    cious = {f"{method_label(run)} AV": sample_cious(preds, "av") for run, preds in found.items()}
    if ogl_of is not None and "av_ogl" in found[ogl_of].scores.ciou:
        cious[f"{method_label(ogl_of)} AV+OGL"] = sample_cious(found[ogl_of], "av_ogl")
    return cious


# ---------------------------------------------------------------------------------------------
# Figures: success-rate curves and heatmap grids over the scenes.


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


# ---------------------------------------------------------------------------------------------
# Where a map peaks: on the object that sounds, on a silent object, or on the background.

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
