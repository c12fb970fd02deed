"""End-to-end speed of the workbook's pipeline against the published one, on the same files.

    python benchmarks/bench_pipeline.py                       # CPU: the CPU demo's size (make bench)
    python benchmarks/bench_pipeline.py --scale paper         # CPU: the paper preset at batch 16 (make bench-paper)
    python benchmarks/bench_pipeline.py --device cuda         # batch 128, 224 px, paper preset

Both pipelines read the same pictures and sounds, exported once to a temporary
``frames/<id>.jpg`` + ``audio/<id>.wav`` layout (scenes of the embedded default data when its
bank is built, otherwise generated tone-and-square scenes), and train the same model with the
same optimizer and losses, alternating in rounds in one process:

* **naive** (``naive.py``): the published path, per-sample JPEG decode with PIL, PyAV audio,
  float64 scipy spectrograms and masks in 2 persistent loader workers, fp32, a checkpoint per
  epoch, batch-1 evaluation with a CPU sort;
* **workbook**: the ``Trainer`` as a user runs it on those files (``data.dataset=folder``), with
  the preset's loader: frames decoded (and, with ``train_resize=short-side``, cropped) in the
  loader workers, crops, flips, spectrograms and masks on the device (bf16 autocast and
  channels_last on CUDA);
* **workbook, cache**: the same with ``data.cache_dir`` (and ``data.train_resize=square``, which
  the cache needs): every file decoded once into memory maps, whole batches read from them.
  ``evaluation.evaluate`` scores the cached test split.

Each training phase runs on through epoch ends, as a run does: the clock starts after the warm-up
steps and stops after the timed ones. Reported: samples/s of every phase and the ratios to the
naive pipeline, CPU time per sample (loader workers included), the cache build rate, the
model-only step (``step.train_step``, the function the trainer calls), FLOPs per step as a
fraction of the device's peak, and the peak memory of every phase.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from fnac_lib.augment import TrainAugment
from fnac_lib.config import RunConfig, apply_overrides, preset
from fnac_lib.data.factory import make_dataset
from fnac_lib.data.sample import collate_samples
from fnac_lib.device import loader_workers, resolve_device, use_on
from fnac_lib.evaluation import evaluate
from fnac_lib.model import AVModel
from fnac_lib.step import train_step
from fnac_lib.training import Trainer, TrainState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import PeakMemory, Phase, Stopwatch, sync  # noqa: E402
from naive import NaiveTestSet, NaiveTrainSet, naive_evaluate, naive_train  # noqa: E402

SAMPLE_RATE = 16000
# Dense peak TFLOP/s from NVIDIA's data sheets (SXM parts unless named). fp32 convolutions run
# as TF32 on tensor cores by default (torch.backends.cudnn.allow_tf32), hence the tf32 column.
GPU_PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0},
    "H100": {"bf16": 989.4, "tf32": 494.7},
    "H200": {"bf16": 989.4, "tf32": 494.7},
    "A100": {"bf16": 312.0, "tf32": 156.0},
}
# The sizes the benchmark runs at. demo: the CPU demo's model (make bench); paper: the published
# configuration at a batch a CPU trains (256 pairs of a 10 s wav, epochs of 16 steps); gpu: the
# published configuration at a GPU's batch. train_pairs None: one epoch of the warm-up and timed
# steps; wav_seconds None: twice the clip.
SCALES = {
    "demo": dict(preset="cpu-demo", batch_size=32, image_size=96, train_pairs=None, wav_seconds=None, steps=8,
                 eval_samples=128),
    "paper": dict(preset="paper", batch_size=16, image_size=224, train_pairs=256, wav_seconds=10.0, steps=24,
                  eval_samples=64),
    "gpu": dict(preset="paper", batch_size=128, image_size=224, train_pairs=None, wav_seconds=None, steps=20,
                eval_samples=512),
}
# Speed-ups the benchmark checks, by (device type, scale): training with and without the cache, evaluation.
TARGETS = {
    ("cpu", "paper"): {"workbook_train": 1.0, "workbook_cached_train": 1.3},
    ("cpu", "demo"): {"workbook_cached_train": 1.5},
    ("cuda", "gpu"): {"workbook_cached_train": 3.0, "workbook_eval": 20.0},
}
TRAIN_PHASES = ("naive_train", "workbook_train", "workbook_cached_train")


@dataclass
class BenchOptions:
    device: str  # "cpu", "cuda", "cuda:1"
    scale: str  # a SCALES entry: the defaults of the fields below
    preset: str  # run configuration the model and optimizer come from
    batch_size: int  # training batch
    image_size: int  # model input side
    frame_size: int  # side of the exported JPEG frames (real frames are larger than the input)
    train_pairs: int  # exported training pairs (an epoch)
    wav_seconds: float  # length of each exported wav (the pipelines read its centred clip)
    steps: int  # timed training steps per repeat
    warmup_steps: int  # untimed steps before each timed phase
    eval_samples: int  # test scenes (0: no evaluation phases)
    repeats: int  # alternate naive / workbook this many times; medians are reported
    amp: bool | str  # bf16 autocast in the workbook pipeline ("auto": on CUDA only, as the Trainer)
    channels_last: bool | str  # NHWC convolutions in the workbook pipeline ("auto": the preset's)
    compile: bool  # torch.compile the workbook's encoders
    loader_workers: int | None  # workbook DataLoader workers (None: the preset's data.num_workers)
    keep: str | None  # keep the exported data and caches here


def parse_options(argv: list[str] | None = None) -> tuple[BenchOptions, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--scale", choices=sorted(SCALES),
                        help="demo (the CPU default: cpu-demo preset, batch 32, 96 px), paper (paper preset, batch "
                             "16, 224 px, 256 pairs of 10 s) or gpu (the CUDA default: paper preset, batch 128)")
    parser.add_argument("--preset", help="default: the scale's")
    parser.add_argument("--batch-size", type=int, help="default: the scale's")
    parser.add_argument("--image-size", type=int, help="default: the scale's")
    parser.add_argument("--frame-size", type=int, help="exported JPEG side (default: image size x 256/224)")
    parser.add_argument("--train-pairs", type=int, help="exported training pairs (default: the scale's)")
    parser.add_argument("--wav-seconds", type=float, help="exported wav length (default: the scale's)")
    parser.add_argument("--steps", type=int, help="timed training steps (default: the scale's)")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--eval-samples", type=int, help="test scenes, 0 for none (default: the scale's)")
    parser.add_argument("--repeats", type=int, default=3, help="naive/workbook rounds; medians are reported")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default="auto",
                        help="bf16 autocast in the workbook pipeline (default: on CUDA only)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default="auto",
                        help="channels_last convolutions in the workbook pipeline (default: the preset's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the workbook's encoders")
    parser.add_argument("--loader-workers", type=int, help="workbook loader workers (default: the preset's)")
    parser.add_argument("--keep", help="keep exported data and caches in this directory")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    scale = args.scale or ("gpu" if device.type == "cuda" else "demo")
    sizes = SCALES[scale]

    def pick(name: str):
        value = getattr(args, name)
        return sizes[name] if value is None else value

    image_size = pick("image_size")
    options = BenchOptions(
        device=str(device), scale=scale, preset=pick("preset"), batch_size=pick("batch_size"), image_size=image_size,
        frame_size=args.frame_size or round(image_size * 256 / 224), train_pairs=0, wav_seconds=0.0,
        steps=pick("steps"), warmup_steps=args.warmup_steps, eval_samples=pick("eval_samples"),
        repeats=args.repeats, amp=args.amp, channels_last=args.channels_last, compile=args.compile,
        loader_workers=args.loader_workers, keep=args.keep,
    )
    clip = preset(options.preset).audio.clip_seconds
    options.train_pairs = pick("train_pairs") or (options.warmup_steps + options.steps) * options.batch_size
    options.wav_seconds = pick("wav_seconds") or 2 * clip
    return options, args.json


def run_config(options: BenchOptions, work: Path) -> RunConfig:
    """The preset as a user trains it on the exported folder, at the benchmark's size."""
    overrides = {
        "model.imagenet_weights": None,  # speed does not depend on the initial weights (offline too)
        "data.dataset": "folder", "data.data_root": str(work / "train"),
        "data.image_size": options.image_size, "train.batch_size": options.batch_size,
        "train.device": options.device, "train.amp": options.amp, "train.compile": options.compile,
        "train.epochs": 100_000, "train.warmup_epochs": 0,  # every FNAC term on, as after the warm-up; fit() is stopped
    }
    if preset(options.preset).audio.frontend != "linear":  # the naive pipeline's shapes: the published spectrogram
        overrides.update({"audio.frontend": "linear", "audio.n_fft": 512, "audio.hop_length": 238})
    if options.channels_last != "auto":
        overrides["train.channels_last"] = options.channels_last
    if options.loader_workers is not None:
        overrides["data.num_workers"] = options.loader_workers
    return preset(options.preset, **overrides)


