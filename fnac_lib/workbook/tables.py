"""Markdown tables of scores (notebooks 03 and 04): results per run, gaps beside the published ones."""

from __future__ import annotations

from .labels import MAP_LABELS, method_label
from .published import PUBLISHED


def markdown_table(header: list[str], body: list[list]) -> str:
    """A GitHub-flavoured markdown table; None prints as an en dash."""
    cells = [[("–" if value is None else str(value)) for value in line] for line in body]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
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


def results_markdown(rows: list[dict], maps=("av", "obj", "av_ogl"), metrics=None) -> str:
    """Measured scores in percent: one line per (test set, protocol, map, metric), a column per run."""
    keep = [r for r in rows if r["map"] in maps and (metrics is None or r["metric"] in metrics)]
    runs, table = pivot(keep)
    body = [[test, protocol, MAP_LABELS.get(map_name, map_name), metric,
             *(_percent(values.get(run)) for run in runs)]
            for (test, protocol, map_name, metric), values in table.items()]
    return markdown_table(["test set", "protocol", "map", "metric", *map(method_label, runs)], body)


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
