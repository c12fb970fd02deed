"""Scenes of the default data: pictures composed from real cut-outs, paired with real recordings.

A scene is described by a small frozen ``SceneSpec`` (which bank assets, where, flipped or not,
which recording and where the clip window sits), drawn from a generator seeded by
``(seed, split, epoch, index)``; ``render_scene`` turns a spec into pixels and a waveform at any
image size and clip length. Val and test sets are therefore fixed lists of specs that regenerate
bit-exactly and need not be stored, and a training scene depends only on its epoch and index,
never on which DataLoader worker draws it.

- **objects** (Flickr-SoundNet-like): a washed-out crop of a real photo (or a pastel gradient),
  2-3 Tux Paint cut-outs of distinct fine classes, flipped and colour-jittered, pairwise overlap
  bounded. One of them sounds; the audio is a crop of a real recording of its class. Sounding
  objects and silent distractors draw their size from one range and are placed in a random order
  (``layout``), so only the sound tells which object it is: marking the largest or most salient
  object scores like chance (notebook 04's references).
- **objects-few** (the many-false-negative set): the same scenes, but the sound is always one of
  a few heard classes with many pictures and recordings each (``catalogue.FEW_CLASSES``, 8), so
  about 1/8 of a batch's negatives share the anchor's class and are different instances of it.
- **digits**: 2-3 distinct MNIST digits in random colours on a dark gradient; one is spoken by a
  real voice (voices held out for test, see ``sources.TEST_VOICES``).

Variants: ``single``; ``multi`` (two sounding objects, recordings mixed, both boxes); ``open_set``
(even indices as ``single``, odd ones *off-screen*: the sound's fine class, and its coarse group,
are absent from the picture); ``mask`` (``single`` scenes, scored with pixel masks); ``listening``
(scenes ``2k`` and ``2k + 1`` share one picture holding two objects that can both sound, each
rendering plays one of them: a map that ignores the audio points at the same object twice).

Ground truth comes from the pasted alpha after occlusion: a tight box and a pixel mask per visible
sounding object. Splits: ``train`` and ``val`` draw only training assets (val differs from train by
its seed stream; it is for model selection, never the test set); the test splits draw held-out
pictures: ``heard`` (classes heard in training: held-out recordings where the class has them, else
its training recording, as VGG-SS's heard split), ``unheard`` (classes never heard in training) and
``test`` (both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ...config import DEFAULT_DATA
from .bank import TEST, TRAIN
from .catalogue import FEW_CLASSES
from .layout import place_boxes

KINDS = DEFAULT_DATA  # config.DataConfig.dataset's default-data values
OBJECT_KINDS = ("objects", "objects-few")  # scenes of cut-outs and recordings (the others: digits)
SPLITS = ("train", "val", "test", "heard", "unheard", "pictures")
# Held-out pictures; heard / unheard split the test classes. "pictures" is "heard" with each class heard by
# its training recordings: the same pictures and layouts (the same stream), only the recordings differ.
TEST_SPLITS = ("test", "heard", "unheard", "pictures")
VARIANTS = ("single", "multi", "open_set", "mask", "listening")
_STREAM = {"train": 0, "val": 1, "test": 2, "heard": 3, "unheard": 4, "pictures": 3}  # generator streams per split
_LISTENING = 5  # the listening test's own key (the number of streams when it was written: its scenes stay put)
_REPLAY = 6  # the key of the training recordings the "pictures" split plays (replay_training_sounds)


@dataclass(frozen=True)
class SceneConfig:
    min_objects: int = 2  # objects in a picture, sounding ones included
    max_objects: int = 3
    # One size range for every object, sounding or silent. The protocol predicts the top half of the
    # map, so a box under a quarter of the image caps cIoU below 0.5 (metrics.median_rule_ceiling):
    # box areas of 0.2-0.4 keep most sounding boxes near or above that share while 2-3 objects still fit.
    min_area: float = 0.20  # box area of an object, as a fraction of the canvas
    max_area: float = 0.40
    max_overlap: float = 0.25  # largest intersection of two objects' boxes, as a fraction of the smaller
    photo_prob: float = 0.7  # objects: a photo crop behind the cut-outs, else a pastel gradient
    wash: tuple[float, float] = (0.35, 0.6)  # how far a photo is blended towards a flat colour
    tint: float = 0.15  # +- per-channel gain on each cut-out (colour and brightness jitter)
    gain_range: tuple[float, float] = (0.5, 1.0)  # linear gain of the (first) sound
    multi_db: float = 6.0  # multi-source: the second sound sits 0..multi_db dB below the first
    placement_tries: int = 64  # attempts per object, shrinking towards min_area, before a distractor is dropped


@dataclass(frozen=True)
class Placed:
    asset: int  # cut-out index (objects) or MNIST image index (digits) in the bank
    cls: int  # fine class id
    box: tuple[float, float, float, float]  # pasted rectangle x1, y1, x2, y2 in [0, 1] canvas units
    flip: bool  # mirrored left-right
    tint: tuple[float, float, float]  # objects: per-channel gain; digits: ink colour in [0, 1]
    sounding: bool


@dataclass(frozen=True)
class Heard:
    asset: int  # recording index: sound effect (objects) or spoken digit (digits)
    cls: int  # fine class id of the recording
    shift: float  # in [0, 1]: where the clip window sits on a longer recording (or it in a longer clip)
    gain: float  # linear gain before mixing


@dataclass(frozen=True)
class Backdrop:
    photo: int  # background photo index, -1 for a gradient
    crop: tuple[float, float, float]  # photo crop: x0, y0 as fractions of the free range, side / photo height
    flip: bool
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]  # gradient ends; [0] is the wash colour
    angle: float  # gradient direction, radians
    wash: float  # weight of colours[0] blended into a photo


@dataclass(frozen=True)
class SceneSpec:
    id: str
    kind: str  # one of KINDS
    backdrop: Backdrop
    objects: tuple[Placed, ...]  # paint order: later objects on top
    sounds: tuple[Heard, ...]  # first one is the primary source (its class is the label)
    on_screen: bool  # False: the sounds' classes are absent from the picture


@dataclass(frozen=True)
class Pools:
    """The bank assets one split may use, grouped by fine class."""

    kind: str
    images_by_class: dict[int, np.ndarray]  # class -> image asset indices (cut-outs or MNIST)
    sounds_by_class: dict[int, np.ndarray]  # class -> recording indices
    sounding: np.ndarray  # (S,) classes with both images and recordings in this split
    images: np.ndarray  # (I,) every image asset of this split
    image_class: np.ndarray  # (all images,) fine class of each image asset in the bank
    image_aspect: np.ndarray  # (all images,) width / height of each image asset
    coarse: np.ndarray  # (C,) coarse group of each fine class
    photos: int = 0  # number of background photos
    replay: dict[int, np.ndarray] | None = None  # "pictures": class -> the training recordings heard instead


def make_pools(bank: dict[str, np.ndarray], kind: str, split: str) -> Pools:
    """Group the assets of ``split`` by class: the training assets (train, val), or the held-out
    pictures (``TEST_SPLITS``) with the recordings each class is heard by.

    A test class heard in training that has no held-out recording (one recording in all) plays its
    training recording: held-out pictures of a heard class, as VGG-SS's heard split. The ``pictures``
    split plays every heard class's training recordings: new pictures, known sounds.
    """
    if kind not in KINDS or split not in SPLITS:
        raise ValueError(f"kind must be one of {KINDS} and split one of {SPLITS}, got {kind!r}, {split!r}")
    if kind in OBJECT_KINDS:
        image_class, image_split = bank["cutout_class"], bank["cutout_split"]
        sound_class, sound_split = bank["sound_class"], bank["sound_split"]
        hw = bank["cutout_hw"]
        aspect = hw[:, 1] / hw[:, 0]
        coarse = bank["class_coarse"]
    else:
        image_class, image_split = bank["digit_labels"], bank["digit_split"]
        sound_class, sound_split = bank["voice_digit"], bank["voice_split"]
        b = bank["digit_boxes"]
        aspect = (b[:, 2] - b[:, 0]) / np.maximum(b[:, 3] - b[:, 1], 1)
        coarse = np.arange(10)
    want = TEST if split in TEST_SPLITS else TRAIN
    images, sounds = np.flatnonzero(image_split == want), np.flatnonzero(sound_split == want)
    images_by = _by_class(images, image_class)
    sounds_by = _by_class(sounds, sound_class)
    sounding = set(images_by) & set(sounds_by)
    if split in TEST_SPLITS:
        train_sounds = _by_class(np.flatnonzero(sound_split == TRAIN), sound_class)
        heard = set(_by_class(np.flatnonzero(image_split == TRAIN), image_class)) & set(train_sounds)
        for cls in (heard & set(images_by)) - set(sounds_by):
            sounds_by[cls] = train_sounds[cls]
        sounding = set(images_by) & set(sounds_by)
        if split != "test":
            sounding = {c for c in sounding if (c in heard) == (split != "unheard")}
    if kind == "objects-few":
        few = {int(c) for c in np.flatnonzero(np.isin(bank["class_names"], FEW_CLASSES))}
        if len(few) != len(FEW_CLASSES):
            raise ValueError(f"objects-few: the bank lacks some of {FEW_CLASSES}")
        sounding &= few
    if not sounding:
        raise ValueError(f"{kind}/{split}: no class has both pictures and recordings in this split")
    replay = {c: train_sounds[c] for c in sounding} if split == "pictures" else None
    return Pools(kind, images_by, sounds_by, np.array(sorted(sounding), dtype=np.int64), images, image_class,
                 aspect.astype(np.float64), coarse, photos=len(bank["background_images"]), replay=replay)


def _by_class(assets: np.ndarray, classes: np.ndarray) -> dict[int, np.ndarray]:
    """Asset indices grouped by their class: {class: (n,) indices}."""
    return {int(c): assets[classes[assets] == c] for c in np.unique(classes[assets])}


def scene_rng(seed: int, split: str, epoch: int, index: int) -> np.random.Generator:
    """The generator of one scene: a pure function of its coordinates (worker-independent)."""
    return np.random.default_rng([seed, _STREAM[split], epoch, index])


def scene_spec(pools: Pools, split: str, variant: str, seed: int, index: int, epoch: int = 0,
               config: SceneConfig = SceneConfig()) -> SceneSpec:
    """Spec of scene ``index`` of ``split`` (and ``epoch``, for on-the-fly training scenes)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if variant == "listening":
        spec = listening_spec(pools, split, seed, index, epoch, config)
    else:
        base = "single" if variant == "mask" else variant  # mask scenes are single-source scenes
        on_screen = not (base == "open_set" and index % 2 == 1)
        scene_id = f"{pools.kind}/{base}/{split}/s{seed}/e{epoch}/{index:06d}"
        spec = draw_spec(pools, scene_rng(seed, split, epoch, index), base, on_screen, scene_id, config)
    return spec if pools.replay is None else replay_training_sounds(pools, spec, seed, index)