def cached_config(config: RunConfig, work: Path) -> RunConfig:
    """The same run over the decode-once cache (which needs square training frames)."""
    return apply_overrides(config, {"data.train_resize": "square", "data.cache_dir": str(work / "cache")})


# ----------------------------------------------------------------------------------- data


def tone_scene(index: int, size: int, samples: int) -> dict:
    """A generated scene: a class-coloured square on a textured background and a class-pitched tone."""
    rng = np.random.default_rng(index)
    label = index % 8
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([120 + 60 * np.sin(6 * x + c) + 40 * np.cos(5 * y * (c + 1)) for c in range(3)], axis=-1)
    image += rng.normal(0, 8, image.shape)
    side = size // 3
    top, left = rng.integers(0, size - side, 2)
    image[top:top + side, left:left + side] = [(label * 97) % 256, (label * 53 + 80) % 256, 255 - label * 30]
    t = np.arange(samples) / SAMPLE_RATE
    audio = 0.4 * np.sin(2 * np.pi * (300 + 150 * label) * t) + 0.03 * rng.normal(size=samples)
    box = [left / size, top / size, (left + side) / size, (top + side) / size]
    return {"image": np.clip(image, 0, 255).astype(np.uint8), "audio": audio.astype(np.float32),
            "boxes": [box], "label": label}


