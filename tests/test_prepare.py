"""Data preparation on short clips this test encodes itself with PyAV, plus a corrupt file."""

from __future__ import annotations

import csv
import errno
import fractions
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.data.benchmarks.prepare import main_prepare, prepare_videos
from fnac_lib.data.sample import check_sample

ENCODERS = [name for name in ("libx264", "mpeg4") if name in av.codecs_available]
FPS, SECONDS, RATE, FREQ = 10, 2.0, 44100, 440.0


def write_clip(path, codec, audio=True):
    """2 s at 10 fps whose frame i is a flat grey of level 10 * i, with a 440-Hz stereo AAC tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if audio:
            sound = container.add_stream("aac", rate=RATE)
            sound.layout = "stereo"
        for i in range(int(SECONDS * FPS)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio:
            t = np.arange(int(SECONDS * RATE)) / RATE
            wave = (0.5 * np.sin(2 * np.pi * FREQ * t)).astype(np.float32)
            for start in range(0, wave.size, 1024):
                chunk = np.stack([wave[start:start + 1024]] * 2)  # (channels, samples), planar
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = RATE, start, fractions.Fraction(1, RATE)
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)


@pytest.fixture
def video_dir(tmp_path):
    if not ENCODERS or "aac" not in av.codecs_available:
        pytest.skip("this PyAV build has no H.264/MPEG-4 or AAC encoder")
    folder = tmp_path / "videos"
    folder.mkdir()
    write_clip(folder / "clip_a.mp4", ENCODERS[0])
    write_clip(folder / "clip_b.mp4", ENCODERS[-1])
    write_clip(folder / "mute.mp4", ENCODERS[0], audio=False)
    (folder / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(3000))  # corrupt file
    (folder / "notes.txt").write_text("not a video")
    return folder


def grey_level(path):
    return float(np.asarray(Image.open(path).convert("L")).mean())


def test_prepare_writes_layout_reports_failures_and_resumes(video_dir, tmp_path):
    out = tmp_path / "prepared"
    report = prepare_videos(video_dir, out, sample_rate=16000, workers=2, progress=False)
    assert report.prepared == ["clip_a", "clip_b"] and report.already_done == []
    reasons = {f["id"]: f["reason"] for f in report.failed}
    assert set(reasons) == {"broken", "mute"} and "no audio stream" in reasons["mute"]
    assert "Error" in reasons["broken"]  # the decoder's own words, e.g. InvalidDataError
    # the middle frame (t = 1 s, frame 10, grey 100) and the sound at 16 kHz mono
    assert grey_level(out / "frames" / "clip_a.jpg") == pytest.approx(100, abs=6)
    wave, rate = sf.read(out / "audio" / "clip_a.wav")
    assert rate == 16000 and wave.ndim == 1 and abs(wave.size / rate - SECONDS) < 0.1
    assert abs(np.abs(np.fft.rfft(wave)).argmax() * rate / wave.size - FREQ) < 2
    # nothing half-written, nothing for the failures
    assert not [p for p in out.rglob(".*")]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["clip_a.jpg", "clip_b.jpg"]
    # the report names the corrupt file
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["counts"] == {"prepared": 2, "already_done": 0, "failed": 2}
    rows = list(csv.DictReader((out / "prepare_failures.csv").read_text().splitlines()))
    assert {row["video"] for row in rows} == {str(video_dir / "broken.mp4"), str(video_dir / "mute.mp4")}
    # resume: complete outputs are kept, a lost file is redone, failures are retried and reported again
    (out / "audio" / "clip_b.wav").unlink()
    again = prepare_videos(video_dir, out, workers=1, progress=False)
    assert again.already_done == ["clip_a"] and again.prepared == ["clip_b"] and len(again.failed) == 2
    # the readers take the prepared layout as it is
    data = open_benchmark("folder", out, split="test", image_size=32)
    assert data.ids == ["clip_a", "clip_b"] and check_sample(data[0])["audio"].shape == (48000,)


def test_prepare_several_frames_and_fixed_time(video_dir, tmp_path):
    five = tmp_path / "five"
    prepare_videos(video_dir, five, num_frames=5, workers=1, progress=False)
    # segment centres 0.2, 0.6, 1.0, 1.4, 1.8 s: frames 2, 6, 10, 14, 18
    levels = [grey_level(five / "frames" / "clip_a" / f"clip_a_{k}.jpg") for k in range(1, 6)]
    assert levels == pytest.approx([20, 60, 100, 140, 180], abs=6)
    data = open_benchmark("folder", five, image_size=16, frame=3)
    assert data.ids == ["clip_a_3", "clip_b_3"] and check_sample(data[0])["image"].shape == (3, 16, 16)
    early = tmp_path / "early"
    report = prepare_videos(video_dir, early, frame_time=0.5, workers=1, progress=False)
    assert report.prepared == ["clip_a", "clip_b"]
    assert grey_level(early / "frames" / "clip_a.jpg") == pytest.approx(50, abs=6)
    late = prepare_videos(video_dir, tmp_path / "late", frame_time=9.0, workers=1, progress=False)
    reasons = {f["id"]: f["reason"] for f in late.failed}
    assert late.prepared == [] and "outside the video" in reasons["clip_a"]


def test_main_prepare_exit_code(video_dir, tmp_path, capsys):
    assert main_prepare([str(video_dir), str(tmp_path / "cli"), "--workers", "1"]) == 1
    assert "2 prepared" in capsys.readouterr().out
    for name in ("broken.mp4", "mute.mp4"):
        (video_dir / name).unlink()
    assert main_prepare([str(video_dir), str(tmp_path / "cli"), "--workers", "1"]) == 0


def test_prepare_refuses_an_output_folder_it_cannot_write_before_any_video(tmp_path, monkeypatch):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"")
    out = tmp_path / "out"
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):  # open(2) in a folder without write permission
        if flags & os.O_CREAT and Path(path).parent == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(PermissionError) as info:
        prepare_videos(tmp_path / "videos", out, workers=1, progress=False)
    assert info.value.filename == str(out / "prepare_report.json") and list(out.iterdir()) == []


SLOW_WORKER = """
import time


def prepare_one(job):
    print("ready", flush=True)
    time.sleep(120)
"""


def test_ctrl_c_stops_the_workers_without_their_tracebacks(tmp_path):
    """Ctrl-C reaches every process of the terminal; the workers leave it to the parent, which stops them."""
    (tmp_path / "videos").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(b"")  # never opened: the workers only sleep
    (tmp_path / "slow_worker.py").write_text(SLOW_WORKER)
    # A terminal's Python starts with Ctrl-C raising KeyboardInterrupt; set it so here too, since this
    # process may have been started with SIGINT ignored (which a child would inherit).
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "import fnac_lib.data.benchmarks.prepare as prepare, slow_worker; "
            "prepare.prepare_one = slow_worker.prepare_one; from fnac_lib.cli import main; "
            f"sys.exit(main(['prepare', {str(tmp_path / 'videos')!r}, {str(tmp_path / 'out')!r}, '--workers', '2']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), str(tmp_path)])}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "ready"  # a worker is at work, the other may still start
        os.killpg(process.pid, signal.SIGINT)  # what the terminal's Ctrl-C does
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130 and err.endswith("python -m fnac_lib prepare: interrupted\n")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