def replay_training_sounds(pools: Pools, spec: SceneSpec, seed: int, index: int) -> SceneSpec:
    """``spec`` (drawn as the heard test draws it) with each recording swapped for one of its class's
    training recordings, drawn from a stream of its own: new pictures, known sounds."""
    rng = np.random.default_rng([seed, _STREAM["pictures"], index, _REPLAY])
    sounds = tuple(dataclasses.replace(h, asset=int(rng.choice(pools.replay[h.cls]))) for h in spec.sounds)
    return dataclasses.replace(spec, sounds=sounds)


def listening_spec(pools: Pools, split: str, seed: int, index: int, epoch: int = 0,
                   config: SceneConfig = SceneConfig()) -> SceneSpec:
    """Scene ``index`` of the listening test: pair ``index // 2`` is one picture with two objects
    that can both sound; rendering ``index % 2`` plays the first or the second one's recording."""
    pair, which = divmod(index, 2)
    scene_id = f"{pools.kind}/listening/{split}/s{seed}/e{epoch}/{pair:06d}{'ab'[which]}"
    rng = np.random.default_rng([seed, _STREAM[split], epoch, pair, _LISTENING])  # a stream of its own
    both = draw_spec(pools, rng, "multi", True, scene_id, config)
    heard = dataclasses.replace(both.sounds[which], gain=both.sounds[0].gain)  # each plays at the same level
    objects = tuple(dataclasses.replace(o, sounding=o.sounding and o.cls == heard.cls) for o in both.objects)
    return dataclasses.replace(both, objects=objects, sounds=(heard,))


