"""Torch datasets of the embedded default data, returning the sample dict of ``fnac_lib.sample``.

    train = make_default_dataset("objects", "train", image_size=96, clip_seconds=1.0)
    test = make_default_dataset("objects", "test", variant="open_set", length=200)
    loader = DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate_samples)

Training scenes are composed on the fly from ``(seed, epoch, index)``: call ``set_epoch`` before each
epoch (with ``persistent_workers=False``, the default, workers see the new epoch). Val and test are
fixed lists of scene specs drawn from ``eval_seed`` (not the training seed), so every run, whatever
its seed, is scored on the same scenes.

``gt_map`` is the union of the sounding objects' tight boxes (Flickr/VGG-SS-like); ``mask`` (variant
``mask``, or ``masks=True``) is their pixel mask (AVSBench-like). ``label`` is the class of the
primary sound, also for off-screen pairs, whose ``on_screen`` is False and ground truth empty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .assets import SAMPLE_RATE, ensure_default_bank, load_bank
from .sample import collate_samples
from .scenes import KINDS, SPLITS, VARIANTS, Scene, SceneConfig, SceneSpec, make_pools, render_scene, scene_spec, scene_specs

DEFAULT_LENGTHS = {"train": 2048, "val": 250, "test": 500}
LABELS = ("fine", "coarse")

__all__ = ["DefaultDataConfig", "DefaultSceneDataset", "make_default_dataset", "collate_samples", "DEFAULT_LENGTHS"]


@dataclass(frozen=True)
class DefaultDataConfig:
    kind: str = "objects"  # "objects" (Flickr-SoundNet-like) or "digits" (high false-negative rate)
    split: str = "train"  # "train" (on the fly), "val" (train assets, own scenes) or "test" (held-out assets)
    variant: str = "single"  # "single", "multi", "open_set" or "mask"
    labels: str = "fine"  # "fine" (~90 sounding classes) or "coarse" (~24 groups); digits: fine only
    image_size: int = 96  # canvas side in px (96 for CPU, 224 for GPU)
    clip_seconds: float = 1.0  # audio clip length; recordings are cropped or zero-padded to it
    length: int | None = None  # scenes per epoch / in the list; None: DEFAULT_LENGTHS[split]
    seed: int = 0  # training stream
    eval_seed: int = 0  # val and test lists (kept apart from the training seed on purpose)
    masks: bool | None = None  # add the ``mask`` key; None: only for variant "mask"
    scene: SceneConfig = SceneConfig()

    def validate(self) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS), ("split", self.split, SPLITS),
                                     ("variant", self.variant, VARIANTS), ("labels", self.labels, LABELS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.kind == "digits" and self.labels != "fine":
            raise ValueError("digits have one label granularity (10 classes): use labels='fine'")
        if self.image_size < 16 or self.clip_seconds <= 0 or (self.length is not None and self.length < 1):
            raise ValueError(f"bad sizes: image_size={self.image_size}, clip_seconds={self.clip_seconds}, "
                             f"length={self.length}")


class DefaultSceneDataset(Dataset):
    """Scenes of one kind, split and variant, as sample dicts (see ``fnac_lib.sample``)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, bank: dict[str, np.ndarray], config: DefaultDataConfig):
        config.validate()
        self.bank, self.config = bank, config
        # plain attributes that run records and caches keep alongside the data
        self.kind, self.split, self.variant, self.labels = config.kind, config.split, config.variant, config.labels
        self.image_size, self.clip_seconds = config.image_size, config.clip_seconds
        self.length = config.length or DEFAULT_LENGTHS[config.split]
        self.clip_samples = int(round(config.clip_seconds * SAMPLE_RATE))
        self.with_mask = config.variant == "mask" if config.masks is None else config.masks
        self.pools = make_pools(bank, config.kind, config.split)
        self.epoch = 0
        # Fixed evaluation lists; training specs are drawn per (epoch, index) in __getitem__.
        self.specs = None if config.split == "train" else scene_specs(
            self.pools, config.split, config.variant, config.eval_seed, self.length, config.scene)
        if config.kind == "digits":
            self.class_names = [str(d) for d in range(10)]
            self._to_label = np.arange(10)
            self.sound_classes = np.arange(10)
        elif config.labels == "fine":
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

    def set_epoch(self, epoch: int) -> None:
        """Training scenes of a new epoch (val and test lists never change)."""
        self.epoch = int(epoch)

    def spec(self, index: int) -> SceneSpec:
        if not 0 <= index < self.length:
            raise IndexError(f"scene {index} out of range for {self.length} scenes")
        if self.specs is not None:
            return self.specs[index]
        c = self.config
        return scene_spec(self.pools, c.split, c.variant, c.seed, index, self.epoch, c.scene)

    def scene(self, index: int) -> Scene:
        """The rendered scene with fine class ids, for plots and checks."""
        return render_scene(self.spec(index), self.bank, self.config.image_size, self.clip_samples)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        scene = self.scene(index)
        size = self.config.image_size
        sample = {
            "image": torch.from_numpy(np.ascontiguousarray(scene.image.transpose(2, 0, 1))),  # (3, H, W) uint8
            "audio": torch.from_numpy(scene.audio),  # (T,) float32
            "gt_map": torch.from_numpy(boxes_to_map(scene.boxes, size)),  # (H, W) float32
            "boxes": torch.from_numpy(scene.boxes),  # (N, 4) float32
            "classes": torch.from_numpy(self._to_label[scene.classes].astype(np.int64)),  # (K,)
            "label": int(self._to_label[scene.label]),
            "on_screen": bool(scene.on_screen),
            "id": scene.id,
        }
        if self.with_mask:
            sample["mask"] = torch.from_numpy(scene.masks.any(axis=0).astype(np.float32))  # (H, W)
        return sample

    def __repr__(self) -> str:
        c = self.config
        return (f"DefaultSceneDataset({c.kind}/{c.split}/{c.variant}: {self.length} scenes, {c.image_size} px, "
                f"{c.clip_seconds:g} s at {SAMPLE_RATE} Hz, {c.labels} labels over {self.num_classes} classes, "
                f"{len(self.sound_classes)} can sound)")


