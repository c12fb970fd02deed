"""The default data's tables: classes (sounding first), coarse groups, and the train/test splits.

Splits are fixed at build time so that test instances never appear in training:

- a sounding class is *heard* (sounds in training) when it keeps at least ``HEARD_MIN_PICTURES``
  training pictures in ``HEARD_MIN_STYLES`` art styles and ``HEARD_MIN_RECORDINGS`` training
  recordings after its held-out instances are set aside. Its held-out pictures are every picture
  by one artist (``collect.ARTIST``: a new picture is new art, as a new video frame would be),
  chosen in hash order among the artists it can spare; where no artist can be spared, a third of
  its pictures. A third of its recordings are held out too. These make the *heard* test, as
  VGG-SS's heard split;
- the other sounding classes (too few pictures or recordings to be learned) go to test whole:
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
from .collect import ARTIST, STYLES, Collected
from .decode import to_pcm16
from .sources import SOURCES, TEST_VOICES, Fetched

TEST_FRACTION = 1 / 3  # share of instances held out for test where no artist is
HEARD_MIN_PICTURES = 4  # training pictures of a heard class, at least
HEARD_MIN_STYLES = 2  # art styles among them, at least
HEARD_MIN_RECORDINGS = 3  # training recordings of a heard class, at least


def _rank(name: str) -> str:
    """A stable pseudo-random order (unlike ``hash``, the same in every process)."""
    return hashlib.sha1(name.encode()).hexdigest()


def _held_out(names: list[str], fraction: float = TEST_FRACTION, keep: int = 1) -> set[str]:
    """About ``fraction`` of ``names`` in hash order, at least one, leaving at least ``keep``."""
    k = min(max(1, int(round(len(names) * fraction))), len(names) - keep)
    return set(sorted(names, key=_rank)[:k]) if k > 0 else set()


def held_out_pictures(cls: str, pictures: list[tuple[str, str]]) -> set[str] | None:
    """The held-out pictures of a class that can be heard ((name, style) pairs in), or None when
    its pictures cannot leave HEARD_MIN_PICTURES in HEARD_MIN_STYLES styles for training."""

    def trainable(kept: list[tuple[str, str]]) -> bool:
        return len(kept) >= HEARD_MIN_PICTURES and len({style for _, style in kept}) >= HEARD_MIN_STYLES

    artists = sorted({ARTIST[style] for _, style in pictures}, key=lambda a: _rank(f"{cls}/{a}"))
    for artist in artists:
        kept = [(n, s) for n, s in pictures if ARTIST[s] != artist]
        if len(artists) > 1 and trainable(kept):
            return {n for n, s in pictures if ARTIST[s] == artist}
    held = _held_out([n for n, _ in pictures], keep=HEARD_MIN_PICTURES)
    return held if held and trainable([(n, s) for n, s in pictures if n not in held]) else None


def object_tables(c: Collected) -> dict[str, np.ndarray]:
    """Classes (sounding first), coarse groups and train/test splits of cut-outs and recordings."""
    cut_classes = {cut.cls for cut in c.cutouts}
    sounds = [s for s in c.sounds if s.cls in cut_classes]  # a class sounds only if it can be seen
    sound_classes = sorted({s.cls for s in sounds})
    silent_classes = sorted(cut_classes - set(sound_classes))
    names = sound_classes + silent_classes
    index = {n: i for i, n in enumerate(names)}

    folders: dict[str, list[str]] = defaultdict(list)  # class -> Tux Paint folders of its cut-outs
    for cut in c.cutouts:
        if cut.folder:
            folders[cut.cls].append(cut.folder)
    missing = [cls for cls in names if cls not in c.coarse and cls not in COARSE_OVERRIDES and not folders[cls]]
    if missing:
        raise AssetBuildError(f"classes without a coarse group: {missing[:5]}; add them to catalogue.TABLE")
    coarse_of = {cls: c.coarse.get(cls) or COARSE_OVERRIDES.get(cls) or coarse_group(folders[cls][0]) for cls in names}
    coarse_names = sorted(set(coarse_of.values()))

    recs_by: dict[str, list[str]] = defaultdict(list)
    cuts_by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for s in sounds:
        recs_by[s.cls].append(s.name)
    for cut in c.cutouts:
        cuts_by[cut.cls].append((cut.name, cut.style))
    test: set[str] = set()
    for cls in sound_classes:
        pictures = held_out_pictures(cls, cuts_by[cls])
        if pictures is not None and len(recs_by[cls]) >= HEARD_MIN_RECORDINGS:  # heard
            test |= pictures | _held_out(recs_by[cls], keep=HEARD_MIN_RECORDINGS)
        else:  # unheard: every instance goes to test
            test |= set(recs_by[cls]) | {n for n, _ in cuts_by[cls]}
    test |= _held_out([n for cls in silent_classes for n, _ in cuts_by[cls]])

    return {
        "class_names": np.array(names, dtype=str),
        "class_coarse": np.array([coarse_names.index(coarse_of[n]) for n in names], dtype=np.int64),
        "class_sounds": np.array([n in recs_by for n in names], dtype=bool),
        "coarse_names": np.array(coarse_names, dtype=str),
        "style_names": np.array(STYLES, dtype=str),
        "cutout_class": np.array([index[cut.cls] for cut in c.cutouts], dtype=np.int64),
        "cutout_split": np.array([TEST if cut.name in test else TRAIN for cut in c.cutouts], dtype=np.int8),
        "cutout_style": np.array([STYLES.index(cut.style) for cut in c.cutouts], dtype=np.int64),
        "cutout_names": np.array([cut.name for cut in c.cutouts], dtype=str),
        "sound_class": np.array([index[s.cls] for s in sounds], dtype=np.int64),
        "sound_split": np.array([TEST if s.name in test else TRAIN for s in sounds], dtype=np.int8),
        "sound_names": np.array([s.name for s in sounds], dtype=str),
        **_pack_waves("sound", [s.wave for s in sounds]),
    }


def _pack_waves(prefix: str, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
    offsets = np.cumsum([0] + [len(w) for w in waves]).astype(np.int64)  # (n + 1,)
    flat = np.concatenate([to_pcm16(w) for w in waves]) if waves else np.zeros(0, np.int16)
    return {f"{prefix}_audio": flat, f"{prefix}_offsets": offsets}


def pack_cutouts(c: Collected) -> dict[str, np.ndarray]:
    hw = np.array([cut.rgba.shape[:2] for cut in c.cutouts], dtype=np.int64).reshape(-1, 2)  # (N, 2)
    offsets = np.cumsum([0] + [h * w for h, w in hw]).astype(np.int64)  # (N + 1,) in pixels
    pixels = np.concatenate([cut.rgba.reshape(-1, 4) for cut in c.cutouts])  # (P, 4)
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
