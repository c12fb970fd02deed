"""What every notebook shares: its set-up call, names, figure style, sample galleries, tables, labels and batches.

Figures: JupyterLab and an HTML export show a notebook figure at 100 px per inch and shrink one
that is wider than the page, text included. Figures here stay within ``MAX_WIDTH`` inches and draw
text at 9 pt (12 px on screen) or more (``legible``). Runs that give the same curve are said to give
it: ``draw_runs`` draws one line per group of identical curves, labelled "EZ-VSL = FNAC", and lines
that coincide only in part (every method before the warm-up ends) are drawn nested, the widest
first, so each stays visible as a stripe of its colour.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from torch.utils.data import Dataset

from ..config import RunConfig, preset
from ..data.sample import collate_samples
from ..model import AVModel
from ..progress import track

# ---------------------------------------------------------------------------------------------
# Set-up: the configuration and folders of notebooks 03-05.


def setup(preset_name: str, run_root, out_dir=None, *, seed: int = 0, train_dataset: str = "objects",
          train_data_root: str | None = None, cache_dir: str | None = None) -> tuple[RunConfig, Path, Path]:
    """``(config, run_root, out_dir)`` of a notebook: the preset with the seed and training data of
    its parameters, and the output folder (``run_root/figures`` unless given) created."""
    run_root = Path(run_root)
    out_dir = run_root / "figures" if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = preset(preset_name, **{"train.seed": seed, "data.dataset": train_dataset,
                                    "data.data_root": train_data_root, "data.cache_dir": cache_dir})
    return config, run_root, out_dir


# ---------------------------------------------------------------------------------------------
# Names of methods, maps and sounds in tables and figures.

METHOD_LABELS = {"ezvsl": "EZ-VSL", "fnac": "FNAC", "fns_audio": "FNS-audio only",
                 "fns_visual": "FNS-visual only", "tne": "TNE only", "oracle": "oracle",
                 "fnac_shuffled": "FNAC, shuffled adjacency"}
MAP_LABELS = {"av": "AV", "obj": "objectness", "av_ogl": "AV+OGL"}


def method_label(name: str) -> str:
    """``fnac`` -> ``FNAC``; run names that are not methods stay as they are."""
    return METHOD_LABELS.get(name, name)


def class_name(class_names, index: int) -> str:
    """The name of class ``index`` (its number without names; ``unknown`` below 0)."""
    if index < 0:
        return "unknown"
    return str(class_names[index]) if class_names is not None else str(index)


def sound_names(samples: list[dict], dataset) -> list[str]:
    """What sounds in each sample, for titles and choosers: ``zebra (heard)`` or ``zebra (unheard)``.

    "Heard" means the class sounds in the training split (``dataset.heard_classes``, the default
    data); a real benchmark has no such split and its classes are named without the suffix. A
    sample without a known class is an ``unknown sound``; a silent or off-screen pair says so.
    """
    names = list(getattr(dataset, "class_names", None) or [])
    heard = getattr(dataset, "heard_classes", None)  # read once: it walks the training split's pools
    heard = set(heard) if heard is not None else None
    found = []
    for sample in samples:
        label = int(sample["label"])
        if 0 <= label < len(names):
            name = str(names[label])
            if heard is not None:
                name += " (heard)" if label in heard else " (unheard)"
        else:
            name = "unknown sound"
        found.append(name if sample.get("on_screen", True) else f"{name}, not in the picture")
    return found


# ---------------------------------------------------------------------------------------------
# Figure style.

MAX_WIDTH = 11.0  # inches: ~1100 px, shown unscaled in JupyterLab and the HTML report on a laptop screen
RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
      "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 12}
STYLE = "whitegrid"  # seaborn style of line and bar charts
HEATMAP_STYLE = "white"  # of pictures and heatmaps
MAP_CMAP = "jet"  # localisation maps: 0 (blue) to 1 (red), over the picture
PALETTE = "deep"
GT_COLOUR = "lime"  # ground-truth boxes on every map panel
PREDICTED_COLOUR = "white"  # outline of the region a map predicts, edged in black to show on any colour
OUTLINE = [patheffects.withStroke(linewidth=3.0, foreground="black")]


def legible(build):
    """Build the figure under ``RC``: every text of a workbook figure at 9 pt or more."""
    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return build(*args, **kwargs)
    return wrapper


def as_numpy(x) -> np.ndarray:
    """A tensor (detached, on the host) or array-like as a numpy array."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def colours(names) -> dict[str, tuple]:
    """One colour per name, in order, the same in every panel of a figure."""
    names = list(names)
    return dict(zip(names, sns.color_palette(PALETTE, max(len(names), 1))))


