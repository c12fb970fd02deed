"""Reports: training curves, tidy score rows, tables beside the published numbers, figures."""

import json

import numpy as np
import pytest
import torch

from fnac_lib.config import apply_overrides
from fnac_lib.evaluation import Predictions
from fnac_lib.step import LOGGED_TERMS
from fnac_lib.training import train
from fnac_lib.metrics import median_rule_ceiling
from fnac_lib import runs as fnac_runs
from fnac_lib import scoring
from fnac_lib.data import test_sets
from fnac_lib.workbook import benchmark, common, false_negatives, published, training_runs


def fake_metrics(method, offset=0.0):
    history = [{"epoch": e, "step": 2 * e + s, **{t: 4.0 - 0.1 * (2 * e + s) + offset for t in LOGGED_TERMS}}
               for e in range(3) for s in (1, 2)]
    validation = [{"epoch": e, "cIoU": c, "AUC": a, "mean_cIoU": c, "n": 8}
                  for e, (c, a) in enumerate([(0.2, 0.3), (0.5, 0.4), (0.5, 0.35)])]
    return {"method": method, "global_step": 6, "history": history, "validation": validation}


def square_predictions(n=4, size=16, off_screen=0, masks=False):
    """Maps that hit a centred square gt exactly (AV) or miss it (objectness); silent pairs
    (the last ``off_screen``) have an empty gt and match their sound nowhere."""
    gt = torch.zeros(n, size, size)
    gt[:, 4:12, 4:12] = 1.0
    av = torch.rand(n, size, size, generator=torch.Generator().manual_seed(0)) * 0.1
    av[:, 4:12, 4:12] += 0.9  # (n, H, W): the square holds the top values
    on_screen = torch.ones(n, dtype=torch.bool)
    on_screen[n - off_screen:] = False
    gt[~on_screen] = 0.0
    av_raw = torch.where(on_screen.view(-1, 1, 1), 20.0 * av, -20.0 * av)  # cos / tau: strong match on screen
    return Predictions.from_maps(av_raw, gt, on_screen, tau=0.03, objectness=1.0 - av, masks=gt.clone() if masks else None,
                                 ids=[f"s{i}" for i in range(n)])


def test_loss_and_validation_curves_have_a_panel_per_term_and_a_line_per_run(assert_legible):
    metrics = {"ezvsl": fake_metrics("ezvsl"), "fnac": fake_metrics("fnac", 0.5), "tne": fake_metrics("tne")}
    fig = training_runs.loss_curves(metrics, warmup_epochs=1, batch_size=8)
    panels, legend_cell = fig.axes[:len(LOGGED_TERMS)], fig.axes[-1]
    assert len(fig.axes) == len(LOGGED_TERMS) + 1 and fig.get_figwidth() <= common.MAX_WIDTH
    assert all(ax.get_ylabel() for ax in panels)  # every panel says what its y axis is
    # EZ-VSL and TNE only log identical curves: one line says so; FNAC has its own; plus the warm-up marker
    assert [line.get_label() for line in panels[0].get_lines()] == ["EZ-VSL = TNE only", "FNAC", "end of warm-up"]
    assert panels[0].get_xlabel() == "training step\nidentical: EZ-VSL = TNE only"  # said under the panel
    assert [t.get_text() for t in legend_cell.get_legend().get_texts()] == [
        "EZ-VSL", "FNAC", "TNE only", "end of warm-up", "chance, 2 ln 8"]
    assert_legible(fig)
    fig = training_runs.validation_curves(metrics)
    assert_legible(fig)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["validation cIoU", "validation AUC"]
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [20, 50, 50])


def test_final_validation_reports_the_last_epoch_and_the_kept_one():
    scores = training_runs.final_validation({"fnac": fake_metrics("fnac")})["fnac"]
    assert scores["final"]["epoch"] == 2 and scores["best"]["epoch"] == 1 and scores["steps"] == 6