def default_scenes(split: str, count: int, size: int, seconds: float):
    """Scenes of the embedded default data when its bank is built (never builds it here), else None."""
    try:
        from fnac_lib.data.default import BANK_FILE, default_data_dir, make_default_dataset
    except ImportError:
        return None
    bank = default_data_dir() / BANK_FILE
    if not bank.exists():
        return None
    dataset = make_default_dataset("objects", split, image_size=size, clip_seconds=seconds, length=count,
                                   data_dir=bank)

    def scene(index: int) -> dict:
        sample = dataset[index]
        return {"image": sample["image"].permute(1, 2, 0).numpy(), "audio": sample["audio"].numpy(),
                "boxes": sample["boxes"].tolist(), "label": int(sample["label"])}

    return scene


def export_split(root: Path, split: str, count: int, size: int, seconds: float) -> str:
    """Write ``count`` scenes as frames/<id>.jpg, audio/<id>.wav and vggss.json; returns the source."""
    scene = default_scenes(split, count, size, seconds)
    source = "embedded default data (objects)" if scene else "generated tone-and-square scenes"
    scene = scene or (lambda i: tone_scene(i + (10**6 if split == "test" else 0), size, int(seconds * SAMPLE_RATE)))
    (root / "frames").mkdir(parents=True)
    (root / "audio").mkdir()
    entries = []
    for index in range(count):
        name = f"{split}_{index:05d}"
        item = scene(index)
        Image.fromarray(item["image"]).save(root / "frames" / f"{name}.jpg", quality=90)
        sf.write(root / "audio" / f"{name}.wav", item["audio"], SAMPLE_RATE, subtype="PCM_16")
        entries.append({"file": name, "class": f"class_{item['label']}", "bbox": item["boxes"]})
    (root / "vggss.json").write_text(json.dumps(entries))
    return source


