"""Notebook 05, a sample explorer: hear a test clip, compare baseline and FNAC maps, move the cIoU threshold.

The protocol thresholds every map at its own median (``metrics.batch_ciou``); the explorer lets a
reader pick any threshold instead and watch cIoU follow, which shows how much of a score is the
map's shape and how much the fixed "top half" rule. In JupyterLab ``explorer_widget`` gives
sliders and an audio player; headless (papermill, CI) ``static_figure`` draws the same panels
for a few samples and the whole cIoU-vs-threshold curve in place of the slider.
"""

from __future__ import annotations

import html
import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch.utils.data import Dataset, Subset

from ..device import resolve_device
from ..evaluation import evaluate
from ..metrics import ciou_at_threshold, ciou_of_masks, median_rule_ceiling, median_threshold_masks
from ..runs import checkpoint_path, load_model
from .common import (GT_COLOUR, MAX_WIDTH, coinciding, colours, draw_boxes, draw_map, draw_runs, identical_note,
                     joined, legible, map_colorbar, map_legend, method_label, run_handles, sound_names)
from .seed_noise import listed

THRESHOLDS = np.linspace(0.0, 1.0, 101)  # the slider's range: maps are min-max normalised to [0, 1]


# ---------------------------------------------------------------------------------------------
# Logic (tested): cIoU at any threshold.


def ciou_curve(pred_map: torch.Tensor, gt_map: torch.Tensor, thresholds=THRESHOLDS) -> np.ndarray:
    """cIoU of one (H, W) map at every threshold: what the slider would show, all at once. (T,)"""
    t = torch.as_tensor(np.asarray(thresholds), dtype=torch.float32).view(-1, 1, 1)  # (T, 1, 1)
    predicted = (pred_map.float().unsqueeze(0) >= t).float()  # (T, H, W)
    return ciou_of_masks(predicted, gt_map.float().unsqueeze(0)).numpy()


def protocol_threshold(pred_map: torch.Tensor) -> float:
    """The threshold the protocol uses for this map: sorted values[N // 2] (top half predicted)."""
    mask = median_threshold_masks(pred_map[None])[0]  # (H, W)
    return float(pred_map[mask].min())


def wav_bytes(waveform: torch.Tensor, sample_rate: int) -> bytes:
    """A mono 16-bit WAV file of ``waveform`` (T,), peak-normalised so quiet clips are audible."""
    samples = waveform.detach().float().cpu().numpy().reshape(-1)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    pcm = (samples / peak * 0.9 if peak > 0 else samples) * 32767
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(sample_rate))
        file.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Data behind the view.


@dataclass
class ExplorerData:
    """Test samples, what sounds in each, and per model label their audio-visual maps (N, H, W) in [0, 1]."""

    samples: list[dict]
    maps: dict[str, torch.Tensor]
    sample_rate: int
    names: list[str] | None = None  # what sounds in each sample ("zebra (unheard)"); None: the sample ids

    def __post_init__(self) -> None:
        for label, maps in self.maps.items():
            if maps.shape[0] != len(self.samples):
                raise ValueError(f"{label}: {maps.shape[0]} maps for {len(self.samples)} samples")
        if self.names is None:
            self.names = [str(sample["id"]) for sample in self.samples]

    def title(self, index: int, separator: str = ": ") -> str:
        """``scene 3: zebra (unheard)``: which scene, and what sounds in it."""
        return f"scene {index}{separator}{self.names[index]}"

    def cious(self, index: int, threshold: float) -> dict[str, float]:
        """cIoU of every model's map of sample ``index`` at ``threshold``."""
        gt = self.samples[index]["gt_map"]
        return {label: float(ciou_at_threshold(maps[index], gt, threshold)) for label, maps in self.maps.items()}


def summary(data: ExplorerData, indices, threshold: float = 0.5) -> list[dict]:
    """Per sample shown: cIoU of each model at ``threshold`` and at its protocol threshold, and the
    median rule's ceiling on that scene (what notebook 05 writes next to its figure)."""
    rows = []
    for index in indices:
        gt = data.samples[index]["gt_map"]
        rows.append({
            "id": str(data.samples[index]["id"]),
            "sound": data.names[index],
            "ceiling": float(median_rule_ceiling(gt)),
            "at_threshold": data.cious(index, threshold),
            "at_protocol": {label: float(ciou_at_threshold(maps[index], gt, protocol_threshold(maps[index])))
                            for label, maps in data.maps.items()},
        })
    return rows


