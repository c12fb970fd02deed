"""Training mechanics: run directory, resumption, atomic checkpoints, non-finite losses, bad input."""

import json

import pytest
import torch

import fnac_lib.step as step
import fnac_lib.training as training
from fnac_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fnac_lib.config import RunConfig, apply_overrides
from fnac_lib.runs import load_model


def weights(path):
    return load_checkpoint(path)["model"]


def test_a_run_directory_holds_config_metrics_and_checkpoints(tmp_path, tone_squares, ci_config):
    trainer = training.train(ci_config, tmp_path / "run", tone_squares(64), tone_squares(16, seed=1), progress=False)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.json", "last.pt", "best.pt"}
    assert RunConfig.load(run / "config.json") == ci_config
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["validation"]) == ci_config.train.epochs
    assert metrics["global_step"] == trainer.state.global_step == ci_config.train.epochs * 8
    assert all(set(h) >= {"loss", "base", "fns_audio", "fns_visual", "tne"} for h in metrics["history"])
    model, config = load_model(run / "best.pt")
    assert config.train.method == "fnac" and not model.training


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, tone_squares, ci_config, schedule):
    config = apply_overrides(ci_config, {"train.checkpoint_every": 3, "train.epochs": 2,
                                         "train.lr_schedule": schedule})
    data, val = tone_squares(64), tone_squares(16, seed=1)
    training.train(config, tmp_path / "straight", data, val, progress=False)

    # Stop after 5 steps: the checkpoint at step 3 survives, steps 4-5 are lost as in a kill.
    training.train(config, tmp_path / "killed", data, val, progress=False, stop=training.after_steps(5))
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["global_step"] == 3
    training.train(config, tmp_path / "killed", data, val, progress=False, resume=True)

    straight, resumed = weights(tmp_path / "straight" / "last.pt"), weights(tmp_path / "killed" / "last.pt")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    history = json.loads((tmp_path / "killed" / "metrics.json").read_text())["validation"]
    assert history == json.loads((tmp_path / "straight" / "metrics.json").read_text())["validation"]


def test_the_cosine_schedule_falls_from_the_peak_to_zero_and_steers_adam(tmp_path, tone_squares, ci_config):
    cosine = apply_overrides(ci_config, {"train.lr_schedule": "cosine", "train.lr": 2e-3}).train
    rates = [step.learning_rate(cosine, n, 16) for n in range(17)]
    assert rates[0] == 2e-3 and rates[8] == pytest.approx(1e-3) and rates[16] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert step.learning_rate(ci_config.train, 11, 16) == ci_config.train.lr  # constant: the published Adam

    # The rate Adam used at each step is the schedule's: the last step of a run ran at rates[-2].
    config = apply_overrides(ci_config, {"train.lr_schedule": "cosine", "train.epochs": 2})
    trainer = training.train(config, tmp_path / "run", tone_squares(64), progress=False)
    total = trainer.state.global_step
    assert trainer.parts.optimizer.param_groups[0]["lr"] == step.learning_rate(config.train, total - 1, total) > 0
    constant = training.train(apply_overrides(config, {"train.lr_schedule": "constant"}), tmp_path / "constant",
                              tone_squares(64), progress=False)
    assert constant.parts.optimizer.param_groups[0]["lr"] == config.train.lr
    cosine_weights, constant_weights = weights(tmp_path / "run" / "last.pt"), weights(tmp_path / "constant" / "last.pt")
    assert any(not torch.equal(cosine_weights[name], constant_weights[name]) for name in cosine_weights)


def test_a_finished_run_is_not_overwritten(tmp_path, tone_squares, ci_config):
    training.train(ci_config, tmp_path / "run", tone_squares(64), progress=False)
    with pytest.raises(CheckpointError, match="last.pt exists: pass --resume"):
        training.train(ci_config, tmp_path / "run", tone_squares(64), progress=False)


def test_resuming_with_another_configuration_is_refused(tmp_path, tone_squares, ci_config):
    training.train(ci_config, tmp_path / "run", tone_squares(64), progress=False, stop=training.after_steps(8))
    other = apply_overrides(ci_config, {"train.lr": 0.5, "train.amp": True})
    with pytest.raises(ValueError, match="train.lr: 0.001 -> 0.5; train.amp: 'auto' -> True"):
        training.train(other, tmp_path / "run", tone_squares(64), progress=False, resume=True)
    # how the run executes may change: another machine, logging, NHWC, more epochs
    moved = apply_overrides(ci_config, {"train.log_every": 1, "train.channels_last": True, "train.epochs": 3,
                                        "data.num_workers": 1})
    trainer = training.train(moved, tmp_path / "run", tone_squares(64), progress=False, resume=True)
    assert trainer.state.global_step == 3 * 8


def test_a_non_finite_loss_stops_training_naming_the_step(tmp_path, tone_squares, ci_config, monkeypatch):
    real = step.fnac_losses
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 4:  # the fourth step goes bad (steps count from 1, as in metrics.json)
            terms["base"] = terms["base"] * float("nan")
        return terms

    monkeypatch.setattr(step, "fnac_losses", poisoned)
    config = apply_overrides(ci_config, {"train.log_every": 5})
    with pytest.raises(training.NonFiniteLossError, match="non-finite at step 4 .* every input of its batch is "
                       "finite, so the model diverged: lower train.lr .*; no checkpoint was written before it"):
        training.train(config, tmp_path / "run", tone_squares(64), progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()  # nothing poisoned was saved


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    good = {"model": {"w": torch.ones(2)}, "config": {}, "epoch": 1, "step_in_epoch": 0, "global_step": 5}
    save_checkpoint(path, good)

    def crash(state, file):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {**good, "global_step": 6})
    monkeypatch.undo()
    assert load_checkpoint(path)["global_step"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_missing_and_corrupt_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="absent.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt.pt: unreadable"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not an FNAC workbook checkpoint"):
        load_checkpoint(foreign)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, tone_squares, ci_config):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        training.train(ci_config, tmp_path / "empty", tone_squares(64), progress=False, resume=True)


def test_a_training_set_smaller_than_a_batch_is_refused(tmp_path, tone_squares, ci_config):
    with pytest.raises(ValueError, match="fewer than one batch"):
        training.train(ci_config, tmp_path / "run", tone_squares(4), progress=False)


def test_methods_share_initial_weights_for_one_seed(tmp_path, tone_squares, ci_config):
    first = training.Trainer(apply_overrides(ci_config, {"train.method": "ezvsl"}), tmp_path / "a", tone_squares(64))
    second = training.Trainer(ci_config, tmp_path / "b", tone_squares(64))
    for (name, a), b in zip(first.parts.model.state_dict().items(), second.parts.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_a_compiled_run_writes_checkpoints_with_plain_keys(tmp_path, tone_squares, ci_config):
    config = apply_overrides(ci_config, {"train.compile": True, "train.epochs": 1})
    training.train(config, tmp_path / "run", tone_squares(16), progress=False)
    assert not any("_orig_mod" in key for key in weights(tmp_path / "run" / "last.pt"))
    load_model(tmp_path / "run" / "last.pt")  # loads into a plain, uncompiled model
