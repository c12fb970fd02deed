"""Image batches on the device: random crop + horizontal flip, and ImageNet normalisation.

Loaders yield uint8 frames; the training step crops, flips and normalises the whole batch with
one gather on the device instead of per-sample PIL work in loader processes.
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) in [0, 255] to float, standardised with the ImageNet mean and std."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def random_crop_flip(
    images: torch.Tensor, size: int, generator: torch.Generator | None = None, flip: bool = True
) -> torch.Tensor:
    """A random ``size`` x ``size`` crop of each image, mirrored with probability 1/2.

    Offsets and flips differ per sample; one gather does the whole batch.
    """
    batch, _, height, width = images.shape
    if height < size or width < size:
        raise ValueError(f"cannot crop {size}x{size} from images of {height}x{width}")
    draws = torch.rand(batch, 3, generator=generator, device=images.device)  # (B, 3)
    top = (draws[:, 0] * (height - size + 1)).long()  # (B,)
    left = (draws[:, 1] * (width - size + 1)).long()  # (B,)
    steps = torch.arange(size, device=images.device)  # (S,)
    rows = top.view(-1, 1) + steps  # (B, S)
    cols = left.view(-1, 1) + steps  # (B, S)
    if flip:
        mirrored = draws[:, 2] < 0.5  # (B,)
        cols = torch.where(mirrored.view(-1, 1), left.view(-1, 1) + size - 1 - steps, cols)
    index = torch.arange(batch, device=images.device).view(-1, 1, 1)  # (B, 1, 1)
    crops = images.permute(0, 2, 3, 1)[index, rows.unsqueeze(2), cols.unsqueeze(1)]  # (B, S, S, 3)
    return crops.permute(0, 3, 1, 2)  # (B, 3, S, S)
