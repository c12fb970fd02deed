"""Progress reads as a log outside a terminal: plain lines, throttled, one per training epoch."""

import re

import pytest

from fnac_lib import progress
from fnac_lib.config import apply_overrides
from fnac_lib.training import train


@pytest.fixture
def clock(monkeypatch):
    """A fake monotonic clock the test moves by hand; stderr is not a terminal (as in a notebook)."""
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(progress, "interactive_terminal", lambda: False)
    return now


def test_lines_come_at_most_every_few_seconds_and_once_at_the_end(clock, capsys):
    bar = progress.Progress(100, "scoring", every=10.0, unit="pairs")
    for step in range(100):
        clock[0] = step * 0.5  # 50 s in all: a line at 10, 20, 30 and 40 s
        bar.update()
        if step == 60:
            bar.set_note("fnac on digits")
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0] == "scoring: 21/100 pairs (21%), 10 s"
    assert lines[-1] == "scoring: 100/100 pairs (100%), 50 s, fnac on digits"
    assert "\r" not in "".join(lines)


def test_quick_sub_steps_stay_silent_and_slow_ones_report(clock, capsys):
    assert list(progress.track(range(3), "reading labels", leave=False)) == [0, 1, 2]
    assert capsys.readouterr().out == ""
    items = progress.track(range(3), "reading labels", leave=False)
    for item in items:
        clock[0] += progress.EVERY_SECONDS + 1.0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["reading labels: 1/3 (33%)", "reading labels: 2/3 (67%)",
                                                      "reading labels: 3/3 (100%)"]
    assert list(progress.track(range(3), "off", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().out == ""


def test_a_terminal_gets_a_live_bar_instead_of_lines(monkeypatch, capsys):
    monkeypatch.setattr(progress, "interactive_terminal", lambda: True)
    bar = progress.Progress(4, "training")
    assert bar.bar is not None
    bar.update(4)
    bar.close("done")
    assert capsys.readouterr().out.splitlines() == [f"training: 4/4 (100%), {bar.elapsed():.0f} s, done"]


def test_the_epoch_summary_gives_the_mean_loss_and_the_validation_scores():
    history = [{"epoch": 0, "loss": 5.0, "base": 4.0}, {"epoch": 1, "loss": 4.0, "base": 3.0},
               {"epoch": 1, "loss": 3.0, "base": 2.0}]
    validation = [{"epoch": 0, "cIoU": 0.1, "AUC": 0.2}, {"epoch": 1, "cIoU": 0.125, "AUC": 0.301}]
    assert progress.epoch_summary(history, validation, 1) == "loss 3.500 (base 2.500), validation cIoU 12.5%, AUC 30.1%"
    assert progress.epoch_summary(history, [], 0) == "loss 5.000 (base 4.000)"


def test_training_prints_one_line_per_epoch_with_loss_validation_and_seconds(tmp_path, tone_squares, ci_config,
                                                                            monkeypatch, capsys):
    monkeypatch.setattr(progress, "interactive_terminal", lambda: False)
    config = apply_overrides(ci_config, {"train.epochs": 2, "train.method": "fnac"})
    train(config, tmp_path / "run", tone_squares(16), tone_squares(8, seed=1))
    lines = capsys.readouterr().out.splitlines()
    pattern = r"fnac epoch (\d)/2: 2/2 steps \(100%\), \d+ s, loss \d+\.\d{3} \(base \d+\.\d{3}\), " \
              r"validation cIoU \d+\.\d%, AUC \d+\.\d%"
    assert [re.fullmatch(pattern, line).group(1) for line in lines] == ["1", "2"]
    train(apply_overrides(config, {"train.method": "ezvsl"}), tmp_path / "quiet", tone_squares(16), progress=False)
    assert capsys.readouterr().out == ""