def test_localization_rows_are_tidy_and_score_each_map():
    test = test_sets.TestSet("squares", dataset=None, inputs=(16, 16000, 1.0))
    rows = scoring.score_predictions(square_predictions(), test)
    assert all(set(r) == {"test_set", "protocol", "map", "metric", "value", "n"} for r in rows)
    values = {(r["map"], r["metric"]): r["value"] for r in rows}
    assert {m for m, _ in values} == {"av", "obj", "av_ogl"}
    assert values["av", "cIoU"] == 1.0 and values["obj", "cIoU"] == 0.0


def test_open_set_and_mask_rows_follow_the_data():
    test = test_sets.TestSet("squares/open_set", dataset=None, inputs=(16, 16000, 1.0))
    rows = scoring.score_predictions(square_predictions(n=6, off_screen=3), test)
    assert {(r["protocol"], r["metric"]) for r in rows} == {("open_set", "AP"), ("open_set", "max_F1")}
    assert all(r["value"] == pytest.approx(1.0) for r in rows)

    masked = test_sets.TestSet("squares/mask", dataset=None, inputs=(16, 16000, 1.0), protocols=("segmentation",))
    rows = scoring.score_predictions(square_predictions(masks=True), masked)
    assert {(r["protocol"], r["map"], r["metric"]) for r in rows} == {
        ("segmentation", m, k) for m in ("av", "av_ogl") for k in ("mIoU", "F_score")}
    assert next(r for r in rows if r["map"] == "av" and r["metric"] == "mIoU")["value"] == pytest.approx(1.0)


def test_reference_maps_frame_the_scores_between_chance_and_the_median_rule_ceiling():
    preds = square_predictions(n=3)  # the square covers a quarter of the image: ceiling 2 * 1/4
    rows = scoring.reference_rows({("fnac", "squares"): preds}, [test_sets.TestSet("squares", None, (16, 16000, 1.0))])
    values = {(r["run"], r["metric"]): r["value"] for r in rows}
    assert values[scoring.PERFECT_MAP, "mean_cIoU"] == pytest.approx(0.5) and values[scoring.PERFECT_MAP, "cIoU"] == 1.0
    assert values[scoring.PERFECT_MAP, "mean_cIoU"] == pytest.approx(float(median_rule_ceiling(preds.gt).mean()))
    # noise predicts a random half: about half of the square over the square plus half the rest
    assert values[scoring.RANDOM_MAP, "mean_cIoU"] == pytest.approx(0.125 / (0.25 + 0.375), abs=0.05)


def test_reference_maps_frame_open_set_and_segmentation_scores_too():
    open_set = test_sets.TestSet("squares/open_set", None, (16, 16000, 1.0))
    rows = scoring.reference_rows({("fnac", open_set.name): square_predictions(n=40, off_screen=20)}, [open_set])
    values = {(r["run"], r["metric"]): r["value"] for r in rows}
    assert {r["protocol"] for r in rows} == {"open_set"}
    # the ground truth is confident exactly on the sounding pairs; noise cannot tell them from silent ones
    assert values[scoring.PERFECT_MAP, "AP"] == pytest.approx(1.0)
    assert values[scoring.RANDOM_MAP, "AP"] < 0.75
    masked = test_sets.TestSet("squares/mask", None, (16, 16000, 1.0), protocols=("segmentation",))
    rows = scoring.reference_rows({("fnac", masked.name): square_predictions(masks=True)}, [masked])
    values = {(r["run"], r["metric"]): r["value"] for r in rows}
    assert values[scoring.PERFECT_MAP, "mIoU"] == pytest.approx(1.0) and values[scoring.RANDOM_MAP, "mIoU"] < 0.5


