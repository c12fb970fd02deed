"""A sample explorer: hear a test clip, compare baseline and FNAC maps, move the cIoU threshold.

The protocol thresholds every map at its own median (``metrics.batch_ciou``); the explorer lets a
reader pick any threshold instead and watch cIoU follow, which shows how much of a score is the
map's shape and how much the fixed "top half" rule. In JupyterLab ``explorer_widget`` gives
sliders and an audio player; headless (papermill, CI) ``static_figure`` draws the same panels
for a few samples and the whole cIoU-vs-threshold curve in place of the slider.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.utils.data import Dataset, Subset

from ..device import resolve_device
from ..evaluation import evaluate
from ..metrics import ciou_at_threshold, ciou_of_masks, median_rule_ceiling, median_threshold_masks
from ..runs import checkpoint_path, load_model
from .labels import method_label
from .plots import draw_boxes

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
    """Test samples and, per model label, their audio-visual maps (N, H, W) in [0, 1]."""

    samples: list[dict]
    maps: dict[str, torch.Tensor]
    sample_rate: int

    def __post_init__(self) -> None:
        for label, maps in self.maps.items():
            if maps.shape[0] != len(self.samples):
                raise ValueError(f"{label}: {maps.shape[0]} maps for {len(self.samples)} samples")

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
            "ceiling": float(median_rule_ceiling(gt)),
            "at_threshold": data.cious(index, threshold),
            "at_protocol": {label: float(ciou_at_threshold(maps[index], gt, protocol_threshold(maps[index])))
                            for label, maps in data.maps.items()},
        })
    return rows


def collect(runs: dict[str, Path], dataset: Dataset, count: int = 16, device: str = "auto") -> ExplorerData:
    """Evaluate each run (best checkpoint) on the first ``count`` samples of ``dataset``.

    ``runs`` maps labels (method names or display labels) to run directories.
    """
    device = resolve_device(device)
    subset = Subset(dataset, range(min(count, len(dataset))))
    maps, sample_rate = {}, None
    for label, run_dir in runs.items():
        model, config = load_model(checkpoint_path(run_dir, "best"), device)
        _, preds = evaluate(model, subset, batch_size=count, device=device, amp=config.eval.amp, settings=config.eval)
        maps[label] = preds.av  # (count, H, W)
        sample_rate = config.audio.sample_rate
    samples = [subset[i] for i in range(len(subset))]
    return ExplorerData(samples, maps, getattr(dataset, "sample_rate", sample_rate))


# ---------------------------------------------------------------------------------------------
# Views.


def _draw_sample(axes, data: ExplorerData, index: int, threshold: float) -> None:
    """Image + gt, then each model's map with the region predicted at ``threshold`` outlined."""
    sample = data.samples[index]
    image = sample["image"].permute(1, 2, 0).numpy()  # (H, W, 3)
    size = image.shape[:2]
    axes[0].imshow(image)
    axes[0].set_title(f"{str(sample['id'])[-24:]}\nimage + gt boxes", fontsize=8)
    scores = data.cious(index, threshold)
    for ax, (label, maps) in zip(axes[1:], data.maps.items()):
        m = maps[index].numpy()
        ax.imshow(image)
        ax.imshow(m, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        if (m >= threshold).any() and not (m >= threshold).all():
            ax.contour((m >= threshold).astype(float), levels=[0.5], colors="white", linewidths=1.2)
        ax.set_title(f"{method_label(label)}\ncIoU@{threshold:.2f} = {scores[label]:.2f}", fontsize=8)
    for ax in axes:
        draw_boxes(ax, sample["boxes"], size)
        ax.set_xticks([]), ax.set_yticks([])


def _draw_curves(ax, data: ExplorerData, index: int, threshold: float) -> None:
    """cIoU against the threshold per model; dots mark each map's protocol (median) threshold,
    the dashed line the best cIoU a perfect map reaches under that rule."""
    gt = data.samples[index]["gt_map"]
    for label, maps in data.maps.items():
        line, = ax.plot(THRESHOLDS, ciou_curve(maps[index], gt), label=method_label(label), lw=1.2)
        median = protocol_threshold(maps[index])
        ax.plot([median], [float(ciou_at_threshold(maps[index], gt, median))], "o", color=line.get_color(), ms=4)
    ax.axvline(threshold, color="grey", ls=":", lw=1)
    ax.axhline(float(median_rule_ceiling(gt)), color="black", ls="--", lw=0.8)  # a perfect map under the median rule
    ax.set_xlabel("threshold", fontsize=8)
    ax.set_ylabel("cIoU", fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)


def sample_figure(data: ExplorerData, index: int, threshold: float = 0.5) -> Figure:
    """One sample: image, each model's map at ``threshold``, and the cIoU-vs-threshold curves."""
    return static_figure(data, [index], threshold)


def static_figure(data: ExplorerData, indices, threshold: float = 0.5, cell: float = 2.3) -> Figure:
    """Rows: samples; columns: image, each model's map at ``threshold``, cIoU vs threshold.

    The headless stand-in for the widget: the last column is what moving the slider traces out.
    """
    indices = list(indices)
    columns = 2 + len(data.maps)
    fig = Figure(figsize=(cell * columns, cell * len(indices)), layout="constrained")
    axes = fig.subplots(len(indices), columns, squeeze=False)
    for row, index in enumerate(indices):
        _draw_sample(axes[row, :-1], data, index, threshold)
        _draw_curves(axes[row, -1], data, index, threshold)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def explorer_widget(data: ExplorerData, threshold: float = 0.5):
    """An ipywidgets view: sample chooser, audio player, threshold slider, maps and cIoU readout."""
    import ipywidgets as widgets

    choose = widgets.Dropdown(options=[(str(s["id"]), i) for i, s in enumerate(data.samples)], description="sample")
    slider = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                 continuous_update=False, readout_format=".2f")
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
        readout.value = "<br>".join([*lines, f"best cIoU any map can reach under the median rule here: {ceiling:.3f}"])
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