# ----------------------------------------------------------------------------------- measuring


def workbook_train(config: RunConfig, train_set, run_dir: Path, options: BenchOptions) -> Phase:
    """The ``Trainer`` on ``train_set``: ``options.warmup_steps`` untimed steps, then
    ``options.steps`` timed ones, through epoch ends (loaders, checkpoints) as a run goes."""
    device = torch.device(options.device)
    clock = Stopwatch()
    first, last = options.warmup_steps, options.warmup_steps + options.steps

    def stop(state: TrainState) -> bool:  # asked after every step (and again after an epoch's end)
        if state.global_step == first and not clock.started:
            sync(device)
            clock.start()
        if state.global_step == last and not clock.stopped:
            sync(device)
            clock.stop()
        return state.global_step >= last

    with PeakMemory(device) as memory:
        trainer = Trainer(config, run_dir, train_set, progress=False)
        if first == 0:
            clock.start()
        trainer.fit(stop)
    losses = [h["loss"] for h in trainer.state.history]
    shutil.rmtree(run_dir, ignore_errors=True)
    return Phase(clock.wall, clock.cpu, options.steps * options.batch_size, losses, memory.as_dict())


def workbook_eval(model: AVModel, cache, tau: float, options: BenchOptions) -> Phase:
    """``evaluation.evaluate`` over the cached test set, timed after one untimed pass."""
    device = torch.device(options.device)

    def run() -> None:  # scores only, as the CLI's evaluate: no maps copied to the host
        evaluate(model, cache, tau=tau, batch_size=options.batch_size, device=device, keep_maps=False,
                 amp=options.amp)

    run()
    sync(device)
    with Stopwatch() as clock:
        run()
        sync(device)
    return Phase(clock.wall, clock.cpu, len(cache), [])


@dataclass
class ModelStep:
    seconds: float  # one optimizer step on a batch already on the device (fastest of 5)
    flops: int  # forward + backward FLOPs of that step (FlopCounterMode; 0 when not counted)


def model_step(config: RunConfig, batch: dict, device: torch.device, fast: bool) -> ModelStep:
    """``step.train_step`` (device-side crops, spectrograms and masks, encoders, losses, Adam) on
    a resident batch; ``fast`` uses the workbook's settings (bf16 autocast and channels_last as
    ``train.amp`` / ``train.channels_last`` resolve on the device; ``torch.compile`` when asked),
    otherwise fp32 with NCHW convolutions.

    FLOPs are counted in the plain (eager, fp32) run: compiled kernels bypass the counter.
    """
    torch.manual_seed(0)
    model = AVModel(config.model, config.audio).to(device)
    if fast and use_on(config.train.channels_last, device, "train.channels_last"):
        model = model.to(memory_format=torch.channels_last)
    network = torch.compile(model) if fast and config.train.compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    audio = config.audio
    train = replace(config.train, warmup_epochs=0)  # every FNAC term on from the first step, as after the warm-up
    amp = fast and use_on(train.amp, device, "train.amp")
    augment = TrainAugment(config.data.image_size, audio.freq_mask, audio.time_mask,
                           torch.Generator(device=device).manual_seed(0), audio.mask_style, audio.mask_axes)
    resident = {"image": batch["image"].to(device), "audio": batch["audio"].to(device)}

    def step() -> None:
        train_step(network, optimizer, resident, 0, train, amp, augment, device)

    counter = FlopCounterMode(display=False)
    with counter if not fast else contextlib.nullcontext():
        step()
    step()
    times = []
    for _ in range(5):  # the fastest of 5 synchronised steps: least disturbed by other processes
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return ModelStep(min(times), counter.get_total_flops())


