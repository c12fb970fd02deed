"""Notebook 04: every run scored on every test set, its tables, its reading, and where the maps point.

The scores come from ``scoring.evaluate_runs`` (library); here they become the notebook's tables
(per protocol and map, the measured gaps beside the published ones of ``published``), its reading
(``reading``: the sentences and verdicts its numbers support), its figures (success-rate curves, a
grid of maps over the scenes) and where each map peaks. The pointing game and the listening test
read only a map's maximum, and the multiple-instance loss trains only that maximum (L[i, j] is the
largest similarity over the map): counting where the peaks fall says whether they land on the
sounding object. Only the default data's scenes know every object's pixels (``scene(i).owner``).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ..data.test_sets import TestSet
from ..evaluation import Predictions
from ..metrics import AUC_THRESHOLDS, batch_ciou, median_threshold_masks, success_curve
from ..scoring import LARGEST_OBJECT, LISTENING, PERFECT_MAP, RANDOM_MAP
from .common import (GT_COLOUR, MAP_LABELS, MAX_WIDTH, coinciding, draw_boxes, draw_map, draw_runs, joined, legible,
                     map_colorbar, map_legend, markdown_table, method_label, percent, sound_names)
from .published import published_gaps
from .seed_noise import WITHIN, is_lead, listed, metric_name, points, span, spread, spread_note, verdict

# ---------------------------------------------------------------------------------------------
# Tables in percent: a line per test set, a column per run.


def pivot(rows: list[dict]) -> tuple[list[str], dict[tuple[str, str], dict[str, float]]]:
    """``{(test set, metric): {run: value}}`` in first-seen order, and the runs."""
    table: dict[tuple, dict] = {}
    for row in rows:
        table.setdefault((row["test_set"], row["metric"]), {})[row["run"]] = row["value"]
    return list(dict.fromkeys(row["run"] for row in rows)), table


TABLES = (("localization", ("cIoU", "AUC")), ("localization", ("pointing_game",)), (LISTENING, (LISTENING,)),
          ("open_set", ("AP", "max_F1")), ("segmentation", ("mIoU", "F_score")))  # (protocol, metrics of a cell)
PROTOCOL_TITLES = {"localization": "Localisation", LISTENING: "Listening test",
                   "open_set": "Open set (SLAVC's extended test)", "segmentation": "Segmentation (AVSBench S4)"}
REFERENCE_COLUMNS = (RANDOM_MAP, LARGEST_OBJECT, PERFECT_MAP)  # reference maps shown beside the runs, in this order
OBJECTNESS_COLUMN = "objectness"  # the visual-only map: one column when one frozen network gives it to every run


def objectness_rows(rows: list[dict]) -> list[dict]:
    """The objectness maps' rows as reference rows of the AV tables: run ``objectness`` when every
    run's objectness scores are identical (one frozen network made them all), else ``objectness (run)``."""
    found = [r for r in rows if r["map"] == "obj"]
    runs = list(dict.fromkeys(r["run"] for r in found))
    one = len({tuple(r["value"] for r in found if r["run"] == run) for run in runs}) == 1
    return [{**r, "map": "av", "run": OBJECTNESS_COLUMN if one else f"{OBJECTNESS_COLUMN} ({method_label(r['run'])})"}
            for r in found if not one or r["run"] == runs[0]]


def results_tables(rows: list[dict], maps=("av", "av_ogl")) -> list[tuple[str, str]]:
    """Measured scores in percent as (title, markdown table) pairs: one table per protocol, metric
    pair and map, a line per test set, a column per run and then the reference maps (the AV tables
    add the objectness map there), the metrics in each cell ("cIoU / AUC"). Runs whose columns are
    identical share one, headed "EZ-VSL = FNAC", so equal numbers are said to be equal rather than
    repeated."""
    found = []
    rows = [r for r in rows if r["map"] != "obj"] + objectness_rows(rows)
    for protocol, metrics in TABLES:
        for map_name in maps:
            keep = [r for r in rows if r["protocol"] == protocol and r["map"] == map_name and r["metric"] in metrics]
            if not keep:
                continue
            runs, table = pivot(keep)
            tests = list(dict.fromkeys(test for test, _ in table))
            column = {run: [table.get((test, metric), {}).get(run) for test in tests for metric in metrics]
                      for run in runs}
            references = [run for run in runs if run in REFERENCE_COLUMNS[:-1] or run.startswith(OBJECTNESS_COLUMN)]
            references += [run for run in REFERENCE_COLUMNS[-1:] if run in runs]  # the perfect map last
            trained = [run for run in runs if run not in references]
            groups = coinciding({run: np.array(column[run], dtype=float) for run in trained})
            shown = [group[0] for group in groups] + references
            header = ["test set", *(joined(map(method_label, g)) for g in groups), *references]
            body = [[test, *(_cell([table.get((test, metric), {}).get(run) for metric in metrics]) for run in shown)]
                    for test in tests]
            title = f"{PROTOCOL_TITLES[protocol]}, {MAP_LABELS[map_name]} map: {' / '.join(map(metric_name, metrics))} (%)"
            found.append((title, markdown_table(header, body)))
    return found


