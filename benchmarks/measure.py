"""What the benchmarks measure with: wall and CPU time (loader workers included) and peak memory."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def children(pid: int | None = None) -> list[int]:
    """The live child processes of ``pid`` (this process: its loader workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid or os.getpid()}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def _live_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/<pid>/stat), 0 once it is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return 0.0


def cpu_seconds() -> float:
    """CPU time of this process and its children, user + system: the finished ones (reaped) and
    the live ones (loader workers still running)."""
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(_live_cpu_seconds(child) for child in children())
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + live


@dataclass
class Stopwatch:
    """Wall and CPU seconds between ``start`` and ``stop`` (call ``sync`` on the device before
    ``stop``); also a ``with`` block."""

    wall: float = 0.0
    cpu: float = 0.0
    started: bool = False
    stopped: bool = False
    _start: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def start(self) -> None:
        self._start, self.started = (time.perf_counter(), cpu_seconds()), True

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._start[0]
        self.cpu = cpu_seconds() - self._start[1]
        self.stopped = True

    def __enter__(self) -> "Stopwatch":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Phase:
    """What one timed phase (training or evaluation, either pipeline) measured."""

    seconds: float  # wall time of the timed part
    cpu_seconds: float  # CPU time of this process and its loader workers in it
    samples: int  # samples processed in it
    values: list[float]  # per-step losses (training) or per-sample cIoU (evaluation)
    memory: dict = field(default_factory=dict)  # PeakMemory.as_dict() of the phase

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _status_kib(field_name: str, pid: int | str = "self") -> int:
    with contextlib.suppress(OSError, StopIteration, ValueError):
        line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith(field_name))
        return int(line.split()[1])
    return 0


def _private_kib(pid: int) -> int:
    """Unique set size: the pages only this process maps. A forked loader worker shares most of
    the main process's pages, which its resident set would count a second time."""
    with contextlib.suppress(OSError):
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        return sum(int(line.split()[1]) for line in lines if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return 0


SAMPLE_SECONDS = 2.0  # loader workers' memory: ~1% of a core for two workers of 750 MB each


class PeakMemory:
    """Peak memory of a ``with`` block, in MiB.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors), reset at the start. CPU: ``main`` is the
    peak resident set of this process within the block (the kernel's high-water mark VmHWM,
    reset at the start through ``/proc/self/clear_refs``); ``total`` the peak of this process's
    resident set plus the pages its loader workers hold alone, sampled every ``SAMPLE_SECONDS``:
    reading a worker's ``smaps_rollup`` walks its page tables (about 11 ms of CPU for a worker of
    750 MB), so sampling every 50 ms would take a fifth of a core from a pipeline with workers.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.main = self.total = math.nan
        self._stop = threading.Event()
        self._peak_total = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        pid = os.getpid()
        while True:
            total = _status_kib("VmRSS:", pid) + sum(_private_kib(child) for child in children(pid))
            self._peak_total = max(self._peak_total, total)
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.main = self.total = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self.main = _status_kib("VmHWM:") / 1024
        self.total = max(self._peak_total / 1024, self.main)  # a peak between two samples is the main's

    def as_dict(self) -> dict:
        return {"main_mib": self.main, "total_mib": self.total}