def peak_flops(device: torch.device, amp: bool) -> tuple[float, str]:
    """Peak FLOP/s of the device and where the number comes from."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        column = "bf16" if amp else "tf32"
        for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
            if key in name:
                return GPU_PEAK_TFLOPS[key][column] * 1e12, f"{name}: {column} dense data-sheet peak"
        return math.nan, f"{name}: not in the table of peaks"
    dtype = torch.bfloat16 if amp else torch.float32  # bf16 runs on the CPU's matrix units where it has them
    size = 256  # grown to 2048 while one product stays short: CPUs without bf16 units emulate it ~50x slower
    while True:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        start = time.perf_counter()
        a @ b
        if size >= 2048 or time.perf_counter() - start > 0.05:
            break
        size *= 2
    best = math.inf
    for _ in range(5):  # the fastest round: the least disturbed by other processes
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        best = min(best, (time.perf_counter() - start) / 3)
    threads = torch.get_num_threads()
    precision = "bf16" if amp else "fp32"
    return 2 * size**3 / best, f"measured: {precision} {size}x{size} matmul on {threads} threads (empirical peak)"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's processor string."""
    with contextlib.suppress(OSError, StopIteration):
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        return line.split(":", 1)[1].strip()
    import platform
    return platform.processor() or "unknown CPU"


# ----------------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> dict:
    options, json_path = parse_options(argv)
    device = torch.device(options.device)
    work = Path(options.keep) if options.keep else Path(tempfile.mkdtemp(prefix="fnac-bench-"))
    config = run_config(options, work)
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{torch.get_num_threads()} threads on {os.cpu_count()} cores, {cpu_model()}")
    print(f"device {device} ({hardware}), torch {torch.__version__}")
    print(f"scale {options.scale}: preset {options.preset}, batch {options.batch_size}, {options.image_size} px from "
          f"{options.frame_size} px JPEGs, {config.audio.clip_seconds:g} s clips of {options.wav_seconds:g} s wavs, "
          f"{options.train_pairs} training pairs, {options.warmup_steps} + {options.steps} timed steps x "
          f"{options.repeats} rounds, {options.eval_samples} test scenes")
    print(f"workbook settings: bf16 autocast {use_on(config.train.amp, device)}, channels_last "
          f"{use_on(config.train.channels_last, device)}, compile {options.compile}, "
          f"{loader_workers(config.data.num_workers, device)} loader workers (data.num_workers "
          f"{config.data.num_workers}), train_resize {config.data.train_resize} "
          f"(with the cache: square)")
    load_start = os.getloadavg()[0]
    try:
        start = time.perf_counter()
        source = export_split(work / "train", "train", options.train_pairs, options.frame_size, options.wav_seconds)
        if options.eval_samples:
            export_split(work / "test", "test", options.eval_samples, options.frame_size, options.wav_seconds)
        print(f"exported {options.train_pairs} + {options.eval_samples} scenes ({source}) to {work} "
              f"in {time.perf_counter() - start:.1f} s")
        results = run_pipelines(config, options, work, device)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    results.update(options=asdict(options), source=source, hardware=hardware, torch=torch.__version__,
                   load=[load_start, os.getloadavg()[0]])
    print_report(results, device)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return results


