"""What the workbook refuses before it runs: typed ``--set`` values, values with no meaning, run
directories that cannot hold a run, and the one line the command line prints for each."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

import fnac_lib.cli as cli
import fnac_lib.cli_options as cli_options
import fnac_lib.data.factory as factory
import fnac_lib.training as training
from fnac_lib.checkpoint import lock_run_dir
from fnac_lib.config import apply_overrides, preset
from fnac_lib.config_checks import check_batch_split
from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.device import resolve_device
from fnac_lib.errors import CheckpointError, ConfigError


# ----------------------------------------------------------------------------- typed values
def test_set_values_take_the_type_of_their_field():
    config = preset("ci", **cli_options.parse_overrides([
        "train.lr=1e-4",  # the paper's value; YAML 1.1 reads it as text
        "train.epochs=3", "train.checkpoint_every=1e3", "model.blocks=[1, 2, 1, 1]", "train.amp=false",
        "train.channels_last=auto", "model.imagenet_weights=null", "data.data_root=2024",
        "data.reader_options={id_list: a.txt, workers: 2}", "data.dataset='flickr'",
    ]))
    assert config.train.lr == 1e-4 and isinstance(config.train.lr, float)
    assert config.train.epochs == 3 and config.train.checkpoint_every == 1000
    assert config.model.blocks == (1, 2, 1, 1) and config.train.amp is False and config.train.channels_last == "auto"
    assert config.model.imagenet_weights is None and config.data.data_root == "2024"  # a folder name stays text
    assert config.data.reader_options == {"id_list": "a.txt", "workers": 2} and config.data.dataset == "flickr"
    assert preset("ci", **{"model.blocks": "1,1,1,1", "train.lr": 1}).train.lr == 1.0  # Python values too


@pytest.mark.parametrize("field, value, message", [
    ("train.epochs", "abc", "train.epochs: expected an integer, got 'abc'"),
    ("train.epochs", "2.5", "train.epochs: expected an integer, got 2.5"),
    ("train.lr", "fast", "train.lr: expected a number, got 'fast'"),
    ("train.lr", "nan", "train.lr: expected a finite number"),
    ("train.compile", "maybe", "train.compile: expected true or false, got 'maybe'"),
    ("train.amp", 1, "train.amp: 1 has no meaning; it must be true or false or one of 'auto'"),
    ("train.method", 3, "train.method: 3 has no meaning; it must be one of 'ezvsl'"),
    ("model.blocks", "[1, x]", r"model.blocks\[1\]: expected an integer, got 'x'"),
    ("data.reader_options", "[1, 2]", "data.reader_options: expected a mapping"),
    ("data.image_size", True, "data.image_size: expected an integer, got True"),
])
def test_a_value_of_the_wrong_type_names_field_value_and_type(field, value, message):
    with pytest.raises(ConfigError, match=message):
        preset("ci", **{field: value})


@pytest.mark.parametrize("overrides, message", [
    ({"train.batch_size": 1}, "train.batch_size: 1 has no meaning; it must be in \\[2, 65536\\]: a contrastive batch "
                              "needs two"),
    ({"train.batch_size": 0}, "train.batch_size: 0 has no meaning"),
    ({"train.batch_size": -8}, "train.batch_size: -8 has no meaning"),
    ({"train.epochs": 0}, "train.epochs: 0 has no meaning; it must be in \\[1, 100000\\]"),
    ({"data.train_length": 0}, "data.train_length: 0 has no meaning"),
    ({"data.image_size": -1}, "data.image_size: -1 has no meaning"),
    ({"data.num_workers": -1}, "data.num_workers: -1 has no meaning"),
    ({"audio.sample_rate": 0}, "audio.sample_rate: 0 has no meaning"),
    ({"audio.clip_seconds": 0}, "audio.clip_seconds: 0.0 has no meaning; it must be in \\(0, 60\\]"),
    ({"audio.clip_seconds": 0.01}, "audio.clip_seconds: 0.01 s at 16000 Hz is 160 samples, shorter than one STFT"),
    ({"audio.frontend": "cqt"}, "audio.frontend: 'cqt' has no meaning; it must be one of 'linear', 'mel'"),
    ({"train.lr": 0}, "train.lr: 0.0 has no meaning; it must be in \\(0, 10\\]"),
    ({"train.tau": 0}, "train.tau: 0.0 has no meaning"),
    ({"train.fg_threshold": 1.5}, "train.fg_threshold: 1.5 has no meaning"),
    ({"train.log_every": 0}, "train.log_every: 0 has no meaning"),
    ({"train.checkpoint_every": -1}, "train.checkpoint_every: -1 has no meaning"),
    ({"train.seed": -1}, "train.seed: -1 has no meaning"),
    ({"train.amp": "sometimes"}, "train.amp: 'sometimes' has no meaning; it must be true or false or one of 'auto'"),
    ({"model.blocks": [2, 2]}, "model.blocks: \\(2, 2\\) has no meaning; it must be four stages"),
    ({"data.image_size": 100000}, "data.image_size: 100000 has no meaning; it must be in \\[16, 2048\\]"),
    ({"train.batch_size": 10**9}, "train.batch_size: 1000000000 has no meaning"),
    ({"model.output_stride": 4}, "model.output_stride: 4 has no meaning; it must be one of 8, 16, 32"),
    ({"model.visual_dropout": 1.0}, "model.visual_dropout: 1.0 has no meaning"),
    ({"data.image_size": 32, "model.output_stride": 32},
     "data.image_size: 32 px at model.output_stride=32 leaves a 1x1"),
    ({"model.imagenet_weights": "torch-cache"}, "model.imagenet_weights: ImageNet weights exist only for the full"),
])
def test_a_value_with_no_meaning_is_refused_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        preset("ci", **overrides)


def test_unknown_fields_suggest_the_nearest():
    with pytest.raises(ConfigError, match="unknown config field 'train.epoch'; did you mean train.epochs?"):
        apply_overrides(preset("ci"), {"train.epoch": 3})


@pytest.mark.parametrize("batch, processes, message", [
    (8, 3, "8 does not split evenly over 3 processes"),
    (4, 4, r"4 over 4 processes leaves one pair per process; .* \(use train.batch_size >= 8\)"),
])
def test_a_batch_must_give_every_process_two_pairs(batch, processes, message):
    with pytest.raises(ConfigError, match=message):
        check_batch_split(batch, processes)
    check_batch_split(2 * processes, processes)


def test_devices_this_machine_lacks_are_named():
    with pytest.raises(ConfigError, match="train.device: 'banana' is not a device"):
        resolve_device("banana")
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ConfigError, match=f"--device: '{missing}'"):
        resolve_device(missing, setting="--device")


def test_reader_options_are_checked_against_the_reader(tmp_path):
    with pytest.raises(ConfigError, match="data.reader_options: flickr takes no option 'id_lsit'; its options are"):
        open_benchmark("flickr", tmp_path, id_lsit="a.txt")
    config = preset("ci", **{"data.reader_options": {"id_list": "a.txt"}})
    with pytest.raises(ConfigError, match="data.reader_options: \\['id_list'\\] apply to real benchmarks"):
        factory.make_dataset(config, "train")
    config = preset("ci", **{"data.dataset": "folder", "data.data_root": str(tmp_path),
                             "data.reader_options": {"image_size": 128}})
    with pytest.raises(ConfigError, match="\\['image_size'\\] come from the run's configuration"):
        factory.make_dataset(config, "test")
    with pytest.raises(ConfigError, match="data.dataset: 'flikr' has no meaning; it must be one of 'objects'"):
        preset("ci", **{"data.dataset": "flikr"})


# ----------------------------------------------------------------------------- the command line
def run_cli(capsys, *argv) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture
def no_datasets(monkeypatch):
    """Fail the test if a command builds a dataset: refusals must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("a dataset was built before the refusal")

    monkeypatch.setattr(factory, "make_dataset", refuse)
    monkeypatch.setattr(factory, "make_validation_set", refuse)


