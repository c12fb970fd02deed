"""Where a training step's time goes, for the workbook and the published pipeline, on the same files.

    python benchmarks/profile_step.py                      # paper preset, batch 16, 224 px (as bench --scale paper)
    python benchmarks/profile_step.py --loader-workers 2 --channels-last

Both loops below take their batches from their own DataLoader (the workbook's ``Trainer.loader``,
the published ``NaiveTrainSet`` in 2 workers) and run their step in parts, each part timed
(wall and CPU seconds of the training process, all its threads), in the order the real step runs
them: the workbook's is ``step.train_step`` cut at its seams (crops, spectrograms, masks, each
encoder, losses, backward, Adam), the published one ``naive.naive_train``'s. The loader workers'
CPU time is read from /proc. Numbers are means per step over one epoch, after the warm-up steps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from fnac_lib.device import loader_workers
from fnac_lib.losses import OBJECTIVES, fnac_losses, total_loss
from fnac_lib.model import AVModel
from fnac_lib.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import SCALES, BenchOptions, export_split, run_config  # noqa: E402
from measure import children, _live_cpu_seconds  # noqa: E402
from naive import LOADER_WORKERS, NaiveTrainSet  # noqa: E402


class Parts:
    """Wall and CPU seconds per named part, summed over the profiled steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.steps = 0
        self.workers_cpu = 0.0
        self.total_wall = 0.0

    @contextlib.contextmanager
    def part(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall[name] += time.perf_counter() - wall
        self.cpu[name] += time.process_time() - cpu


def workers_cpu() -> float:
    return sum(_live_cpu_seconds(child) for child in children())


def profile_workbook(config, train_set, run_dir: Path, warmup: int) -> Parts:
    """One epoch of the Trainer's loader and the workbook's step, cut into parts."""
    trainer = Trainer(config, run_dir, train_set, progress=False)
    parts, model, state = trainer.parts, trainer.parts.model, Parts()
    train, device = replace(config.train, warmup_epochs=0), parts.device
    objective = OBJECTIVES[train.method]
    model.train()
    batches = iter(trainer.loader(0))
    for step in range(parts.steps_per_epoch):
        profiled = step >= warmup
        if step == warmup:
            start, start_workers = time.perf_counter(), workers_cpu()
        timing = state if profiled else Parts()
        with timing.part("data wait (loader)"):
            batch = next(batches)
        with timing.part("crop, flip, normalise"):
            pixels = model.pixels(batch["image"].to(device), parts.augment)  # as AVModel.forward
        with timing.part("spectrogram"):
            specs = model.frontend(batch["audio"].to(device))
        with timing.part("masks"):
            specs = parts.augment.spectrograms(specs)
        with timing.part("forward, visual"):
            img_maps = model.visual(pixels).float()
        with timing.part("forward, audio"):
            aud_emb = model.audio(specs).float()
        with timing.part("losses"):
            terms = fnac_losses(img_maps, aud_emb, train.tau, train.fg_threshold, train.fg_eps)
            loss = total_loss(terms, objective, train.term_weight, warmed_up=True)
        with timing.part("backward"):
            parts.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with timing.part("optimiser (Adam)"):
            parts.optimizer.step()
        with timing.part("host sync (every log_every steps)"):
            if (step + 1) % train.log_every == 0:
                loss.item()
        state.steps += profiled
    state.total_wall = time.perf_counter() - start
    state.workers_cpu = workers_cpu() - start_workers
    del batches
    return state


def profile_naive(model: AVModel, dataset: NaiveTrainSet, config, batch_size: int, warmup: int) -> Parts:
    """One epoch of the published loop (``naive.naive_train``), cut into parts."""
    train, state = replace(config.train, warmup_epochs=0), Parts()
    objective = OBJECTIVES[train.method]
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=LOADER_WORKERS, drop_last=True,
                        persistent_workers=True, generator=torch.Generator().manual_seed(0))
    batches = iter(loader)
    for step in range(len(loader)):
        profiled = step >= warmup
        if step == warmup:
            start, start_workers = time.perf_counter(), workers_cpu()
        timing = state if profiled else Parts()
        with timing.part("data wait (loader)"):
            image, spec, _, _ = next(batches)
        with timing.part("to float32"):
            image, spec = image.float(), spec.float()
        with timing.part("forward, visual"):
            img_maps = model.visual(image)
        with timing.part("forward, audio"):
            aud_emb = model.audio(spec)
        with timing.part("losses"):
            terms = fnac_losses(img_maps, aud_emb, train.tau, train.fg_threshold, train.fg_eps)
            loss = total_loss(terms, objective, train.term_weight, warmed_up=True)
        with timing.part("host sync (loss.item() every step)"):
            loss.item()
        with timing.part("backward"):
            optimizer.zero_grad()
            loss.backward()
        with timing.part("optimiser (Adam)"):
            optimizer.step()
        state.steps += profiled
    state.total_wall = time.perf_counter() - start
    state.workers_cpu = workers_cpu() - start_workers
    del batches, loader
    return state


