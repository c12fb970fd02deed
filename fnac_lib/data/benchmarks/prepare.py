"""Data preparation: raw videos to the ``frames/`` + ``audio/`` layout the readers use.

Upstream FNAC/EZ-VSL ship no preparation code for VGG-Sound; the
field's layout is one frame per clip, ``frames/<id>.jpg``, and the clip's sound as
``audio/<id>.wav``. ``prepare_videos`` writes that layout with PyAV (which bundles FFmpeg):

* the frame at the middle of the video (or at ``frame_time`` seconds), or ``num_frames`` frames
  at the centres of equal segments (5 for AVSBench-style clips: one per second of a 5-s clip),
  written as ``frames/<id>/<id>_<k>.jpg``, k = 1..N, the AVSBench naming;
* the whole soundtrack, downmixed to mono and resampled to ``sample_rate``, as 16-bit PCM wav.

It runs on a process pool, resumes (a video whose outputs all exist is skipped; every file is
written to a temporary name and renamed, ``files.atomic_write``, so an existing file is complete,
and the temporaries of a killed run are removed by the next one), and skips nothing silently:
failures are returned and written to ``prepare_report.json`` and ``prepare_failures.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing as mp
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from ...progress import track

from ...errors import ConfigError, DatasetError, printable
from ...files import refuse_empty_paths
from ...files import atomic_write, check_writable, remove_stale, write_json, write_text
from .decoding import check_finite_audio

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv", ".mpg", ".mpeg")
REPORT_JSON = "prepare_report.json"
REPORT_CSV = "prepare_failures.csv"


@dataclass(frozen=True)
class PrepareJob:
    """One video's unit of work; plain fields so it pickles to a worker process."""

    video: str
    id: str
    out_root: str
    sample_rate: int
    frame_time: str | float
    num_frames: int
    jpeg_quality: int


@dataclass
class PrepareReport:
    """What a ``prepare_videos`` run did: ids written, ids already complete, failures and why."""

    video_dir: str
    out_root: str
    settings: dict
    prepared: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"video", "id", "reason"}

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{len(self.prepared)} prepared, {len(self.already_done)} already done, {len(self.failed)} failed"
                + (f" (see {Path(self.out_root) / REPORT_JSON})" if self.failed else ""))


def output_paths(out_root: Path, video_id: str, num_frames: int) -> tuple[list[Path], Path]:
    """The frame files and the wav one video produces."""
    frames = out_root / "frames"
    if num_frames == 1:
        images = [frames / f"{video_id}.jpg"]
    else:
        images = [frames / video_id / f"{video_id}_{k}.jpg" for k in range(1, num_frames + 1)]
    return images, out_root / "audio" / f"{video_id}.wav"


def frame_targets(duration: float, frame_time: str | float, num_frames: int) -> list[float]:
    """Seconds from the start of the video at which to take frames."""
    if num_frames > 1:
        return [(k + 0.5) * duration / num_frames for k in range(num_frames)]
    if frame_time == "middle":
        return [duration / 2]
    seconds = float(frame_time)
    if not 0 <= seconds <= duration:
        raise ValueError(f"frame_time {seconds} s is outside the video (0 to {duration:.2f} s)")
    return [seconds]


def _video_duration(container, stream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    raise ValueError("the video reports no duration")


def grab_frames(path: str, frame_time: str | float = "middle", num_frames: int = 1):
    """PIL images of the video at the target times: the first frame at or after each time
    (seeking to the preceding keyframe), or the last frame when a target lies past the end."""
    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        images = []
        for target in frame_targets(_video_duration(container, stream), frame_time, num_frames):
            container.seek(int((start + target) / stream.time_base), stream=stream, backward=True)
            chosen = None
            for frame in container.decode(stream):
                if frame.time is None:
                    raise ValueError("video frames carry no timestamps")
                chosen = frame
                if frame.time >= start + target - 1e-6:
                    break
            if chosen is None:
                raise ValueError(f"no video frame decoded near {target:.2f} s")
            images.append(chosen.to_image())
    return images


def decode_audio(path: str, sample_rate: int) -> np.ndarray:
    """The whole first audio stream, downmixed to mono float32 at ``sample_rate``. Returns (T,)."""
    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        for frame in container.decode(stream):
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]  # flush
    if not chunks or sum(c.size for c in chunks) == 0:
        raise ValueError("the audio stream decoded to no samples")
    wave = np.concatenate(chunks).astype(np.float32)
    check_finite_audio(wave, Path(path))  # a float soundtrack can hold NaN; 16-bit PCM would hide it
    return wave