@pytest.mark.parametrize("setting, message", [
    ("train.epochs=abc", "train.epochs: expected an integer, got 'abc'"),
    ("train.batch_size=1", "train.batch_size: 1 has no meaning"),
    ("train.device=banana", "train.device: 'banana' is not a device"),
    ("train.lr", "--set expects section.field=value, got 'train.lr'"),
])
def test_a_bad_setting_is_one_line_before_anything_is_written(capsys, tmp_path, no_datasets, setting, message):
    code, err = run_cli(capsys, "train", "--preset", "ci", "--run-dir", str(tmp_path / "run"), "--set", setting)
    assert code == 1 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err and "--debug" in err
    assert not (tmp_path / "run").exists()


def test_run_directories_that_cannot_hold_the_run_are_refused_first(capsys, tmp_path, no_datasets):
    args = ["train", "--preset", "ci", "--quiet"]
    (tmp_path / "file").write_text("")
    code, err = run_cli(capsys, *args, "--run-dir", str(tmp_path / "file"))
    assert code == 1 and "file: the run directory is a file" in err
    code, err = run_cli(capsys, *args, "--run-dir", str(tmp_path / "file" / "run"))
    assert code == 1 and "cannot create the run directory (Not a directory)" in err
    code, err = run_cli(capsys, *args, "--run-dir", str(tmp_path / "new"), "--resume")
    assert code == 1 and "last.pt: no such checkpoint to resume; drop --resume" in err
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "last.pt").write_bytes(b"")
    code, err = run_cli(capsys, *args, "--run-dir", str(tmp_path / "done"))
    assert code == 1 and "last.pt exists: pass --resume" in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, err = run_cli(capsys, "evaluate", "--run-dir", str(tmp_path), "--debug")
    assert code == 1 and "Traceback" in err and "CheckpointError" in err and "last.pt: no such checkpoint" in err
    code, err = run_cli(capsys, "evaluate", "--run-dir", str(tmp_path))
    assert err == (f"python -m fnac_lib evaluate: error: {tmp_path}/last.pt: no such checkpoint "
                   "[--debug shows the traceback]\n")


