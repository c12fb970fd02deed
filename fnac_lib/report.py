"""Training and evaluation reports: figures, tidy score rows and tables (notebooks 03 and 04).

``evaluate_runs`` scores every finished run on every test set that ``available_test_sets`` finds
(the default scenes and digits, their multi-source and open-set variants, AVSBench-style masks,
and the real Flickr-SoundNet / VGG-SS / AVSBench S4 where a data root is given) and returns tidy
rows, one per (run, test set, map, metric). ``results_markdown`` and ``comparison_markdown`` turn
rows into tables; ``PUBLISHED`` holds the paper's numbers beside which they are read. Figure
helpers return a ``matplotlib.figure.Figure`` that the caller shows or saves; nothing here
touches pyplot state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .config import METHODS, RunConfig, apply_overrides
from .data import DEFAULT_KINDS, make_dataset
from .evaluation import Predictions, evaluate
from .localization import OGL_ALPHA
from .metrics import AUC_THRESHOLDS, batch_ciou, success_curve, summarize
from .model import AVModel, resnet18_trunk
from .runs import checkpoint_path, is_finished, load_model, train_or_load
from .training import LOGGED_TERMS, resolve_device

METHOD_LABELS = {"ezvsl": "EZ-VSL", "fnac": "FNAC", "fns_audio": "FNS-audio only",
                 "fns_visual": "FNS-visual only", "tne": "TNE only"}
MAP_LABELS = {"av": "AV", "obj": "objectness", "av_ogl": "AV+OGL"}
DEFAULT_VARIANTS = ("single", "multi", "open_set", "mask")  # "mask": AVSBench-style pixel masks

# ---------------------------------------------------------------------------------------------
# Published numbers (fnac_method.md, section 5), in percent, with where each comes from.

FNAC_PAPER = "FNAC, Sun et al., CVPR 2023 (arXiv 2303.11302), comparison tables"
PUBLISHED: tuple[dict, ...] = (
    *({"method": m, "train_set": t, "test": "vggss", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for m, t, c, a in (("fnac", "VGG-Sound 10k", 37.29, 38.99), ("fnac", "VGG-Sound 144k", 39.50, 39.66),
                         ("fnac", "Flickr 10k", 35.27, 38.00), ("fnac", "Flickr 144k", 33.93, 37.29),
                         ("ezvsl", "VGG-Sound 10k", 37.18, 38.75), ("ezvsl", "VGG-Sound 144k", 38.85, 39.54))),
    *({"method": "ezvsl", "train_set": t, "test": "flickr", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for t, c, a in (("Flickr 10k", 81.93, 62.58), ("Flickr 144k", 83.13, 63.06))),
    {"method": "fnac", "train_set": "Flickr 144k", "test": "flickr", "cIoU": 85.1, "AUC": None,
     "source": "third-party leaderboards (approximate)"},
    {"method": "slavc", "train_set": "VGG-Sound 144k", "test": "flickr/open_set", "AP": 51.63, "max_F1": 59.10,
     "source": "SLAVC, Mo & Morgado, NeurIPS 2022 (extended Flickr-SoundNet)"},
)


def published_rows(test: str | None = None) -> list[dict]:
    """The published numbers (percent), optionally of one test set (``vggss``, ``flickr``...)."""
    return [dict(r) for r in PUBLISHED if test is None or r["test"] == test]


# ---------------------------------------------------------------------------------------------
# Training curves (notebook 03).


def method_label(name: str) -> str:
    """``fnac`` -> ``FNAC``; run names that are not methods stay as they are."""
    return METHOD_LABELS.get(name, name)


def loss_curves(metrics: dict[str, dict], terms=LOGGED_TERMS, warmup_epochs: int | None = None,
                batch_size: int | None = None) -> Figure:
    """One panel per logged loss term (``loss`` is the optimised total), one line per run.

    ``metrics`` maps run names to ``runs.read_metrics`` dicts. Every run logs every term, so the
    FNAC terms of EZ-VSL are measured but not optimised; a dotted line marks the end of warm-up,
    and with ``batch_size`` a dashed line the base loss at chance, 2 ln B (both InfoNCE directions).
    """
    fig = Figure(figsize=(3.2 * len(terms), 3.0), layout="constrained")
    axes = fig.subplots(1, len(terms), squeeze=False)[0]
    for ax, term in zip(axes, terms):
        for name, run in metrics.items():
            steps = [entry["step"] for entry in run["history"]]
            ax.plot(steps, [entry[term] for entry in run["history"]], label=method_label(name), lw=1.2)
        if warmup_epochs:
            boundary = _first_step_of_epoch(next(iter(metrics.values()))["history"], warmup_epochs)
            if boundary is not None:
                ax.axvline(boundary, color="grey", ls=":", lw=1)
        if batch_size and term == "base":
            ax.axhline(2 * np.log(batch_size), color="grey", ls="--", lw=1)
        ax.set_title("total loss" if term == "loss" else term)
        ax.set_xlabel("step")
    axes[-1].legend(fontsize="small")
    return fig


def _first_step_of_epoch(history: list[dict], epoch: int) -> int | None:
    """The step where ``epoch`` starts: the last logged step of the epoch before it."""
    before = [entry["step"] for entry in history if entry["epoch"] < epoch]
    return max(before) if before and any(entry["epoch"] >= epoch for entry in history) else None


def train_methods(base: RunConfig, methods, run_root, progress: bool = True) -> dict[str, dict]:
    """``runs.train_or_load`` one run per method into ``run_root/<method>``, everything else equal
    (seed, data, initial weights): the metrics of each run by method."""
    metrics = {}
    for method in methods:
        _, _, metrics[method] = train_or_load(apply_overrides(base, {"train.method": method}),
                                              Path(run_root) / method, progress=progress)
    return metrics


def describe_method(config: RunConfig) -> str:
    """One line: which loss terms a run optimises, and from when."""
    weights = config.train.loss_weights()
    terms = [f"{w:g} x {name}" for name in ("fns_audio", "fns_visual", "tne") if (w := getattr(weights, name))]
    if not terms:
        return "base (EZ-VSL InfoNCE) only"
    return f"base, then base + {' + '.join(terms)} from epoch {weights.warmup_epochs + 1}"


def validation_curves(metrics: dict[str, dict], keys=("cIoU", "AUC")) -> Figure:
    """Validation scores (percent) after every epoch, one panel per score, one line per run."""
    fig = Figure(figsize=(4.0 * len(keys), 3.0), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for name, run in metrics.items():
            epochs = [entry["epoch"] + 1 for entry in run["validation"]]
            ax.plot(epochs, [100 * entry[key] for entry in run["validation"]], marker="o", ms=3,
                    label=method_label(name))
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))  # from 0, so a flat 0 reads as 0, not as noise
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"validation {key} (%)")
        ax.set_xlabel("epoch")
    axes[-1].legend(fontsize="small")
    return fig


def final_validation(metrics: dict[str, dict]) -> dict[str, dict]:
    """Per run: the last epoch's validation scores and the best epoch's (the kept checkpoint)."""
    result = {}
    for name, run in metrics.items():
        validation = run["validation"]
        if not validation:
            raise ValueError(f"run {name!r} has no validation scores (trained without a validation set)")
        best = max(validation, key=lambda entry: entry["cIoU"] + 1e-3 * entry["AUC"])  # as training.py selects
        result[name] = {"final": dict(validation[-1]), "best": dict(best), "steps": run["global_step"]}
    return result


# ---------------------------------------------------------------------------------------------
# Test sets and runs.


@dataclass
class TestSet:
    """One test set and the inputs it was built for (runs must match them to be scored on it)."""

    __test__ = False  # not a pytest test class, despite the name

    name: str  # "objects", "objects/multi", "objects/open_set", "digits", "flickr", ...
    dataset: Dataset
    inputs: tuple[int, int, float]  # (image_size, sample_rate, clip_seconds)
    protocols: tuple[str, ...] | None = None  # None: every protocol the samples allow (summarize_scores)


def _inputs(config: RunConfig) -> tuple[int, int, float]:
    return config.data.image_size, config.audio.sample_rate, config.audio.clip_seconds


def default_test_set(config: RunConfig, kind: str = "objects", variant: str = "single",
                     length: int | None = None) -> TestSet:
    """The ``variant`` test split of default-data ``kind``, built for ``config``'s inputs."""
    built = make_dataset(apply_overrides(config, {"data.dataset": kind, "data.data_root": None}), "test",
                         variant=variant, length=length)
    name = kind if variant == "single" else f"{kind}/{variant}"
    # The mask variant's scenes are scored on their masks; their boxes repeat the single-source test.
    return TestSet(name, built, _inputs(config), protocols=("segmentation",) if variant == "mask" else None)


