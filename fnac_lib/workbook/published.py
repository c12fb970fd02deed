"""The published numbers the workbook's are read beside, in percent, with their sources.

From the FNAC paper's comparison tables (EZ-VSL and FNAC rows) and the SLAVC paper (open set):
numbers a paper prints, never a leaderboard's approximation of them. Notebook 04 prints them beside
its measured gaps (``benchmark.comparison_rows``), and the readings of 03 and 04 quote the range of
the published gaps.
"""

from __future__ import annotations

from .common import markdown_table, method_label

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


def published_gaps(baseline: str = "ezvsl", method: str = "fnac", metrics=("cIoU", "AUC")) -> list[dict]:
    """Method - baseline as published (percent), one line per source, training set, test and metric.

    Gaps only between numbers of one source: a leaderboard figure minus a paper's is no gap.
    """
    found: dict[tuple, dict] = {}
    for entry in PUBLISHED:
        for metric in metrics:
            if entry.get(metric) is not None:
                key = (entry["source"], entry["train_set"], entry["test"], metric)
                found.setdefault(key, {})[entry["method"]] = entry[metric]
    return [{"source": source.split(",")[0] + " (published)", "train_set": train_set, "test": test, "metric": metric,
             "baseline": values[baseline], "method": values[method], "gap": values[method] - values[baseline]}
            for (source, train_set, test, metric), values in found.items() if baseline in values and method in values]


def published_markdown() -> str:
    """The published numbers with their sources."""
    body = [[method_label(r["method"]) if r["method"] != "slavc" else "SLAVC", r["train_set"], r["test"],
             *(None if r.get(k) is None else f"{r[k]:.2f}" for k in ("cIoU", "AUC", "AP", "max_F1")), r["source"]]
            for r in PUBLISHED]
    return markdown_table(["method", "train set", "test", "cIoU", "AUC", "AP", "max-F1", "source"], body)
