"""The notebook series at CI size: each runs headlessly with papermill and writes its numbers.

The notebooks run in order into a temporary run root (so 02, 04 and 05 reuse the runs 03 trains)
and each leaves ``<out_dir>/<notebook>.json``; the assertions below read those files. nbval checks
the tagged cells separately (``pytest --nbval-lax notebooks``, part of ``make test``).
"""

from __future__ import annotations

import json
import nbformat
import papermill
import pytest
import yaml

from notebook_outputs import NOTEBOOK_DIR, notebooks, unexpected_outputs

pytestmark = pytest.mark.notebooks
STEMS = [path.stem for path in notebooks()]


def test_the_series_is_complete_and_numbered():
    assert STEMS == ["01_false_negatives", "02_adjacency_matrices", "03_training_runs",
                     "04_benchmark_evaluation", "05_explorer", "06_study"]


@pytest.mark.parametrize("path", notebooks(), ids=STEMS)
def test_committed_notebooks_carry_outputs_only_on_checked_cells(path):
    assert unexpected_outputs(path) == []


@pytest.mark.parametrize("path", notebooks(), ids=STEMS)
def test_each_notebook_has_a_parameters_cell_first_and_a_question(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ") and "?" in cells[0].source
    first_code = next(c for c in cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml", "study.yaml"])
def test_every_parameter_file_entry_is_a_notebook_parameter(name):
    """papermill passes unknown names on silently: a misspelt entry would change nothing."""
    values = yaml.safe_load((NOTEBOOK_DIR.parent / "params" / name).read_text())
    known = set().union(*(papermill.inspect_notebook(str(path)) for path in notebooks()))
    assert set(values) - known == set()


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """Run every notebook once, in order, at its CI-size defaults; return the metrics they wrote."""
    root = tmp_path_factory.mktemp("notebooks")
    params = {"run_root": str(root / "runs"), "out_dir": str(root / "figures")}
    results = {}
    for path in notebooks():
        papermill.execute_notebook(str(path), str(root / path.name), parameters=params, kernel_name="fnac",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
        results[path.stem] = json.loads((root / "figures" / f"{path.stem}.json").read_text())
    results["figures"] = sorted(p.name for p in (root / "figures").glob("*.png"))
    return results


def test_every_notebook_saves_figures(executed):
    for stem in STEMS:
        assert any(name.startswith(stem[:2]) for name in executed["figures"]), stem


def test_01_measures_false_negatives_as_expected(executed):
    found = executed["01_false_negatives"]["false_negatives"]
    for name, stats in found.items():
        expected, measured = stats["expected"], stats["measured"]
        assert expected == sorted(expected), name  # more negatives share the class as B grows
        # the sampled batches agree with (B - 1) * sum p_c^2 where there are enough pairs to count
        assert measured[-1] == pytest.approx(expected[-1], rel=0.15), name
    # coarse labels merge classes, so a batch holds more same-class negatives than with fine ones
    assert found["objects coarse"]["expected"][-1] > found["objects fine"]["expected"][-1]
    floors = executed["01_false_negatives"]["infonce_floor"]
    assert all(a < b for a, b in zip(floors["objects fine"], floors["objects coarse"]))


def test_02_scores_each_adjacency_matrix_as_a_detector(executed):
    result = executed["02_adjacency_matrices"]
    assert result["batch"]["coarse"]["same_class_rate"] > result["batch"]["fine"]["same_class_rate"]
    for model in ("untrained", "trained"):
        for labels in ("fine", "coarse"):
            scores = result["detection"][model][labels]
            assert set(scores) == {"audio", "visual", "foreground", "image-audio logits"}
            assert all(0.0 <= s["auroc"] <= 1.0 for s in scores.values())


def test_03_trains_every_method_with_the_same_budget(executed):
    runs = executed["03_training_runs"]["runs"]
    assert set(runs) == {"ezvsl", "fnac", "fns_audio", "fns_visual", "tne"}
    assert len({r["steps"] for r in runs.values()}) == 1
    for run in runs.values():
        assert 0.0 <= run["final"]["cIoU"] <= 1.0 and 0.0 <= run["final"]["AUC"] <= 1.0


def test_04_scores_every_run_on_every_test_set_between_chance_and_the_ceiling(executed):
    rows = executed["04_benchmark_evaluation"]["rows"]
    assert {r["run"] for r in rows} >= {"ezvsl", "fnac", "perfect map", "random map"}
    assert {r["protocol"] for r in rows} >= {"localization", "open_set", "segmentation"}
    auc = {(r["run"], r["test_set"]): r["value"] for r in rows
           if r["metric"] == "AUC" and r["map"] == "av" and r["protocol"] == "localization"}
    for (run, test_set), value in auc.items():
        assert value <= auc["perfect map", test_set] + 1e-9, (run, test_set)


def test_04_splits_each_listening_test_by_where_the_maxima_fell(executed):
    result = executed["04_benchmark_evaluation"]
    rate = {(r["run"], r["test_set"]): r["value"] for r in result["rows"]
            if r["metric"] == "listening" and r["map"] == "av"}
    breakdown = result["listening"]
    assert {"objects-listening", "objects-pictures-listening", "objects-val-listening"} <= set(breakdown)
    for test, runs in breakdown.items():
        assert {"ezvsl", "fnac"} <= set(runs), test
        for run, entry in runs.items():
            assert sum(entry["places"].values()) == pytest.approx(1.0)
            assert sum(entry["outcomes"].values()) == pytest.approx(1.0)
            # the first place is the listening rate itself, counted again from the scenes' pixels
            assert entry["places"]["on the object heard"] == pytest.approx(rate[run, test], abs=1e-6), (run, test)
            assert sum(n for _, n in entry["by_class"].values()) == 2 * entry["pairs"]
    assert "04_listening_places.png" in executed["figures"]


def test_05_explorer_reads_cious_below_the_protocol_ceiling(executed):
    for sample in executed["05_explorer"]["samples"]:
        assert all(value <= sample["ceiling"] + 1e-6 for value in sample["at_protocol"].values())


def test_06_study_reports_means_intervals_and_paired_differences(executed):
    result = executed["06_study"]
    seeds = len(result["seeds"])
    assert result["runs"] == seeds * (4 + 4)  # objects and objects-few: 4 methods each
    summary = result["summary"]
    methods = {"ezvsl", "fnac", "oracle", "fnac_shuffled"}
    assert methods | {"random", "perfect", "largest-object"} == set(summary)
    assert set(summary["fnac"]) == {"objects-heard", "objects-unheard", "objects-listening", "objects-few",
                                    "objects-few-listening"}
    for method, by_test in summary.items():
        for test, metrics in by_test.items():
            expected = {"listening"} if test.endswith("listening") else {"cIoU", "AUC", "pointing_game"}
            assert set(metrics) == expected, (method, test)
            for value in metrics.values():
                assert 0.0 <= value["ci_low"] <= value["ci_high"] <= 1.0, (method, test, value)
            if method in methods and "AUC" in metrics:  # no map beats the protocol's ceiling
                assert metrics["AUC"]["mean"] <= summary["perfect"][test]["AUC"]["mean"] + 1e-9
    assert set(result["differences"]) == {f"{m} - ezvsl" for m in methods - {"ezvsl"}}
    fnac_gain = result["differences"]["fnac - ezvsl"]["objects-few"]["AUC"]
    assert fnac_gain["seeds"] == seeds and fnac_gain["ci_low"] <= fnac_gain["ci_high"]
    verdicts = ("yes", "no", "cannot tell", "no oracle gain")
    assert result["recovered"]["fnac / oracle"]["objects-few"]["AUC"]["exceeds"] in verdicts
    assert len(result["answers"]) == 8 and result["answers"][-1].startswith("objects-few-listening, listening")
    assert len(result["findings"]) == 3 * 8  # three differences on eight (test set, metric) pairs
    # a paragraph per data set saying what removing the false negatives, and FNAC, changed
    assert [c.split(".**")[0] for c in result["conclusions"]] == ["**objects", "**objects-few"]
    assert all("(the oracle)" in c and "FNAC, against EZ-VSL," in c for c in result["conclusions"])
    assert set(result["spread"]) == set(result["differences"])
