"""A tiny stand-in for the registry packages of the default data, in their real file formats.

``make_fake_packages`` lays out unpacked package trees the way the real packages do (PNG and SVG
stamps, Ogg Vorbis sound effects, WAV and raw GSM digits, MNIST JSON, JPEG photos, GCompris's Qt
``.rcc`` bundles, OpenTTD's ``.cat`` catalogue, emoji sets with their JSON indexes, a SoundFont
file), holding every asset ``catalogue.TABLE`` names, small enough that a bank builds in seconds.
The two tool wheels hold stand-in modules with the real ones' interface (``resvg_py`` draws an
ellipse in the SVG's colour, ``tinysoundfont`` plays sine tones). ``fake_fetch`` injects the trees
into the builder, and ``make_fake_archives`` packs them as .deb / .tgz / .whl files for the
download-cache path.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

from fnac_lib.data.default import collect as collect_module
from fnac_lib.data.default.build import build_default_bank
from fnac_lib.data.default.catalogue import BACKGROUND_BUNDLES, TABLE
from fnac_lib.data.default.classes import STAMPS_DIR
from fnac_lib.data.default.sources import (FLUENT, FREEDESKTOP, GCOMPRIS, LMMS, NOTO, OPENMOJI, OPENSFX, RESVG,
                                           SOUNDFONT, SOURCES, TINYSOUNDFONT, TWEMOJI, Fetched, Source)

REAL_BANK = Path(__file__).resolve().parents[1] / "data" / "default" / "bank.npz"  # the real default data, once built

FAKE_VERSION = "1.0-test"

# folder -> (sounding stamps, silent stamps)
STAMPS = {
    "animals/birds": (["duck", "drake", "owl", "nandou"], ["ostrich"]),
    "animals/mammals/bovines": (["cow", "cow_white"], []),
    "animals/mammals": (["pig", "elephant"], ["pig_golden"]),  # a pig picture without a sound of its own
    "hobbies/music/string": (["violin", "cello"], []),
    "household": (["kettle", "toilet"], []),
    "vehicles/emergency": (["firetruck"], []),
    "food/fruit": ([], ["banana", "pear", "orange", "kiwi", "mango", "lemon"]),
    "plants/flowers": ([], ["flower1", "flower2", "rose", "iris"]),
    "town": ([], ["fountain", "tower"]),
    "animals/mammals/apes": (["chimp"], []),  # catalogue.TABLE: a chimp is a monkey
    "seasonal/hanukkah": ([], ["dreydl-nun_mirror"]),  # mirrored copies are left out
    "symbols/alphabets/english": ([], ["a_filled"]),  # letters are not objects
}
SILENT_EFFECT = "animals/birds/nandou.ogg"  # ships as pure digital silence, like the real one
SVG_STAMPS = {"animals/mammals/cats": ["kitten"], "household": ["umbrella"]}  # drawings (catalogue: a kitten is a cat)
SILENT_EMOJI = {"1F34C": "banana", "1F350": "pear", "1F352": "cherries"}  # OpenMoji's food-fruit subgroup
ASTERISK_VOICES = {
    "asterisk-core-sounds-en-wav": "en_US_f_Allison", "asterisk-core-sounds-es-wav": "es_MX_f_Allison",
    "asterisk-core-sounds-fr-wav": "fr_CA_f_June", "asterisk-core-sounds-it-wav": "it_IT_m_Carlo",
    "asterisk-core-sounds-ru-wav": "ru_RU_f_IvrvoiceRU", "asterisk-prompt-it-menardi-wav": "it_IT_f_Menardi",
    "asterisk-prompt-es-co": "es", "asterisk-prompt-fr-armelle": "fr",
}
GSM_VOICES = ("asterisk-prompt-es-co", "asterisk-prompt-fr-armelle")
DIGITS_PER_CLASS = 5


def tone(rate: int, seconds: float, freq: float, pad: float = 0.2) -> np.ndarray:
    """A tone with ``pad`` seconds of silence either side (so trimming has work to do)."""
    t = np.arange(int(rate * seconds)) / rate
    body = 0.5 * np.sin(2 * np.pi * freq * t)
    silence = np.zeros(int(rate * pad))
    return np.concatenate([silence, body, silence])


def write_stamp(path: Path, rng: np.random.Generator) -> None:
    """An RGBA picture: a coloured ellipse on a transparent field, with a transparent margin."""
    w, h = int(rng.integers(30, 60)), int(rng.integers(30, 60))
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    colour = tuple(int(c) for c in rng.integers(40, 255, 3)) + (255,)
    ImageDraw.Draw(image).ellipse((4, 3, w - 6, h - 5), fill=colour)
    image.save(path)


def make_tuxpaint(root: Path, rng: np.random.Generator) -> None:
    stamps = root / STAMPS_DIR
    for folder, (sounding, silent) in STAMPS.items():
        (stamps / folder).mkdir(parents=True, exist_ok=True)
        for name in sounding + silent:
            write_stamp(stamps / folder / f"{name}.png", rng)
            (stamps / folder / f"{name}.txt").write_text(f"A {name}.\n")
        for name in sounding:
            rate = int(rng.choice([8000, 22050, 44100]))
            wave = tone(rate, float(rng.uniform(0.3, 0.8)), float(rng.uniform(200, 2000)))
            sf.write(stamps / folder / f"{name}.ogg", wave, rate, format="OGG", subtype="VORBIS")
        # spoken names are not sound effects
        if sounding:
            sf.write(stamps / folder / f"{sounding[0]}_desc_fr.ogg", tone(22050, 0.3, 300), 22050, format="OGG")
    sf.write(stamps / SILENT_EFFECT, np.zeros(8000), 22050, format="OGG", subtype="VORBIS")
    for folder, names in SVG_STAMPS.items():
        (stamps / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (stamps / folder / f"{name}.svg").write_text(svg(rng))
    math = stamps / "symbols" / "math"
    math.mkdir(parents=True)
    write_stamp(math / "0.png", rng)
    for digit in range(10):
        for shift, suffix in enumerate(("", "_de")):  # each voice sounds different
            sf.write(math / f"{digit}{suffix}.ogg", tone(22050, 0.3, 200 + 40 * digit + 7 * shift), 22050, format="OGG")
    sf.write(math / "3_desc_fr.ogg", tone(22050, 0.3, 300), 22050, format="OGG")


def make_asterisk(root: Path, package: str, voice: str) -> None:
    digits = root / "usr/share/asterisk/sounds" / voice / "digits"
    digits.mkdir(parents=True)
    pitch = 11 * list(ASTERISK_VOICES).index(package)  # each voice sounds different
    for digit in range(10):
        wave = tone(8000, 0.3, 300 + 50 * digit + pitch, pad=0.05)
        if package in GSM_VOICES:
            sf.write(digits / f"{digit}.gsm", wave, 8000, format="RAW", subtype="GSM610")
        else:
            sf.write(digits / f"{digit}.wav", wave, 8000, subtype="PCM_16")


def make_mnist(root: Path, rng: np.random.Generator) -> None:
    folder = root / "package" / "src" / "digits"
    folder.mkdir(parents=True)
    for digit in range(10):
        images = np.zeros((DIGITS_PER_CLASS, 28, 28))
        for i in range(DIGITS_PER_CLASS):
            y, x = int(rng.integers(4, 10)), int(rng.integers(6, 12))
            images[i, y:y + 14, x:x + 4 + digit % 6] = np.round(rng.uniform(0.5, 1.0), 3)
        (folder / f"{digit}.json").write_text(json.dumps({"data": images.ravel().round(3).tolist()}))
    (root / "package" / "package.json").write_text(json.dumps({"name": "mnist", "version": "1.1.0"}))


def make_sklearn(root: Path, rng: np.random.Generator) -> None:
    folder = root / "sklearn" / "datasets" / "images"
    folder.mkdir(parents=True)
    for name in ("china.jpg", "flower.jpg"):
        pixels = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=90)


def svg(rng: np.random.Generator) -> str:
    """A small SVG drawing: one coloured ellipse (the fake resvg_py draws it)."""
    colour = "#%02x%02x%02x" % tuple(int(c) for c in rng.integers(40, 255, 3))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30" viewBox="0 0 40 30">'
            f'<ellipse cx="20" cy="15" rx="18" ry="12" fill="{colour}"/></svg>')


def png_bytes(rng: np.random.Generator) -> bytes:
    path = io.BytesIO()
    image = Image.new("RGBA", (24, 24), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((2, 3, 21, 20), fill=tuple(int(c) for c in rng.integers(40, 255, 3)) + (255,))
    image.save(path, format="PNG")
    return path.getvalue()


def ogg_bytes(rng: np.random.Generator, fmt: str = "OGG") -> bytes:
    path = io.BytesIO()
    wave = tone(22050, float(rng.uniform(0.3, 0.6)), float(rng.uniform(200, 2000)))
    sf.write(path, wave, 22050, format=fmt, subtype="VORBIS" if fmt == "OGG" else "PCM_16")
    return path.getvalue()


def write_rcc(path: Path, files: dict[str, bytes]) -> None:
    """A version-1 Qt resource bundle of ``files`` ({"folder/name": bytes}, zlib-compressed), the
    layout ``rcc.read_rcc`` reads: a node array in which each folder's children are consecutive."""
    folders: dict[str, list[str]] = {"": []}
    for name in sorted(files):
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            child, parent = "/".join(parts[:depth]), "/".join(parts[:depth - 1])
            if depth < len(parts):
                folders.setdefault(child, [])
            if child not in folders[parent]:
                folders[parent].append(child)
    order, first = [""], {}
    for folder in order:  # breadth first; the list grows as it is walked
        if folder in folders:
            first[folder] = len(order)
            order.extend(folders[folder])
    names, data, nodes = bytearray(), bytearray(), []
    for item in order:
        leaf = item.rsplit("/", 1)[-1]
        at = len(names)
        names.extend(struct.pack(">HI", len(leaf), 0) + leaf.encode("utf-16-be"))
        if item in folders:
            nodes.append(struct.pack(">IHII", at, 2, len(folders[item]), first[item]))
        else:
            stored = struct.pack(">I", len(files[item])) + zlib.compress(files[item])
            nodes.append(struct.pack(">IHHHI", at, 1, 0, 0, len(data)))
            data.extend(struct.pack(">I", len(stored)) + stored)
    tree = b"".join(nodes)
    path.write_bytes(b"qres" + struct.pack(">IIII", 1, 20, 20 + len(tree), 20 + len(tree) + len(data))
                     + tree + bytes(data) + bytes(names))


