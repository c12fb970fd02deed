"""What killed writers leave behind is removed by the next run that writes to the same place, and
nothing a live process is writing is ever touched (``files.remove_stale``: the flock rule)."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import fnac_lib.training as training
from fnac_lib.checkpoint import load_checkpoint
from fnac_lib.config import apply_overrides
from fnac_lib.data.benchmarks.prepare import prepare_videos
from fnac_lib.data.cache import build_cache
from fnac_lib.data.default.build import build_default_bank
from fnac_lib.errors import AssetBuildError
from fnac_lib.files import _locked_temp, atomic_write, remove_stale, staging_dir, write_json

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def start(code: str) -> subprocess.Popen:
    """A Python process running ``code``, once it printed "ready" (it then sleeps until killed)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{TESTS}"}
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, env=env,
                               text=True)
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise AssertionError(f"the helper process did not get ready: {line!r}, exit {process.wait(60)}")
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()


WRITER = """
    import sys, time
    from pathlib import Path
    from fnac_lib.files import atomic_write

    def write(file):
        file.write(b"half a checkpoint")
        file.flush()
        print("ready", flush=True)
        time.sleep(120)

    atomic_write(Path({target!r}), write)
"""


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_kill_9_mid_write_leaves_the_old_file_and_a_temporary_only_a_dead_writer_loses(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"the previous checkpoint")
    dead, live = start(WRITER.format(target=str(target))), start(WRITER.format(target=str(target)))
    try:
        kill(dead)
        assert len(temporaries(tmp_path)) == 2 and target.read_bytes() == b"the previous checkpoint"
        removed = remove_stale(tmp_path)
        assert len(removed) == 1 and len(temporaries(tmp_path)) == 1  # the live writer's file is kept
    finally:
        kill(live)
    assert len(remove_stale(tmp_path)) == 1 and temporaries(tmp_path) == []
    assert target.read_bytes() == b"the previous checkpoint"