def results_markdown(rows: list[dict], maps=("av", "av_ogl")) -> str:
    """``results_tables`` as one markdown text, each table under its title."""
    return "\n\n".join(f"**{title}**\n\n{table}" for title, table in results_tables(rows, maps))


def _cell(values) -> str | None:
    """The metrics of one cell in percent, ``12.5 / 40.3``; None where the run has none of them."""
    if all(value is None for value in values):
        return None
    return " / ".join(percent(value) or "–" for value in values)


def comparison_rows(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac", label: str = "this workbook",
                    metrics=("cIoU", "AUC")) -> list[dict]:
    """Baseline vs method (percent) and their gap, measured here (AV maps) and as published, side by side."""
    return [{"source": label, "train_set": "-", "test": g["test_set"], "metric": g["metric"],
             "baseline": 100 * g["baseline"], "method": 100 * g["method"], "gap": 100 * g["gap"]}
            for g in gap_rows(rows, baseline, method) if g["metric"] in metrics] + published_gaps(baseline, method, metrics)


def comparison_markdown(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac",
                        label: str = "this workbook") -> str:
    """``comparison_rows`` as a markdown table (AV maps; percent; gap = method - baseline)."""
    body = [[line["source"], line["train_set"], line["test"], line["metric"], f"{line['baseline']:.2f}",
             f"{line['method']:.2f}", f"{line['gap']:+.2f}"] for line in comparison_rows(rows, baseline, method, label)]
    header = ["source", "train set", "test", "metric", method_label(baseline), method_label(method), "gap"]
    return markdown_table(header, body)


# ---------------------------------------------------------------------------------------------
# The reading: what the tables say about these runs, in sentences computed from their numbers.

READ_METRICS = ("cIoU", "AUC", "pointing_game", LISTENING)  # the metrics whose seed spread is known
DEAF_MAP = "deaf bound"  # the listening test: a map deaf to the sound peaks at one place in both renderings, at most 0.5