def scene_specs(pools: Pools, split: str, variant: str, seed: int, length: int,
                config: SceneConfig = SceneConfig()) -> list[SceneSpec]:
    """A fixed evaluation list; spec ``i`` does not depend on ``length``."""
    return [scene_spec(pools, split, variant, seed, i, 0, config) for i in range(length)]


def draw_spec(pools: Pools, rng: np.random.Generator, variant: str, on_screen: bool, scene_id: str,
              config: SceneConfig) -> SceneSpec:
    n_sound = 2 if variant == "multi" else 1
    if len(pools.sounding) < n_sound:
        raise ValueError(f"{scene_id}: the split has {len(pools.sounding)} sounding classes, {n_sound} needed")
    sound_classes = [int(c) for c in rng.choice(pools.sounding, size=n_sound, replace=False)]
    low, high = config.gain_range
    gains = [rng.uniform(low, high)] + [10 ** (-rng.uniform(0, config.multi_db) / 20) for _ in sound_classes[1:]]
    sounds = tuple(Heard(int(rng.choice(pools.sounds_by_class[c])), c, float(rng.random()), float(g))
                   for c, g in zip(sound_classes, gains))

    n_objects = max(int(rng.integers(config.min_objects, config.max_objects + 1)), n_sound if on_screen else 1)
    chosen = [(int(rng.choice(pools.images_by_class[c])), c, True) for c in sound_classes] if on_screen else []
    used = set(sound_classes)  # fine classes are distinct; off-screen sounds stay out of the picture
    banned_coarse = set() if on_screen else {int(pools.coarse[c]) for c in sound_classes}
    for _ in range(20 * config.max_objects):
        if len(chosen) >= n_objects:
            break
        asset = int(rng.choice(pools.images))
        cls = int(pools.image_class[asset])
        if cls not in used and int(pools.coarse[cls]) not in banned_coarse:
            used.add(cls)
            chosen.append((asset, cls, False))

    required = len(sound_classes) if on_screen else 0
    boxes = place_boxes(rng, [pools.image_aspect[a] for a, _, _ in chosen], (config.min_area, config.max_area),
                        config.max_overlap, config.placement_tries, required, config.min_objects)
    kept = [(item, box) for item, box in zip(chosen, boxes) if box is not None]
    order = rng.permutation(len(kept))  # paint order: the sounding object is not always on top
    objects = []
    for i in order:
        (asset, cls, sounding), box = kept[i]
        if pools.kind in OBJECT_KINDS:
            flip, tint = bool(rng.random() < 0.5), tuple(float(t) for t in rng.uniform(1 - config.tint, 1 + config.tint, 3))
        else:  # mirrored digits are not digits; ink is a bright random colour
            flip, tint = False, tuple(float(t) for t in rng.uniform(0.45, 1.0, 3))
        objects.append(Placed(asset, cls, box, flip, tint, sounding))
    return SceneSpec(scene_id, pools.kind, draw_backdrop(rng, pools, config), tuple(objects), sounds, on_screen)


def draw_backdrop(rng: np.random.Generator, pools: Pools, config: SceneConfig) -> Backdrop:
    angle = float(rng.uniform(0, 2 * np.pi))
    if pools.kind == "digits":  # dark, so the digits' ink stands out as in MNIST
        colours = tuple(tuple(float(v) for v in rng.uniform(0.0, 0.18, 3)) for _ in range(2))
        return Backdrop(-1, (0.0, 0.0, 1.0), False, colours, angle, 0.0)
    colours = tuple(tuple(float(v) for v in rng.uniform(0.45, 0.95, 3)) for _ in range(2))
    photo = int(rng.integers(pools.photos)) if pools.photos and rng.random() < config.photo_prob else -1
    crop = (float(rng.random()), float(rng.random()), float(rng.uniform(0.5, 1.0)))
    return Backdrop(photo, crop, bool(rng.random() < 0.5), colours, angle, float(rng.uniform(*config.wash)))
