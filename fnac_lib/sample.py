"""The one sample interface that every dataset in the workbook returns.

A sample is a plain ``dict`` so that the default data, the real benchmarks and the
cached shards all feed the same training and evaluation code:

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
"""

from __future__ import annotations

import torch

TENSOR_KEYS = ("image", "audio", "gt_map")
LIST_KEYS = ("boxes", "classes", "id")
OPTIONAL_TENSOR_KEYS = ("mask",)


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
