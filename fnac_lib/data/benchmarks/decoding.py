"""Decoding one benchmark file into one tensor: frames, masks, waveforms. Errors name the file.

Images come resized to the model's side (test) or to ``round(side * 246 / 224)`` (train: the
device random-crops the side, as the published resize-246 / crop-224 recipe); audio is a mono
float32 waveform at the run's sample rate, the centred clip of the file.
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


def utf8_path(path) -> Path:
    """``path``, refused with ``DatasetError`` when its name is not UTF-8: soundfile cannot open
    such a name and no report or terminal could print it, so it is named (``\\xNN``) instead."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(path, "file name is not valid UTF-8; rename the file (e.g. convmv -f latin1 -t "
                                 "utf-8 --notest)") from None
    return Path(path)


def train_frame_size(image_size: int) -> int:
    """Side of the training frame, from which the device random-crops ``image_size``."""
    return int(round(image_size * TRAIN_RESIZE))


def load_image(path: Path, size: int) -> torch.Tensor:
    """RGB image resized (bicubic, as upstream) to ``size`` square. Returns uint8 (3, size, size)."""
    path = utf8_path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # forces the full decode: truncated files fail here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DatasetError(path, f"unreadable image ({error})") from error
    image = image.resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()  # (3, size, size)


def load_mask(path: Path, size: int) -> torch.Tensor:
    """Binary segmentation mask resized (nearest) to ``size`` square. Returns float32 (size, size).

    Pixels >= 128 are foreground, the threshold of PIL's ``convert('1')`` that AVSBench uses. A
    mask whose brightest pixel lies in 1..127 (a 0/1 label image) would be silently empty, so it
    is refused.
    """
    path = utf8_path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            image = image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DatasetError(path, f"unreadable mask image ({error})") from error
    brightest = image.getextrema()[1]
    if 0 < brightest < 128:
        raise DatasetError(path, f"mask values reach only {brightest}: foreground is >= 128 (AVSBench masks are "
                                 "0 / 255), so this mask would be empty; save it with 255 for the object")
    image = image.resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(image) >= 128).float()


def centre_fit(wave: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop or centre-zero-pad a (T,) waveform to ``length`` samples."""
    excess = wave.shape[0] - length
    if excess >= 0:
        return wave[excess // 2: excess // 2 + length]
    left = -excess // 2
    return torch.nn.functional.pad(wave, (left, -excess - left))


def load_audio(
    path: Path, sample_rate: int, clip_seconds: float, start: float | None = None, seconds: float | None = None
) -> torch.Tensor:
    """Mono float32 waveform at ``sample_rate``, exactly ``clip_seconds`` long.

    ``start=None`` reads the centred ``clip_seconds`` of the file (EZ-VSL/FNAC's 3-s centred crop).
    With ``start`` (and ``seconds``) the segment [start, start + seconds) is read instead. Either
    way a shorter read is zero-padded around its centre; upstream tiles short clips, but a
    repeated sound is a different signal, so we pad.
    """
    path = utf8_path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        info = sf.info(str(path))
        native = int(info.samplerate)
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
    check_finite_audio(data, path)
    wave = torch.from_numpy(data.mean(axis=1))  # (T,) mono
    if native != sample_rate:
        wave = AF.resample(wave, native, sample_rate)
    return centre_fit(wave, int(round(clip_seconds * sample_rate)))


def check_finite_audio(samples: np.ndarray, path: Path) -> None:
    """Refuse audio holding NaN or infinite samples (a float wav can): it would be scored as if
    fine, or poison training steps later without naming the file."""
    bad = int(np.size(samples) - np.isfinite(samples).sum())
    if bad:
        raise DatasetError(path, f"audio holds {bad} NaN or infinite samples; repair or drop the file")


def check_mask_fits(mask: Path, frame: Path) -> None:
    """A mask must have its frame's pixel size: stretching a mask of another size to fit would move
    the object it marks without a word. Reads only the two headers."""
    try:
        with Image.open(mask) as mask_image, Image.open(frame) as frame_image:
            mask_size, frame_size = mask_image.size, frame_image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(mask, f"unreadable mask or frame ({error})") from error
    if mask_size != frame_size:
        raise DatasetError(mask, f"mask is {mask_size[0]}x{mask_size[1]} px but its frame {Path(frame).name} is "
                                 f"{frame_size[0]}x{frame_size[1]}; a mask must have its frame's size")