def coinciding(series: dict[str, np.ndarray], atol: float = 1e-9) -> list[list[str]]:
    """Names grouped by identical values (same length, equal within ``atol``), first-seen order."""
    groups: list[list[str]] = []
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        for group in groups:
            other = np.asarray(series[group[0]], dtype=float)
            if other.shape == values.shape and np.allclose(other, values, rtol=0.0, atol=atol, equal_nan=True):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def joined(names) -> str:
    """``EZ-VSL = FNAC``: the label of runs whose values are identical."""
    return " = ".join(names)


def widths(count: int) -> np.ndarray:
    """Line widths of ``count`` runs in order, widest first: a line drawn over another stays visible
    as a stripe of the colour beneath. (count,)"""
    return 1.3 + 1.0 * np.arange(count)[::-1]


def draw_runs(ax, x: dict[str, np.ndarray], y: dict[str, np.ndarray], colour_of: dict[str, tuple] | None = None,
              **style) -> list[list[str]]:
    """One line per group of identical ``y`` curves (label "A = B"), each run with its own colour
    and width (``widths``), so curves that coincide over part of their length stay visible.

    ``x`` and ``y`` map run labels to arrays; returns the groups drawn (``identical_note`` says
    which runs drew one curve, for figures whose legend lists each run once: ``run_handles``).
    """
    colour_of = colour_of or colours(y)
    width_of = dict(zip(y, widths(len(y))))
    groups = coinciding({name: np.r_[np.asarray(x[name], float), np.asarray(y[name], float)] for name in y})
    for group in groups:
        ax.plot(x[group[0]], y[group[0]], color=colour_of[group[0]], lw=width_of[group[0]], label=joined(group),
                solid_capstyle="butt", **style)
    return groups


def identical_note(groups: list[list[str]]) -> str:
    """``all runs identical``, or one ``identical: A = B`` line per group of runs that drew one curve."""
    if len(groups) == 1 and len(groups[0]) > 1:
        return "all runs identical"
    return "\n".join(f"identical: {joined(group)}" for group in groups if len(group) > 1)


def run_handles(names, colour_of: dict[str, tuple]) -> list[Line2D]:
    """Legend entries of runs drawn by ``draw_runs``: each run's colour and width."""
    names = list(names)
    return [Line2D([], [], color=colour_of[name], lw=width, label=name)
            for name, width in zip(names, widths(len(names)))]


def map_colorbar(fig, axes, mappable, label: str = "map value (0 lowest, 1 highest)"):
    """One colour bar beside ``axes`` saying what the map colours mean (each map min-max normalised)."""
    bar = fig.colorbar(mappable, ax=axes, shrink=0.8, pad=0.02, aspect=30)
    bar.set_label(label)
    return bar


def draw_map(ax, image: np.ndarray, pred_map: torch.Tensor, predicted: torch.Tensor):
    """The map over the picture, the part outside the ``predicted`` (H, W) region dimmed and the
    region outlined in white, so the inside reads as the prediction."""
    ax.imshow(image)
    shown = ax.imshow(pred_map.numpy(), cmap=MAP_CMAP, alpha=0.5, vmin=0, vmax=1)
    mask = predicted.numpy().astype(float)  # (H, W) 1 inside the predicted region
    ax.imshow(np.zeros((*mask.shape, 4)) + [0, 0, 0, 0.35] * (1 - mask)[..., None])  # dim what is not predicted
    if 0 < mask.mean() < 1:
        contours = ax.contour(mask, levels=[0.5], colors=PREDICTED_COLOUR, linewidths=1.4)
        contours.set_path_effects(OUTLINE)
    return shown