def reading(rows: list[dict], baseline: str = "ezvsl", method: str = "fnac") -> str:
    """Notebook 05's reading of the scenes it shows (``summary`` rows), computed from them: which
    map scores the higher cIoU at the protocol threshold on how many scenes, and where the median
    rule's ceiling keeps even a perfect map below a success."""
    names = {baseline: method_label(baseline), method: method_label(method)}
    wins = {name: [row["sound"] for row in rows if row["at_protocol"][name] > row["at_protocol"][other] + 1e-6]
            for name, other in ((method, baseline), (baseline, method))}
    ties = len(rows) - sum(map(len, wins.values()))
    counts = [f"{names[name]}'s map on {len(found)}: {listed(found)}" for name, found in wins.items() if found]
    lines = [f"At the protocol threshold (each map's median), of the {len(rows)} scenes shown, the higher cIoU is "
             + ("; ".join(counts) if counts else "neither map's") + (f"; {ties} {'scores' if ties == 1 else 'score'} "
                                                                     "the same for both" if ties else "") + "."]
    capped = [f"{row['sound']} at {row['ceiling']:.2f}" for row in rows if row["ceiling"] < 0.5]
    lines.append(f"The median rule's ceiling (the best cIoU any map reaches here) is below 0.5 on {listed(capped)}: "
                 "not even a perfect map counts as a success there." if capped else
                 "The median rule lets a perfect map reach cIoU 0.5 on every scene shown.")
    lines.append(f"{len(rows)} scenes cannot rank the methods: notebook 04 scores every test scene and calls a "
                 "difference a lead only beyond the seed spread.")
    return " ".join(lines)


def collect(runs: dict[str, Path], dataset: Dataset, count: int = 16, device: str = "auto") -> ExplorerData:
    """Evaluate each run (best checkpoint) on the first ``count`` samples of ``dataset``.

    ``runs`` maps labels (method names or display labels) to run directories.
    """
    device = resolve_device(device)
    subset = Subset(dataset, range(min(count, len(dataset))))
    maps, sample_rate = {}, None
    for label, run_dir in runs.items():
        model, config = load_model(checkpoint_path(run_dir, "best"), device)
        _, preds = evaluate(model, subset, tau=config.train.tau, batch_size=count, device=device, amp=config.eval.amp, settings=config.eval)
        maps[label] = preds.av  # (count, H, W)
        sample_rate = config.audio.sample_rate
    samples = [subset[i] for i in range(len(subset))]
    return ExplorerData(samples, maps, getattr(dataset, "sample_rate", sample_rate), sound_names(samples, dataset))


# ---------------------------------------------------------------------------------------------
# Views.


def _map_columns(data: ExplorerData) -> dict[str, torch.Tensor]:
    """Each model's maps by label; models with identical maps share a column ("EZ-VSL = FNAC")."""
    maps = {method_label(label): m for label, m in data.maps.items()}
    return {joined(group): maps[group[0]] for group in coinciding({k: v.flatten().numpy() for k, v in maps.items()})}


def _draw_sample(axes, data: ExplorerData, index: int, threshold: float):
    """Image + gt, then each model's map with the region predicted at ``threshold`` outlined."""
    sample = data.samples[index]
    image = sample["image"].permute(1, 2, 0).numpy()  # (H, W, 3)
    axes[0].imshow(image)
    axes[0].set_title(data.title(index, "\n"), fontsize=10, fontweight="bold")  # two lines, as the map titles
    shown = None
    for ax, (label, maps) in zip(axes[1:], _map_columns(data).items()):
        m = maps[index]  # (H, W)
        shown = draw_map(ax, image, m, m >= threshold)
        score = float(ciou_at_threshold(m, sample["gt_map"], threshold))
        ax.set_title(f"{label}\ncIoU {score:.2f} at threshold {threshold:.2f}", fontsize=9)
    for ax in axes:
        draw_boxes(ax, sample["boxes"], image.shape[:2], color=GT_COLOUR, lw=1.8)
        ax.set_xticks([]), ax.set_yticks([])
    return shown


def _draw_curves(ax, data: ExplorerData, index: int, threshold: float) -> None:
    """cIoU against the threshold per model (identical ones share a line); dots mark each map's
    protocol (median) threshold, the dashed line the best cIoU a perfect map reaches under that rule."""
    gt = data.samples[index]["gt_map"]
    curves = {method_label(label): ciou_curve(maps[index], gt) for label, maps in data.maps.items()}
    groups = draw_runs(ax, {label: THRESHOLDS for label in curves}, curves, colours(curves))
    by_label = {method_label(label): maps for label, maps in data.maps.items()}
    for group, line in zip(groups, ax.get_lines()):
        median = protocol_threshold(by_label[group[0]][index])
        ax.plot([median], [float(ciou_at_threshold(by_label[group[0]][index], gt, median))], "o",
                color=line.get_color(), ms=7, mec="black")
    ax.axvline(threshold, color="grey", ls=":", lw=1.2)
    ax.axhline(float(median_rule_ceiling(gt)), color="black", ls="--", lw=1.0)  # a perfect map under the median rule
    note = identical_note(groups)
    ax.set(xlabel="threshold" + (f"\n{note}" if note else ""), ylabel="cIoU", ylim=(0, 1.02),
           title="cIoU as the threshold moves")


