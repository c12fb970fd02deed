"""A faithful re-implementation of the published (EZ-VSL / FNAC upstream) input and evaluation path.

It is the baseline of ``bench_pipeline.py`` and deliberately keeps upstream's costs
(README, "Speed"), on the same ``frames/<id>.jpg`` + ``audio/<id>.wav`` files:

* every epoch, every sample decodes its JPEG with PIL and its wav file, in 2 loader workers;
* train images: torchvision ``Resize(int(S * 1.1), BICUBIC)``, ``RandomCrop(S)``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize`` (ImageNet) on the PIL image;
  test images: ``Resize((S, S), BICUBIC)``;
* audio: the centred ``clip_seconds`` (tiled when short, as upstream), a float64
  ``scipy.signal.spectrogram(nperseg=512, noverlap=274)`` on the CPU, ``log(x + 1e-7) / 12``;
* fp32 model, ``loss.item()`` logged every step (a host sync per step, as upstream);
* evaluation at batch size 1: per sample the map goes to the host, is min-max normalised,
  thresholded at ``np.sort(...)[N // 2]`` and scored with numpy (VGG-SS-style union gt built per
  sample from the boxes in ``vggss.json``).

Upstream decodes audio with PyAV; soundfile is used here, which is faster, so the baseline is if
anything flattering to upstream. The model, the losses and the optimizer are the workbook's, so
the benchmark compares pipelines, not architectures.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import signal
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from fnac_lib.constants import IMAGENET_MEAN, IMAGENET_STD
from fnac_lib.config import TrainConfig
from fnac_lib.losses import OBJECTIVES, fnac_losses, own_pair_maps, total_loss
from fnac_lib.model import AVModel

LOADER_WORKERS = 2  # the published scripts' data loader processes


def log_spectrogram(path: Path, clip_seconds: float) -> np.ndarray:
    """Upstream's audio input: centred crop, tiled if short, float64 scipy spectrogram, log, / 12."""
    info = sf.info(str(path))
    rate, want = info.samplerate, int(round(clip_seconds * info.samplerate))
    start = max(0, (info.frames - want) // 2)
    audio, _ = sf.read(str(path), start=start, stop=start + want, dtype="float64", always_2d=True)
    audio = np.clip(audio, -1.0, 1.0).mean(axis=1)  # to mono, as upstream
    if audio.shape[0] < want:
        audio = np.tile(audio, want // audio.shape[0] + 1)
    audio = audio[:want]
    _, _, power = signal.spectrogram(audio, rate, nperseg=512, noverlap=274)  # (257, frames) float64
    return np.log(power + 1e-7) / 12.0


class NaiveTrainSet(Dataset):
    """Published training input: per-sample PIL decode + augmentation and a CPU spectrogram."""

    def __init__(self, root: Path, ids: list[str], image_size: int, clip_seconds: float) -> None:
        self.root, self.ids, self.clip_seconds = Path(root), list(ids), clip_seconds
        self.transform = transforms.Compose([
            transforms.Resize(int(image_size * 1.1), transforms.InterpolationMode.BICUBIC),
            transforms.RandomCrop((image_size, image_size)),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = self.ids[index]
        image = self.transform(Image.open(self.root / "frames" / f"{name}.jpg").convert("RGB"))  # (3, S, S)
        spec = torch.from_numpy(log_spectrogram(self.root / "audio" / f"{name}.wav", self.clip_seconds))
        return image, spec.unsqueeze(0)  # (1, F, frames) float64, as upstream's ToTensor leaves it


class NaiveTestSet(Dataset):
    """Published test input: resize to S x S, spectrogram, and a union gt map built from the boxes."""

    def __init__(self, root: Path, image_size: int, clip_seconds: float) -> None:
        self.root, self.size, self.clip_seconds = Path(root), image_size, clip_seconds
        self.entries = json.loads((self.root / "vggss.json").read_text())
        self.transform = transforms.Compose([
            transforms.Resize((image_size, image_size), transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int):
        entry = self.entries[index]
        name = entry["file"]
        image = self.transform(Image.open(self.root / "frames" / f"{name}.jpg").convert("RGB"))
        spec = torch.from_numpy(log_spectrogram(self.root / "audio" / f"{name}.wav", self.clip_seconds))
        gt = np.zeros((self.size, self.size))
        for x1, y1, x2, y2 in entry["bbox"]:
            gt[int(y1 * self.size):int(y2 * self.size), int(x1 * self.size):int(x2 * self.size)] = 1
        return image, spec.unsqueeze(0), gt


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (loader workers), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Stopwatch:
    """Wall and CPU seconds of a ``with`` block (call ``sync`` on the device before it ends)."""

    wall: float = 0.0
    cpu: float = 0.0
    _start: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def __enter__(self) -> "Stopwatch":
        self._start = (time.perf_counter(), cpu_seconds())
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._start[0]
        self.cpu = cpu_seconds() - self._start[1]


@dataclass
class Phase:
    """What one timed phase (training or evaluation, either pipeline) measured."""

    seconds: float  # wall time of the timed part
    cpu_seconds: float  # CPU time of this process and its loader workers in it
    samples: int  # samples processed in it
    values: list[float]  # per-step losses (training) or per-sample cIoU (evaluation)

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive_train(model: AVModel, dataset: NaiveTrainSet, batch_size: int, steps: int, device: torch.device,
                train: TrainConfig, warmup_steps: int = 1, seed: int = 0) -> Phase:
    """Upstream's training loop for ``warmup_steps`` untimed, then ``steps`` timed steps, with the
    objective and optimiser of ``train`` (every FNAC term on, as after the warm-up).

    Like the workbook's timing, each phase starts its own loader (workers included).
    """
    objective = OBJECTIVES[train.method]
    lr, weight_decay = train.lr, train.weight_decay
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)

    def run(count: int) -> list[float]:
        sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=LOADER_WORKERS,
                            drop_last=True, pin_memory=device.type == "cuda")
        losses = []
        for image, spec in loader:
            image, spec = image.to(device).float(), spec.to(device).float()
            img_maps, aud_emb = model.encode(image, spec)
            terms = fnac_losses(img_maps, aud_emb, train.tau, train.fg_threshold, train.fg_eps)
            loss = total_loss(terms, objective, train.term_weight, warmed_up=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())  # upstream logs every step: a host sync per step
            if len(losses) == count:
                break
        _sync(device)
        return losses  # the abandoned iterator has shut its workers down: their CPU time is counted

    run(warmup_steps)
    with Stopwatch() as clock:
        losses = run(steps)
    return Phase(clock.wall, clock.cpu, steps * batch_size, losses)


@torch.no_grad()
def naive_evaluate(model: AVModel, dataset: NaiveTestSet, device: torch.device, tau: float) -> Phase:
    """Upstream's test loop: batch size 1, map to the host, per-sample sort and numpy cIoU."""
    model.to(device).eval()
    loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=LOADER_WORKERS)
    cious = []
    with Stopwatch() as clock:
        for image, spec, gt in loader:  # the exhausted iterator shuts its workers down
            image, spec = image.to(device).float(), spec.to(device).float()
            img_maps, aud_emb = model.encode(image, spec)
            heatmap = own_pair_maps(img_maps, aud_emb, tau).unsqueeze(1)  # (1, 1, h, w)
            heatmap = F.interpolate(heatmap, size=tuple(image.shape[2:]), mode="bilinear", align_corners=True)
            pred = heatmap.cpu().numpy()[0, 0]  # a host sync per sample, as upstream
            pred = (pred - pred.min()) / (pred.max() - pred.min() + 1e-12)
            threshold = np.sort(pred.flatten())[int(pred.shape[0] * pred.shape[1] / 2)]
            predicted = (pred >= threshold).astype(np.float64)
            gt_map = gt.numpy()[0]
            cious.append(float(np.sum(predicted * gt_map) / (np.sum(gt_map) + np.sum(predicted * (gt_map == 0)))))
    return Phase(clock.wall, clock.cpu, len(dataset), cious)