def test_corrupt_checkpoints_and_system_errors_are_one_line(capsys, tmp_path):
    (tmp_path / "last.pt").write_bytes(b"PK\x03\x04 half a zip")
    code, err = run_cli(capsys, "evaluate", "--run-dir", str(tmp_path))
    assert code == 1 and "last.pt: unreadable checkpoint" in err and err.count("\n") == 1
    (tmp_path / "a-file").write_text("")
    code, err = run_cli(capsys, "build-data", "--data-dir", str(tmp_path / "a-file" / "data"), "--quiet")
    assert code == 1 and "a-file: " in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug, not a user's input")

    monkeypatch.setattr(cli, "cmd_prepare", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["prepare", "videos", "out"])


@pytest.mark.parametrize("argv", [
    ["evaluate", "--run-dir", "r", "--length", "0"],
    ["evaluate", "--run-dir", "r", "--batch-size", "-1"],
    ["evaluate", "--run-dir", "r", "--ogl-alpha", "2"],
    ["evaluate", "--run-dir", "r", "--variant", "silent"],
    ["evaluate", "--run-dir", "r", "--split", "dev"],
    ["prepare", "videos", "out", "--frame-time", "soon"],
    ["train", "--run-dir", "r", "--method", "simclr"],
    [],
])
def test_malformed_command_lines_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_prepare_settings_are_refused_before_any_video(capsys, tmp_path):
    code, err = run_cli(capsys, "prepare", str(tmp_path / "absent"), str(tmp_path / "out"))
    assert code == 1 and "absent: no such video directory" in err
    code, err = run_cli(capsys, "prepare", str(tmp_path), str(tmp_path / "out"), "--num-frames", "0")
    assert code == 1 and "--num-frames: must be >= 1" in err
    code, err = run_cli(capsys, "prepare", str(tmp_path), str(tmp_path / "out"), "--sample-rate", "16")
    assert code == 1 and "--sample-rate: 16 Hz has no meaning" in err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- training's own refusals
