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


def _read_rgb(path: Path) -> Image.Image:
    path = utf8_path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            return as_rgb(image, path)  # forces the full decode: truncated files fail here
    except DatasetError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DatasetError(path, f"unreadable image ({error})") from error


SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")  # PIL's modes of 16-bit greyscale (PNG, TIFF)


def as_rgb(image: Image.Image, path: Path) -> Image.Image:
    """An 8-bit RGB frame of any mode, by the range the mode holds.

    PIL's ``convert("RGB")`` clips 16-bit greyscale (0..65535) at 255, so a 16-bit PNG reads as
    almost all white; it is scaled to 8 bits instead (``I``, 32-bit integers, as 16-bit when its
    values fit). Palette images with transparency go through RGBA, and alpha is dropped as for
    RGBA and LA. Float images (``F``) carry no range to scale by and are refused.
    """
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        values = np.asarray(image).astype(np.int64)  # (H, W)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise DatasetError(path, f"{image.mode} image holds values {values.min()}..{values.max()}, outside "
                                     "16 bits; save the frame as an 8- or 16-bit PNG or a JPEG")
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        raise DatasetError(path, "32-bit float image: its range is unknown; save the frame as an 8- or 16-bit PNG "
                                 "or a JPEG")
    if image.mode == "PA" or image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


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
    path = utf8_path(path)
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
    check_finite_audio(data, path)
    wave = torch.from_numpy(data.mean(axis=1))  # (T,) mono
    if native != sample_rate:
        wave = AF.resample(wave, native, sample_rate)
    length = int(round(clip_seconds * sample_rate))
    return tile(wave, length) if short_clips == "tile" else centre_fit(wave, length)


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