def test_tables_pivot_runs_and_sit_beside_the_published_gaps():
    rows = [{"run": run, "method": run, "test_set": "objects", "protocol": "localization", "map": "av",
             "metric": metric, "value": value, "n": 8}
            for run, scores in (("ezvsl", (0.40, 0.30)), ("fnac", (0.45, 0.32)))
            for metric, value in zip(("cIoU", "AUC"), scores)]
    table = benchmark.results_markdown(rows)
    assert table.splitlines()[0] == "**Localisation, AV map: cIoU / AUC (%)**"
    assert "| test set | EZ-VSL | FNAC |" in table and "| objects | 40.0 / 30.0 | 45.0 / 32.0 |" in table
    lines = benchmark.comparison_rows(rows)
    measured = [line for line in lines if line["source"] == "this workbook"]
    assert [round(line["gap"], 6) for line in measured] == [5.0, 2.0]
    gaps = {(line["train_set"], line["metric"]): line["gap"] for line in lines if line["test"] == "vggss"}
    assert gaps["VGG-Sound 10k", "cIoU"] == pytest.approx(37.29 - 37.18)
    # no gap across sources (a leaderboard FNAC number against the paper's EZ-VSL)
    assert not any(line["test"] == "flickr" for line in lines)
    assert "SLAVC" in published.published_markdown()
    assert all(r["source"] for r in published.PUBLISHED)
    assert not any("leaderboard" in r["source"] for r in published.PUBLISHED)  # papers' own tables only


def test_results_tables_merge_identical_runs_and_keep_the_references_apart():
    def row(run, test, protocol, metric, value):
        return {"run": run, "method": run, "test_set": test, "protocol": protocol, "map": "av", "metric": metric,
                "value": value, "n": 8}
    rows = [row(run, test, "localization", metric, value) for run in ("ezvsl", "fnac", "tne")
            for test in ("objects", "digits") for metric, value in (("cIoU", 0.1), ("AUC", 0.3 if run != "tne" else 0.2))]
    rows += [row(ref, test, "localization", metric, value) for ref in (scoring.RANDOM_MAP, scoring.PERFECT_MAP)
             for test in ("objects", "digits") for metric, value in (("cIoU", 0.1), ("AUC", 0.3))]
    rows += [row(run, "objects/open_set", "open_set", metric, 0.5) for run in ("ezvsl", "fnac") for metric in ("AP", "max_F1")]
    (title, table), (open_title, open_table) = benchmark.results_tables(rows)
    assert title == "Localisation, AV map: cIoU / AUC (%)"
    # identical runs share a column; a reference equal to them stays its own column
    assert table.splitlines()[0] == "| test set | EZ-VSL = FNAC | TNE only | random map | perfect map |"
    assert table.splitlines()[2] == "| objects | 10.0 / 30.0 | 10.0 / 20.0 | 10.0 / 30.0 | 10.0 / 30.0 |"
    assert open_title.startswith("Open set") and "| objects/open_set | 50.0 / 50.0 |" in open_table


def test_the_gradient_split_reads_as_a_table():
    split = {"loss": 6.9, "floor": 0.4, "fn_rate": 0.02, "fn_push_share": 0.5, "emb_grad_false_negative": 1.0,
             "emb_grad_positive": 1.2, "emb_grad_total": 0.4}
    table = false_negatives.gradient_split_markdown({"objects fine, trained": split}, chance=6.93)
    assert table.splitlines()[2] == "| objects fine, trained | 6.90 | 0.40 | 6.93 | 2.0% | 50.0% | 1.00 | 1.20 | 0.40 |"


