"""FNAC's warm-up trained once: an EZ-VSL run writes the checkpoint FNAC starts from at the end of
its warm-up, and FNAC ends with the weights it has when it trains from its first step."""

from __future__ import annotations

import json

import pytest
import torch

from fnac_lib import runs
from fnac_lib.checkpoint import load_checkpoint
from fnac_lib.config import apply_overrides, preset
from fnac_lib.warmup import Fork, forks_of, shares_warmup, write_fork

SMALL = {"data.image_size": 32, "data.train_length": 16, "data.val_length": 16, "train.batch_size": 8,
         "train.epochs": 3, "train.warmup_epochs": 1, "train.log_every": 1, "train.device": "cpu"}


def config(method: str, **overrides):
    return preset("ci", **{**SMALL, "train.method": method, **overrides})


def without_origin(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key != "warmup_from"}


def test_a_forked_fnac_run_ends_with_the_weights_of_one_trained_from_its_first_step(tmp_path, capsys):
    scratch = tmp_path / "scratch" / "fnac"
    runs.train_or_load(config("fnac"), scratch, progress=False)

    forked = tmp_path / "forked" / "fnac"
    runs.train_or_load(config("ezvsl"), tmp_path / "forked" / "ezvsl", progress=False,
                       forks=[Fork(config("fnac"), forked)])
    fork = load_checkpoint(forked / "last.pt")
    assert (fork["epoch"], fork["global_step"]) == (1, 2)  # the end of the warm-up: one epoch of two steps
    assert fork["config"]["train"]["method"] == "fnac" and fork["warmup_from"] == str(tmp_path / "forked" / "ezvsl")
    runs.train_or_load(config("fnac"), forked, progress=True)
    assert f"epoch 1 (its warm-up) trained by {tmp_path / 'forked' / 'ezvsl'}" in capsys.readouterr().out

    for name in ("last.pt", "best.pt"):
        expected, got = load_checkpoint(scratch / name), load_checkpoint(forked / name)
        assert got["global_step"] == expected["global_step"] and load_checkpoint(forked / "last.pt")["global_step"] == 6
        assert got["config"] == expected["config"]
        for key, tensor in expected["model"].items():
            assert torch.equal(got["model"][key], tensor), (name, key)
    expected, got = (json.loads((run / "metrics.json").read_text()) for run in (scratch, forked))
    assert without_origin(got) == expected and got["warmup_from"].endswith("ezvsl")
    # the FNAC terms count after the warm-up: the fork trained FNAC, not EZ-VSL, for its last epochs
    ezvsl = json.loads((tmp_path / "forked" / "ezvsl" / "metrics.json").read_text())
    assert ezvsl["history"][:2] == got["history"][:2] and ezvsl["history"][2:] != got["history"][2:]


def test_only_runs_whose_warm_up_is_ezvsls_step_for_step_are_forked():
    ezvsl = config("ezvsl")
    assert shares_warmup(ezvsl, config("fnac")) and shares_warmup(ezvsl, config("tne"))
    assert not shares_warmup(ezvsl, config("oracle"))  # another base loss from the first step
    assert not shares_warmup(ezvsl, config("fnac_shuffled"))  # draws a permutation at every warm-up step
    assert not shares_warmup(config("fnac"), config("fnac"))  # only EZ-VSL trains others' warm-up
    assert not shares_warmup(ezvsl, config("fnac", **{"train.seed": 1}))
    assert not shares_warmup(ezvsl, config("fnac", **{"train.lr": 3e-3}))
    for warmup in (0, 4):  # no warm-up, or one longer than the run
        assert not shares_warmup(config("ezvsl", **{"train.warmup_epochs": warmup}),
                                 config("fnac", **{"train.warmup_epochs": warmup}))
    assert shares_warmup(config("ezvsl", **{"train.warmup_epochs": 3}), config("fnac", **{"train.warmup_epochs": 3}))


def test_a_fork_never_overwrites_a_run_that_has_a_checkpoint(tmp_path):
    run_dir = tmp_path / "fnac"
    runs.train_or_load(config("fnac", **{"train.epochs": 1}), run_dir, progress=False)
    before = (run_dir / "last.pt").read_bytes()
    fork = Fork(config("fnac", **{"train.epochs": 1}), run_dir)
    assert forks_of(config("ezvsl", **{"train.epochs": 1}), [fork]) == []
    assert not write_fork(fork, {}, {}, None, tmp_path / "ezvsl")
    assert (run_dir / "last.pt").read_bytes() == before


def test_train_methods_trains_ezvsl_first_and_fnac_from_the_end_of_its_warm_up(tmp_path):
    base = config("fnac", **{"train.epochs": 2})
    metrics = runs.train_methods(base, ["fnac", "ezvsl"], tmp_path, progress=False)
    assert list(metrics) == ["fnac", "ezvsl"]  # in the order asked
    assert metrics["fnac"]["warmup_from"] == str(tmp_path / "ezvsl") and "warmup_from" not in metrics["ezvsl"]
    assert [entry["step"] for entry in metrics["fnac"]["history"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("method", ["oracle", "fnac_shuffled"])
def test_runs_that_cannot_share_the_warm_up_train_from_their_first_step(tmp_path, method):
    metrics = runs.train_methods(config("ezvsl", **{"train.epochs": 2}), ["ezvsl", method], tmp_path, progress=False)
    assert "warmup_from" not in metrics[method] and metrics[method]["global_step"] == 4