def test_two_trainings_into_one_run_directory_are_refused(tmp_path, tone_squares, ci_config):
    with lock_run_dir(tmp_path / "run"):  # another process, training now
        with pytest.raises(CheckpointError, match="another process is training into this run directory"):
            training.train(ci_config, tmp_path / "run", tone_squares(64), progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


class PoisonedAudio(torch.utils.data.Dataset):
    """Tone squares whose sample ``bad_index`` carries NaN audio: what a custom dataset might hand
    the trainer (the readers refuse such files)."""

    def __init__(self, base, bad_index: int) -> None:
        self.base, self.bad_index = base, bad_index

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        sample = self.base[index]
        if index == self.bad_index:
            sample["audio"] = sample["audio"].clone()
            sample["audio"][100] = float("nan")
        return sample


def test_a_non_finite_loss_names_the_poisoned_sample_and_the_last_checkpoint(tmp_path, tone_squares, ci_config):
    config = apply_overrides(ci_config, {"train.log_every": 4, "train.checkpoint_every": 2})  # batches of 8
    order = list(torch.utils.data.DistributedSampler(range(64), 1, 0, shuffle=True, seed=config.train.seed,
                                                     drop_last=True))
    data = PoisonedAudio(tone_squares(64), bad_index=order[2 * 8 + 5])  # in the third batch: step 3
    with pytest.raises(training.NonFiniteLossError) as info:
        training.train(config, tmp_path / "run", data, progress=False)
    message = str(info.value)
    assert "non-finite at step 3 (epoch 1)" in message  # steps count from 1, as in metrics.json
    assert f"its batch holds non-finite inputs: tone-{data.bad_index} (audio)" in message
    assert f"the last checkpoint, {tmp_path / 'run' / 'last.pt'}, holds step 2" in message
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["global_step"] == 2


def test_a_default_data_root_without_a_bank_is_refused_not_built(tmp_path):
    config = preset("ci", **{"data.data_root": str(tmp_path / "typo")})
    with pytest.raises(ConfigError, match="data.data_root: .*typo holds no default-data bank .*build-data --data-dir"):
        factory.make_dataset(config, "test")
    assert not (tmp_path / "typo").exists()


@pytest.fixture
def model_run(tmp_path):
    """A run directory holding an untrained CI model's checkpoint (no training needed)."""
    from fnac_lib.checkpoint import save_checkpoint
    from fnac_lib.model import AVModel

    config = preset("ci")
    run = tmp_path / "run"
    save_checkpoint(run / "last.pt", {"model": AVModel(config.model, config.audio).state_dict(),
                                      "config": config.to_dict(), "epoch": 0, "step_in_epoch": 0, "global_step": 0})
    return run


def test_evaluate_refuses_what_it_would_ignore_or_could_not_score(capsys, tmp_path, model_run):
    from test_readers import tone, write_image, write_wav

    for name in ("a", "b"):
        write_image(tmp_path / "plain" / "frames" / f"{name}.jpg")
        write_wav(tmp_path / "plain" / "audio" / f"{name}.wav", tone(1.0, 16000, 300), 16000)
    args = ["evaluate", "--run-dir", str(model_run), "--benchmark", "folder", "--data-root", str(tmp_path / "plain")]
    code, err = run_cli(capsys, *args, "--variant", "open_set")
    assert code == 1 and "--length and --variant choose default-data test scenes" in err
    code, err = run_cli(capsys, *args, "--device", "cpu")
    assert code == 1 and "folder test: no sample has a ground truth any protocol can score" in err
    assert not list(model_run.glob("test_metrics*"))


def test_checkpoints_that_cannot_resume_or_load_are_named(tmp_path, tone_squares, ci_config, model_run):
    from fnac_lib.checkpoint import load_checkpoint, save_checkpoint
    from fnac_lib.runs import load_model

    with pytest.raises(CheckpointError, match="last.pt: holds no optimizer, .* it can be evaluated, not resumed"):
        training.train(preset("ci"), model_run, tone_squares(64), progress=False, resume=True)
    ci_config = apply_overrides(ci_config, {"train.checkpoint_every": 1})
    training.train(ci_config, tmp_path / "a", tone_squares(64), progress=False, stop=training.after_steps(1))
    saved = load_checkpoint(tmp_path / "a" / "last.pt")
    saved["model"] = {key: value[:1] if value.ndim else value for key, value in saved["model"].items()}  # another model
    save_checkpoint(tmp_path / "a" / "last.pt", saved)
    with pytest.raises(CheckpointError, match="last.pt: its AVModel state does not fit this run"):
        training.train(ci_config, tmp_path / "a", tone_squares(64), progress=False, resume=True)
    saved["config"]["train"]["batch_size"] = 1
    save_checkpoint(tmp_path / "a" / "last.pt", saved)
    with pytest.raises(CheckpointError, match="last.pt: holds a configuration this version refuses .*batch_size"):
        load_model(tmp_path / "a" / "last.pt")


def test_a_finished_run_of_another_configuration_is_not_loaded_in_its_place(tmp_path):
    from fnac_lib.checkpoint import save_checkpoint
    from fnac_lib.model import AVModel
    from fnac_lib.runs import train_or_load

    ci = preset("ci")
    run = tmp_path / "fnac"
    ci.save(run / "config.json")
    save_checkpoint(run / "last.pt", {"model": AVModel(ci.model, ci.audio).state_dict(), "config": ci.to_dict(),
                                      "epoch": ci.train.epochs, "step_in_epoch": 0, "global_step": 8})
    (run / "metrics.json").write_text('{"global_step": 8, "history": [], "validation": []}')
    assert train_or_load(apply_overrides(ci, {"train.device": "cpu"}), run)[2]["global_step"] == 8  # how it ran
    with pytest.raises(ConfigError, match="config.json was written with another configuration: data.image_size: "
                                          "64 -> 96; use another run directory"):
        train_or_load(apply_overrides(ci, {"data.image_size": 96}), run)


def test_an_interrupted_command_says_so_in_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_train", interrupted)
    code, err = run_cli(capsys, "train", "--run-dir", "r")
    assert code == 130 and err == "python -m fnac_lib train: interrupted; --resume continues from the last checkpoint\n"


def test_an_empty_path_is_refused_not_read_as_the_current_folder(capsys, tmp_path, monkeypatch, no_datasets):
    """``--run-dir "$RUN"`` with ``RUN`` unset would train into the current folder."""
    monkeypatch.chdir(tmp_path)
    for argv, flag in [(["train", "--preset", "ci", "--run-dir", ""], "--run-dir"),
                       (["evaluate", "--run-dir", "run", "--data-root", ""], "--data-root"),
                       (["evaluate", "--run-dir", "run", "--out", ""], "--out"),
                       (["prepare", "", "out"], "VIDEO_DIR"),
                       (["build-data", "--data-dir", ""], "--data-dir")]:
        code, err = run_cli(capsys, *argv)
        assert code == 1 and err.count("\n") == 1, err
        assert f"{flag}: empty path (an unset shell variable?); it would mean the current folder" in err
    assert list(tmp_path.iterdir()) == []


def test_an_out_of_memory_on_the_cpu_is_one_line_naming_the_likely_setting(capsys, tmp_path, model_run,
                                                                           monkeypatch):
    from PIL import Image

    from test_readers import tone, write_image, write_wav

    write_image(tmp_path / "flickr" / "frames" / "111.jpg")
    write_wav(tmp_path / "flickr" / "audio" / "111.wav", tone(1.0, 16000, 300), 16000)
    (tmp_path / "flickr" / "Annotations").mkdir()
    (tmp_path / "flickr" / "Annotations" / "111.xml").write_text(
        "<annotation><bbox><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></annotation>")
    (tmp_path / "flickr" / "flickr_test.csv").write_text("111\n")

    def resize(self, *args, **kwargs):  # what PIL raises when a frame of data.image_size=100000 cannot be held
        raise MemoryError

    monkeypatch.setattr(Image.Image, "resize", resize)
    code, err = run_cli(capsys, "evaluate", "--run-dir", str(model_run), "--benchmark", "flickr",
                        "--data-root", str(tmp_path / "flickr"), "--device", "cpu")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "out of memory on the CPU while making a frame: lower data.image_size" in err

    def train(args):
        torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: torch's CPU allocator raises a RuntimeError

    monkeypatch.setattr(cli, "cmd_train", train)
    code, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "run"))
    assert code == 1 and err.count("\n") == 1 and "out of memory on the CPU (lower train.batch_size" in err


