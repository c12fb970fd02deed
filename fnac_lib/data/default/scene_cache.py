"""Training scenes rendered once per epoch and shared by every run that draws them.

The default data composes new training scenes every epoch from ``(seed, epoch, index)``, in a
loader process that competes with training for the CPU. A study trains several methods on the
same data and seed, so each of them renders the same scenes again. With ``data.cache_dir`` set,
``EpochSceneCache`` renders an epoch's scenes once into memory maps (``data.cache``) under a
folder keyed by everything that shapes them, and every later run of that data and seed reads
the maps (with ``data.train_scenes=fixed``, epoch 0's maps in every epoch). Waveforms are stored
as float32 and the box maps (0 or 1) as uint8, so a run reads exactly the samples it would have
rendered: training on the cache gives the same weights (``tests/test_scene_cache.py``). An epoch
of 2048 scenes at 96 px and 1 s takes about 210 MB.

    scenes = make_default_dataset("objects", "train", length=2048, seed=0)
    cached = EpochSceneCache(scenes, Path("scene-cache/objects-fine-s0"), source="objects, seed 0")
    cached.set_epoch(1)  # renders epoch 1 once (rank 0 alone under torchrun), then reads it
"""

from __future__ import annotations

import shutil
from pathlib import Path

from torch.utils.data import Dataset

from ..cache import CachedDataset, cache_dataset, wait_for_cache
from ..cache.layout import MANIFEST
from .datasets import DefaultSceneDataset

EPOCH_PREFIX = "epoch"  # one cache per epoch: <directory>/epoch<k>


class EpochSceneCache(Dataset):
    """The training scenes of ``scenes`` for the current epoch, from a cache built on first use.

    ``set_epoch`` opens (or renders) that epoch's cache in the calling process, so loader workers
    only read. ``source`` names what the directory holds; a cache of other scenes is refused
    (``cache_dataset``). The dataset's attributes (``class_names``, ``sample_rate``, ...) are the
    scenes' own.
    """

    def __init__(self, scenes: DefaultSceneDataset, directory: Path | str, source: str, num_workers: int = 0,
                 progress: bool = False) -> None:
        if scenes.split != "train":
            raise ValueError(f"only training scenes change with the epoch; {scenes!r} is a fixed list")
        self.scenes, self.directory, self.source = scenes, Path(directory), source
        self.num_workers, self.progress = num_workers, progress
        self.epoch = scenes.epoch
        self._cached: CachedDataset | None = None

    def epoch_dir(self, epoch: int) -> Path:
        return self.directory / f"{EPOCH_PREFIX}{epoch}"

    def set_epoch(self, epoch: int) -> None:
        """Make ``epoch`` current, rendering its scenes into the cache unless they are there."""
        self.epoch = int(epoch)
        self.scenes.set_epoch(self.epoch)
        shown = self.scenes.scene_epoch  # with fixed scenes, epoch 0's in every epoch: rendered once
        self._cached = _open_shared(self.scenes, self.epoch_dir(shown), f"{self.source}, epoch {shown}",
                                    self.num_workers, self.progress)

    @property
    def cached(self) -> CachedDataset:
        if self._cached is None:
            self.set_epoch(self.epoch)
        return self._cached

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        return self.cached[index]

    def __getitems__(self, indices: list[int]):
        return self.cached.__getitems__(indices)  # one read per array for the whole batch

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("scenes", "cached"):
            raise AttributeError(name)
        return getattr(self.scenes, name)

    def __repr__(self) -> str:
        return f"EpochSceneCache({self.scenes!r} in {str(self.directory)!r})"


def _open_shared(scenes: Dataset, path: Path, source: str, num_workers: int, progress: bool) -> CachedDataset:
    """The cache at ``path``: built here (by rank 0 alone under torchrun; the others wait for it)."""
    wait_for_cache(path)
    return cache_dataset(scenes, path, audio_dtype="float32", gt_dtype="uint8", num_workers=num_workers,
                         source=source, progress=progress)


def remove_scene_cache(directory: Path | str) -> bool:
    """Delete one data set's scene cache (every epoch); True if there was one. Its scenes depend on
    the run seed, so once that seed's runs are done nothing reads them again."""
    directory = Path(directory)
    if not any(directory.glob(f"{EPOCH_PREFIX}*/{MANIFEST}")):
        return False
    shutil.rmtree(directory)
    return True
