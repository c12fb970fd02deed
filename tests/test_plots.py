"""Each plot helper returns a Figure with the expected panels on small inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fnac_lib.workbook import false_negatives, plots

LABELS = np.array([0, 1, 0, 2, 1, 2, 0, 1])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _matrices(batch=8):
    gen = np.random.default_rng(0)
    return {name: gen.normal(size=(batch, batch)) for name in ("audio", "visual", "foreground", "logits")}


def test_sample_gallery():
    samples = [{"image": torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8),
                "boxes": torch.tensor([[0.1, 0.2, 0.6, 0.7]]), "classes": torch.tensor([i, 2]), "label": i,
                "on_screen": i != 1} for i in range(3)]
    fig = plots.sample_gallery(samples, class_names=["cow", "duck", "drum"], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[1].get_title() == "duck (off screen)"


def test_plot_same_class_negatives():
    sizes = np.array([4, 8, 16])
    curves = {"fine": {"expected": sizes * 0.1, "measured": sizes * 0.1, "std": sizes * 0.01},
              "coarse": {"expected": sizes * 0.3}, "digits": {"expected": sizes * 0.5}}
    fig = plots.plot_same_class_negatives(sizes, curves, panels={"objects": ["fine", "coarse"], "digits": ["digits"]})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(plots.plot_same_class_negatives(sizes, curves).axes) == 1


def test_plot_infonce_floor():
    sizes = np.array([4, 8, 16])
    fig = plots.plot_infonce_floor(sizes, {"fine": false_negatives.expected_infonce_floor(sizes, [0.5, 0.5])})
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_plot_gradient_split():
    summary = {"fn_rate": 0.1, "fn_push_share": 0.2, "push_per_fn_pair": 0.02, "push_per_tn_pair": 0.01}
    fig = plots.plot_gradient_split({"untrained": summary, "trained": summary})
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_plot_adjacency():
    fig = plots.plot_adjacency(_matrices(), LABELS, class_names=["a", "b", "c"], title="batch")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 4 * 2  # 2 rows x 4 heatmaps, each with a colour bar
    fig = plots.plot_adjacency({"audio": torch.randn(8, 8)}, LABELS, rows=("raw",))
    assert len(fig.axes) == 2


def test_plot_detector_roc():
    fig = plots.plot_detector_roc(_matrices(), LABELS, title="trained")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 5  # four detectors and the chance diagonal