def test_a_full_disk_while_training_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    def train(args):  # how files.atomic_write reports a full disk (tests/test_leftovers.py)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "last.pt"))

    monkeypatch.setattr(cli, "cmd_train", train)
    code, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "run"))
    assert code == 1 and err == (f"python -m fnac_lib train: error: {tmp_path}/run/last.pt: No space left on device "
                                 "(free some space; --resume then continues from the last whole checkpoint) "
                                 "[--debug shows the traceback]\n")


# ----------------------------------------------------------------------------- where evaluate writes
@pytest.fixture
def vggss_data(tmp_path):
    """A VGG-SS test root of three entries; ccc_000030's only box has no area, as in the public file."""
    from test_readers import write_vggss_root

    return write_vggss_root(tmp_path / "VGGSS", seconds=3.0)


def evaluate_args(run, data, *more) -> list[str]:
    return ["evaluate", "--run-dir", str(run), "--benchmark", "vggss", "--data-root", str(data), "--device", "cpu",
            *more]


@pytest.mark.parametrize("rule, n, fate", [("drop", 2, "left out of the cIoU counts"),
                                           ("score-zero", 3, "scored cIoU 0")])
def test_evaluate_names_every_sample_with_an_empty_ground_truth(capsys, model_run, vggss_data, rule, n, fate):
    code = cli.main(evaluate_args(model_run, vggss_data, "--set", f"eval.empty_gt={rule}"))
    out = capsys.readouterr().out
    assert code == 0 and f"(n={n})" in out
    assert f"samples with an empty ground truth: 1, {fate} (eval.empty_gt={rule}; listed in " in out
    assert out.rstrip().splitlines()[-2].endswith(": ccc_000030")
    result = json.loads((model_run / "test_metrics_vggss_single.json").read_text())
    assert result["empty_gt"] == {"rule": rule, "ids": ["ccc_000030"]}