def make_gcompris(root: Path, rng: np.random.Generator) -> None:
    """One .rcc bundle per bundle the table names, holding its pictures and recordings, and photos."""
    bundles: dict[str, dict[str, bytes]] = {bundle: {} for bundle in BACKGROUND_BUNDLES}
    for row in TABLE.values():
        for entry in row.gcompris:
            bundle, file = entry.split(":", 1)
            content = svg(rng).encode() if file.endswith(".svg") else ogg_bytes(rng, "OGG" if file.endswith(".ogg")
                                                                                    else "WAV")
            bundles.setdefault(bundle, {})[f"gcompris/src/activities/{bundle}/resource/{file}"] = content
    for name in ("tower.webp", "bridge.webp"):
        photo = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (30, 45, 3), dtype=np.uint8)).save(photo, format="WEBP")
        bundles[BACKGROUND_BUNDLES[0]][f"gcompris/src/activities/{BACKGROUND_BUNDLES[0]}/resource/{name}"] = \
            photo.getvalue()
    folder = root / collect_module.GCOMPRIS_RCC
    folder.mkdir(parents=True)
    for bundle, files in bundles.items():
        write_rcc(folder / f"{bundle}.rcc", files)


def table_sounds(package: str) -> list[str]:
    return [entry.split(":", 1)[1] for row in TABLE.values() for entry in row.sounds if entry.startswith(package + ":")]


