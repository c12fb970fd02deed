"""Training EZ-VSL and FNAC: GPU first, resumable, one process or many under ``torchrun``.

The hot loop keeps everything on the device: uint8 frames and waveforms are copied
non-blocking from pinned memory, cropped, flipped, turned into spectrograms and masked there,
and the encoders run under bf16 autocast with channels_last convolutions on CUDA
(``train.amp`` and ``train.channels_last``: "auto", or true / false on any device). The host
syncs only every ``log_every`` steps, to log and to check that the loss stayed finite.

A run directory holds ``config.json``, ``metrics.json`` (loss history and validation scores),
``last.pt`` (written atomically at every checkpoint) and ``best.pt`` (best validation cIoU;
the test set never chooses a model). ``resume=True`` continues from ``last.pt``, mid-epoch
included, and on the CPU ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .augment import TrainAugment
from .checkpoint import check_run_dir, checkpoint_config, load_checkpoint, load_into, lock_run_dir, save_checkpoint
from .config import RunConfig, check_resumable
from .config_checks import check_batch_split
from .data.sample import collate, non_finite_samples, set_epoch
from .device import resolve_device, use_on
from .distributed import ProcessInfo, barrier, init_from_env
from .errors import ConfigError, NonFiniteLossError
from .evaluation import evaluate
from .files import remove_stale, write_json
from .losses import LossWeights
from .model import AVModel
from .progress import Progress, epoch_summary
from .step import LOGGED_TERMS, StepSettings, batch_losses, train_step


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


class Trainer:
    """Owns the model, optimizer, data order and run directory of one training run."""

    def __init__(self, config: RunConfig, run_dir: Path, train_set: Dataset, val_set: Dataset | None = None,
                 progress: bool = True) -> None:
        config = RunConfig.from_dict(config.to_dict())  # every field typed and checked (config_checks)
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        self.train_set, self.val_set = train_set, val_set
        train = config.train
        self.weights = LossWeights.for_method(train.method, train.term_weight, train.warmup_epochs)
        self.device = resolve_device(train.device)
        self.info = init_from_env(self.device.type)
        if self.info.distributed and self.device.type == "cuda":
            self.device = torch.device(f"cuda:{self.info.local_rank}")
            torch.cuda.set_device(self.device)
        check_batch_split(train.batch_size, self.info.world_size)
        self.local_batch = train.batch_size // self.info.world_size
        if len(train_set) < train.batch_size:
            raise ConfigError(f"train.batch_size: the training set has {len(train_set)} samples, "
                              f"fewer than one batch of {train.batch_size}")

        torch.manual_seed(train.seed)  # identical initial weights for every method with this seed
        self.model = AVModel(config.model, config.audio).to(self.device)
        self.cuda = self.device.type == "cuda"
        self.amp = use_on(train.amp, self.device, "train.amp")
        self.channels_last = use_on(train.channels_last, self.device, "train.channels_last")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        self.network = self._wrap(self.model)
        self.aug_generator = torch.Generator(device=self.device).manual_seed(train.seed + self.info.rank)
        audio = config.audio
        self.augment = TrainAugment(config.data.image_size, audio.freq_mask, audio.time_mask, self.aug_generator,
                                    audio.mask_style)
        self.settings = StepSettings(self.weights, train.tau, train.fg_threshold, self.amp, train.global_negatives)
        self.sampler = ResumableSampler(train_set, self.info, train.seed)
        self.state = TrainState()
        self.steps_left: int | None = None  # see fit(stop_after_steps)
        self.saved_step: int | None = None  # global step of the last.pt this run wrote or resumed from

    def _wrap(self, model: AVModel):
        """DDP and torch.compile wrap ``model`` from outside, so its state dict keeps plain keys."""
        network = model
        if self.info.distributed:
            network = DistributedDataParallel(network, device_ids=[self.device.index] if self.cuda else None)
        if self.config.train.compile:
            network = torch.compile(network)
        return network

    # ----------------------------------------------------------------- checkpoints
    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    def checkpoint_state(self) -> dict:
        state = self.state
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": self.config.to_dict(),
            "epoch": state.epoch,
            "step_in_epoch": state.step_in_epoch,
            "global_step": state.global_step,
            "best_score": state.best_score,
            "history": state.history,
            "validation": state.validation,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.cuda else None,
            "rng_augment": self.aug_generator.get_state(),
        }

    def save(self) -> None:
        """Write ``last.pt`` and ``metrics.json`` (main process only)."""
        if self.info.is_main:
            save_checkpoint(self.last_path, self.checkpoint_state())
            self.saved_step = self.state.global_step
            self.write_metrics()
        barrier()

    def write_metrics(self) -> None:
        write_json(self.run_dir / "metrics.json", {
            "method": self.config.train.method,
            "global_step": self.state.global_step,
            "history": self.state.history,
            "validation": self.state.validation,
        })

    def restore(self, path: Path) -> None:
        saved = load_checkpoint(path, resume=True)
        check_resumable(checkpoint_config(saved, path), self.config, path)
        load_into(self.model, saved["model"], path)
        load_into(self.optimizer, saved["optimizer"], path)
        self.state = TrainState(saved["epoch"], saved["step_in_epoch"], saved["global_step"], saved["best_score"],
                                saved["history"], saved["validation"])
        torch.set_rng_state(saved["rng_cpu"])
        if self.cuda and saved["rng_cuda"] is not None:
            torch.cuda.set_rng_state(saved["rng_cuda"], self.device)
        self.aug_generator.set_state(saved["rng_augment"])
        self.saved_step = self.state.global_step

    # ----------------------------------------------------------------- training
    def loader(self, epoch: int, start_step: int) -> DataLoader:
        set_epoch(self.train_set, epoch)  # on-the-fly scenes depend on (seed, epoch, index)
        self.sampler.set_epoch(epoch)
        self.sampler.start = start_step * self.local_batch
        workers = self.config.data.num_workers
        return DataLoader(
            self.train_set, batch_size=self.local_batch, sampler=self.sampler, num_workers=workers,
            # sample.collate: batches a CachedDataset already built pass through; ragged fields travel packed.
            collate_fn=collate, pin_memory=self.cuda, drop_last=True,
            persistent_workers=False, prefetch_factor=4 if workers else None,
            # A private generator: creating the iterator must not consume the global RNG,
            # or a resumed run would draw different dropout masks.
            generator=torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + epoch),
        )

    def losses(self, batch: dict, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Device-side augmentation, forward pass and loss for one batch (``step.batch_losses``)."""
        return batch_losses(self.network, batch, epoch, self.settings, self.augment, self.device)

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.num_samples // self.local_batch

    def fit(self, stop_after_steps: int | None = None) -> dict:
        """Train to ``config.train.epochs``; returns the last validation scores (if any).

        ``stop_after_steps`` ends the call after that many optimizer steps, as a killed process
        would (everything after the last checkpoint is lost); tests use it to check resumption.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.info.is_main:
            remove_stale(self.run_dir)  # checkpoint temporaries a killed run left (files.remove_stale)
            self.config.save(self.run_dir / "config.json")
        self.steps_left = stop_after_steps
        while self.state.epoch < self.config.train.epochs:
            epoch = self.state.epoch
            if not self._train_epoch(epoch):
                return {}
            self._end_epoch(epoch)
        return self.state.validation[-1] if self.state.validation else {}

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch from ``state.step_in_epoch`` on; False when ``steps_left`` ran out first."""
        train = self.config.train
        loader = self.loader(epoch, self.state.step_in_epoch)
        self.network.train()
        sums = torch.zeros(len(LOGGED_TERMS), device=self.device)
        # The first non-finite step lives on the device: no host sync per step.
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        window = 0
        # One line per epoch (loss, validation, seconds), and one a minute within a long epoch.
        self.epoch_progress = bar = Progress(self.steps_per_epoch, f"{train.method} epoch {epoch + 1}/{train.epochs}",
                                             self.progress and self.info.is_main, every=60.0,
                                             initial=self.state.step_in_epoch, unit="steps")
        for batch in loader:
            values = train_step(self.network, self.optimizer, batch, epoch, self.settings, self.augment, self.device)
            sums += values
            bad = ~torch.isfinite(values).all() & (first_bad < 0)
            first_bad = torch.where(bad, self.state.global_step + 1, first_bad)  # steps count from 1, as metrics.json
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            window += 1
            bar.update(1)
            at_end = self.state.step_in_epoch == self.steps_per_epoch
            if window == train.log_every or at_end:
                self._log(epoch, sums / window, first_bad, bar)
                sums.zero_()
                window = 0
            if train.checkpoint_every and self.state.global_step % train.checkpoint_every == 0 and not at_end:
                self._check_finite(first_bad)
                self.save()
            if self.steps_left is not None:
                self.steps_left -= 1
                if self.steps_left == 0:
                    break
        return self.state.step_in_epoch == self.steps_per_epoch

    def _log(self, epoch: int, means: torch.Tensor, first_bad: torch.Tensor, bar) -> None:
        self._check_finite(first_bad)
        values = dict(zip(LOGGED_TERMS, means.tolist()))  # the one host sync of the window
        self.state.history.append({"epoch": epoch, "step": self.state.global_step, **values})
        bar.set_note(f"loss {values['loss']:.3f} (base {values['base']:.3f})")

    def _check_finite(self, first_bad: torch.Tensor) -> None:
        bad = int(first_bad.item())
        if bad < 0:
            return
        # The step's batch: sampler order of this epoch, from the epoch's first step on.
        index = bad - 1 - (self.state.global_step - self.state.step_in_epoch)
        order = list(DistributedSampler.__iter__(self.sampler))
        culprits = non_finite_samples(self.train_set, order[index * self.local_batch:(index + 1) * self.local_batch])
        cause = (f"its batch holds non-finite inputs: {', '.join(culprits)}" if culprits else
                 "every input of its batch is finite, so the model diverged: lower train.lr or check the data")
        saved = (f"the last checkpoint, {self.last_path}, holds step {self.saved_step}" if self.saved_step is not None
                 else "no checkpoint was written before it")
        raise NonFiniteLossError(f"the training loss became non-finite at step {bad} (epoch {self.state.epoch + 1}); "
                                 f"{cause}; {saved}")

    def _end_epoch(self, epoch: int) -> None:
        if self.val_set is not None and self.info.is_main:
            scores, _ = evaluate(self.model, self.val_set, batch_size=self.local_batch, device=self.device,
                                 keep_maps=False, protocols=("localization",), amp=self.config.train.amp,
                                 settings=self.config.eval)
            if "av" not in scores:
                raise ConfigError("the validation set has no on-screen pair with a ground-truth map to score")
            entry = {"epoch": epoch, **scores["av"]}
            self.state.validation.append(entry)
            score = selection_score(entry)
            if score > self.state.best_score:
                self.state.best_score = score
                save_checkpoint(self.run_dir / "best.pt", self.checkpoint_state())
        self.state.epoch = epoch + 1
        self.state.step_in_epoch = 0
        self.save()
        self.epoch_progress.close(epoch_summary(self.state.history, self.state.validation, epoch))


def train(config: RunConfig, run_dir: Path, train_set: Dataset, val_set: Dataset | None = None, *,
          resume: bool = False, progress: bool = True, stop_after_steps: int | None = None) -> Trainer:
    """Train one run into ``run_dir``; with ``resume`` continue from its ``last.pt``."""
    trainer = Trainer(config, run_dir, train_set, val_set, progress)
    with lock_run_dir(run_dir) if trainer.info.is_main else nullcontext():  # one training job per run directory
        check_run_dir(run_dir, resume)
        if resume:
            trainer.restore(trainer.last_path)
        trainer.fit(stop_after_steps)
    return trainer