def table(title: str, state: Parts, batch: int) -> str:
    steps = state.steps
    lines = [f"{title}: {steps} steps, {1e3 * state.total_wall / steps:.0f} ms per step, "
             f"{batch * steps / state.total_wall:.2f} samples/s",
             f"  {'part':38s}{'wall ms':>9s}{'share':>7s}{'CPU ms':>9s}"]
    for name in state.wall:
        wall, cpu = 1e3 * state.wall[name] / steps, 1e3 * state.cpu[name] / steps
        lines.append(f"  {name:38s}{wall:9.1f}{100 * state.wall[name] / state.total_wall:6.1f}%{cpu:9.1f}")
    lines.append(f"  {'training process, all parts':38s}{1e3 * sum(state.wall.values()) / steps:9.1f}"
                 f"{'':7s}{1e3 * sum(state.cpu.values()) / steps:9.1f}")
    lines.append(f"  {'loader workers (CPU)':38s}{'':9s}{'':7s}{1e3 * state.workers_cpu / steps:9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("demo", "paper"), default="paper")
    parser.add_argument("--loader-workers", type=int, help="workbook loader workers (default: the preset's)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default="auto",
                        help="channels_last convolutions in the workbook (default: the preset's)")
    parser.add_argument("--cache", action="store_true", help="the workbook over the decode-once cache")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush denormal floats to zero (torch.set_flush_denormal): changes results below the "
                             "smallest normal float, so the workbook never does it; here to see what denormals cost")
    args = parser.parse_args(argv)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        raise SystemExit("this CPU cannot flush denormals")
    sizes = SCALES[args.scale]
    options = BenchOptions(
        device="cpu", scale=args.scale, preset=sizes["preset"], batch_size=sizes["batch_size"],
        image_size=sizes["image_size"], frame_size=round(sizes["image_size"] * 256 / 224),
        train_pairs=sizes["train_pairs"] or 10 * sizes["batch_size"], wav_seconds=sizes["wav_seconds"] or 2.0,
        steps=0, warmup_steps=args.warmup_steps, eval_samples=0, repeats=1, amp="auto",
        channels_last=args.channels_last, compile=False, loader_workers=args.loader_workers, keep=None)
    work = Path(tempfile.mkdtemp(prefix="fnac-profile-"))
    try:
        config = run_config(options, work)
        export_split(work / "train", "train", options.train_pairs, options.frame_size, options.wav_seconds)
        if args.cache:
            from bench_pipeline import cached_config
            config = cached_config(config, work)
        from fnac_lib.data.factory import make_dataset
        train_set = make_dataset(config, "train")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}; preset {options.preset}, batch {options.batch_size}, "
              f"{options.image_size} px, {loader_workers(config.data.num_workers, 'cpu')} workbook loader workers, "
              f"channels_last {config.train.channels_last}, cache {args.cache}")
        print(table("workbook", profile_workbook(config, train_set, work / "run", args.warmup_steps),
                    options.batch_size))
        if not args.skip_naive:
            torch.manual_seed(0)
            model = AVModel(config.model, config.audio)
            naive_set = NaiveTrainSet(work / "train", list(train_set.ids), options.image_size,
                                      config.audio.clip_seconds)
            print(table("published (naive.py)", profile_naive(model, naive_set, config, options.batch_size,
                                                              args.warmup_steps), options.batch_size))
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