def run_pipelines(config: RunConfig, options: BenchOptions, work: Path, device: torch.device) -> dict:
    clip, size = config.audio.clip_seconds, options.image_size
    results: dict = {"cache": {}}
    plain_set = make_dataset(config, "train")
    cached = cached_config(config, work)
    start = time.perf_counter()
    cached_set = make_dataset(cached, "train")  # decodes every pair once into the cache
    results["cache"]["train"] = cache_entry(len(cached_set), time.perf_counter() - start)
    test_cache = None
    if options.eval_samples:
        test = apply_overrides(cached, {"data.dataset": "vggss", "data.data_root": str(work / "test")})
        start = time.perf_counter()
        test_cache = make_dataset(test, "test")
        results["cache"]["test"] = cache_entry(len(test_cache), time.perf_counter() - start)
    naive_train_set = NaiveTrainSet(work / "train", list(plain_set.ids), size, clip)
    naive_test_set = NaiveTestSet(work / "test", size, clip) if options.eval_samples else None

    phases = TRAIN_PHASES + (("naive_eval", "workbook_eval") if options.eval_samples else ())
    runs: dict[str, list[Phase]] = {k: [] for k in phases}
    for round_ in range(options.repeats):  # alternating spreads any load from other processes over both
        torch.manual_seed(config.train.seed)
        model = AVModel(config.model, config.audio)
        with PeakMemory(device) as memory:
            phase = naive_train(model, naive_train_set, options.batch_size, options.steps, device, config.train,
                                warmup_steps=options.warmup_steps, checkpoint_dir=work / "naive-run")
        phase.memory = memory.as_dict()
        runs["naive_train"].append(phase)
        if naive_test_set is not None:
            runs["naive_eval"].append(naive_evaluate(model, naive_test_set, device, config.train.tau))
        runs["workbook_train"].append(workbook_train(config, plain_set, work / f"run-{round_}", options))
        runs["workbook_cached_train"].append(workbook_train(cached, cached_set, work / f"run-{round_}", options))
        if test_cache is not None:
            runs["workbook_eval"].append(workbook_eval(model, test_cache, config.train.tau, options))
        print(f"round {round_ + 1}/{options.repeats} (load {os.getloadavg()[0]:.1f}): "
              + ", ".join(f"{k} {v[-1].rate:.2f}/s" for k, v in runs.items()), flush=True)

    batch = collate_samples([cached_set[i] for i in range(options.batch_size)])
    fast, plain = model_step(config, batch, device, fast=True), model_step(config, batch, device, fast=False)
    amp = use_on(config.train.amp, device, "train.amp")
    peak, peak_source = peak_flops(device, amp)  # the workbook's precision
    fp32_peak, fp32_source = peak_flops(device, False) if amp else (peak, peak_source)  # the naive pipeline's
    results.update(
        rates={k: statistics.median(r.rate for r in v) for k, v in runs.items()},
        best_rates={k: max(r.rate for r in v) for k, v in runs.items()},
        all_rates={k: [r.rate for r in v] for k, v in runs.items()},
        cpu_ms_per_sample={k: statistics.median(1e3 * r.cpu_seconds / r.samples for r in v) for k, v in runs.items()},
        memory={k: {m: max(r.memory[m] for r in runs[k]) for m in ("main_mib", "total_mib")} for k in TRAIN_PHASES},
        model_step={"workbook_s": fast.seconds, "fp32_s": plain.seconds, "flops": plain.flops},
        peak={"flops_per_s": peak, "source": peak_source},
        fp32_peak={"flops_per_s": fp32_peak, "source": fp32_source},
    )
    return results


def cache_entry(samples: int, seconds: float) -> dict:
    return {"samples": samples, "seconds": seconds, "rate": samples / seconds}


