"""End-to-end speed of the workbook's pipeline against the published one, on the same files.

    python benchmarks/bench_pipeline.py                       # auto device, small CPU defaults
    python benchmarks/bench_pipeline.py --device cuda         # batch 128, 224 px, paper preset

Both pipelines read the same pictures and sounds, exported once to a temporary
``frames/<id>.jpg`` + ``audio/<id>.wav`` layout (scenes of the embedded default data when its
bank is built, otherwise generated tone-and-square scenes), and train the same model with the
same optimizer and losses:

* **naive** (``naive.py``): upstream's path, per-sample JPEG/wav decode, PIL resize/crop/flip,
  float64 scipy spectrograms in 2 loader workers, fp32, batch-1 evaluation with a CPU sort;
* **workbook**: the readers decode once into a cache (``fnac_lib.data.cache``), the ``Trainer``
  crops/flips and computes spectrograms on the device (bf16 autocast and channels_last on CUDA),
  and ``evaluation.evaluate`` scores whole batches on the device. Its model-only step is
  ``step.train_step``, the very function the trainer calls.

Both use the published linear spectrogram (512-sample window, hop 238) so the model's input
shapes are identical and only the pipelines differ. Reported: training and evaluation
samples/s and their ratios, the cache build rate, the model-only step time, FLOPs per step
(``torch.utils.flop_counter``) as a fraction of the device's peak, and peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
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
from fnac_lib.config import RunConfig, preset
from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.data.cache import CachedDataset, build_cache
from fnac_lib.data.sample import collate_samples
from fnac_lib.device import resolve_device, use_on
from fnac_lib.evaluation import evaluate
from fnac_lib.model import AVModel
from fnac_lib.step import train_step
from fnac_lib.training import Trainer, after_steps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from naive import Phase, NaiveTestSet, NaiveTrainSet, Stopwatch, naive_evaluate, naive_train  # noqa: E402

SAMPLE_RATE = 16000
# Dense peak TFLOP/s from NVIDIA's data sheets (SXM parts unless named). fp32 convolutions run
# as TF32 on tensor cores by default (torch.backends.cudnn.allow_tf32), hence the tf32 column.
GPU_PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0},
    "H100": {"bf16": 989.4, "tf32": 494.7},
    "H200": {"bf16": 989.4, "tf32": 494.7},
    "A100": {"bf16": 312.0, "tf32": 156.0},
}
TARGETS = {"cuda": {"train": 3.0, "eval": 20.0}, "cpu": {"train": 1.5, "eval": None}}


@dataclass
class BenchOptions:
    device: str  # "cpu", "cuda", "cuda:1"
    preset: str  # run configuration the model and optimizer come from
    batch_size: int  # training batch
    image_size: int  # model input side
    frame_size: int  # side of the exported JPEG frames (real frames are larger than the input)
    steps: int  # timed training steps per repeat
    warmup_steps: int  # untimed steps before each timed phase
    eval_samples: int  # test scenes
    repeats: int  # alternate naive / workbook this many times; medians are reported
    amp: bool | str  # bf16 autocast in the workbook pipeline ("auto": on CUDA only, as the Trainer)
    channels_last: bool | str  # NHWC convolutions in the workbook pipeline ("auto": on CUDA only)
    compile: bool  # torch.compile the workbook's encoders
    loader_workers: int | None  # workbook DataLoader workers over the cache (None: the preset's)
    keep: str | None  # keep the exported data and caches here


def parse_options(argv: list[str] | None = None) -> tuple[BenchOptions, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--preset", help="default: paper on CUDA, cpu-demo on the CPU")
    parser.add_argument("--batch-size", type=int, help="default: 128 on CUDA, 32 on the CPU")
    parser.add_argument("--image-size", type=int, help="default: 224 on CUDA, 96 on the CPU")
    parser.add_argument("--frame-size", type=int, help="exported JPEG side (default: image size x 256/224)")
    parser.add_argument("--steps", type=int, help="timed training steps (default: 20 on CUDA, 8 on the CPU)")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--eval-samples", type=int, help="test scenes (default: 512 on CUDA, 128 on the CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="naive/workbook rounds; medians are reported")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default="auto",
                        help="bf16 autocast in the workbook pipeline (default: on CUDA only)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default="auto",
                        help="channels_last convolutions in the workbook pipeline (default: on CUDA only)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the workbook's encoders")
    parser.add_argument("--loader-workers", type=int,
                        help="workbook loader workers over the cache (default: 0 on the CPU, the preset's on CUDA)")
    parser.add_argument("--keep", help="keep exported data and caches in this directory")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    image_size = args.image_size or (224 if gpu else 96)
    options = BenchOptions(
        device=str(device), preset=args.preset or ("paper" if gpu else "cpu-demo"),
        batch_size=args.batch_size or (128 if gpu else 32), image_size=image_size,
        frame_size=args.frame_size or round(image_size * 256 / 224), steps=args.steps or (20 if gpu else 8),
        warmup_steps=args.warmup_steps, eval_samples=args.eval_samples or (512 if gpu else 128),
        repeats=args.repeats, amp=args.amp, channels_last=args.channels_last, compile=args.compile,
        # A cached batch is one ~3 ms read: on a few CPU cores a worker process would only take
        # time from the compute threads (measured: 0.29 s vs 0.20 s per step on 2 cores).
        loader_workers=args.loader_workers if args.loader_workers is not None else (None if gpu else 0),
        keep=args.keep,
    )
    return options, args.json


def run_config(options: BenchOptions) -> RunConfig:
    """The preset with the published spectrogram, so both pipelines feed the model the same shapes."""
    overrides = {
        "audio.frontend": "linear", "audio.n_fft": 512, "audio.hop_length": 238,
        "model.imagenet_weights": None,  # speed does not depend on the initial weights (offline too)
        "data.image_size": options.image_size, "train.batch_size": options.batch_size,
        "train.device": options.device, "train.amp": options.amp, "train.channels_last": options.channels_last,
        "train.compile": options.compile,
        "train.epochs": 1, "train.warmup_epochs": 0,  # every FNAC term on, as after the warm-up
        "train.log_every": 10,
    }
    if options.loader_workers is not None:
        overrides["data.num_workers"] = options.loader_workers
    return preset(options.preset, **overrides)


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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: peak allocated by tensors since the last reset. CPU: peak RSS of this process so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def workbook_train(config: RunConfig, cache: CachedDataset, run_dir: Path, options: BenchOptions) -> Phase:
    """``options.steps`` Trainer steps over the cache, timed after an untimed warm-up."""
    device = torch.device(options.device)
    trainer = Trainer(config, run_dir, cache, progress=False)
    trainer.fit(after_steps(options.warmup_steps))
    sync(device)
    with Stopwatch() as clock:
        trainer.fit(after_steps(options.steps))  # a new loader from the next step on, as the naive side
        sync(device)
    losses = [h["loss"] for h in trainer.state.history]
    shutil.rmtree(run_dir, ignore_errors=True)
    return Phase(clock.wall, clock.cpu, options.steps * options.batch_size, losses)


def workbook_eval(model: AVModel, cache: CachedDataset, tau: float, options: BenchOptions) -> Phase:
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
    ``train.amp`` / ``train.channels_last`` resolve on the device; ``torch.compile`` when asked).

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


# ----------------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> dict:
    options, json_path = parse_options(argv)
    device = torch.device(options.device)
    config = run_config(options)
    clip = config.audio.clip_seconds
    train_count = (options.warmup_steps + options.steps) * options.batch_size
    work = Path(options.keep) if options.keep else Path(tempfile.mkdtemp(prefix="fnac-bench-"))
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device {device} ({hardware}), "
          f"preset {options.preset}, batch {options.batch_size}, {options.image_size} px from {options.frame_size} px "
          f"JPEGs, {clip:g} s clips, {options.steps} timed steps x {options.repeats} repeats, "
          f"{options.eval_samples} test scenes")
    print(f"workbook settings: bf16 autocast {use_on(options.amp, device, '--amp')}, "
          f"channels_last {use_on(options.channels_last, device, '--channels-last')}, compile {options.compile}")
    load_start = os.getloadavg()[0]
    try:
        start = time.perf_counter()
        source = export_split(work / "train", "train", train_count, options.frame_size, 2 * clip)
        export_split(work / "test", "test", options.eval_samples, options.frame_size, 2 * clip)
        print(f"exported {train_count} + {options.eval_samples} scenes ({source}) to {work} "
              f"in {time.perf_counter() - start:.1f} s")
        results = run_pipelines(config, options, work, device)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    results.update(options=asdict(options), source=source, train_samples=train_count,
                   load=[load_start, os.getloadavg()[0]])
    print_report(results, device)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return results


def run_pipelines(config: RunConfig, options: BenchOptions, work: Path, device: torch.device) -> dict:
    clip, size = config.audio.clip_seconds, options.image_size
    reader = dict(image_size=size, sample_rate=SAMPLE_RATE, clip_seconds=clip)
    results: dict = {"cache": {}}
    for split, name in (("train", "folder"), ("test", "vggss")):
        dataset = open_benchmark(name, work / split, split=split, **reader)
        start = time.perf_counter()
        build_cache(dataset, work / f"cache-{split}", progress=False, overwrite=True)
        seconds = time.perf_counter() - start
        results["cache"][split] = {"samples": len(dataset), "seconds": seconds, "rate": len(dataset) / seconds}
    train_cache, test_cache = CachedDataset(work / "cache-train"), CachedDataset(work / "cache-test")
    naive_train_set = NaiveTrainSet(work / "train", [f"train_{i:05d}" for i in range(len(train_cache))], size, clip)
    naive_test_set = NaiveTestSet(work / "test", size, clip)

    runs: dict[str, list[Phase]] = {k: [] for k in ("naive_train", "naive_eval", "workbook_train", "workbook_eval")}
    memory = {}
    for round_ in range(options.repeats):  # alternating spreads any load from other processes over both
        torch.manual_seed(config.train.seed)
        model = AVModel(config.model, config.audio)
        reset_peak_memory(device)
        runs["naive_train"].append(naive_train(
            model, naive_train_set, options.batch_size, options.steps, device, config.train,
            warmup_steps=options.warmup_steps))
        memory["naive_train_mib"] = peak_memory_mib(device)
        runs["naive_eval"].append(naive_evaluate(model, naive_test_set, device, config.train.tau))
        reset_peak_memory(device)
        runs["workbook_train"].append(workbook_train(config, train_cache, work / f"run-{round_}", options))
        memory["workbook_train_mib"] = peak_memory_mib(device)
        runs["workbook_eval"].append(workbook_eval(model, test_cache, config.train.tau, options))
        print(f"round {round_ + 1}/{options.repeats} (load {os.getloadavg()[0]:.1f}): "
              + ", ".join(f"{k} {v[-1].rate:.1f}/s" for k, v in runs.items()), flush=True)

    batch = collate_samples([train_cache[i] for i in range(options.batch_size)])
    fast, plain = model_step(config, batch, device, fast=True), model_step(config, batch, device, fast=False)
    amp = use_on(config.train.amp, device, "train.amp")
    peak, peak_source = peak_flops(device, amp)  # the workbook's precision
    fp32_peak, fp32_source = peak_flops(device, False) if amp else (peak, peak_source)  # the naive pipeline's
    results.update(
        rates={k: statistics.median(r.rate for r in v) for k, v in runs.items()},
        best_rates={k: max(r.rate for r in v) for k, v in runs.items()},
        all_rates={k: [r.rate for r in v] for k, v in runs.items()},
        cpu_ms_per_sample={k: statistics.median(1e3 * r.cpu_seconds / r.samples for r in v) for k, v in runs.items()},
        memory=memory,
        model_step={"workbook_s": fast.seconds, "fp32_s": plain.seconds, "flops": plain.flops},
        peak={"flops_per_s": peak, "source": peak_source},
        fp32_peak={"flops_per_s": fp32_peak, "source": fp32_source},
    )
    return results


def print_report(results: dict, device: torch.device) -> None:
    rates, best, cpu = results["rates"], results["best_rates"], results["cpu_ms_per_sample"]
    step, cache, batch = results["model_step"], results["cache"], results["options"]["batch_size"]
    goals = TARGETS[device.type]
    with_build = 1 / (1 / rates["workbook_train"] + 1 / cache["train"]["rate"])
    achieved, peak = step["flops"] / step["workbook_s"], results["peak"]["flops_per_s"]
    fp32_peak = results["fp32_peak"]["flops_per_s"]

    def end_to_end(samples_per_s: float) -> float:
        return step["flops"] * samples_per_s / batch  # FLOP/s

    def row(label: str, naive: float, workbook: float, goal: float | None = None, cost: bool = False) -> str:
        ratio = naive / workbook if cost else workbook / naive  # always "times faster"
        verdict = "" if goal is None else f"  target >= {goal:g}x: {'met' if ratio >= goal else 'MISSED'}"
        return f"{label:44s}{naive:10.1f}{workbook:10.1f}{ratio:8.2f}x{verdict}"

    lines = [
        "",
        f"{'':44s}{'naive':>10s}{'workbook':>10s}{'speed-up':>9s}",
        row("training samples/s, end to end (median)", rates["naive_train"], rates["workbook_train"], goals["train"]),
        row("evaluation samples/s (median)", rates["naive_eval"], rates["workbook_eval"], goals["eval"]),
        row("training samples/s (best round)", best["naive_train"], best["workbook_train"]),
        row("evaluation samples/s (best round)", best["naive_eval"], best["workbook_eval"]),
        row("first epoch incl. cache build, samples/s", rates["naive_train"], with_build),
        # CPU time per sample counts the loader workers too and is barely moved by other processes.
        row("training CPU ms/sample (all processes)", cpu["naive_train"], cpu["workbook_train"], cost=True),
        row("evaluation CPU ms/sample (all processes)", cpu["naive_eval"], cpu["workbook_eval"], cost=True),
        "",
        f"cache build: train {cache['train']['samples']} samples at {cache['train']['rate']:.0f}/s, "
        f"test {cache['test']['samples']} at {cache['test']['rate']:.0f}/s (decoded once, in parallel)",
        f"model-only step (batch {batch}, data resident): workbook settings {1e3 * step['workbook_s']:.1f} ms "
        f"({batch / step['workbook_s']:.0f} samples/s), fp32 {1e3 * step['fp32_s']:.1f} ms",
        f"end-to-end step: naive {1e3 * batch / rates['naive_train']:.1f} ms, "
        f"workbook {1e3 * batch / rates['workbook_train']:.1f} ms",
        f"FLOPs per training step: {step['flops'] / 1e9:.1f} GFLOP (forward + backward, FlopCounterMode); "
        f"peak {peak / 1e12:.3f} TFLOP/s ({results['peak']['source']})"
        + (f"; fp32 peak {fp32_peak / 1e12:.3f} TFLOP/s ({results['fp32_peak']['source']})" if fp32_peak != peak
           else ""),
        f"fraction of peak: model-only {100 * achieved / peak:.1f}%, workbook end to end "
        f"{100 * end_to_end(rates['workbook_train']) / peak:.1f}%, naive end to end (of the fp32 peak) "
        f"{100 * end_to_end(rates['naive_train']) / fp32_peak:.1f}%",
        "peak memory: " + ", ".join(f"{k[:-4].replace('_', ' ')} {v:.0f} MiB" for k, v in results["memory"].items())
        + (" (CUDA max_memory_allocated)" if device.type == "cuda" else
           " (peak RSS of the main process so far; loader workers not included)"),
        "per-round samples/s: " + "; ".join(f"{k} " + "/".join(f"{v:.1f}" for v in vs)
                                            for k, vs in results["all_rates"].items()),
        f"load average (1 min) before the run {results['load'][0]:.1f}, after {results['load'][1]:.1f}"
        + (" -- other processes were using the CPU: prefer the best-round and CPU-time rows"
           if results["load"][0] > 1.0 and device.type == "cpu" else ""),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