def prepare_one(job: PrepareJob) -> dict:
    """Prepare one video; never raises. Returns {"id", "video", "status", "reason"}."""
    images_out, audio_out = output_paths(Path(job.out_root), job.id, job.num_frames)
    result = {"id": job.id, "video": job.video, "status": "prepared", "reason": ""}
    written: list[Path] = []
    try:
        # Decode everything before writing, so a broken video leaves no files behind.
        images = grab_frames(job.video, job.frame_time, job.num_frames)
        wave = decode_audio(job.video, job.sample_rate)
        for image, path in zip(images, images_out):
            atomic_write(path, lambda file, image=image: image.save(file, format="JPEG", quality=job.jpeg_quality))
            written.append(path)
        atomic_write(audio_out, lambda file: sf.write(file, wave, job.sample_rate, subtype="PCM_16", format="WAV"))
    except Exception as error:  # any decoder or file error becomes a report line, not a crash
        for path in written:
            path.unlink(missing_ok=True)
        result.update(status="failed", reason=f"{type(error).__name__}: {error}")
    return result


def _ignore_interrupts() -> None:
    """A pool worker's start: Ctrl-C is the parent's to handle (it terminates the pool), so a
    worker prints no ``KeyboardInterrupt`` traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _interrupts_ignored():
    """Ignore Ctrl-C while the pool starts its workers, so that they are born ignoring it (a new
    interpreter keeps an ignored SIGINT ignored) before ``_ignore_interrupts`` runs in them."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread handles signals
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_settings(sample_rate: int, frame_time, num_frames: int, workers: int | None) -> None:
    """Refuse settings with no meaning before any video is opened."""
    if num_frames < 1:
        raise ConfigError(f"--num-frames: must be >= 1, got {num_frames}")
    if num_frames > 1 and frame_time != "middle":
        raise ConfigError("--frame-time picks the single frame; with --num-frames > 1 frames sit at segment centres")
    try:
        seconds = 0.0 if frame_time == "middle" else float(frame_time)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(f"--frame-time: 'middle' or seconds >= 0, got {frame_time!r}")
    if sample_rate < 1000:
        raise ConfigError(f"--sample-rate: {sample_rate} Hz has no meaning here; use e.g. 16000")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")


