"""The pipeline benchmark runs end to end at toy size (its figures are measured by ``make bench``,
never asserted here: timings are not tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pipeline.py"
PHASES = {"naive_train", "naive_eval", "workbook_train", "workbook_cached_train", "workbook_eval"}


@pytest.mark.slow
def test_the_benchmark_runs_both_pipelines_and_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(BENCH), "--device", "cpu", "--preset", "ci", "--batch-size", "8",
               "--image-size", "32", "--steps", "1", "--warmup-steps", "1", "--repeats", "1",
               "--eval-samples", "16", "--amp", "--channels-last", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "workbook settings: bf16 autocast True, channels_last True" in done.stdout
    for line in ("training samples/s, no cache (median)", "training samples/s, cache (median)",
                 "evaluation samples/s (median)", "training CPU ms/sample, cache", "peak memory, MiB"):
        assert line in done.stdout
    results = json.loads(out.read_text())
    assert set(results["rates"]) == PHASES and all(rate > 0 for rate in results["rates"].values())
    assert results["model_step"]["flops"] > 0 and results["model_step"]["workbook_s"] > 0
    assert set(results["memory"]) == {f"{phase}_train" for phase in ("naive", "workbook", "workbook_cached")}
    assert all(entry["main_mib"] > 0 and entry["total_mib"] >= entry["main_mib"]
               for entry in results["memory"].values())
    assert {split: entry["samples"] for split, entry in results["cache"].items()} == {"train": 16, "test": 16}


SHARED_TRUNK_BENCH = BENCH.parent / "bench_shared_trunk.py"


@pytest.mark.slow
def test_the_shared_trunk_benchmark_scores_both_ways_and_finds_the_same_maps():
    command = [sys.executable, str(SHARED_TRUNK_BENCH), "--scenes", "16"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 runs (ezvsl, fnac) scored on 16 heard test scenes" in done.stdout
    assert "same maps and scores: True" in done.stdout


SCENE_CACHE_BENCH = BENCH.parent / "bench_scene_cache.py"


@pytest.mark.slow
def test_the_sharing_benchmark_trains_every_variant_to_the_same_weights():
    """Scene cache, shared trunk features and warm-up forks: four ways to the same weights (the
    script exits non-zero when they differ)."""
    command = [sys.executable, str(SCENE_CACHE_BENCH), "--methods", "ezvsl", "fnac", "oracle", "--steps", "2",
               "--epochs", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 runs (ezvsl, fnac, oracle) x 2 epochs x 2 steps" in done.stdout
    assert "FNAC's warm-up trained once (forks)" in done.stdout and "same final weights: True" in done.stdout


RECIPE = BENCH.parent / "demo_recipe.py"


@pytest.mark.slow
def test_the_recipe_script_trains_each_variant_once_and_scores_it(tmp_path):
    command = [sys.executable, str(RECIPE), str(tmp_path), "--preset", "ci", "--test-length", "16",
               "--set", "train.weight_decay=0", "--variant", "base", "--variant", "fnac-fast", "train.method=fnac",
               "train.lr=3e-3", "--variant", "fnac", "train.method=fnac", "--variant", "small", "data.image_size=48"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores) == {"base", "fnac-fast", "fnac", "small"}  # another image size: test scenes built for it
    assert all(set(values) == {"objects-heard pointing_game", "objects-heard AUC", "objects-listening listening",
                               "objects-pictures-listening listening", "objects-val-listening listening"}
               and all(0 <= value <= 1 for value in values.values()) for values in scores.values())
    # where each listening test's maxima fell, per variant; the first place is the listening rate itself
    misses = json.loads((tmp_path / "listening.json").read_text())
    assert set(misses) == {"objects-listening", "objects-pictures-listening", "objects-val-listening"}
    for test, entries in misses.items():
        assert set(entries) == set(scores)
        for name, entry in entries.items():
            assert abs(entry["places"]["on the object heard"] - scores[name][f"{test} listening"]) < 1e-6
    assert "| objects-val-listening | small | 16 |" in done.stdout  # 16 renderings: 8 pairs
    saved = json.loads((tmp_path / "fnac-fast" / "config.json").read_text())["train"]
    assert (saved["method"], saved["lr"], saved["weight_decay"]) == ("fnac", 3e-3, 0)  # --set: every variant
    base = json.loads((tmp_path / "base" / "config.json").read_text())["train"]
    assert (base["method"], base["weight_decay"]) == ("ezvsl", 0)
    # the variant that differs from base only in the method starts from base's warm-up; another rate cannot
    origins = {name: json.loads((tmp_path / name / "metrics.json").read_text()).get("warmup_from")
               for name in ("fnac", "fnac-fast")}
    assert origins == {"fnac": str(tmp_path / "base"), "fnac-fast": None}

    # A second call loads the runs it finds (same scores) instead of training them again.
    trained = (tmp_path / "base" / "last.pt").stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "base" / "last.pt").stat().st_mtime_ns == trained
    assert json.loads((tmp_path / "scores.json").read_text()) == scores