def benchmark_test_set(config: RunConfig, name: str, data_root, **options) -> TestSet:
    """The test split of a real benchmark (``readers.open_benchmark``) for ``config``'s inputs."""
    from .readers import open_benchmark

    built = open_benchmark(name, data_root, split="test", image_size=config.data.image_size,
                           sample_rate=config.audio.sample_rate, clip_seconds=config.audio.clip_seconds, **options)
    return TestSet(name, built, _inputs(config))


def available_test_sets(config: RunConfig, kinds=DEFAULT_KINDS, variants=DEFAULT_VARIANTS,
                        length: int | None = None, data_roots: dict | None = None,
                        benchmark_options: dict | None = None) -> list[TestSet]:
    """Every test set available: default ``kinds`` x ``variants``, and each benchmark with a root.

    ``data_roots`` maps ``flickr`` / ``vggss`` / ``avsbench-s4`` to a directory or None (skipped);
    ``benchmark_options`` passes reader keywords per benchmark (e.g. ``extended_csv`` for the
    open-set Flickr test). Masks, where a set has them, are scored by ``evaluate_runs`` too.
    """
    found = [default_test_set(config, kind, variant, length) for kind in kinds for variant in variants]
    for name, root in (data_roots or {}).items():
        if root is not None:
            found.append(benchmark_test_set(config, name, root, **(benchmark_options or {}).get(name, {})))
    return found


