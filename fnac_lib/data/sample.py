"""The contract of the workbook's data: one sample dict, one dataset protocol, one collate.

A sample is a plain ``dict`` so that the default data, the real benchmarks and the
caches all feed the same training and evaluation code:

=============  =========================  ===============================================
key            type                       meaning
=============  =========================  ===============================================
``image``      uint8 tensor (3, H, W)      RGB frame; normalisation happens on the device
``audio``      float32 tensor (T,)         mono waveform at the dataset's sample rate,
                                           cropped or zero-padded to a fixed length
``gt_map``     float32 tensor (H, W)       ground-truth localisation map in [0, 1]
                                           (fractional for Flickr's annotator consensus);
                                           all zeros when the sample has no annotation
``boxes``      float32 tensor (N, 4)       sounding-object boxes ``x1, y1, x2, y2`` in
                                           [0, 1] image coordinates (N may be 0)
``classes``    int64 tensor (K,)           class ids of every object in the picture
                                           (empty when unknown)
``label``      int                         class id of the sound (-1 when unknown)
``on_screen``  bool                        False for silent or off-screen pairs (open set)
``id``         str                         a stable name for the sample
``mask``       float32 tensor (H, W)       optional: pixel mask of the sounding object(s)
                                           (AVSBench-style segmentation ground truth)
=============  =========================  ===============================================

Datasets meet ``SampleDataset`` (and ``EpochDataset`` when they draw new samples every epoch,
``ClipDataset`` when frames belong to clips); a cache keeps exactly the attributes these
protocols declare. ``collate`` is the collate function of every training and evaluation loader.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

TENSOR_KEYS = ("image", "audio", "gt_map")
LIST_KEYS = ("boxes", "classes", "id")
OPTIONAL_TENSOR_KEYS = ("mask",)


@runtime_checkable
class SampleDataset(Protocol):
    """What every dataset of the workbook provides: default scenes, benchmark readers, caches."""

    sample_rate: int  # Hz of every ``audio`` waveform
    class_names: list[str]  # the name of each class id of ``label`` and ``classes`` ([] when unknown)

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict: ...


@runtime_checkable
class EpochDataset(Protocol):
    """A dataset that draws new samples every epoch (the default data's training scenes)."""

    def set_epoch(self, epoch: int) -> None: ...


@runtime_checkable
class ClipDataset(Protocol):
    """A dataset whose samples are frames of clips (AVSBench S4): its F-score is taken per clip."""

    clip_names: list[str]  # the clip of each sample, in order


def contract_attributes() -> tuple[str, ...]:
    """The data attributes the protocols declare: what a cache records and replays."""
    names: list[str] = []
    for protocol in (SampleDataset, ClipDataset):
        names += [n for n in typing.get_type_hints(protocol) if n not in names]
    return tuple(names)


def set_epoch(dataset, epoch: int) -> None:
    """Tell an ``EpochDataset`` which epoch the loader is about to draw; other datasets are fixed."""
    if isinstance(dataset, EpochDataset):
        dataset.set_epoch(epoch)


def clip_names(dataset) -> list[str] | None:
    """The clip of each sample of a ``ClipDataset``, else None."""
    return list(dataset.clip_names) if isinstance(dataset, ClipDataset) else None


def check_sample(sample: dict, where: str = "sample") -> dict:
    """Raise ``ValueError`` naming ``where`` if ``sample`` breaks the interface."""
    missing = [k for k in (*TENSOR_KEYS, *LIST_KEYS, "label", "on_screen") if k not in sample]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    image, audio, gt = sample["image"], sample["audio"], sample["gt_map"]
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"{where}: image must be uint8 (3, H, W), got {image.dtype} {tuple(image.shape)}")
    if audio.ndim != 1 or not audio.is_floating_point():
        raise ValueError(f"{where}: audio must be a float waveform (T,), got {audio.dtype} {tuple(audio.shape)}")
    if gt.shape != image.shape[1:]:
        raise ValueError(f"{where}: gt_map shape {tuple(gt.shape)} does not match image {tuple(image.shape[1:])}")
    boxes = sample["boxes"]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where}: boxes must be (N, 4), got {tuple(boxes.shape)}")
    return sample


def non_finite_samples(dataset, indices) -> list[str]:
    """Ids (with the field) of the samples at ``indices`` whose audio or maps hold NaN or infinity:
    what a non-finite training loss names, since a loss cannot say which input poisoned it."""
    found = []
    for index in indices:
        sample = dataset[int(index)]
        bad = [key for key in ("audio", "gt_map", "mask") if key in sample and not torch.isfinite(sample[key]).all()]
        if bad:
            found.append(f"{sample.get('id', index)} ({', '.join(bad)})")
    return found


def collate_samples(samples: list[dict]) -> dict:
    """Stack a list of samples into a batch: tensors stacked, ragged fields kept as lists."""
    batch = {key: torch.stack([s[key] for s in samples]) for key in TENSOR_KEYS}
    batch["label"] = torch.tensor([int(s["label"]) for s in samples], dtype=torch.long)
    batch["on_screen"] = torch.tensor([bool(s["on_screen"]) for s in samples], dtype=torch.bool)
    for key in OPTIONAL_TENSOR_KEYS:
        if all(key in s for s in samples):
            batch[key] = torch.stack([s[key] for s in samples])
    for key in LIST_KEYS:
        batch[key] = [s[key] for s in samples]
    return batch


class Batch(dict):
    """A collated batch (``collate_samples``) that crosses process boundaries cheaply.

    A DataLoader worker hands every tensor to the main process as its own shared-memory segment
    and file descriptor. The ragged per-sample lists (``boxes``, ``classes``: 2 x B tiny tensors)
    made that cost more than reading the whole batch (~40 ms of ~50 ms per batch of 32 on a
    2-core machine), so pickling packs each list into one tensor and unpickling splits it back
    into per-sample views.
    """

    def __reduce__(self):
        plain, packed = {}, {}
        for key, value in self.items():
            if _packable(value):
                packed[key] = (torch.cat(value), [len(t) for t in value])
            else:
                plain[key] = value
        return _unpack_batch, (plain, packed)


def _packable(value) -> bool:
    """A non-empty list of tensors that one ``torch.cat`` along dim 0 can hold."""
    if not (isinstance(value, list) and value and all(isinstance(t, torch.Tensor) and t.ndim for t in value)):
        return False
    first = value[0]
    return all(t.dtype == first.dtype and t.shape[1:] == first.shape[1:] for t in value)


def _unpack_batch(plain: dict, packed: dict) -> Batch:
    batch = Batch(plain)
    for key, (values, lengths) in packed.items():
        batch[key] = list(torch.split(values, lengths))
    return batch


class PreCollated(Sequence):
    """A batch that a dataset's ``__getitems__`` already collated (``CachedDataset`` does).

    ``collate`` hands ``batch`` straight to the training step; any other collate function sees a
    sequence of per-sample dicts (views into the batch), so the fast path is never wrong.
    """

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch["id"])

    def __getitem__(self, k: int) -> dict:
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        sample = {key: value[k] for key, value in self.batch.items()}
        sample["label"], sample["on_screen"] = int(sample["label"]), bool(sample["on_screen"])
        return sample


def collate(items) -> Batch:
    """``collate_samples`` for any dataset, as a ``Batch``; batches a dataset already built pass through.

    The training and evaluation loaders use it for every dataset.
    """
    if isinstance(items, PreCollated):
        return items.batch
    return Batch(collate_samples(items))
