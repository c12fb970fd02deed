"""Training augmentation of whole batches on the device: image crops and flips, spectrogram masks.

Loaders yield uint8 frames and waveforms; ``TrainAugment`` crops, flips and masks the whole batch
with one gather each instead of per-sample PIL work in loader processes. ``normalize_images`` is
the ImageNet standardisation every forward pass applies (``model.AVModel``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .constants import IMAGENET_MEAN, IMAGENET_STD


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


def spec_augment(
    specs: torch.Tensor, freq_mask: int, time_mask: int, generator: torch.Generator | None, style: str, axes: str,
) -> torch.Tensor:
    """One frequency band and one time span masked per clip (SpecAugment), drawn per clip.

    Frequency masks run along the frequency axis (dim 2) and time masks along time (dim 3).
    ``style="published"`` draws as upstream's ``FrequencyMask(10)`` / ``TimeMask(10)``: start
    anywhere, width 0 .. max - 1 (``random.randrange``), the band cut off at the axis end, cells set
    to 0 (upstream fills 0 before its /12, the same 0 after it). ``axes="published"`` keeps
    upstream's defect: the frequency band's start is drawn over the number of time frames and the
    time span's over the number of frequency bins (at 257 x 200 a time span starting past frame 199
    is empty, and no frequency band reaches bin 208); ``axes="own"`` draws each over its own axis.
    ``style="within"`` draws width 0 .. max and a start that keeps the whole band inside its axis,
    and fills the clip's mean (0 after per-clip normalisation).
    """
    batch, _, n_freq, n_time = specs.shape
    start_range = {2: n_time, 3: n_freq} if axes == "published" else {2: n_freq, 3: n_time}
    keep = torch.ones(batch, 1, n_freq, n_time, dtype=torch.bool, device=specs.device)
    for max_width, size, dim in ((freq_mask, n_freq, 2), (time_mask, n_time, 3)):
        if max_width <= 0:
            continue
        draws = torch.rand(batch, 2, generator=generator, device=specs.device)  # (B, 2)
        if style == "published":
            width = (draws[:, 0] * max_width).long()  # (B,) in [0, max_width - 1]
            start = (draws[:, 1] * start_range[dim]).long()  # (B,); the band may run past the end
        else:
            width = (draws[:, 0] * (min(max_width, size) + 1)).long()  # (B,) in [0, max_width]
            start = (draws[:, 1] * (size - width + 1)).long()  # (B,)
        position = torch.arange(size, device=specs.device).view(1, -1)  # (1, size)
        inside = (position >= start.view(-1, 1)) & (position < (start + width).view(-1, 1))  # (B, size)
        shape = (batch, 1, size, 1) if dim == 2 else (batch, 1, 1, size)
        keep &= ~inside.view(shape)
    fill = torch.zeros((), dtype=specs.dtype, device=specs.device) if style == "published" else \
        specs.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(keep, specs, fill)


@dataclass
class TrainAugment:
    """The training-time augmentation of one run, drawn from its own generator (resumable)."""

    crop_size: int  # side of the random crop (the model's input size)
    freq_mask: int  # widest frequency mask in bins (0: off)
    time_mask: int  # widest time mask in frames (0: off)
    generator: torch.Generator  # on the training device; saved in checkpoints
    mask_style: str  # audio.mask_style: "published" or "within" (spec_augment)
    mask_axes: str  # audio.mask_axes: "published" (upstream's swapped start ranges) or "own"

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) frames to random (B, 3, S, S) crops, half of them mirrored."""
        return random_crop_flip(images, self.crop_size, self.generator)

    def spectrograms(self, specs: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, T) spectrograms with one frequency band and one time span masked per clip."""
        return spec_augment(specs, self.freq_mask, self.time_mask, self.generator, self.mask_style, self.mask_axes)
