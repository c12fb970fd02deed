"""Markdown tables of the notebooks: 01's gradient split, 03's and 04's scores per run, and the
measured gaps beside the published ones."""

from __future__ import annotations

import re

import numpy as np

from .figure_style import coinciding, joined
from .labels import MAP_LABELS, method_label
from .published import PUBLISHED
from .scoring import PERFECT_MAP, RANDOM_MAP


NUMBER = re.compile(r"^[-+–]?[\d.]+%?( / [-+–]?[\d.]+%?)?$|^–$")  # "12.5", "+0.11", "10.0 / 31.0", "4%", "–"


def markdown_table(header: list[str], body: list[list]) -> str:
    """A GitHub-flavoured markdown table; None prints as an en dash; columns of numbers align right."""
    cells = [[("–" if value is None else str(value)) for value in line] for line in body]
    numeric = [bool(cells) and all(NUMBER.match(line[i]) for line in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if right else "---" for right in numeric) + "|"]
    return "\n".join(lines + ["| " + " | ".join(line) + " |" for line in cells])


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
REFERENCES = (RANDOM_MAP, PERFECT_MAP)
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
            trained = [run for run in runs if run not in REFERENCES]
            groups = coinciding({run: np.array(column[run], dtype=float) for run in trained})
            shown = [group[0] for group in groups] + [run for run in REFERENCES if run in runs]
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
    return f"{_percent(first) or '–'} / {_percent(second) or '–'}"


def _percent(value) -> str | None:
    return None if value is None else f"{100 * value:.1f}"


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


def validation_markdown(final: dict[str, dict]) -> str:
    """``final_validation`` as a table in percent: the last epoch and the kept (best) epoch."""
    body = [[method_label(name), scores["steps"], _percent(scores["final"]["cIoU"]), _percent(scores["final"]["AUC"]),
             scores["best"]["epoch"] + 1, _percent(scores["best"]["cIoU"]), _percent(scores["best"]["AUC"])]
            for name, scores in final.items()]
    header = ["run", "steps", "final cIoU", "final AUC", "kept epoch", "kept cIoU", "kept AUC"]
    return markdown_table(header, body)


def published_markdown() -> str:
    """The published numbers with their sources."""
    body = [[method_label(r["method"]) if r["method"] != "slavc" else "SLAVC", r["train_set"], r["test"],
             *(None if r.get(k) is None else f"{r[k]:.2f}" for k in ("cIoU", "AUC", "AP", "max_F1")), r["source"]]
            for r in PUBLISHED]
    return markdown_table(["method", "train set", "test", "cIoU", "AUC", "AP", "max-F1", "source"], body)


def gradient_split_markdown(splits: dict[str, dict], chance: float) -> str:
    """Notebook 01's gradient split per condition (``batches.gradient_splits``): the loss beside its
    floor and the chance level, where the push on negatives goes, and the feature-gradient norms."""
    header = ["condition", "loss", "floor", "chance 2 ln B", "same-class share of negatives", "share of the push",
              "gradient norm: false negatives", "positives", "total"]
    body = [[name, f"{s['loss']:.2f}", f"{s['floor']:.2f}", f"{chance:.2f}", f"{s['fn_rate']:.1%}",
             f"{s['fn_push_share']:.1%}", f"{s['emb_grad_false_negative']:.2f}", f"{s['emb_grad_positive']:.2f}",
             f"{s['emb_grad_total']:.2f}"] for name, s in splits.items()]
    return markdown_table(header, body)


def _interval(value: dict) -> str:
    return f"{100 * value['mean']:.1f} [{100 * value['ci_low']:.1f}, {100 * value['ci_high']:.1f}]"


def study_markdown(summary: dict, metrics=("AUC", "pointing_game", "listening")) -> str:
    """A study's means with 95% intervals in percent: a line per (test set, metric), a column per method."""
    tests = list(dict.fromkeys(test for by_test in summary.values() for test in by_test))
    body = [[test, metric, *(_interval(summary[m][test][metric]) if metric in summary[m].get(test, {}) else None
                             for m in summary)]
            for test in tests for metric in metrics if any(metric in summary[m].get(test, {}) for m in summary)]
    return markdown_table(["test set", "metric", *map(method_label, summary)], body)


def differences_markdown(differences: dict, recovered: dict, metrics=("AUC", "pointing_game", "listening")) -> str:
    """Paired differences (percentage points, 95% interval, seeds where it is positive) and the share
    of the oracle's gain FNAC recovers with the verdict on "more than half"."""
    body = []
    for name, by_test in differences.items():
        for test, values in by_test.items():
            for metric in (m for m in metrics if m in values):
                v = values[metric]
                body.append([name, test, metric, _interval(v), f"{v['seeds_positive']}/{v['seeds']}"])
    for name, by_test in recovered.items():
        for test, values in by_test.items():
            for metric in (m for m in metrics if m in values):
                v = values[metric]
                share = f"{v['mean']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
                body.append([f"share {name}", test, metric, share, f"> {v['threshold']:g}? {v['exceeds']}"])
    return markdown_table(["comparison", "test set", "metric", "value [95% interval]", "seeds > 0 / verdict"], body)
