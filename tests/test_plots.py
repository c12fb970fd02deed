"""Each plot helper returns a Figure with the expected panels on small inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fnac_lib.workbook import adjacency, common, false_negatives

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
    fig = common.sample_gallery(samples, class_names=["cow", "duck", "drum"], ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[0].get_title() == "sounds: cow" and fig.axes[1].get_title() == "duck (off screen)"
    assert fig.axes[0].get_xlabel() == "in the picture: cow, drum"


def test_plot_same_class_negatives():
    sizes = np.array([4, 8, 16])
    curves = {"fine": {"expected": sizes * 0.1, "measured": sizes * 0.1, "std": sizes * 0.01},
              "coarse": {"expected": sizes * 0.3}, "digits": {"expected": sizes * 0.5}}
    fig = false_negatives.plot_same_class_negatives(sizes, curves, panels={"objects": ["fine", "coarse"], "digits": ["digits"]})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(false_negatives.plot_same_class_negatives(sizes, curves).axes) == 1


def test_plot_infonce_floor():
    sizes = np.array([4, 8, 16])
    fig = false_negatives.plot_infonce_floor(sizes, {"fine": false_negatives.expected_infonce_floor(sizes, [0.5, 0.5])})
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_plot_gradient_split():
    summary = {"fn_rate": 0.1, "fn_push_share": 0.2, "push_per_fn_pair": 0.02, "push_per_tn_pair": 0.01}
    fig = false_negatives.plot_gradient_split({"untrained": summary, "trained": summary})
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_plot_adjacency():
    fig = adjacency.plot_adjacency(_matrices(), LABELS, class_names=["a", "b", "c"], title="batch")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 4 * 2  # 4 rows x 2 heatmaps, each with a colour bar
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    # class names on both axes: rows on the left panel of each row, columns under every panel
    assert [t.get_text() for t in heatmaps[0].get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in heatmaps[1].get_xticklabels()] == ["a", "b", "c"]
    assert heatmaps[1].get_title() == "row softmax of audio-audio $A_{aud}$"
    fig = adjacency.plot_adjacency({"audio": torch.randn(8, 8)}, LABELS, rows=("raw",))
    assert len(fig.axes) == 2


def test_plot_detector_roc():
    fig = adjacency.plot_detector_roc(_matrices(), LABELS, title="trained")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 5  # four detectors and the chance diagonal


def test_every_figure_of_01_and_02_is_legible_at_the_width_it_is_shown(assert_legible):
    """JupyterLab and the HTML report show a figure at 100 px per inch, shrunk when wider than the
    page: figures stay within MAX_WIDTH and no text is smaller than 8 pt (11 px)."""
    sizes = np.array([4, 8, 16])
    summary = {"fn_rate": 0.1, "fn_push_share": 0.2, "push_per_fn_pair": 0.02, "push_per_tn_pair": 0.01}
    samples = [{"image": torch.zeros(3, 16, 16, dtype=torch.uint8), "boxes": torch.tensor([[0.1, 0.2, 0.6, 0.7]]),
                "classes": torch.tensor([0, 1]), "label": 0} for _ in range(6)]
    figures = [
        common.sample_gallery(samples, ["cow", "duck"]),
        false_negatives.plot_same_class_negatives(sizes, {"fine": {"expected": sizes * 0.1}}),
        false_negatives.plot_infonce_floor(sizes, {"fine": false_negatives.expected_infonce_floor(sizes, [0.5, 0.5])}),
        false_negatives.plot_gradient_split({f"condition {i}": summary for i in range(8)}),
        adjacency.plot_adjacency(_matrices(), LABELS, class_names=["a", "b", "c"]),
        adjacency.plot_detector_roc(_matrices(), LABELS),
    ]
    for fig in figures:
        assert_legible(fig)


def test_coinciding_curves_are_grouped_and_drawn_nested():
    series = {"EZ-VSL": np.array([1.0, 2.0]), "FNAC": np.array([1.0, 3.0]), "TNE only": np.array([1.0, 2.0])}
    assert common.coinciding(series) == [["EZ-VSL", "TNE only"], ["FNAC"]]
    fig, ax = plt.subplots()
    groups = common.draw_runs(ax, {name: [0, 1] for name in series}, series)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["EZ-VSL = TNE only", "FNAC"] and len(groups) == 2
    assert lines[0].get_linewidth() > lines[1].get_linewidth()  # the one drawn first stays visible around the next