def test_evaluate_writes_the_scores_next_to_the_checkpoint_it_scored(capsys, tmp_path, model_run, vggss_data):
    own = tmp_path / "own-run"
    own.mkdir()
    (own / "test_metrics_vggss_single.json").write_text('{"scores": "own-run\'s"}')
    code = cli.main(evaluate_args(own, vggss_data, "--checkpoint", str(model_run / "last.pt")))
    assert code == 0 and f"wrote {model_run / 'test_metrics_vggss_single.json'}" in capsys.readouterr().out
    assert (own / "test_metrics_vggss_single.json").read_text() == '{"scores": "own-run\'s"}'
    result = json.loads((model_run / "test_metrics_vggss_single.json").read_text())
    assert result["checkpoint"] == str(model_run / "last.pt") and result["run_dir"] == str(model_run)


@pytest.fixture
def read_only(monkeypatch):
    """Folders where open(2) refuses to create a file, as for a user without write permission (root,
    who runs some test machines, ignores chmod): call it with each folder."""
    real_open, folders = os.open, []

    def refusing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent in folders:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    return folders.append


def test_evaluate_checks_where_it_will_write_before_scoring(capsys, tmp_path, model_run, vggss_data, read_only,
                                                            monkeypatch):
    read_only(model_run)
    monkeypatch.setattr(factory, "make_dataset", lambda *args, **kwargs: pytest.fail("scored before the refusal"))
    code, err = run_cli(capsys, *evaluate_args(model_run, vggss_data))
    assert code == 1 and err.count("\n") == 1
    assert f"error: {model_run / 'test_metrics_vggss_single.json'}: Permission denied" in err
    (tmp_path / "out-folder").mkdir()
    code, err = run_cli(capsys, *evaluate_args(model_run, vggss_data, "--out", str(tmp_path / "out-folder")))
    assert code == 1 and f"error: {tmp_path / 'out-folder'}: is a folder, not a file" in err
    assert ".tmp" not in err and not list(model_run.glob("test_metrics*"))


def test_evaluate_prints_the_scores_before_a_write_that_fails(capsys, model_run, vggss_data, monkeypatch):
    real_fsync = os.fsync
    monkeypatch.setattr(cli, "check_writable", lambda path: None)  # the disk fills up while scoring

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    code = cli.main(evaluate_args(model_run, vggss_data))
    monkeypatch.setattr(os, "fsync", real_fsync)
    captured = capsys.readouterr()
    assert code == 1 and "av       cIoU" in captured.out and "(n=2)" in captured.out
    assert captured.err.count("\n") == 1
    assert f"{model_run / 'test_metrics_vggss_single.json'}: No space left on device" in captured.err
    assert [p.name for p in model_run.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")] == []
