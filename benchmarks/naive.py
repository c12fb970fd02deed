"""A faithful re-implementation of the published (EZ-VSL / FNAC upstream) input and evaluation path.

It is the baseline of ``bench_pipeline.py`` and deliberately keeps upstream's costs
(README, "Speed"), on the same ``frames/<id>.jpg`` + ``audio/<id>.wav`` files. Each item below is
what the published FNAC_AVL ``datasets.py``, ``audio_io.py`` and ``train.py`` do, read line by line:

* every epoch, every sample decodes its JPEG with PIL and its audio with PyAV, in a DataLoader of
  2 persistent worker processes (``train.py --workers 2``), shuffled, the last partial batch dropped;
* train images: torchvision ``Resize(int(S * 1.1), BICUBIC)``, ``RandomCrop(S)``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize`` (ImageNet) on the PIL image;
  test images: ``Resize((S, S), BICUBIC)``;
* audio (``load_spectrogram``): the centred ``clip_seconds`` of the file, decoded by PyAV from a
  seek, resampled to signed 16-bit mono at the file's own rate and divided by 32767 (float64),
  tiled when short; a float64 ``scipy.signal.spectrogram(nperseg=512, noverlap=274)`` and its
  ``log(x + 1e-7)`` on the CPU; then ``ToTensor``, ``FrequencyMask(10)`` and ``TimeMask(10)``
  (Python's ``random``, with upstream's swapped start ranges, filled with 0) and
  ``Normalize(0, 12)`` for training, ``ToTensor`` and ``Normalize(0, 12)`` for testing;
* a sample is ``(frame, spectrogram, {}, file_id)``, collated by the default collate;
* fp32 model, ``loss.item()`` every step (a host sync per step, as upstream), Adam, the model and
  optimizer saved at each epoch's end (``latest.pth``);
* evaluation at batch size 1: per sample the map goes to the host, is min-max normalised,
  thresholded at ``np.sort(...)[N // 2]`` and scored with numpy (VGG-SS-style union gt built per
  sample from the boxes in ``vggss.json``).

The model, the losses and the optimizer are the workbook's (``AVModel.encode``, ``fnac_losses``:
the same computation as upstream's ``FNAC`` module, ``tests/test_parity.py``), so the benchmark
compares pipelines, not architectures.
"""

from __future__ import annotations

import json
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Phase, Stopwatch, sync  # noqa: E402

LOADER_WORKERS = 2  # the published scripts' data loader processes (train.py --workers 2)
SPEC_MASK = 10  # FrequencyMask(max_width=10) and TimeMask(max_width=10)
LOG_SCALE = 12.0  # Normalize(mean=[0.0], std=[12.0])


