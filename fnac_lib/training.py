"""Training EZ-VSL and FNAC: GPU first, resumable, one process or many under ``torchrun``.

``build`` makes what a run trains with (device, process group, model, optimiser, augmentation,
sampler); ``Trainer.fit`` runs its epochs, and ``Trainer.train_epoch`` is one epoch top to bottom.
The hot loop keeps everything on the device: uint8 frames and waveforms are copied non-blocking
from pinned memory, cropped, flipped, turned into spectrograms and masked there, and the encoders
run under bf16 autocast with channels_last convolutions on CUDA (``train.amp`` and
``train.channels_last``: "auto", or true / false on any device). The host syncs only every
``log_every`` steps, to log and to check that the loss stayed finite.

A run directory holds ``config.json``, ``metrics.json`` (loss history and validation scores),
``last.pt`` (written atomically at every checkpoint) and ``best.pt`` (best validation cIoU;
the test set never chooses a model). ``resume=True`` continues from ``last.pt``, mid-epoch
included, and on the CPU ends with the same weights as an uninterrupted run. An EZ-VSL run given
``forks`` writes, at the end of its warm-up, the first checkpoint of each run that shares it
(``warmup``: FNAC's first epochs are EZ-VSL's, step for step), which then resumes from there.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .augment import TrainAugment
from .checkpoint import check_run_dir, checkpoint_config, load_checkpoint, load_into, lock_run_dir, save_checkpoint
from .config import RunConfig, check_resumable
from .config_checks import check_batch_split
from .data.sample import collate, non_finite_samples, set_epoch
from .device import loader_workers, resolve_device, use_on
from .distributed import ProcessInfo, barrier, init_from_env
from .errors import ConfigError, NonFiniteLossError
from .evaluation import evaluate
from .files import remove_stale, write_json
from .model import AVModel
from .progress import Progress, epoch_summary
from .shared_features import TrainingFeatures
from .step import LOGGED_TERMS, learning_rate, set_learning_rate, train_step
from .warmup import Fork, forks_of, write_fork


def selection_score(scores: dict) -> float:
    """How validation scores rank checkpoints: cIoU first, AUC breaking ties (``best.pt``)."""
    return scores["cIoU"] + 1e-3 * scores["AUC"]


class ResumableSampler(DistributedSampler):
    """DistributedSampler (shuffled per epoch from the run's seed) that can start mid-epoch."""

    def __init__(self, dataset: Dataset, info: ProcessInfo, seed: int) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.start = 0

    def __iter__(self):
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return self.num_samples - self.start


@dataclass
class TrainState:
    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0  # optimizer steps already taken in this epoch
    global_step: int = 0  # optimizer steps since the start of the run
    best_score: float = -math.inf  # best validation cIoU (then AUC) so far
    history: list[dict] = field(default_factory=list)  # one entry per logged window
    validation: list[dict] = field(default_factory=list)  # one entry per epoch
    warmup_from: str | None = None  # the run that trained this run's warm-up epochs (``warmup``), if another


@dataclass
class Parts:
    """What a run trains with, made once by ``build``."""

    device: torch.device
    info: ProcessInfo  # this process's place under torchrun (rank 0 of 1 without it)
    model: AVModel  # the weights, as checkpoints save them
    network: nn.Module  # the model as the step calls it: wrapped by DDP and torch.compile when asked
    optimizer: torch.optim.Optimizer
    augment: TrainAugment  # device-side crops, flips and masks, from their own seeded generator
    sampler: ResumableSampler
    amp: bool  # bf16 autocast, train.amp resolved for the device
    local_batch: int  # pairs per process and step

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.num_samples // self.local_batch


def build(config: RunConfig, train_set: Dataset) -> Parts:
    """The device and process group, the model (seeded: every method of one seed starts from the
    same weights), the optimiser, the augmentation and the sampler of a run."""
    train = config.train
    device = resolve_device(train.device)
    info = init_from_env(device.type)
    if info.distributed and device.type == "cuda":
        device = torch.device(f"cuda:{info.local_rank}")
        torch.cuda.set_device(device)
    check_batch_split(train.batch_size, info.world_size)
    if len(train_set) < train.batch_size:
        raise ConfigError(f"train.batch_size: the training set has {len(train_set)} samples, "
                          f"fewer than one batch of {train.batch_size}")
    torch.manual_seed(train.seed)
    model = AVModel(config.model, config.audio).to(device)
    if use_on(train.channels_last, device):
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    network = model  # DDP and torch.compile wrap it from outside, so its state dict keeps plain keys
    if info.distributed:
        network = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    if train.compile:
        network = torch.compile(network)
    generator = torch.Generator(device=device).manual_seed(train.seed + info.rank)
    audio = config.audio
    augment = TrainAugment(config.data.image_size, audio.freq_mask, audio.time_mask, generator, audio.mask_style,
                           audio.mask_axes)
    return Parts(device, info, model, network, optimizer, augment, ResumableSampler(train_set, info, train.seed),
                 use_on(train.amp, device), train.batch_size // info.world_size)


def after_steps(count: int) -> Callable[[TrainState], bool]:
    """A stop condition for ``Trainer.fit``: ``count`` optimizer steps from the first one it sees,
    then the call returns as a killed process would (everything after the last checkpoint is lost)."""
    start: int | None = None

    def reached(state: TrainState) -> bool:
        nonlocal start
        if start is None:
            start = state.global_step - 1  # the step just taken is the first one counted
        return state.global_step - start >= count

    return reached


class Trainer:
    """One training run into ``run_dir``: its parts (``build``), state, checkpoints and epochs."""

    def __init__(self, config: RunConfig, run_dir: Path, train_set: Dataset, val_set: Dataset | None = None,
                 progress: bool = True, shared: TrainingFeatures | None = None, forks: list[Fork] = ()) -> None:
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        self.forks = forks_of(config, list(forks))  # the runs that share this run's warm-up and start at its end
        self.train_set, self.val_set = train_set, val_set
        self.parts = build(config, train_set)
        fixed = config.data.train_scenes == "fixed"
        if shared is None and fixed:
            shared = TrainingFeatures()  # the same pictures every epoch: their frozen-trunk features once
        # frozen-trunk features of the runs of one seed (and, fixed, of every epoch), where sharing holds
        attached = shared is not None and shared.attach(self.parts.model, self.parts.device,
                                                        not self.parts.info.distributed, config.train.compile,
                                                        per_picture=fixed)
        self.shared = shared if attached else None  # the TrainingFeatures this run reads and fills, if any
        self.state = TrainState()
        self.saved_step: int | None = None  # global step of the last.pt this run wrote or resumed from

    # ----------------------------------------------------------------- checkpoints
    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    def checkpoint_state(self) -> dict:
        parts, state = self.parts, self.state
        return {
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "config": self.config.to_dict(),
            "epoch": state.epoch,
            "step_in_epoch": state.step_in_epoch,
            "global_step": state.global_step,
            "best_score": state.best_score,
            "history": state.history,
            "validation": state.validation,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(parts.device) if parts.device.type == "cuda" else None,
            "rng_augment": parts.augment.generator.get_state(),
            "warmup_from": state.warmup_from,
        }

    def metrics_record(self) -> dict:
        """What ``metrics.json`` holds: the method, the step reached, the loss history and validation."""
        state = self.state
        record = {"method": self.config.train.method, "global_step": state.global_step, "history": state.history,
                  "validation": state.validation}
        return {**record, "warmup_from": state.warmup_from} if state.warmup_from else record

    def save(self) -> None:
        """Write ``last.pt`` and ``metrics.json`` (main process only)."""
        if self.parts.info.is_main:
            save_checkpoint(self.last_path, self.checkpoint_state())
            self.saved_step = self.state.global_step
            write_json(self.run_dir / "metrics.json", self.metrics_record())
        barrier()

    def write_forks(self) -> None:
        """The first checkpoint of every run in ``forks``, this run's state at the end of its warm-up
        (main process only; ``warmup.write_fork``)."""
        if self.parts.info.is_main:
            best = self.run_dir / "best.pt" if self.val_set is not None else None
            checkpoint, metrics = self.checkpoint_state(), self.metrics_record()
            for fork in self.forks:
                write_fork(fork, checkpoint, metrics, best, self.run_dir)
        barrier()

    def restore(self, path: Path) -> None:
        saved = load_checkpoint(path, resume=True)
        check_resumable(checkpoint_config(saved, path), self.config, path)
        load_into(self.parts.model, saved["model"], path)
        load_into(self.parts.optimizer, saved["optimizer"], path)
        self.state = TrainState(saved["epoch"], saved["step_in_epoch"], saved["global_step"], saved["best_score"],
                                saved["history"], saved["validation"], saved.get("warmup_from"))
        torch.set_rng_state(saved["rng_cpu"])
        if self.parts.device.type == "cuda" and saved["rng_cuda"] is not None:
            torch.cuda.set_rng_state(saved["rng_cuda"], self.parts.device)
        self.parts.augment.generator.set_state(saved["rng_augment"])
        self.saved_step = self.state.global_step

    # ----------------------------------------------------------------- training
    def loader(self, epoch: int) -> DataLoader:
        """This epoch's batches from ``state.step_in_epoch`` on (a resumed run starts mid-epoch)."""
        parts = self.parts
        set_epoch(self.train_set, epoch)  # on-the-fly scenes depend on (seed, epoch, index)
        parts.sampler.set_epoch(epoch)
        parts.sampler.start = self.state.step_in_epoch * parts.local_batch
        workers = loader_workers(self.config.data.num_workers, parts.device)
        return DataLoader(
            self.train_set, batch_size=parts.local_batch, sampler=parts.sampler, num_workers=workers,
            # sample.collate: batches a CachedDataset already built pass through; ragged fields travel packed.
            collate_fn=collate, pin_memory=parts.device.type == "cuda", drop_last=True,
            persistent_workers=False, prefetch_factor=4 if workers else None,
            # A private generator: creating the iterator must not consume the global RNG,
            # or a resumed run would draw different dropout masks.
            generator=torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + epoch),
        )

    def fit(self, stop: Callable[[TrainState], bool] | None = None) -> dict:
        """Train to ``train.epochs``; returns the last validation scores (if any). ``stop``, asked
        after every step, ends the call early when it says so (``after_steps``)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.parts.info.is_main:
            remove_stale(self.run_dir)  # checkpoint temporaries a killed run left (files.remove_stale)
            self.config.save(self.run_dir / "config.json")
        while self.state.epoch < self.config.train.epochs:
            epoch = self.state.epoch
            completed = self.train_epoch(epoch, stop)
            if completed:
                self.end_epoch(epoch)
            if not completed or (stop is not None and stop(self.state)):
                return {}
        return self.state.validation[-1] if self.state.validation else {}

    def train_epoch(self, epoch: int, stop: Callable[[TrainState], bool] | None = None) -> bool:
        """One epoch from ``state.step_in_epoch`` on; False when ``stop`` ended it first."""
        parts, train, state = self.parts, self.config.train, self.state
        parts.network.train()
        sums = torch.zeros(len(LOGGED_TERMS), device=parts.device)  # the window's loss terms, summed on the device
        first_bad = torch.full((), -1, dtype=torch.long, device=parts.device)  # first non-finite step, no sync
        window = 0
        self.bar = Progress(parts.steps_per_epoch, f"{train.method} epoch {epoch + 1}/{train.epochs}",
                            self.progress and parts.info.is_main, every=60.0, initial=state.step_in_epoch,
                            unit="steps")
        total_steps = train.epochs * parts.steps_per_epoch
        for batch in self.loader(epoch):
            # From the step's number (a Python float, no device work): a resumed run gets the same rates.
            set_learning_rate(parts.optimizer, learning_rate(train, state.global_step, total_steps))
            values = train_step(parts.network, parts.optimizer, batch, epoch, train, parts.amp, parts.augment,
                                parts.device)  # (5,) on the device
            sums += values
            bad = ~torch.isfinite(values).all() & (first_bad < 0)
            first_bad = torch.where(bad, state.global_step + 1, first_bad)  # steps count from 1, as metrics.json
            state.step_in_epoch += 1
            state.global_step += 1
            window += 1
            self.bar.update(1)
            at_end = state.step_in_epoch == parts.steps_per_epoch
            if window == train.log_every or at_end:
                self.check_finite(first_bad)
                means = dict(zip(LOGGED_TERMS, (sums / window).tolist()))  # the one host sync of the window
                state.history.append({"epoch": epoch, "step": state.global_step, **means})
                self.bar.set_note(f"loss {means['loss']:.3f} (base {means['base']:.3f})")
                sums.zero_()
                window = 0
            if train.checkpoint_every and state.global_step % train.checkpoint_every == 0 and not at_end:
                self.check_finite(first_bad)
                self.save()
            if stop is not None and stop(state):
                break
        return state.step_in_epoch == parts.steps_per_epoch

    def check_finite(self, first_bad: torch.Tensor) -> None:
        """Raise ``non_finite_error`` if a step of this epoch had a non-finite loss (a host sync)."""
        bad = int(first_bad.item())
        if bad >= 0:
            raise non_finite_error(bad, self.state, self.parts, self.train_set,
                                   self.last_path if self.saved_step is not None else None, self.saved_step)

    def end_epoch(self, epoch: int) -> None:
        """Validate (keeping ``best.pt``), checkpoint, and print the epoch's line."""
        if self.val_set is not None and self.parts.info.is_main:
            scores, _ = evaluate(self.parts.model, self.val_set, tau=self.config.train.tau,
                                 batch_size=self.parts.local_batch,
                                 device=self.parts.device, keep_maps=False, protocols=("localization",),
                                 amp=self.config.train.amp, settings=self.config.eval)
            if "av" not in scores:
                raise ConfigError("the validation set has no on-screen pair with a ground-truth map to score")
            entry = {"epoch": epoch, **scores["av"]}
            self.state.validation.append(entry)
            if selection_score(entry) > self.state.best_score:
                self.state.best_score = selection_score(entry)
                save_checkpoint(self.run_dir / "best.pt", self.checkpoint_state())
        self.state.epoch = epoch + 1
        self.state.step_in_epoch = 0
        self.save()
        if self.forks and self.state.epoch == self.config.train.warmup_epochs:
            self.write_forks()
        self.bar.close(epoch_summary(self.state.history, self.state.validation, epoch))


def non_finite_error(step: int, state: TrainState, parts: Parts, train_set: Dataset, checkpoint: Path | None,
                     saved_step: int | None) -> NonFiniteLossError:
    """Why the loss became non-finite at ``step`` (counted from 1) of the epoch in progress: the
    samples of that step's batch whose inputs are not finite (found again from the sampler's order),
    or a model that diverged; and which step the last checkpoint holds."""
    index = step - 1 - (state.global_step - state.step_in_epoch)  # the step's place in this epoch
    order = list(DistributedSampler.__iter__(parts.sampler))
    culprits = non_finite_samples(train_set, order[index * parts.local_batch:(index + 1) * parts.local_batch])
    cause = (f"its batch holds non-finite inputs: {', '.join(culprits)}" if culprits else
             "every input of its batch is finite, so the model diverged: lower train.lr or check the data")
    saved = (f"the last checkpoint, {checkpoint}, holds step {saved_step}" if checkpoint is not None
             else "no checkpoint was written before it")
    return NonFiniteLossError(f"the training loss became non-finite at step {step} (epoch {state.epoch + 1}); "
                              f"{cause}; {saved}")


def train(config: RunConfig, run_dir: Path, train_set: Dataset, val_set: Dataset | None = None, *,
          resume: bool = False, progress: bool = True, stop: Callable[[TrainState], bool] | None = None,
          shared: TrainingFeatures | None = None, forks: list[Fork] = ()) -> Trainer:
    """Train one run into ``run_dir``; with ``resume`` continue from its ``last.pt``; ``shared``: the
    frozen-trunk features of earlier runs of the same seed (``shared_features.TrainingFeatures``);
    ``forks``: runs that share this run's warm-up and start from its end (``warmup``)."""
    trainer = Trainer(config, run_dir, train_set, val_set, progress, shared, forks)
    with lock_run_dir(run_dir) if trainer.parts.info.is_main else nullcontext():  # one job per run directory
        check_run_dir(run_dir, resume)
        if resume:
            trainer.restore(trainer.last_path)
        trainer.fit(stop)
    return trainer
