"""One training step of EZ-VSL / FNAC: the batch to the device, the forward pass, the losses, Adam.

The trainer's loop, the speed benchmark and the tests call these same functions, so what is
timed is what trains. The objective is the row ``losses.OBJECTIVES[train.method]``, and every
number it needs comes from the run's ``TrainConfig``. Nothing here syncs with the host:
``train_step`` returns the logged values as one device tensor, which the loop reads every
``log_every`` steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .augment import TrainAugment
from .config import TrainConfig
from .distributed import gather_with_grad
from .losses import OBJECTIVES, fnac_losses, require_known_labels, same_class_pairs, total_loss

LOGGED_TERMS = ("loss", "base", "fns_audio", "fns_visual", "tne")  # the values ``train_step`` returns, in order


def batch_losses(network: nn.Module, batch: dict, epoch: int, train: TrainConfig, amp: bool,
                 augment: TrainAugment | None, device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and every unweighted term of one batch (uint8 ``image``, ``audio`` waveforms, and
    ``label`` for the oracle), at ``epoch`` of a run trained with ``train``; ``amp``: bf16 autocast.

    ``network`` is an ``AVModel``, possibly wrapped by DistributedDataParallel or torch.compile.
    """
    objective = OBJECTIVES[train.method]
    images = batch["image"].to(device, non_blocking=True)  # (b, 3, H, W) uint8
    waves = batch["audio"].to(device, non_blocking=True)  # (b, T)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
        img_maps, aud_emb = network(images, waves, augment)  # float32 (b, D, h, w), (b, D)
    same_class = permutation = None
    if objective.base == "oracle":  # the oracle reads the batch's labels
        require_known_labels(batch["label"])  # on the host: no device sync
        labels = batch["label"].to(device, non_blocking=True)  # (b,)
        same_class = same_class_pairs(gather_with_grad(labels) if train.global_negatives else labels)  # (B, B)
    if train.global_negatives:
        img_maps, aud_emb = gather_with_grad(img_maps), gather_with_grad(aud_emb)  # (B, ...) global batch
    if objective.adjacency == "shuffled":
        permutation = torch.randperm(img_maps.shape[0], device=device)  # (B,) from the run's seeded RNG
    terms = fnac_losses(img_maps, aud_emb, train.tau, train.fg_threshold, train.fg_eps, same_class, permutation)
    return total_loss(terms, objective, train.term_weight, warmed_up=epoch >= train.warmup_epochs), terms


def learning_rate(train: TrainConfig, step: int, total_steps: int) -> float:
    """Adam's learning rate for optimizer step ``step`` (from 0) of a run of ``total_steps``:
    ``train.lr`` throughout (constant, published), or half a cosine from ``train.lr`` to 0."""
    if train.lr_schedule == "constant":
        return train.lr
    return 0.5 * train.lr * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group's learning rate to ``lr`` (a Python float: no device work)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_step(network: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, epoch: int, train: TrainConfig,
               amp: bool, augment: TrainAugment | None, device: torch.device) -> torch.Tensor:
    """One optimizer step; returns the ``LOGGED_TERMS`` values as a (5,) tensor on the device."""
    loss, terms = batch_losses(network, batch, epoch, train, amp, augment, device)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return torch.stack([loss.detach(), *(terms[name].detach() for name in LOGGED_TERMS[1:])])