def find_videos(video_dir: Path, recursive: bool = False, extensions=VIDEO_EXTENSIONS) -> list[Path]:
    """Video files under ``video_dir`` (by extension), sorted."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in video_dir.glob(pattern) if p.is_file() and p.suffix.lower() in extensions)


def _is_complete(job: PrepareJob) -> bool:
    images, audio = output_paths(Path(job.out_root), job.id, job.num_frames)
    return all(p.is_file() and p.stat().st_size > 0 for p in (*images, audio))


def write_report(report: PrepareReport) -> None:
    """``prepare_report.json`` (everything) and ``prepare_failures.csv`` (video, id, reason)."""
    out_root = Path(report.out_root)
    write_json(out_root / REPORT_JSON, {**asdict(report), "counts": {
        "prepared": len(report.prepared), "already_done": len(report.already_done), "failed": len(report.failed)}})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["video", "id", "reason"])
    writer.writeheader()
    writer.writerows(report.failed)
    write_text(out_root / REPORT_CSV, buffer.getvalue())


def prepare_videos(
    video_dir,
    out_root,
    sample_rate: int = 16000,
    frame_time: str | float = "middle",
    num_frames: int = 1,
    workers: int | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    jpeg_quality: int = 95,
    progress: bool = True,
) -> PrepareReport:
    """Extract frame(s) and a mono wav from every video in ``video_dir`` into ``out_root``.

    ``frame_time``: ``"middle"`` or seconds from the start (one frame); ``num_frames > 1`` takes
    frames at segment centres instead. ``workers`` processes (default: all cores; 1 runs inline).
    Without ``overwrite``, videos whose outputs are complete are skipped (resume). The id of a
    video is its file name without extension; two videos with one id both fail rather than
    overwrite each other. Returns the report, also written to ``out_root``.
    """
    video_dir, out_root = Path(video_dir), Path(out_root)
    if not video_dir.is_dir():
        raise DatasetError(video_dir, "no such video directory")
    _check_settings(sample_rate, frame_time, num_frames, workers)
    out_root.mkdir(parents=True, exist_ok=True)
    check_writable(out_root / REPORT_JSON)  # a read-only root: one line now, not one failure per video
    remove_stale(out_root, depth=2)  # temporaries of killed runs in frames/, frames/<id>/, audio/ and here
    settings = {"sample_rate": sample_rate, "frame_time": frame_time, "num_frames": num_frames,
                "recursive": recursive, "jpeg_quality": jpeg_quality}
    report = PrepareReport(str(video_dir), str(out_root), settings)

    videos = find_videos(video_dir, recursive)
    by_id: dict[str, list[Path]] = {}
    for video in videos:
        by_id.setdefault(video.stem, []).append(video)
    jobs = []
    for video_id, paths in by_id.items():
        if printable(video_id) != video_id:  # the readers refuse such names: say so now, once
            report.failed += [{"video": printable(path), "id": printable(video_id),
                               "reason": "file name is not valid UTF-8; rename the video"} for path in paths]
            continue
        if len(paths) > 1:
            for path in paths:
                report.failed.append({"video": str(path), "id": video_id,
                                      "reason": f"duplicate id: {len(paths)} videos are named {video_id}.*"})
            continue
        job = PrepareJob(str(paths[0]), video_id, str(out_root), sample_rate, frame_time, num_frames, jpeg_quality)
        if not overwrite and _is_complete(job):
            report.already_done.append(video_id)
        else:
            jobs.append(job)

    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    bar = dict(desc=f"preparing {video_dir.name}", total=len(jobs), enabled=progress, unit="videos")
    if workers <= 1:
        results = [prepare_one(job) for job in track(jobs, **bar)]
    else:
        # spawn: a fresh interpreter per worker, safe next to torch's threads in the parent. Ctrl-C
        # reaches every process of the terminal; the workers ignore it and the parent stops them.
        with _interrupts_ignored():
            pool = mp.get_context("spawn").Pool(workers, initializer=_ignore_interrupts)
        with pool:
            results = list(track(pool.imap_unordered(prepare_one, jobs), **bar))
    for result in sorted(results, key=lambda r: r["id"]):
        if result["status"] == "prepared":
            report.prepared.append(result["id"])
        else:
            report.failed.append({"video": result["video"], "id": result["id"], "reason": result["reason"]})
    report.failed.sort(key=lambda f: (f["id"], f["video"]))
    write_report(report)
    return report


def main_prepare(argv: list[str] | None = None) -> int:
    """CLI: ``python -m fnac_lib prepare VIDEO_DIR OUT_ROOT [options]``. Exit 1 if any video failed."""
    parser = argparse.ArgumentParser(prog="fnac_lib prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("video_dir", help="folder of raw videos (.mp4, .mkv, .webm, ...)")
    parser.add_argument("out_root", help="output root: frames/ and audio/ are written here")
    parser.add_argument("--sample-rate", type=int, default=16000, help="wav sample rate in Hz (default 16000)")
    parser.add_argument("--frame-time", default="middle", type=lambda text: text if text == "middle" else float(text),
                        help="'middle' or seconds from the start (one frame)")
    parser.add_argument("--num-frames", type=int, default=1, help="frames per video at segment centres (AVSBench: 5)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--recursive", action="store_true", help="also look in subfolders")
    parser.add_argument("--overwrite", action="store_true", help="redo videos whose outputs already exist")
    args = parser.parse_args(argv)
    refuse_empty_paths(args, ("video_dir", "out_root"))
    report = prepare_videos(args.video_dir, args.out_root, sample_rate=args.sample_rate, frame_time=args.frame_time,
                            num_frames=args.num_frames, workers=args.workers, recursive=args.recursive,
                            overwrite=args.overwrite)
    print(report.summary())
    for failure in report.failed[:20]:
        print(f"  failed: {failure['video']}: {failure['reason']}")
    return 0 if report.ok else 1