def make_opensfx(root: Path, rng: np.random.Generator) -> None:
    """OpenTTD's catalogue: (offset, size) pairs, then per sound a length-prefixed description and a WAV."""
    entries = [(f'"{title}". By a tester. License: CC0.'.encode("latin-1") + b"\0", ogg_bytes(rng, "WAV"))
               for title in table_sounds(OPENSFX)]
    table_size = 8 * len(entries)
    offsets, body = [], bytearray()
    for text, wav in entries:
        offsets.append((table_size + len(body), 1 + len(text) + len(wav)))
        body.extend(bytes([len(text)]) + text + wav)
    path = root / collect_module.OPENSFX_CAT
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(struct.pack("<II", o | 0x80000000, n) for o, n in offsets) + bytes(body))


def make_samples(root: Path, package: str, rng: np.random.Generator) -> None:
    for item in table_sounds(package):
        path = root / collect_module.SAMPLE_DIRS[package] / item
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ogg_bytes(rng))


def table_emoji() -> list[str]:
    return [name for row in TABLE.values() for name in row.emoji]


def kebab(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def make_emoji(trees: dict[str, Path], rng: np.random.Generator) -> None:
    """The four emoji packages: OpenMoji's index and SVGs, the datasource's index and PNGs, Fluent's SVGs."""
    names = {f"E{k:04X}": name for k, name in enumerate(table_emoji())} | SILENT_EMOJI
    openmoji = [{"hexcode": code, "annotation": name, "skintone": "", "group": "objects" if code.startswith("E")
                 else "food-drink", "subgroups": "tool" if code.startswith("E") else "food-fruit"}
                for code, name in names.items()]
    om = trees[OPENMOJI] / "package"
    (om / "data").mkdir(parents=True)
    (om / "data" / "openmoji.json").write_text(json.dumps(openmoji))
    (om / "color" / "svg").mkdir(parents=True)
    for code in names:
        (om / "color" / "svg" / f"{code}.svg").write_text(svg(rng))
    datasource = [{"unified": code, "image": f"{code.lower()}.png", "name": name.upper()} for code, name in names.items()]
    for package, folder in ((NOTO, "google"), (TWEMOJI, "twitter")):
        images = trees[package] / "package" / "img" / folder / "64"
        images.mkdir(parents=True)
        for code in names:
            (images / f"{code.lower()}.png").write_bytes(png_bytes(rng))
    (trees[NOTO] / "package" / "emoji.json").write_text(json.dumps(datasource))
    for style in ("modern", "flat"):
        icons = trees[FLUENT] / "package" / "icons" / style
        icons.mkdir(parents=True)
        for name in names.values():
            (icons / f"{kebab(name)}.svg").write_text(svg(rng))
    for source in SOURCES:
        if source.name in (NOTO, TWEMOJI, OPENMOJI, FLUENT):
            (trees[source.name] / "package" / "package.json").write_text(
                json.dumps({"name": source.name, "version": source.version}))


FAKE_RESVG = '''"""Stand-in for resvg_py: draws the SVG's first ellipse in its fill colour (the real API)."""
import io, re
from PIL import Image, ImageDraw


def svg_to_bytes(svg_string=None, width=None, skip_system_fonts=False, **options):
    size = re.search(r'width="(\\d+)" height="(\\d+)"', svg_string)
    fill = re.search(r'fill="#([0-9a-f]{6})"', svg_string)
    if size is None or fill is None:
        raise ValueError("SVG has an invalid size")
    w, h = int(size.group(1)), int(size.group(2))
    scale = (width or w) / w
    image = Image.new("RGBA", (round(w * scale), round(h * scale)), (0, 0, 0, 0))
    colour = tuple(int(fill.group(1)[i:i + 2], 16) for i in (0, 2, 4)) + (255,)
    ImageDraw.Draw(image).ellipse((2 * scale, 3 * scale, (w - 2) * scale, (h - 3) * scale), fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
'''

FAKE_TINYSOUNDFONT = '''"""Stand-in for tinysoundfont: sine tones at each held note's pitch (the real API)."""
import os
import numpy as np


class SoundFontException(Exception):
    pass


class Synth:
    def __init__(self, gain=0, samplerate=44100):
        self.rate, self.notes, self.program, self.t = samplerate, {}, 0, 0

    def sfload(self, filename, gain=0.0, max_voices=256):
        if not os.path.exists(filename) or open(filename, "rb").read(4) != b"RIFF":
            raise SoundFontException(f"cannot load {filename}")
        return 1

    def program_select(self, chan, sfid, bank, preset, is_drums=False):
        self.program = preset + bank

    def noteon(self, chan, key, velocity):
        self.notes[key] = velocity / 127
        return True

    def noteoff(self, chan, key):
        self.notes.pop(key, None)

    def notes_off(self, chan=None):
        self.notes.clear()

    def generate(self, samples, buffer=None):
        t = (self.t + np.arange(samples)) / self.rate
        self.t += samples
        mono = sum(v * np.sin(2 * np.pi * 440 * 2 ** ((k - 69 + self.program / 10) / 12) * t) for k, v in
                   self.notes.items()) if self.notes else 1e-4 * np.sin(2 * np.pi * 50 * t)
        return memoryview(np.repeat(0.3 * np.asarray(mono, dtype=np.float32), 2).astype(np.float32).tobytes()).cast("f")
'''


def make_tools(trees: dict[str, Path]) -> None:
    for source_name, module, code in ((RESVG, "resvg_py", FAKE_RESVG), (TINYSOUNDFONT, "tinysoundfont",
                                                                          FAKE_TINYSOUNDFONT)):
        (trees[source_name] / module).mkdir()
        (trees[source_name] / module / "__init__.py").write_text(code)


def make_soundfont(root: Path) -> None:
    path = root / collect_module.SOUNDFONT_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RIFF\0\0\0\0sfbk")  # the fake synthesiser checks only the RIFF header


def make_fake_packages(root: Path, seed: int = 0) -> dict[str, Path]:
    """Unpacked trees for every source of ``sources.SOURCES``, keyed by package name."""
    rng = np.random.default_rng(seed)
    trees = {}
    for source in SOURCES:
        tree = root / source.name
        tree.mkdir(parents=True)
        trees[source.name] = tree
        if source.name == "tuxpaint-stamps-default":
            make_tuxpaint(tree, rng)
        elif source.name in ASTERISK_VOICES:
            make_asterisk(tree, source.name, ASTERISK_VOICES[source.name])
        elif source.name == "mnist":
            make_mnist(tree, rng)
        elif source.name == "scikit-learn":
            make_sklearn(tree, rng)
        elif source.name == GCOMPRIS:
            make_gcompris(tree, rng)
        elif source.name == OPENSFX:
            make_opensfx(tree, rng)
        elif source.name in (FREEDESKTOP, LMMS):
            make_samples(tree, source.name, rng)
        elif source.name == SOUNDFONT:
            make_soundfont(tree)
    make_emoji(trees, rng)
    make_tools(trees)
    return trees


def fake_fetch(trees: dict[str, Path]):
    """A ``fetch`` step for ``build_default_bank`` that hands out the fake trees (no network)."""

    def fetch(source: Source, cache_dir: Path, work_dir: Path) -> Fetched:
        return Fetched(root=trees[source.name], version=FAKE_VERSION, archive=f"{source.name}.fake")

    return fetch


def build_fixture_bank(root: Path) -> Path:
    """Fake packages under ``root/packages``, bank under ``root/data``; returns the bank file."""
    trees = make_fake_packages(root / "packages")
    return build_default_bank(root / "data", root / "cache", progress=False, fetch=fake_fetch(trees))


def make_fake_archives(trees: dict[str, Path], cache: Path) -> None:
    """Pack the fake trees the way the registries ship them: .deb, npm .tgz, wheel .whl."""
    cache.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        tree = trees[source.name]
        if source.registry == "debian":
            staging = cache.parent / f"deb-{source.name}"
            shutil.copytree(tree, staging)
            (staging / "DEBIAN").mkdir()
            (staging / "DEBIAN" / "control").write_text(
                f"Package: {source.name}\nVersion: {FAKE_VERSION}\nArchitecture: all\n"
                "Maintainer: test <test@example.org>\nDescription: fixture\n")
            subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--build", str(staging),
                            str(cache / f"{source.name}_{FAKE_VERSION}_all.deb")], check=True, capture_output=True)
            shutil.rmtree(staging)
        elif source.registry == "npm":
            with tarfile.open(cache / f"{source.name}-{source.version or '1.1.0'}.tgz", "w:gz") as tar:
                tar.add(tree / "package", arcname="package")
        else:
            wheel_name = source.name.replace("-", "_")
            version = source.version or "1.0.test"
            with zipfile.ZipFile(cache / f"{wheel_name}-{version}-py3-none-any.whl", "w") as zf:
                for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                    zf.write(path, path.relative_to(tree).as_posix())
                zf.writestr(f"{wheel_name}-{version}.dist-info/METADATA", f"Name: {source.name}\nVersion: {version}\n")


def corrupt(path: Path) -> None:
    """Overwrite a file with bytes no decoder accepts."""
    path.write_bytes(b"not a real asset\x00" * 8)
