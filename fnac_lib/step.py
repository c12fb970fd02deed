"""One training step of EZ-VSL / FNAC: the batch to the device, the forward pass, the losses, Adam.

The trainer's loop, the speed benchmark and the tests call these same functions, so what is
timed is what trains. Nothing here syncs with the host: ``train_step`` returns the logged values
as one device tensor, which the loop reads every ``log_every`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .augment import TrainAugment
from .constants import FG_THRESHOLD, TAU
from .distributed import gather_with_grad
from .losses import LossWeights, fnac_losses, require_known_labels, same_class_pairs, total_loss

LOGGED_TERMS = ("loss", "base", "fns_audio", "fns_visual", "tne")  # the values ``train_step`` returns, in order


@dataclass
class StepSettings:
    """What a step needs besides the batch: the objective and how it runs on the device."""

    weights: LossWeights  # which FNAC terms count, and from which epoch
    tau: float = TAU  # temperature
    fg_threshold: float = FG_THRESHOLD  # TNE's foreground threshold
    amp: bool = False  # bf16 autocast for the encoders
    global_negatives: bool = False  # under torchrun: gather every process's features (with gradients)


def batch_losses(network: nn.Module, batch: dict, epoch: int, settings: StepSettings, augment: TrainAugment | None,
                 device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and every unweighted term of one batch (uint8 ``image``, ``audio`` waveforms, and
    ``label`` for the oracle).

    ``network`` is an ``AVModel``, possibly wrapped by DistributedDataParallel or torch.compile.
    """
    images = batch["image"].to(device, non_blocking=True)  # (b, 3, H, W) uint8
    waves = batch["audio"].to(device, non_blocking=True)  # (b, T)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=settings.amp):
        img_maps, aud_emb = network(images, waves, augment)  # float32 (b, D, h, w), (b, D)
    same_class = permutation = None
    if settings.weights.remove_false_negatives:  # the oracle reads the batch's labels
        require_known_labels(batch["label"])  # on the host: no device sync
        labels = batch["label"].to(device, non_blocking=True)  # (b,)
        same_class = same_class_pairs(gather_with_grad(labels) if settings.global_negatives else labels)  # (B, B)
    if settings.global_negatives:
        img_maps, aud_emb = gather_with_grad(img_maps), gather_with_grad(aud_emb)  # (B, ...) global batch
    if settings.weights.shuffle_adjacency:
        permutation = torch.randperm(img_maps.shape[0], device=device)  # (B,) from the run's seeded RNG
    terms = fnac_losses(img_maps, aud_emb, settings.tau, settings.fg_threshold, same_class, permutation)
    return total_loss(terms, settings.weights, epoch), terms


def train_step(network: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, epoch: int,
               settings: StepSettings, augment: TrainAugment | None, device: torch.device) -> torch.Tensor:
    """One optimizer step; returns the ``LOGGED_TERMS`` values as a (5,) tensor on the device."""
    loss, terms = batch_losses(network, batch, epoch, settings, augment, device)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return torch.stack([loss.detach(), *(terms[name].detach() for name in LOGGED_TERMS[1:])])