def test_success_curves_and_heatmap_grid_have_the_expected_axes(assert_legible):
    fig = benchmark.success_curves({"EZ-VSL": np.array([0.2, 0.6]), "FNAC": np.array([0.7, 0.9]),
                                       "TNE only": np.array([0.2, 0.6])})
    assert_legible(fig)
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 3  # two curves (EZ-VSL and TNE only are one) and the 0.5 marker
    (legend,) = fig.legends
    assert legend.get_texts()[0].get_text() == "EZ-VSL = TNE only (AUC 40.0)"
    assert legend.get_window_extent().y1 < ax.get_window_extent().y0  # under the data, not on it

    preds = square_predictions(n=2)
    samples = [{"image": torch.zeros(3, 16, 16, dtype=torch.uint8), "gt_map": preds.gt[i],
                "boxes": torch.tensor([[0.25, 0.25, 0.75, 0.75]]), "id": f"s{i}"} for i in range(2)]
    columns = {common.MAP_LABELS[k]: v for k, v in benchmark.map_columns(preds).items()}
    columns["copy of AV"] = columns["AV"].clone()
    fig = benchmark.heatmap_grid(samples, columns, names=["zebra (unheard)", "cow (heard)"])
    assert len(fig.axes) == 2 * 4 + 1  # the copy shares the AV column; a colour bar
    assert fig.axes[0].get_title() == "zebra (unheard)" and fig.axes[4].get_title() == "cow (heard)"
    # the median rule predicts half the image, twice the quarter-image square
    assert fig.axes[1].get_title() == "AV = copy of AV\ncIoU 0.50"
    assert len(fig.axes[2].patches) == 1  # the gt box is drawn on every panel
    assert fig.axes[-1].get_ylabel().startswith("map value")  # the colour bar says what the colours mean
    assert_legible(fig)


def test_evaluate_runs_scores_every_finished_run_on_every_test_set(tmp_path, tone_squares, ci_config):
    config = apply_overrides(ci_config, {"train.epochs": 1, "train.batch_size": 8})
    for method in ("ezvsl", "fnac"):
        train(apply_overrides(config, {"train.method": method}), tmp_path / method, tone_squares(16),
              tone_squares(8, seed=1), progress=False)
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text(json.dumps(config.to_dict()))
    runs = fnac_runs.find_runs(tmp_path)
    assert list(runs) == ["ezvsl", "fnac"]

    test = test_sets.TestSet("tones", tone_squares(8, seed=2), inputs=(32, 16000, 1.0))
    rows, preds = scoring.evaluate_runs(runs, [test], progress=False)
    assert set(preds) == {("ezvsl", "tones"), ("fnac", "tones")}
    assert len(rows) == 2 * 3 * 4  # runs x maps (AV, objectness, AV+OGL) x localisation metrics
    assert set(rows[0]) == {"run", "method", "trained_on", "test_set", "protocol", "map", "metric", "value", "n"}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)

    wrong = test_sets.TestSet("tones-64", tone_squares(8, image_size=64), inputs=(64, 16000, 1.0))
    with pytest.raises(ValueError, match="build the test sets from its config"):
        scoring.evaluate_runs(runs, [wrong], progress=False)


def test_runs_with_one_frozen_trunk_share_its_features_and_score_as_they_would_alone(tmp_path, tone_squares,
                                                                                    ci_config, monkeypatch):
    config = apply_overrides(ci_config, {"train.epochs": 1, "train.batch_size": 8, "model.freeze_visual": True})
    for name, overrides in (("ezvsl", {"train.method": "ezvsl"}), ("fnac", {"train.method": "fnac"}),
                            ("other-seed", {"train.method": "ezvsl", "train.seed": 1})):
        train(apply_overrides(config, overrides), tmp_path / name, tone_squares(16), tone_squares(8, seed=1),
              progress=False)
    runs = fnac_runs.find_runs(tmp_path)
    test = test_sets.TestSet("tones", tone_squares(16, seed=2), inputs=(32, 16000, 1.0))
    passes, load_model = [], scoring.load_model

    def counting(path, device):
        model, config = load_model(path, device)
        model.visual.trunk.register_forward_hook(lambda *_: passes.append(path.parent.name))
        return model, config

    monkeypatch.setattr(scoring, "load_model", counting)
    rows, preds = scoring.evaluate_runs(runs, [test], objectness="model", batch_size=8, progress=False)
    # 16 scenes in batches of 8: EZ-VSL and FNAC (seed 0) share one trunk, two passes in all, though
    # each also reads it for its objectness map; the seed-1 run has its own trunk and passes.
    assert sorted(passes) == ["ezvsl", "ezvsl", "other-seed", "other-seed"]
    passes.clear()
    alone_rows, alone = scoring.evaluate_runs(runs, [test], objectness="model", batch_size=8, progress=False,
                                              share_trunks=False)
    assert len(passes) == 3 * 2 * 2  # each run's own forward pass and objectness map, per batch
    assert alone_rows == rows
    for key, shared in preds.items():
        for field in ("av", "av_raw", "objectness", "img_emb", "aud_emb"):
            assert torch.equal(getattr(shared, field), getattr(alone[key], field)), (key, field)