def print_report(results: dict, device: torch.device) -> None:
    rates, best, cpu = results["rates"], results["best_rates"], results["cpu_ms_per_sample"]
    step, cache, batch = results["model_step"], results["cache"], results["options"]["batch_size"]
    goals = TARGETS.get((device.type, results["options"]["scale"]), {})
    with_build = 1 / (1 / rates["workbook_cached_train"] + 1 / cache["train"]["rate"])
    achieved, peak = step["flops"] / step["workbook_s"], results["peak"]["flops_per_s"]
    fp32_peak = results["fp32_peak"]["flops_per_s"]

    def end_to_end(samples_per_s: float) -> float:
        return step["flops"] * samples_per_s / batch  # FLOP/s

    def row(label: str, naive: float, workbook: float, goal: float | None = None, cost: bool = False) -> str:
        ratio = naive / workbook if cost else workbook / naive  # always "times faster"
        verdict = "" if goal is None else f"  target >= {goal:g}x: {'met' if ratio >= goal else 'MISSED'}"
        return f"{label:46s}{naive:10.2f}{workbook:10.2f}{ratio:8.2f}x{verdict}"

    lines = [
        "",
        f"{'':46s}{'naive':>10s}{'workbook':>10s}{'speed-up':>9s}",
        row("training samples/s, no cache (median)", rates["naive_train"], rates["workbook_train"],
            goals.get("workbook_train")),
        row("training samples/s, cache (median)", rates["naive_train"], rates["workbook_cached_train"],
            goals.get("workbook_cached_train")),
        row("training samples/s, no cache (best round)", best["naive_train"], best["workbook_train"]),
        row("training samples/s, cache (best round)", best["naive_train"], best["workbook_cached_train"]),
        row("first epoch incl. cache build, samples/s", rates["naive_train"], with_build),
        # CPU time per sample counts the loader workers too and is barely moved by other processes.
        row("training CPU ms/sample, no cache", cpu["naive_train"], cpu["workbook_train"], cost=True),
        row("training CPU ms/sample, cache", cpu["naive_train"], cpu["workbook_cached_train"], cost=True),
    ]
    if "naive_eval" in rates:
        lines += [row("evaluation samples/s (median)", rates["naive_eval"], rates["workbook_eval"],
                      goals.get("workbook_eval")),
                  row("evaluation CPU ms/sample", cpu["naive_eval"], cpu["workbook_eval"], cost=True)]
    memory = results["memory"]
    kind = ("CUDA max_memory_allocated" if device.type == "cuda" else
            "main: peak RSS of the training process within the phase; with workers: peak of its RSS plus "
            "the pages its loader workers hold alone")
    lines += [
        "",
        f"cache build: train {cache['train']['samples']} samples at {cache['train']['rate']:.0f}/s"
        + (f", test {cache['test']['samples']} at {cache['test']['rate']:.0f}/s" if "test" in cache else "")
        + " (decoded once, in parallel)",
        f"model-only step (batch {batch}, data resident): workbook settings {1e3 * step['workbook_s']:.1f} ms "
        f"({batch / step['workbook_s']:.1f} samples/s), fp32 NCHW {1e3 * step['fp32_s']:.1f} ms",
        f"end-to-end step: naive {1e3 * batch / rates['naive_train']:.1f} ms, workbook "
        f"{1e3 * batch / rates['workbook_train']:.1f} ms, with the cache {1e3 * batch / rates['workbook_cached_train']:.1f} ms",
        f"FLOPs per training step: {step['flops'] / 1e9:.1f} GFLOP (forward + backward, FlopCounterMode); "
        f"peak {peak / 1e12:.3f} TFLOP/s ({results['peak']['source']})"
        + (f"; fp32 peak {fp32_peak / 1e12:.3f} TFLOP/s ({results['fp32_peak']['source']})" if fp32_peak != peak
           else ""),
        f"fraction of peak: model-only {100 * achieved / peak:.1f}%, workbook end to end (cache) "
        f"{100 * end_to_end(rates['workbook_cached_train']) / peak:.1f}%, naive end to end (of the fp32 peak) "
        f"{100 * end_to_end(rates['naive_train']) / fp32_peak:.1f}%",
        f"peak memory, MiB ({kind}):",
        *(f"  {name:24s} main {memory[name]['main_mib']:7.0f}   with workers {memory[name]['total_mib']:7.0f}"
          for name in TRAIN_PHASES),
        "per-round samples/s: " + "; ".join(f"{k} " + "/".join(f"{v:.2f}" for v in vs)
                                            for k, vs in results["all_rates"].items()),
        f"load average (1 min) before the run {results['load'][0]:.1f}, after {results['load'][1]:.1f}"
        + (" -- other processes were using the CPU: prefer the CPU-time rows"
           if results["load"][0] > 1.5 and device.type == "cpu" else ""),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