def curve_legend() -> list:
    """What the curve panel's marks mean, besides the runs' lines."""
    return [Line2D([], [], ls="none", marker="o", ms=7, mec="black", mfc="grey",
                   label="dot: the protocol's threshold (median of the map)"),
            Line2D([], [], color="black", ls="--", lw=1.0, label="best cIoU any map reaches under the median rule"),
            Line2D([], [], color="grey", ls=":", lw=1.2, label="the threshold drawn on the maps")]


def sample_figure(data: ExplorerData, index: int, threshold: float = 0.5) -> Figure:
    """One sample: image, each model's map at ``threshold``, and the cIoU-vs-threshold curves."""
    return static_figure(data, [index], threshold)


@legible
def static_figure(data: ExplorerData, indices, threshold: float = 0.5) -> Figure:
    """Rows: samples; columns: image, each model's map at ``threshold``, cIoU vs threshold.

    The headless stand-in for the widget: the last column is what moving the slider traces out.
    Models whose maps are identical share a column; a colour bar and a legend say what the
    colours and marks mean.
    """
    indices = list(indices)
    columns = 2 + len(_map_columns(data))
    cell = min(2.6, (MAX_WIDTH - 1.0) / columns)
    fig = Figure(figsize=(cell * columns + 1.0, cell * len(indices) + 1.6), layout="constrained")
    axes = fig.subplots(len(indices), columns, squeeze=False, width_ratios=[1] * (columns - 1) + [1.3])
    for row, index in enumerate(indices):
        shown = _draw_sample(axes[row, :-1], data, index, threshold)
        _draw_curves(axes[row, -1], data, index, threshold)
    map_colorbar(fig, axes[:, 1:-1], shown)
    runs = [method_label(label) for label in data.maps]
    handles = map_legend("region predicted at the threshold") + run_handles(runs, colours(runs)) + curve_legend()
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def scene_audio(data: ExplorerData, indices):
    """The clip of each scene ``indices`` names, under its title, as players embedded in the page
    (WAV data, peak-normalised): they play offline in JupyterLab, the executed notebook and the
    HTML report."""
    from IPython.display import HTML, Audio

    shown = [i for i in indices if i < len(data.samples)]
    return HTML("\n".join(f"<p><b>{html.escape(data.title(i))}</b></p>"
                          + Audio(wav_bytes(data.samples[i]["audio"], data.sample_rate), embed=True)._repr_html_()
                          for i in shown))


def explorer_widget(data: ExplorerData, threshold: float = 0.5):
    """An ipywidgets view: sample chooser, audio player, threshold slider, maps and cIoU readout."""
    import ipywidgets as widgets

    wide = {"description_width": "initial"}
    choose = widgets.Dropdown(options=[(data.title(i), i) for i in range(len(data.samples))], description="sample",
                              style=wide, layout=widgets.Layout(width="max-content", min_width="24em"))
    slider = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                 continuous_update=False, readout_format=".2f", style=wide,
                                 layout=widgets.Layout(width="28em"))
    audio = widgets.Audio(format="wav", autoplay=False, loop=False)
    picture = widgets.Image(format="png")
    readout = widgets.HTML()

    def redraw(_=None) -> None:
        index, value = choose.value, slider.value
        scores = data.cious(index, value)
        medians = {label: protocol_threshold(maps[index]) for label, maps in data.maps.items()}
        lines = [f"<b>{method_label(label)}</b>: cIoU {scores[label]:.3f} at {value:.2f} "
                 f"(protocol: median threshold {medians[label]:.2f})" for label in data.maps]
        ceiling = float(median_rule_ceiling(data.samples[index]["gt_map"]))
        readout.value = "<br>".join([f"<b>{data.title(index)}</b> plays", *lines,
                                     f"best cIoU any map can reach under the median rule here: {ceiling:.3f}"])
        picture.value = _png(sample_figure(data, index, value))

    def new_sample(_=None) -> None:
        audio.value = wav_bytes(data.samples[choose.value]["audio"], data.sample_rate)
        redraw()

    choose.observe(new_sample, names="value")
    slider.observe(redraw, names="value")
    new_sample()
    return widgets.VBox([widgets.HBox([choose, slider]), audio, readout, picture])


def show(data: ExplorerData, interactive: bool, indices=(0, 1, 2), threshold: float = 0.5):
    """The widget when ``interactive`` (a Jupyter frontend is attached), else a static Figure."""
    if interactive:
        return explorer_widget(data, threshold)
    return static_figure(data, [i for i in indices if i < len(data.samples)], threshold)