def test_the_methods_of_one_notebook_share_a_scene_cache_deleted_after_the_last(tmp_path, monkeypatch):
    from fnac_lib.config import preset

    cache_dir = tmp_path / "scene-cache"
    base = preset("ci", **{"data.image_size": 32, "data.train_length": 16, "train.batch_size": 8, "train.epochs": 1,
                           "data.cache_dir": str(cache_dir)})
    caches_at_start, train_or_load = [], fnac_runs.train_or_load

    def recording(config, run_dir, progress=True, shared=None, forks=()):
        caches_at_start.append(len(list(cache_dir.glob("*"))))
        return train_or_load(config, run_dir, progress, shared, forks)

    monkeypatch.setattr(fnac_runs, "train_or_load", recording)
    metrics = fnac_runs.train_methods(base, ["ezvsl", "fnac"], tmp_path / "runs", progress=False)
    # the first method renders the scenes, the second reads them, and none are left behind
    assert caches_at_start == [0, 1] and not any(cache_dir.iterdir())
    assert [m["global_step"] for m in metrics.values()] == [2, 2]


def test_a_notebook_that_needs_one_of_notebook_03s_runs_trains_them_together(tmp_path, monkeypatch):
    """Notebooks 01 and 02 need the ``fnac`` run: when it is one of ``methods``, every run of
    ``methods`` is trained first, in one group that shares a frozen trunk's features."""
    from fnac_lib.config import preset
    from fnac_lib.shared_features import TrainingFeatures

    base = preset("ci", **{"data.image_size": 32, "data.train_length": 16, "train.batch_size": 8, "train.epochs": 1,
                           "model.freeze_visual": True, "train.warmup_epochs": 0})  # no warm-up to share: fnac trains
    stores, train_or_load = [], fnac_runs.train_or_load

    def recording(config, run_dir, progress=True, shared=None, forks=()):
        stores.append((config.train.method, shared))
        return train_or_load(config, run_dir, progress, shared, forks)

    monkeypatch.setattr(fnac_runs, "train_or_load", recording)
    model, config, metrics = fnac_runs.train_or_load_with(base, "fnac", ["ezvsl", "fnac"], tmp_path / "runs",
                                                          progress=False)
    assert [method for method, _ in stores] == ["ezvsl", "fnac", "fnac"]  # the group, then the load
    assert isinstance(stores[0][1], TrainingFeatures) and stores[1][1] is stores[0][1] and stores[2][1] is None
    assert stores[0][1].hits == stores[0][1].misses > 0  # fnac read every batch ezvsl computed
    assert config.train.method == "fnac" and metrics["global_step"] == 2
    assert fnac_runs.is_finished(tmp_path / "runs" / "ezvsl")

    stores.clear()  # a run that is not one of methods trains alone, as before
    fnac_runs.train_or_load_with(base, "fnac", ["ezvsl"], tmp_path / "other", progress=False)
    assert [method for method, _ in stores] == ["fnac"] and not (tmp_path / "other" / "ezvsl").exists()