def find_runs(run_root) -> dict[str, Path]:
    """Finished run directories under ``run_root`` by name (path relative to it), methods in order."""
    run_root = Path(run_root)
    found = {}
    for config_file in sorted(run_root.rglob("config.json")):
        run_dir = config_file.parent
        if is_finished(run_dir):
            found[run_dir.relative_to(run_root).as_posix()] = run_dir
    order = {m: i for i, m in enumerate(METHODS)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0].split("/")[-1], len(order)), item[0])))


def objectness_trunk(model: AVModel, config: RunConfig, source: str | None, weights: str = "torch-cache"):
    """The frozen trunk behind OGL's objectness map: ``"model"`` (the run's own visual trunk),
    ``"imagenet"`` (a torchvision ResNet-18, as the paper; raises if the weights are not on disk)
    or ``None`` (no objectness, no OGL)."""
    if source is None:
        return None
    if source == "model":
        return model.visual.trunk
    if source == "imagenet":
        full = replace(config.model, width=64, blocks=(2, 2, 2, 2), imagenet_weights=weights)
        return resnet18_trunk(full, pretrained=True).eval()
    raise ValueError(f"unknown objectness source {source!r}; choose 'model', 'imagenet' or None")


# ---------------------------------------------------------------------------------------------
# Scoring.


