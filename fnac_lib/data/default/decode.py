"""Decoding the default data's source files: recordings to 16 kHz mono, pictures and photos to pixels.

A file is a path, or the bytes of a member of a bundle (GCompris's ``.rcc``, OpenSFX's ``.cat``)
with the name to report. SVG pictures are rasterised by ``resvg`` (the PyPI ``resvg-py`` wheel,
``sources.load_tool``). Every corrupt file raises ``AssetBuildError`` naming it.
"""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image
from scipy.signal import resample_poly

from ...errors import AssetBuildError
from .bank import SAMPLE_RATE

MAX_SECONDS = 4.0  # recordings are capped here after trimming silence
SILENCE_DB = 40.0  # frames this far below the loudest frame count as silence
CUTOUT_MAX_SIDE = 128  # px; 50% of a 224 canvas is 112 px, so nothing is upsampled much
BACKGROUND_HW = (240, 360)  # (H, W) of stored background photos (3:2); a 224 px scene crops 120-240 px of it
SVG_SIDE = CUTOUT_MAX_SIDE  # SVGs are rasterised this wide, then cropped (and shrunk) like any picture


def load_audio(path: Path | bytes, name: str | None = None) -> np.ndarray | None:
    """A recording (a file, or its bytes and ``name``) as 16 kHz mono float64, silence trimmed, at
    most MAX_SECONDS, peak 0.9.

    None for a file of pure digital silence (Tux Paint's nandou.ogg ships that way): callers skip it.
    """
    name = name or str(path)
    try:
        if isinstance(path, bytes):
            wave, rate = sf.read(io.BytesIO(path), always_2d=False)
        elif path.suffix == ".gsm":  # Asterisk's header-less GSM 6.10
            wave, rate = sf.read(path, format="RAW", subtype="GSM610", samplerate=8000, channels=1)
        else:
            wave, rate = sf.read(path, always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AssetBuildError(f"corrupt audio asset {name}: {err}") from err
    return prepare_wave(wave, int(rate), name)


def prepare_wave(wave: np.ndarray, rate: int, name: str) -> np.ndarray | None:
    """Mono, 16 kHz, silence trimmed, at most MAX_SECONDS, peak 0.9 (None if digital silence)."""
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if wave.size == 0 or not np.isfinite(wave).all():
        raise AssetBuildError(f"corrupt audio asset {name}: no samples or non-finite samples")
    if not np.any(wave):
        return None
    g = gcd(int(rate), SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        wave = resample_poly(wave, SAMPLE_RATE // g, int(rate) // g)
    wave = trim_silence(wave)[: int(MAX_SECONDS * SAMPLE_RATE)]
    return wave * (0.9 / np.abs(wave).max())


def trim_silence(wave: np.ndarray, frame: int = 320) -> np.ndarray:
    """Drop leading and trailing 20 ms frames more than SILENCE_DB below the loudest frame."""
    n = max(1, len(wave) // frame)
    rms = np.sqrt(np.mean(wave[: n * frame].reshape(n, -1) ** 2, axis=1) + 1e-20)  # (n,)
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-SILENCE_DB / 20))
    return wave[loud[0] * frame: (loud[-1] + 1) * frame] if n > 1 else wave


def to_pcm16(wave: np.ndarray) -> np.ndarray:
    return np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)


def _open_image(path: Path | bytes, mode: str, name: str | None = None) -> Image.Image:
    """Decode an image asset (a file, or its bytes) into ``mode``, naming it when it is corrupt."""
    try:
        with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as im:
            return im.convert(mode)
    except (OSError, ValueError, SyntaxError) as err:
        raise AssetBuildError(f"corrupt image asset {name or path}: {err}") from err


def rasterise_svg(resvg, svg: Path | bytes, name: str | None = None) -> bytes:
    """PNG bytes of an SVG picture (a file, or its bytes), SVG_SIDE px wide, by the ``resvg_py`` module."""
    name = name or str(svg)
    try:
        text = (svg if isinstance(svg, bytes) else svg.read_bytes()).decode("utf-8")
        return bytes(resvg.svg_to_bytes(svg_string=text, width=SVG_SIDE, skip_system_fonts=True))
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise AssetBuildError(f"corrupt image asset {name}: {err}") from err


def load_cutout(path: Path | bytes, name: str | None = None) -> np.ndarray:
    """An RGBA picture (a file, or its bytes) cropped to its alpha, longer side <= CUTOUT_MAX_SIDE:
    (h, w, 4) uint8."""
    name = name or str(path)
    rgba = _open_image(path, "RGBA", name)
    box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()  # ignore faint halos
    if box is None:
        raise AssetBuildError(f"corrupt image asset {name}: fully transparent")
    rgba = rgba.crop(box)
    scale = CUTOUT_MAX_SIDE / max(rgba.size)
    if scale < 1:
        rgba = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))), Image.LANCZOS)
    pixels = np.asarray(rgba).copy()  # (h, w, 4)
    pixels[pixels[..., 3] == 0, :3] = 0  # invisible colour is noise: zero it so it compresses
    return pixels


def load_photo(path: Path | bytes, name: str | None = None) -> np.ndarray:
    """A background photo (a file, or its bytes) centre-cropped to 3:2 and resized to BACKGROUND_HW:
    (H, W, 3) uint8."""
    rgb = _open_image(path, "RGB", name)
    h, w = BACKGROUND_HW
    side = min(rgb.width / w, rgb.height / h)
    cw, ch = round(w * side), round(h * side)
    left, top = (rgb.width - cw) // 2, (rgb.height - ch) // 2
    return np.asarray(rgb.crop((left, top, left + cw, top + ch)).resize((w, h), Image.LANCZOS))
