"""What every workbook figure shares, so a student reads it without squinting.

JupyterLab and an HTML export show a notebook figure at 100 px per inch and shrink one that is
wider than the page, text included. Figures here stay within ``MAX_WIDTH`` inches and draw text
at 9 pt (12 px on screen) or more (``legible``). Runs that give the same curve are said to give it:
``draw_runs`` draws one line per group of identical curves, labelled "EZ-VSL = FNAC", and lines
that coincide only in part (every method before the warm-up ends) are drawn nested, the widest
first, so each stays visible as a stripe of its colour.
"""

from __future__ import annotations

import functools

import matplotlib as mpl
import numpy as np
import seaborn as sns
import torch
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

MAX_WIDTH = 11.0  # inches: ~1100 px, shown unscaled in JupyterLab and the HTML report on a laptop screen
RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
      "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 12}
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