def map_legend(predicted: str) -> list:
    """Legend handles of the map panels: ground truth, predicted region, the dimmed rest."""
    return [Patch(facecolor="none", edgecolor=GT_COLOUR, lw=1.8, label="ground truth (sounding object)"),
            Line2D([], [], color=PREDICTED_COLOUR, lw=1.4, label=f"{predicted}: inside the white line",
                   path_effects=OUTLINE),
            Patch(facecolor=(0, 0, 0, 0.35), edgecolor="none", label="not predicted (dimmed)")]


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
        image = as_numpy(sample["image"]).transpose(1, 2, 0)  # (H, W, 3)
        height, width = image.shape[:2]
        ax.imshow(image)
        draw_boxes(ax, as_numpy(sample["boxes"]), (height, width), color="yellow", lw=2)
        sounding = class_name(class_names, int(sample["label"]))
        ax.set_title(f"sounds: {sounding}" if sample.get("on_screen", True) else f"{sounding} (off screen)")
        scene = ", ".join(class_name(class_names, int(c)) for c in as_numpy(sample["classes"]).ravel())
        ax.set_xlabel(f"in the picture: {scene}", wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, out_dir: Path | str, name: str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``out_dir/name.png`` (creating the folder) and return the path."""
    path = Path(out_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------------------------
# Markdown tables.

NUMBER = re.compile(r"^[-+–]?[\d.]+%?( / [-+–]?[\d.]+%?)?$|^–$")  # "12.5", "+0.11", "10.0 / 31.0", "4%", "–"


def markdown_table(header: list[str], body: list[list]) -> str:
    """A GitHub-flavoured markdown table; None prints as an en dash; columns of numbers align right."""
    cells = [[("–" if value is None else str(value)) for value in line] for line in body]
    numeric = [bool(cells) and all(NUMBER.match(line[i]) for line in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if right else "---" for right in numeric) + "|"]
    return "\n".join(lines + ["| " + " | ".join(line) + " |" for line in cells])


def percent(value) -> str | None:
    """A fraction as a percentage with one decimal (``12.5``); None stays None."""
    return None if value is None else f"{100 * value:.1f}"


# ---------------------------------------------------------------------------------------------
# Real batches, and which of their pairs share a class (a label < 0 is unknown and never does).


def same_class_pairs(labels) -> np.ndarray:
    """(B, B) bool: True where i != j and both items carry the same known class."""
    labels = np.asarray(labels).ravel()
    same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)  # (B, B)
    np.fill_diagonal(same, False)
    return same


def same_class_negatives(labels) -> np.ndarray:
    """(B,) int: how many of each anchor's B - 1 negatives share its class (false negatives)."""
    return same_class_pairs(labels).sum(axis=1)


def false_negative_rate(labels) -> float:
    """Fraction of the B (B - 1) negative pairs of a batch that share the anchor's class."""
    batch = len(np.asarray(labels).ravel())
    return float(same_class_negatives(labels).sum() / (batch * (batch - 1)))


def class_distribution(labels, num_classes: int | None = None) -> np.ndarray:
    """(C,) empirical class probabilities p_c of the known (>= 0) labels."""
    labels = np.asarray(labels).ravel()
    counts = np.bincount(labels[labels >= 0], minlength=num_classes or 0).astype(float)
    return counts / counts.sum()


def label_statistics(labels) -> dict[str, float]:
    """``classes`` present and ``effective_classes`` = 1 / sum_c p_c^2, the number of equally
    frequent classes with the same false-negative rate: an anchor has (B - 1) / effective_classes."""
    probs = class_distribution(labels)
    return {"classes": int(np.count_nonzero(probs)), "effective_classes": float(1 / np.sum(probs**2))}


def sample_batches(num_items: int, batch_size: int, num_batches: int, seed: int = 0) -> np.ndarray:
    """(num_batches, batch_size) indices: each row a batch without repeats, as a shuffled loader draws."""
    if batch_size > num_items:
        raise ValueError(f"batch size {batch_size} exceeds the {num_items} items available")
    rng = np.random.default_rng(seed)
    keys = rng.random((num_batches, num_items))  # (n, N): one random order per batch
    return np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size]  # (n, B)


def random_batches(dataset: Dataset, batch_size: int, num_batches: int, seed: int = 0, progress: bool = True,
                   desc: str = "batches"):
    """Yield (indices (B,), collated batch) for ``num_batches`` batches of distinct random items,
    as a shuffled loader would draw them."""
    rows = sample_batches(len(dataset), batch_size, num_batches, seed)  # (n, B)
    for indices in track(rows, desc, enabled=progress, leave=False, unit="batches"):
        yield indices, collate_samples([dataset[int(i)] for i in indices])


@torch.no_grad()
def batch_features(model: AVModel, batch: dict, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(img_maps (B, D, H, W), aud_emb (B, D)) of a collated batch, the model in eval mode."""
    model.eval().to(device)
    return model(batch["image"].to(device), batch["audio"].to(device))  # (B, D, H, W), (B, D)


def dataset_labels(dataset: Dataset, progress: bool = True) -> np.ndarray:
    """(N,) sounding class of every item, read sample by sample."""
    items = track(range(len(dataset)), "reading labels", enabled=progress, leave=False, unit="samples")
    return np.array([int(dataset[i]["label"]) for i in items], dtype=np.int64)