def gap_rows(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac") -> list[dict]:
    """Method - baseline (AV maps, fractions) on every test set and metric whose seed spread is known,
    each with its verdict: a lead beyond the spread, or within seed noise."""
    scores, found = _scores(rows, "av"), []
    for test in dict.fromkeys(r["test_set"] for r in rows):
        for metric in READ_METRICS:
            first, second = scores.get((baseline, test, metric)), scores.get((method, test, metric))
            if first is not None and second is not None:
                found.append({"test_set": test, "metric": metric, "baseline": first, "method": second,
                              "gap": second - first, "spread": spread(metric),
                              "verdict": verdict(second - first, metric, method_label(method), method_label(baseline))})
    return found


def gap_markdown(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac") -> str:
    """``gap_rows`` as a table in points with a verdict column."""
    body = [[g["test_set"], metric_name(g["metric"]), points(g["baseline"]), points(g["method"]),
             points(g["gap"], True), points(g["spread"]), g["verdict"]] for g in gap_rows(rows, baseline, method)]
    return markdown_table(["test set", "metric", method_label(baseline), method_label(method), "difference",
                           "seed spread", "reading"], body)


def reading(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac") -> str:
    """Notebook 04's reading of its tables, every number and verdict computed from ``rows``: where
    one method leads the other beyond the seed spread, the published gaps beside the measured ones,
    the runs against the maps that ignore the sound (cIoU, pointing game, listening rate), what
    objectness adds to the method's map, and the open-set AP between chance and a perfect map."""
    gaps = gap_rows(rows, baseline, method)
    scores = {**_scores(rows, "av"), **_scores(rows, "obj")}
    scores.update({(DEAF_MAP, test, m): 0.5 for _, test, m in list(scores) if m == LISTENING})
    runs = list(dict.fromkeys(r["run"] for r in rows if r["map"] == "av" and r["run"] not in REFERENCE_COLUMNS))
    blind = [RANDOM_MAP, LARGEST_OBJECT, *dict.fromkeys(run for run, *_ in scores if run.startswith(OBJECTNESS_COLUMN))]
    lines = [_leads(gaps, method_label(baseline), method_label(method)), _published(gaps, baseline, method),
             _against(scores, runs, [LARGEST_OBJECT], "cIoU", "against the largest object's box: the median rule "
                      "marks half of each map, so a box the size of the objects scores without hearing anything"),
             _against(scores, runs, blind, "pointing_game", "against the best map that ignores the sound"),
             _against(scores, runs, [*blind, DEAF_MAP], LISTENING, "against the best map that ignores the sound, "
                      "or the deaf bound: a map deaf to the sound peaks at one place in both renderings, 50% at most"),
             _ogl(rows, method), *_open_set(scores, runs)]
    table = f"\n\n{gap_markdown(rows, baseline, method)}" if gaps else ""
    return "\n".join(f"* {line}" for line in lines if line) + f"{table}\n\n{spread_note()}"


def _scores(rows: list[dict], map_name: str) -> dict[tuple[str, str, str], float]:
    """``{(run, test set, metric): value}`` of one map; ``obj``: the objectness map's reference column(s)."""
    kept = objectness_rows(rows) if map_name == "obj" else [r for r in rows if r["map"] == map_name]
    return {(r["run"], r["test_set"], r["metric"]): r["value"] for r in kept}


def _leads(gaps: list[dict], baseline: str, method: str) -> str | None:
    """Where either method leads beyond the seed spread, and how many differences are within it."""
    if not gaps:
        return None
    leads = [f"{name} leads on " + listed([f"{metric_name(g['metric'])} on {g['test_set']} (by {points(abs(g['gap']))})"
                                           for g in gaps if g["verdict"] == f"{name} leads"])
             for name in (method, baseline) if any(g["verdict"] == f"{name} leads" for g in gaps)]
    within = sum(g["verdict"] == WITHIN for g in gaps)
    return f"**{method} - {baseline}** (AV maps; the table below): " + "; ".join(
        leads + [f"{within} of the {len(gaps)} differences are within seed noise"]) + "."


def _published(gaps: list[dict], baseline: str, method: str) -> str | None:
    """The published gaps beside the measured ones, and whether one seed could see them at all."""
    published = [line["gap"] for line in published_gaps(baseline, method)]  # points
    measured = [100 * g["gap"] for g in gaps if g["metric"] in ("cIoU", "AUC")]
    if not published or not measured:
        return None
    noise = 100 * min(spread("cIoU"), spread("AUC"))
    text = (f"Published {method_label(method)} - {method_label(baseline)} gaps on cIoU and AUC: {min(published):+.2f} "
            f"to {max(published):+.2f} points; measured here: {min(measured):+.1f} to {max(measured):+.1f}.")
    if max(map(abs, published)) < noise:
        text += (f" Every published gap is smaller than the seed spread ({noise:.1f} points or more), so one seed "
                 "can neither confirm nor contradict it.")
    return text


def _against(scores: dict, runs: list[str], references: list[str], metric: str, what: str) -> str | None:
    """On each test set with ``metric``: are the runs ahead of the best of ``references``?"""
    found: dict[str, list[str]] = {"every run ahead on": [], "no run ahead on": [], "some runs ahead on": []}
    for test in dict.fromkeys(t for _, t, m in scores if m == metric):
        values = [scores[run, test, metric] for run in runs if (run, test, metric) in scores]
        best = max((name for name in references if (name, test, metric) in scores),
                   key=lambda name: scores[name, test, metric], default=None)
        if values and best is not None:
            score = scores[best, test, metric]
            key = "every run ahead on" if min(values) > score else "no run ahead on" if max(values) <= score else \
                "some runs ahead on"
            found[key].append(f"{test} (runs {span(values)}; {best} {points(score)})")
    if not any(found.values()):
        return None
    return f"**{metric_name(metric)}** ({what}): " + "; ".join(
        f"{key} {listed(tests)}" for key, tests in found.items() if tests) + "."


def _ogl(rows: list[dict], method: str) -> str | None:
    """How adding objectness (AV+OGL) moves the method's AUC, against the seed spread."""
    av, ogl = _scores(rows, "av"), _scores(rows, "av_ogl")
    moves = {test: ogl[run, test, m] - av[run, test, m] for run, test, m in ogl if run == method and m == "AUC"}
    if not moves:
        return None
    lower = [test for test, move in moves.items() if is_lead(move, "AUC") and move < 0]
    higher = [test for test, move in moves.items() if is_lead(move, "AUC") and move > 0]
    beyond = [f"{word} on {listed(tests)}" for word, tests in (("lower", lower), ("higher", higher)) if tests]
    return (f"**AV+OGL**: adding objectness (which lights every object, silent or sounding) to {method_label(method)}'s "
            f"map moves its AUC by {span(moves.values(), True)} points: " +
            (f"beyond the seed spread, {' and '.join(beyond)}" if beyond else "within the seed spread on every test set")
            + ".")


def _open_set(scores: dict, runs: list[str]) -> list[str]:
    """Each open-set test's AP: how far the best run goes from the random map to the perfect one."""
    lines = []
    for test in dict.fromkeys(t for run, t, m in scores if m == "AP" and run == PERFECT_MAP):
        perfect, chance = scores[PERFECT_MAP, test, "AP"], scores.get((RANDOM_MAP, test, "AP"), 0.0)
        aps = {method_label(run): scores[run, test, "AP"] for run in runs if (run, test, "AP") in scores}
        if aps and perfect > chance:
            share = (max(aps.values()) - chance) / (perfect - chance)
            lines.append(f"**Open-set AP** on {test}: " + ", ".join(f"{run} {points(ap)}" for run, ap in aps.items())
                         + f", against the random map's {points(chance)} and the perfect map's {points(perfect)}: "
                         f"the best run goes {share:.0%} of the way from one to the other.")
    return lines


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