def median_rule_ceiling(gt_maps: torch.Tensor) -> torch.Tensor:
    """The best cIoU any map can reach under the protocol's median rule: (..., H, W) -> (...).

    The rule predicts N - N // 2 pixels; the best such set takes the highest gt values, which
    maximises the overlap and predicts as little background as possible. A binary box covering
    a share s < 1/2 of the image caps cIoU at 2s: below a quarter of the image, cIoU >= 0.5 (the
    reported "cIoU") is out of reach even for a perfect map.
    """
    values = gt_maps.float().flatten(-2).sort(dim=-1, descending=True).values  # (..., N)
    chosen = values[..., : values.shape[-1] - values.shape[-1] // 2]  # (..., N - N // 2)
    union = values.sum(dim=-1) + (chosen == 0).sum(dim=-1)
    return torch.where(union > 0, chosen.sum(dim=-1) / union.clamp_min(1e-12), torch.zeros_like(union))


PERFECT_MAP = "perfect map"
RANDOM_MAP = "random map"


def reference_rows(predictions: dict, sets: list[TestSet], seed: int = 0) -> list[dict]:
    """Localisation scores of two reference maps on each test set, the frame to read runs in.

    ``perfect map``: the ceiling the median rule allows (``median_rule_ceiling``); on scenes with
    small sounding objects the reported cIoU is capped far below 1 whatever a model does.
    ``random map``: uniform noise, a map that knows nothing; a run below it points away from
    the sounding object more often than chance.
    """
    rows = []
    by_name = {name: preds for (_, name), preds in predictions.items()}
    generator = torch.Generator().manual_seed(seed)
    for test in sets:
        preds = by_name.get(test.name)
        if preds is None or (~preds.on_screen).any() or "localization" not in (test.protocols or ("localization",)):
            continue
        keep = preds.scores.annotated
        if not keep.any():
            continue
        gt = preds.gt[keep]  # (n, H, W)
        noise = torch.rand(gt.shape, generator=generator)  # (n, H, W)
        for name, cious in ((PERFECT_MAP, median_rule_ceiling(gt)), (RANDOM_MAP, batch_ciou(noise, gt))):
            summary = summarize(cious.numpy())
            rows.extend({"run": name, "method": name, "trained_on": "-", "test_set": test.name,
                         "protocol": "localization", "map": "av", "metric": metric, "value": summary[metric],
                         "n": summary["n"]} for metric in ("cIoU", "AUC", "mean_cIoU"))
    return rows


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


def score_predictions(preds: Predictions, test_set: TestSet) -> list[dict]:
    """Metric rows (without run fields) of one run's predictions on one test set.

    The numbers are ``evaluation.summarize_scores``'s, the same the CLI prints: localisation
    (cIoU, AUC...) on sets whose pairs are all on screen, SLAVC's open-set AP / max-F1 on sets
    with silent pairs, AVSBench's mIoU / F-score where the samples carry masks.
    """
    rows = []

    def add(protocol, map_name, values, keys):
        rows.extend({"test_set": test_set.name, "protocol": protocol, "map": map_name, "metric": metric,
                     "value": float(values[metric]), "n": int(values["n"])} for metric in keys)

    summary = preds.summary(test_set.protocols)
    for name in MAP_LABELS:
        if name in summary:
            add("localization", name, summary[name], ("cIoU", "AUC", "mean_cIoU", "pointing_game"))
    if "open_set" in summary:
        add("open_set", "av", summary["open_set"], ("AP", "max_F1"))
    for name, values in summary.get("s4", {}).items():
        add("segmentation", name, values, ("mIoU", "F_score"))
    return rows


def evaluate_runs(
    runs: dict[str, Path],
    sets: list[TestSet],
    objectness: str | None = "model",
    alpha: float = OGL_ALPHA,
    batch_size: int = 64,
    device: str = "auto",
    imagenet_weights: str = "torch-cache",
    checkpoint: str = "best",
    progress: bool = True,
) -> tuple[list[dict], dict[tuple[str, str], Predictions]]:
    """Score every run's ``checkpoint`` (``best``: the one training kept; ``last``) on every test set.

    Returns tidy rows ``{run, method, trained_on, test_set, protocol, map, metric, value, n}``
    (values are fractions) and the predictions behind them by ``(run, test set name)``, for figures.
    ``device="auto"`` takes the GPU when there is one.
    """
    device = resolve_device(device)
    rows, predictions = [], {}
    work = [(run, test) for run in runs for test in sets]
    bar = tqdm(work, desc="scoring runs", disable=not progress)
    loaded: dict[str, tuple] = {}  # the current run only: one model in memory at a time
    for run, test in bar:
        bar.set_postfix_str(f"{run} on {test.name}")
        if run not in loaded:
            model, config = load_model(checkpoint_path(runs[run], checkpoint), device)
            trunk = objectness_trunk(model, config, objectness, imagenet_weights)
            loaded = {run: (model, config, trunk.to(device) if trunk is not None else None)}
        model, config, trunk = loaded[run]
        if _inputs(config) != test.inputs:
            raise ValueError(f"run {run} takes inputs {_inputs(config)} (image size, rate, seconds) but "
                             f"{test.name} was built for {test.inputs}: build the test sets from its config")
        _, preds = evaluate(model, test.dataset, batch_size=batch_size, device=device, objectness_trunk=trunk,
                            alpha=alpha, protocols=test.protocols)
        fields = {"run": run, "method": config.train.method, "trained_on": config.data.dataset}
        rows.extend({**fields, **row} for row in score_predictions(preds, test))
        predictions[(run, test.name)] = preds
    return rows, predictions


# ---------------------------------------------------------------------------------------------
# Tables.


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


# ---------------------------------------------------------------------------------------------
# Figures of the test results (notebook 04).


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


def draw_boxes(ax, boxes, size: tuple[int, int], color: str = "lime") -> None:
    """Draw normalised ``x1, y1, x2, y2`` boxes on an axis showing an ``(H, W)`` image."""
    height, width = size
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        ax.add_patch(Rectangle((x1 * width - 0.5, y1 * height - 0.5), (x2 - x1) * width, (y2 - y1) * height,
                               fill=False, edgecolor=color, lw=1.5))


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


def run_cious(predictions: dict, test_name: str, ogl_of: str | None = None) -> dict:
    """Per-sample cIoU of every run's AV map on one test set (and ``ogl_of``'s AV+OGL map)."""
    found = {run: preds for (run, name), preds in predictions.items() if name == test_name}
    cious = {f"{method_label(run)} AV": sample_cious(preds, "av") for run, preds in found.items()}
    if ogl_of is not None and "av_ogl" in found[ogl_of].scores.ciou:
        cious[f"{method_label(ogl_of)} AV+OGL"] = sample_cious(found[ogl_of], "av_ogl")
    return cious


def prediction_samples(test: TestSet, indices) -> list[dict]:
    """The samples of ``test`` at ``indices`` (images, boxes, gt) for a heatmap grid."""
    return [test.dataset[int(i)] for i in indices]
