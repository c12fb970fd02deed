"""The command line on the embedded default data: train, resume, evaluate every protocol."""

import json

import pytest

from fnac_lib.data.default import default_data_dir
from fnac_lib.cli import main

pytestmark = pytest.mark.skipif(not (default_data_dir() / "bank.npz").exists(),
                                reason="the default data is not built (make data)")

SMALL = ["--preset", "ci", "--quiet", "--set", "data.train_length=32", "--set", "data.val_length=16",
         "--set", "train.epochs=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "fnac"
    assert main(["train", "--method", "fnac", "--run-dir", str(run), *SMALL]) == 0
    return run


def test_train_writes_a_run_directory(run_dir):
    assert {"config.json", "metrics.json", "last.pt", "best.pt"} <= {p.name for p in run_dir.iterdir()}
    assert len(json.loads((run_dir / "metrics.json").read_text())["validation"]) == 1


def test_resume_extends_a_finished_run(run_dir, tmp_path):
    extended = tmp_path / "extended"
    extended.mkdir()
    for name in ("config.json", "last.pt"):
        (extended / name).write_bytes((run_dir / name).read_bytes())
    assert main(["train", "--method", "fnac", "--run-dir", str(extended), *SMALL, "--set", "train.epochs=2",
                 "--resume"]) == 0
    assert len(json.loads((extended / "metrics.json").read_text())["validation"]) == 2


@pytest.mark.parametrize("variant, expected", [
    ("single", {"av", "obj", "av_ogl"}),
    ("open_set", {"open_set"}),  # silent pairs: SLAVC's detection scores, not cIoU
    ("mask", {"av", "obj", "av_ogl", "s4"}),
])
def test_evaluate_reports_every_protocol_the_test_set_supports(run_dir, tmp_path, variant, expected):
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--run-dir", str(run_dir), "--variant", variant, "--length", "16",
                 "--objectness", "model", "--out", str(out)]) == 0
    scores = json.loads(out.read_text())["scores"]
    assert set(scores) == expected
    for name in {"av", "obj", "av_ogl"} & expected:
        assert 0.0 <= scores[name]["cIoU"] <= 1.0 and 0.0 <= scores[name]["AUC"] <= 1.0
    if "open_set" in scores:
        assert 0.0 <= scores["open_set"]["AP"] <= 1.0 and scores["open_set"]["n"] == 16
    if "s4" in scores:
        assert set(scores["s4"]) == {"av", "av_ogl"}
        assert all(0.0 <= values["mIoU"] <= 1.0 for values in scores["s4"].values())


def test_unknown_arguments_are_refused():
    with pytest.raises(SystemExit):
        main(["train", "--run-dir", "x", "--bogus"])
