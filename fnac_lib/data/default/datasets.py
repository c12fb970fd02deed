"""Torch datasets of the embedded default data, returning the sample dicts of ``data.sample``.

    train = make_default_dataset("objects", "train", image_size=96, clip_seconds=1.0)
    test = make_default_dataset("objects", "test", variant="open_set", length=200)
    loader = DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate)

Training scenes are composed on the fly from ``(seed, epoch, index)``: call ``set_epoch`` before each
epoch (with ``persistent_workers=False``, the default, workers see the new epoch). With
``fixed=True`` every epoch has epoch 0's scenes, rendered once and kept in memory (about 130 kB a
scene at 96 px and 1 s; ``data.train_scenes``). Val and test are
fixed lists of scene specs drawn from ``eval_seed`` (not the training seed), so every run, whatever
its seed, is scored on the same scenes.

``gt_map`` is the union of the sounding objects' tight boxes (Flickr/VGG-SS-like); ``mask`` (variant
``mask``, or ``masks=True``) is their pixel mask (AVSBench-like). ``label`` is the class of the
primary sound, also for off-screen pairs, whose ``on_screen`` is False and ground truth empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...config import LABELS, DataConfig
from ...errors import ConfigError
from ..boxes import boxes_to_map
from .bank import SAMPLE_RATE, load_bank
from .build import ensure_default_bank
from .render import Scene, render_scene
from .scenes import KINDS, SPLITS, TEST_SPLITS, VARIANTS, SceneConfig, SceneSpec, make_pools, scene_spec, scene_specs

def default_length(split: str) -> int:
    """Scenes per epoch (train) or in the fixed list (val, test and its parts): ``DataConfig``'s defaults."""
    return getattr(DataConfig(), f"{'test' if split in TEST_SPLITS else split}_length")