def boxes_to_map(boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, 4) normalised boxes -> (size, size) float32 union map (all zeros when N = 0)."""
    pix = np.round(boxes * size).astype(np.int64)  # (N, 4) exact: boxes are pixel edges / size
    grid = np.arange(size)
    inside_x = (grid[None, :] >= pix[:, 0:1]) & (grid[None, :] < pix[:, 2:3])  # (N, S)
    inside_y = (grid[None, :] >= pix[:, 1:2]) & (grid[None, :] < pix[:, 3:4])  # (N, S)
    return (inside_y[:, :, None] & inside_x[:, None, :]).any(axis=0).astype(np.float32)  # (S, S)


def make_default_dataset(
    kind: str = "objects", split: str = "train", variant: str = "single", labels: str = "fine",
    image_size: int = 96, clip_seconds: float = 1.0, length: int | None = None, seed: int = 0,
    data_dir: Path | str | None = None, *, eval_seed: int = 0, masks: bool | None = None,
    scene: SceneConfig | None = None,
) -> DefaultSceneDataset:
    """The default dataset (building the asset bank first if ``data_dir`` has none)."""
    config = DefaultDataConfig(kind, split, variant, labels, image_size, clip_seconds, length, seed, eval_seed, masks)
    if scene is not None:
        config = replace(config, scene=scene)
    config.validate()  # before a possibly long build
    path = Path(data_dir) if data_dir is not None else None
    bank_path = path if path is not None and path.suffix == ".npz" else ensure_default_bank(path)
    return DefaultSceneDataset(load_bank(bank_path), config)