def decode_centre(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    """Upstream's PyAV read of the centred ``seconds`` of a file: (channels, T) float64 in [-1, 1]
    and the file's rate. Single-threaded decoding from a seek to the start, each decoded frame
    resampled to planar signed 16-bit mono, the frames overlapping the segment kept and trimmed."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        stream.codec_context.thread_type = av.codec.context.ThreadType.NONE
        stream.codec_context.thread_count = 1
        length = stream.duration * stream.time_base
        first = stream.start_time * stream.time_base if stream.start_time is not None else 0
        start = max(float(length) / 2 - seconds / 2, 0)
        seconds = min(seconds, first + length - start)
        end, rate = start + seconds, stream.rate
        resampler = av.audio.resampler.AudioResampler(format="s16p", layout="mono", rate=rate)
        container.seek(int(start * av.time_base))
        chunks = []
        for frame in container.decode(audio=0):
            frame_start = frame.pts * frame.time_base
            if frame_start + Fraction(frame.samples, frame.rate) < start:
                continue
            if frame_start > end:
                break
            frame.pts = None
            chunks.append((frame_start, resampler.resample(frame)[0].to_ndarray()))  # (1, n) int16
    audio = np.concatenate([samples for _, samples in chunks], axis=1)
    offset = int((start - chunks[0][0]) * rate)
    if offset < 0:
        audio = np.pad(audio, ((0, 0), (-offset, 0)))
        offset = 0
    audio = audio[:, offset:offset + int(seconds * rate)]
    return audio / np.iinfo(audio.dtype).max, rate


def log_spectrogram(path: Path, clip_seconds: float) -> np.ndarray:
    """Upstream's ``load_spectrogram``: centred clip, mono, tiled if short, float64 scipy
    spectrogram, log. (F, frames) float64; the / 12 is the transform's ``Normalize``."""
    audio, rate = decode_centre(path, clip_seconds)
    audio = np.clip(audio, -1.0, 1.0).mean(axis=0)  # to mono
    want = rate * clip_seconds
    if audio.shape[0] < want:
        audio = np.tile(audio, int(want / audio.shape[0]) + 1)
    audio = audio[:int(want)]
    _, _, power = signal.spectrogram(audio, rate, nperseg=512, noverlap=274)  # (257, frames) float64
    return np.log(power + 1e-7)


def mask_band(spec: torch.Tensor, dim: int, start_range: int) -> torch.Tensor:
    """Upstream's ``FrequencyMask`` (dim 1) / ``TimeMask`` (dim 2) with ``use_mean=False``: a band
    of ``randrange(SPEC_MASK)`` cells from ``randrange(start_range)`` set to 0, in place. Upstream
    draws the frequency band's start over the time frames and the time span's over the bins."""
    start = random.randrange(0, start_range)
    end = start + random.randrange(0, SPEC_MASK)
    if dim == 1:
        spec[:, start:end, :] = 0
    else:
        spec[:, :, start:end] = 0
    return spec


def train_audio(spec: np.ndarray) -> torch.Tensor:
    """ToTensor, FrequencyMask(10), TimeMask(10), Normalize(0, 12): (1, F, frames) float64."""
    tensor = transforms.functional.to_tensor(spec)  # (1, F, frames), float64 kept
    tensor = mask_band(tensor, 1, tensor.shape[2])  # FrequencyMask: start over the time frames
    tensor = mask_band(tensor, 2, tensor.shape[1])  # TimeMask: start over the frequency bins
    return transforms.functional.normalize(tensor, [0.0], [LOG_SCALE])


def test_audio(spec: np.ndarray) -> torch.Tensor:
    """ToTensor, Normalize(0, 12): (1, F, frames) float64."""
    return transforms.functional.normalize(transforms.functional.to_tensor(spec), [0.0], [LOG_SCALE])


class NaiveTrainSet(Dataset):
    """Published training input: per-sample PIL decode + augmentation, PyAV audio, a CPU
    spectrogram and its masks."""

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

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, dict, str]:
        name = self.ids[index]
        image = self.transform(Image.open(self.root / "frames" / f"{name}.jpg").convert("RGB"))  # (3, S, S)
        spec = train_audio(log_spectrogram(self.root / "audio" / f"{name}.wav", self.clip_seconds))
        return image, spec, {}, name  # spec (1, F, frames) float64, as upstream's transforms leave it


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
        spec = test_audio(log_spectrogram(self.root / "audio" / f"{name}.wav", self.clip_seconds))
        gt = np.zeros((self.size, self.size))
        for x1, y1, x2, y2 in entry["bbox"]:
            gt[int(y1 * self.size):int(y2 * self.size), int(x1 * self.size):int(x2 * self.size)] = 1
        return image, spec, gt


def naive_train(model: AVModel, dataset: NaiveTrainSet, batch_size: int, steps: int, device: torch.device,
                train: TrainConfig, warmup_steps: int = 1, seed: int = 0, checkpoint_dir: Path | None = None,
                on_step: Callable[[int], None] | None = None) -> Phase:
    """Upstream's training loop (``train.py``): epochs over one DataLoader of persistent workers,
    ``warmup_steps`` untimed steps, then ``steps`` timed ones, with the objective and optimiser of
    ``train`` (every FNAC term on, as after the warm-up), and at each epoch's end the model and
    optimizer saved to ``checkpoint_dir/latest.pth`` (upstream's validation is left out). The clock
    runs from the end of the last warm-up step to the end of the last timed step, across epoch
    ends as a run crosses them. ``on_step(k)`` is called after the k-th step (1-based).
    """
    objective = OBJECTIVES[train.method]
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator,
                        num_workers=LOADER_WORKERS, pin_memory=device.type == "cuda", drop_last=True,
                        persistent_workers=True)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} samples make no batch of {batch_size}")
    clock, losses, done, epoch = Stopwatch(), [], 0, 0
    if warmup_steps == 0:
        clock.start()
    while done < warmup_steps + steps:
        for image, spec, _, _ in loader:  # one epoch
            image, spec = image.to(device, non_blocking=True).float(), spec.to(device, non_blocking=True).float()
            img_maps, aud_emb = model.encode(image, spec)
            terms = fnac_losses(img_maps, aud_emb, train.tau, train.fg_threshold, train.fg_eps)
            loss = total_loss(terms, objective, train.term_weight, warmed_up=True)
            losses.append(loss.item())  # upstream logs every step: a host sync per step
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if on_step is not None:
                on_step(done)
            if done == warmup_steps:
                sync(device)
                clock.start()
            if done == warmup_steps + steps:
                break
        else:  # the epoch ended: train.py saves latest.pth
            epoch += 1
            if checkpoint_dir is not None:
                Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                            "best_cIoU": 0.0, "best_Auc": 0.0}, Path(checkpoint_dir) / "latest.pth")
    sync(device)
    clock.stop()
    del loader  # shuts the persistent workers down
    return Phase(clock.wall, clock.cpu, steps * batch_size, losses[warmup_steps:])


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