class DefaultSceneDataset(Dataset):
    """Scenes of one kind, split and variant, as sample dicts (a ``data.sample.EpochDataset``)."""

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        bank: dict[str, np.ndarray],
        kind: str = "objects",  # "objects" (Flickr-SoundNet-like), "objects-few" (many false negatives) or "digits"
        split: str = "train",  # "train" (on the fly), "val" (train assets, own scenes), "test" (held-out assets),
        # or one part of test: "heard" (classes heard in training) / "unheard" (classes never heard), or
        # "pictures" (heard's scenes, each class heard by its training recordings)
        variant: str = "single",  # "single", "multi", "open_set", "mask" or "listening"
        labels: str = "fine",  # "fine" (~120 sounding classes) or "coarse" (~24 groups); digits: fine only
        image_size: int = 96,  # canvas side in px (96 for CPU, 224 for GPU)
        clip_seconds: float = 1.0,  # audio clip length; recordings are cropped or zero-padded to it
        length: int | None = None,  # scenes per epoch / in the list; None: ``default_length(split)``
        seed: int = 0,  # training stream
        eval_seed: int = 0,  # val and test lists (kept apart from the training seed on purpose)
        masks: bool | None = None,  # add the ``mask`` key; None: only for variant "mask"
        scene: SceneConfig = SceneConfig(),  # sizes, counts and jitter of the composed scenes
        fixed: bool = False,  # training: epoch 0's scenes in every epoch, rendered once
    ) -> None:
        check_choices(kind, split, variant, labels)
        self.bank, self.scene_config = bank, scene
        self.kind, self.split, self.variant, self.label_granularity = kind, split, variant, labels
        self.image_size, self.clip_seconds, self.seed, self.eval_seed = image_size, clip_seconds, seed, eval_seed
        self.length = length or default_length(split)
        self.clip_samples = int(round(clip_seconds * SAMPLE_RATE))
        self.with_mask = variant == "mask" if masks is None else masks
        self.pools = make_pools(bank, kind, split)
        if fixed and split != "train":
            raise ValueError(f"only training scenes change with the epoch; the {split} scenes are a fixed list")
        self.fixed, self.epoch = fixed, 0
        self.rendered: dict[int, dict] = {}  # fixed training scenes, by index, once rendered
        # Fixed evaluation lists; training specs are drawn per (epoch, index) in __getitem__.
        self.specs = None if split == "train" else scene_specs(self.pools, split, variant, eval_seed, self.length, scene)
        if kind == "digits":
            self.class_names = [str(d) for d in range(10)]
            self._to_label = np.arange(10)
            self.sound_classes = np.arange(10)
        elif labels == "fine":
            self.class_names = [str(n) for n in bank["class_names"]]
            self._to_label = np.arange(len(self.class_names))
            self.sound_classes = np.flatnonzero(bank["class_sounds"])
        else:
            self.class_names = [str(n) for n in bank["coarse_names"]]
            self._to_label = bank["class_coarse"]
            self.sound_classes = np.unique(bank["class_coarse"][bank["class_sounds"]])

    @property
    def num_classes(self) -> int:
        """Size of the label space of ``label`` and ``classes`` (silent distractor classes included)."""
        return len(self.class_names)

    @property
    def heard_classes(self) -> list[int]:
        """Label ids (at this dataset's granularity) of the classes that sound in the training split."""
        heard = make_pools(self.bank, self.kind, "train").sounding  # fine class ids
        return sorted({int(self._to_label[c]) for c in heard})

    def set_epoch(self, epoch: int) -> None:
        """Training scenes of a new epoch (val and test lists never change)."""
        self.epoch = int(epoch)

    @property
    def scene_epoch(self) -> int:
        """The epoch whose training scenes this epoch shows: itself, or 0 with ``fixed``."""
        return 0 if self.fixed else self.epoch

    def spec(self, index: int) -> SceneSpec:
        if not 0 <= index < self.length:
            raise IndexError(f"scene {index} out of range for {self.length} scenes")
        if self.specs is not None:
            return self.specs[index]
        return scene_spec(self.pools, self.split, self.variant, self.seed, index, self.scene_epoch, self.scene_config)

    def scene(self, index: int) -> Scene:
        """The rendered scene with fine class ids, for plots and checks."""
        return render_scene(self.spec(index), self.bank, self.image_size, self.clip_samples)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if self.fixed:
            if index not in self.rendered:
                self.rendered[index] = self.sample(index)
            return self.rendered[index]
        return self.sample(index)

    def sample(self, index: int) -> dict:
        """Scene ``index`` of the current epoch, rendered, as a sample dict."""
        scene = self.scene(index)
        sample = {
            "image": torch.from_numpy(np.ascontiguousarray(scene.image.transpose(2, 0, 1))),  # (3, H, W) uint8
            "audio": torch.from_numpy(scene.audio),  # (T,) float32
            "gt_map": self._gt_map(scene),  # (H, W) float32
            "boxes": torch.from_numpy(scene.boxes),  # (N, 4) float32
            "classes": torch.from_numpy(self._to_label[scene.classes].astype(np.int64)),  # (K,)
            "label": int(self._to_label[scene.label]),
            "on_screen": bool(scene.on_screen),
            "id": scene.id,
        }
        if self.with_mask:
            sample["mask"] = torch.from_numpy(scene.masks.any(axis=0).astype(np.float32))  # (H, W)
        return sample

    def _gt_map(self, scene: Scene) -> torch.Tensor:
        """The union of the sounding boxes; on the listening test the sounding object's pixels, so
        that two objects' ground truths never share a pixel and a map deaf to the audio, pointing
        at the same place in both renderings of a picture, is right at most once."""
        if self.variant == "listening":
            return torch.from_numpy(scene.masks.any(axis=0).astype(np.float32))
        return boxes_to_map(scene.boxes, self.image_size, "union", edges="round")

    def __repr__(self) -> str:
        scenes = f"{self.length} scenes{' (the same every epoch)' if self.fixed else ''}"
        return (f"DefaultSceneDataset({self.kind}/{self.split}/{self.variant}: {scenes}, "
                f"{self.image_size} px, {self.clip_seconds:g} s at {SAMPLE_RATE} Hz, {self.label_granularity} "
                f"labels over {self.num_classes} classes, {len(self.sound_classes)} can sound)")


def check_choices(kind: str, split: str, variant: str, labels: str) -> None:
    """Raise ``ConfigError`` naming the first argument of a default dataset that is none of its choices."""
    for name, value, allowed in (("kind", kind, KINDS), ("split", split, SPLITS),
                                 ("variant", variant, VARIANTS), ("labels", labels, LABELS)):
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")
    if kind == "digits" and labels != "fine":
        raise ConfigError("digits have one label granularity (10 classes): use labels='fine'")


def bank_file(data_dir: Path | str | None = None, progress: bool = True) -> Path:
    """The bank a default dataset reads: ``data_dir`` itself if it names an ``.npz``, else the bank
    in that folder (or the default one), built first if missing."""
    path = Path(data_dir) if data_dir is not None else None
    return path if path is not None and path.suffix == ".npz" else ensure_default_bank(path, progress=progress)


def make_default_dataset(
    kind: str = "objects", split: str = "train", variant: str = "single", labels: str = "fine",
    image_size: int = 96, clip_seconds: float = 1.0, length: int | None = None, seed: int = 0,
    data_dir: Path | str | None = None, *, eval_seed: int = 0, masks: bool | None = None,
    scene: SceneConfig | None = None, fixed: bool = False,
) -> DefaultSceneDataset:
    """The default dataset (building the asset bank first if ``data_dir`` has none)."""
    check_choices(kind, split, variant, labels)  # before a possibly long build
    bank = load_bank(bank_file(data_dir))
    return DefaultSceneDataset(bank, kind, split, variant, labels, image_size, clip_seconds, length,
                               seed, eval_seed, masks, scene or SceneConfig(), fixed)
