"""Decoding one benchmark file into one tensor: frames, masks, waveforms. Errors name the file.

Images come resized to the model's side (test: the published ``Resize((224, 224))``, bicubic)
or, for training, to ``round(side * 246 / 224)``: squashed square (the device random-crops the
side) or, as published, with the short side at that length and the aspect kept, then cropped here
(``load_train_crop``: torchvision's ``Resize(246)`` + ``RandomCrop(224)``). Audio is a mono
float32 waveform at the run's sample rate (or the file's own), the centred clip of the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from PIL import Image, UnidentifiedImageError

from ...errors import DatasetError

TRAIN_RESIZE = 246 / 224  # published recipe: resize to 246, random-crop 224 (kept as a ratio of image_size)


def train_frame_size(image_size: int) -> int:
    """Side of the training frame, from which the device random-crops ``image_size``."""
    return int(round(image_size * TRAIN_RESIZE))


def _read_rgb(path: Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # forces the full decode: truncated files fail here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(path, f"unreadable image ({error})") from error


def _as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()  # (3, H, W) uint8


def load_image(path: Path, size: int) -> torch.Tensor:
    """RGB image resized (bicubic, as upstream) to ``size`` square. Returns uint8 (3, size, size)."""
    return _as_tensor(_read_rgb(path).resize((size, size), Image.BICUBIC))


def short_side_size(width: int, height: int, short: int) -> tuple[int, int]:
    """(width, height) after torchvision's ``Resize(short)``: the short side to ``short``, the long
    side to int(short * long / short_side), aspect kept."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def load_train_crop(path: Path, short: int, crop: int, rng: np.random.Generator) -> torch.Tensor:
    """The published training frame: bicubic ``Resize(short)`` (aspect kept), then a ``crop`` x ``crop``
    window at a uniformly drawn position (``RandomCrop``). Returns uint8 (3, crop, crop)."""
    image = _read_rgb(path)
    width, height = short_side_size(*image.size, short)
    if (width, height) != image.size:
        image = image.resize((width, height), Image.BICUBIC)
    top, left = crop_offsets(height, width, crop, rng)
    return _as_tensor(image.crop((left, top, left + crop, top + crop)))


def crop_offsets(height: int, width: int, crop: int, rng: np.random.Generator) -> tuple[int, int]:
    """(top, left) of a ``crop`` window drawn uniformly over every position, as ``RandomCrop``."""
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def load_mask(path: Path, size: int) -> torch.Tensor:
    """Binary segmentation mask resized (nearest) to ``size`` square. Returns float32 (size, size).

    Pixels >= 128 are foreground, the threshold of PIL's ``convert('1')`` that AVSBench uses.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            image = image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(path, f"unreadable mask image ({error})") from error
    image = image.resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(image) >= 128).float()


def centre_fit(wave: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop or centre-zero-pad a (T,) waveform to ``length`` samples."""
    excess = wave.shape[0] - length
    if excess >= 0:
        return wave[excess // 2: excess // 2 + length]
    left = -excess // 2
    return torch.nn.functional.pad(wave, (left, -excess - left))


def tile(wave: torch.Tensor, length: int) -> torch.Tensor:
    """A (T,) waveform repeated and cut to ``length`` samples (upstream's ``np.tile`` of a short clip)."""
    return wave.repeat(length // wave.shape[0] + 1)[:length] if wave.shape[0] < length else wave[:length]


def load_audio(
    path: Path, sample_rate: int, clip_seconds: float, start: float | None = None, seconds: float | None = None,
    short_clips: str = "pad", resample: bool = True,
) -> torch.Tensor:
    """Mono float32 waveform at ``sample_rate``, exactly ``clip_seconds`` long.

    ``start=None`` reads the centred ``clip_seconds`` of the file (EZ-VSL/FNAC's 3-s centred crop).
    With ``start`` (and ``seconds``) the segment [start, start + seconds) is read instead. A shorter
    read is tiled (``short_clips="tile"``, as upstream) or zero-padded around its centre (``"pad"``:
    a repeated sound is a different signal). ``resample=False`` refuses a file at another rate
    instead of resampling it (``audio.sample_rate="native"``).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        info = sf.info(str(path))
        native = int(info.samplerate)
        if not resample and native != sample_rate:
            raise DatasetError(path, f"audio at {native} Hz, but this dataset's clips are at {sample_rate} Hz: "
                               "audio.sample_rate='native' takes one rate per dataset; resample the files "
                               "or set audio.sample_rate to a number of Hz")
        total = int(info.frames)
        if total <= 0:
            raise DatasetError(path, "audio file holds no samples")
        want = int(round((seconds if seconds is not None else clip_seconds) * native))
        first = max(0, (total - want) // 2) if start is None else int(round(start * native))
        if first >= total:
            raise DatasetError(path, f"segment at {start:.2f} s starts after the audio ends ({total / native:.2f} s)")
        data, _ = sf.read(str(path), start=first, stop=min(total, first + want), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise DatasetError(path, f"unreadable audio ({error})") from error
    wave = torch.from_numpy(data.mean(axis=1))  # (T,) mono
    if native != sample_rate:
        wave = AF.resample(wave, native, sample_rate)
    length = int(round(clip_seconds * sample_rate))
    return tile(wave, length) if short_clips == "tile" else centre_fit(wave, length)