def test_staging_folders_of_killed_builds_are_removed_and_live_ones_kept(tmp_path):
    dead = start(f"""
        from fnac_lib.files import staging_dir
        import time
        with staging_dir({str(tmp_path)!r}, "bank") as folder:
            (folder / "packages").mkdir()
            print("ready", flush=True)
            time.sleep(120)
    """)
    kill(dead)
    (tmp_path / ".bank.building-legacy1").mkdir()  # left by a version without lock files
    (tmp_path / ".bank.old-4242").mkdir()  # a replaced bank whose removal was interrupted
    (tmp_path / "bank").mkdir()
    with staging_dir(tmp_path, "bank") as live:
        (live / "bank.npz").write_bytes(b"in progress")
        remove_stale(tmp_path)
        assert (tmp_path / ".bank.old-4242").exists()  # not a folder this place's builds set aside
        remove_stale(tmp_path, aside=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bank", live.name, live.name + ".lock"])
    assert [p.name for p in tmp_path.iterdir()] == ["bank"]  # a build removes its own staging on exit


def plant(folder: Path, name: str) -> tuple[Path, int]:
    """A stale temporary ``name`` (no live writer) and a live one (locked by this process) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"left by a killed run")
    fd, live = _locked_temp(folder, ".live.", ".tmp")
    return Path(live), fd


def test_a_run_removes_the_checkpoint_temporaries_of_a_killed_one(tmp_path, tone_squares, ci_config):
    live, fd = plant(tmp_path / "run", ".last.pt.k1ll3d.tmp")
    try:
        training.train(ci_config, tmp_path / "run", tone_squares(64), progress=False, stop=training.after_steps(1))
        assert not (tmp_path / "run" / ".last.pt.k1ll3d.tmp").exists() and live.exists()
    finally:
        os.close(fd)


def test_prepare_removes_the_temporaries_of_a_killed_prepare(tmp_path):
    (tmp_path / "videos").mkdir()
    out = tmp_path / "out"
    stale = [out / "frames" / ".a.jpg.123.tmp", out / "audio" / ".a.wav.123.tmp",
             out / "frames" / "b" / ".b_2.jpg.456.tmp", out / ".prepare_report.json.789.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a frame")
    live, fd = plant(out / "frames", ".c.jpg.x.tmp")
    try:
        prepare_videos(tmp_path / "videos", out, num_frames=5, workers=1, progress=False)
        assert not any(path.exists() for path in stale) and live.exists()
    finally:
        os.close(fd)


def test_build_data_and_caches_remove_staging_folders_of_killed_builds(tmp_path, tone_squares):
    for name in ("data", "cache"):
        (tmp_path / f".{name}.building-k1ll3d" / "packages").mkdir(parents=True)  # ~400 MiB in real life
        (tmp_path / f".{name}.building-k1ll3d.lock").write_bytes(b"")

    def offline(source, cache_dir, work_dir):
        raise AssetBuildError("offline")

    with pytest.raises(AssetBuildError, match="offline"):
        build_default_bank(tmp_path / "data", tmp_path / "downloads", progress=False, fetch=offline)
    assert not (tmp_path / ".data.building-k1ll3d").exists() and not (tmp_path / ".data.building-k1ll3d.lock").exists()
    assert not (tmp_path / ".cache.building-k1ll3d").exists()  # any stale staging in that folder goes
    build_cache(tone_squares(4), tmp_path / "cache", num_workers=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


KILLED_TRAINING = """
    import torch
    from conftest import ToneSquares
    from fnac_lib import training
    from fnac_lib.config import preset

    config = preset("ci", **{{"data.image_size": 32, "train.batch_size": 8, "train.log_every": 2,
                             "train.epochs": 1, "train.checkpoint_every": 1}})
    real_save, calls = torch.save, []

    def save(state, file):  # the second checkpoint (step 2) is killed half written
        calls.append(1)
        if len(calls) == 2:
            file.write(b"half")
            file.flush()
            print("ready", flush=True)
            import time; time.sleep(120)
        real_save(state, file)

    torch.save = save
    training.train(config, {run!r}, ToneSquares(32), progress=False)
"""


def test_a_training_killed_mid_checkpoint_resumes_and_cleans_up(tmp_path, tone_squares, ci_config):
    run = tmp_path / "run"
    kill(start(KILLED_TRAINING.format(run=str(run))))
    assert load_checkpoint(run / "last.pt")["global_step"] == 1  # the whole previous checkpoint
    assert len(temporaries(run)) == 1 and (run / ".training.lock").exists()  # its lock died with it
    config = apply_overrides(ci_config, {"train.epochs": 1, "train.checkpoint_every": 1})
    trainer = training.train(config, run, tone_squares(32), progress=False, resume=True)
    assert trainer.state.global_step == 4 and temporaries(run) == []
    assert torch.isfinite(next(iter(load_checkpoint(run / "last.pt")["model"].values())).float()).all()
    assert np.isfinite(trainer.state.history[-1]["loss"])


class FullDisk(io.RawIOBase):
    """A file on a disk with ``room`` bytes left: a write past them fails with ENOSPC, as write(2) does."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)


def test_a_full_disk_mid_checkpoint_names_the_file_and_keeps_the_previous_one(tmp_path, tone_squares, ci_config,
                                                                              monkeypatch):
    """torch's zip writer turns the ENOSPC into ``RuntimeError: [enforce fail ...] unexpected pos``."""
    run = tmp_path / "run"
    config = apply_overrides(ci_config, {"train.epochs": 1, "train.checkpoint_every": 1})
    training.train(config, run, tone_squares(32), progress=False, stop=training.after_steps(1))
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda state, file: real_save(state, io.BufferedWriter(FullDisk(file, 4096))))
    with pytest.raises(OSError) as info:
        training.train(config, run, tone_squares(32), progress=False, resume=True)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(run / "last.pt")
    assert load_checkpoint(run / "last.pt")["global_step"] == 1 and temporaries(run) == []


def test_a_failed_write_names_the_file_asked_for_not_its_temporary(tmp_path, monkeypatch):
    (tmp_path / "scores.json").write_text("{}")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError, match="No space left on device") as info:
        write_json(tmp_path / "scores.json", {"cIoU": 0.5})
    assert info.value.filename == str(tmp_path / "scores.json") and (tmp_path / "scores.json").read_text() == "{}"
    monkeypatch.undo()
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_json(tmp_path / "a-folder", {})
    assert info.value.filename == str(tmp_path / "a-folder") and temporaries(tmp_path) == []


def test_files_written_atomically_honour_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        atomic_write(tmp_path / "last.pt", lambda file: file.write(b"weights"))
        with staging_dir(tmp_path, "bank") as folder:
            lock_mode = (folder.parent / (folder.name + ".lock")).stat().st_mode & 0o777
    finally:
        os.umask(previous)
    assert (tmp_path / "last.pt").stat().st_mode & 0o777 == 0o640 and lock_mode == 0o640  # as a plain open
