"""Process-group plumbing for ``torchrun``: PyTorch's own launcher and DistributedDataParallel.

A plain ``python`` run is one process of world size 1 and never touches ``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn


@dataclass(frozen=True)
class ProcessInfo:
    rank: int = 0  # this process's index in the job
    world_size: int = 1  # processes in the job
    local_rank: int = 0  # index on this machine: picks the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def process_info() -> ProcessInfo:
    """This process's place in the job ``torchrun`` describes in the environment (rank 0 of 1 without it)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return ProcessInfo()
    return ProcessInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def init_from_env(device_type: str) -> ProcessInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    info = process_info()
    if not info.distributed:
        return info
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every process along dim 0, keeping the autograd graph.

    The backward of this all-gather sums each process's gradient for the local slice, so with
    DDP's gradient averaging the parameters receive exactly the gradient of the loss on the
    global batch (tests/test_distributed.py compares against one process).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return torch.cat(dist_nn.all_gather(tensor), dim=0)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()

