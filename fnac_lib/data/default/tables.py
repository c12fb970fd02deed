"""The default data's tables: classes (sounding first), coarse groups, and the train/test splits.

Splits are fixed at build time so that test instances never appear in training:

- a sounding class with >= 2 cut-outs keeps a third of them (at least one) for test, and a third
  of its recordings where it has >= 2: the *heard* test, held-out pictures (and recordings) of
  classes heard in training, as VGG-SS's heard split;
- a third of the sounding classes with a single cut-out (no picture to hold out) go to test whole:
  the *unheard* test, classes never heard in training, as VGG-SS's unheard split;
- a third of the silent distractor cut-outs go to test; MNIST images with index % 5 == 4 and the
  voices in ``sources.TEST_VOICES`` (speakers whose language keeps another voice in training) are test.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import numpy as np

from ...errors import AssetBuildError
from .bank import BANK_VERSION, SAMPLE_RATE, TEST, TRAIN
from .classes import COARSE_OVERRIDES, coarse_group
from .collect import Collected
from .decode import to_pcm16
from .sources import SOURCES, TEST_VOICES, Fetched

TEST_FRACTION = 1 / 3  # share of instances (or whole single-instance classes) held out for test


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
        if len(cuts_by[cls]) >= 2:  # heard: held-out pictures, and recordings where there are two or more
            test |= _held_out(cuts_by[cls]) | _held_out(recs_by[cls])
        else:
            single.append(cls)
    for cls in _held_out(single):  # unheard: every instance goes to test
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
