"""Read a cache: the sample dicts of ``build_cache``'s arrays, a whole batch per read.

``CachedDataset.__getitems__`` fancy-indexes a whole batch at once and ``sample.collate`` (the
collate function of the training and evaluation loaders) passes that batch through, so a
DataLoader over a cache runs no per-sample ``__getitem__``, decode or stack. A cache is a
snapshot: datasets that draw new scenes every epoch are frozen at the epoch they were built from.

    cached = cache_dataset(open_benchmark("flickr", root, "test"), "caches/flickr-test")
    scores, _ = evaluate(model, cached, tau=0.03, batch_size=128, device="cuda")
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...distributed import process_info
from ...errors import CacheError
from ..sample import Batch, PreCollated, collate
from .build import build_cache, describe_source
from .layout import IDS, INT16_SCALE, MANIFEST, META, ArraySpec, read_manifest, verify_cache

CACHE_POLL_SECONDS = 10.0  # how often a process waiting for rank 0's cache looks for it


class CachedDataset(Dataset):
    """The sample dicts of a cache built by ``build_cache``, read from memory maps.

    ``verify="size"`` (default) checks every file's size when opened (catches truncation at no
    cost), ``"sha256"`` also hashes every byte, ``"none"`` trusts the manifest. The dataset contract's
    attributes recorded at build time (``sample.contract_attributes``: ``sample_rate``,
    ``class_names``, ``clip_names``) are attributes here too.
    """

    collate_fn = staticmethod(collate)  # for DataLoaders built by hand: passes __getitems__ batches through

    def __init__(self, path: str | Path, verify: str = "size") -> None:
        if verify not in ("size", "sha256", "none"):
            raise ValueError(f"verify must be 'size', 'sha256' or 'none', got {verify!r}")
        self.path = Path(path)
        self.manifest = read_manifest(self.path) if verify == "none" else verify_cache(self.path, verify == "sha256")
        self.count = int(self.manifest["count"])
        self.attributes = dict(self.manifest.get("attributes", {}))
        self.specs = {key: ArraySpec(entry["file"], entry["dtype"], tuple(entry["shape"]))
                      for key, entry in self.manifest["arrays"].items()}
        self.audio_dtype = self.manifest["audio_dtype"]
        meta_path = self.path / META
        try:
            with np.load(meta_path) as meta:
                self.meta = {k: meta[k] for k in meta.files}  # small: kept in memory (npz decodes per access)
            self.ids = json.loads((self.path / IDS).read_text())
        except (OSError, ValueError, KeyError) as error:
            raise CacheError(f"{self.path}: unreadable side files {META} / {IDS} ({error})") from error
        if len(self.ids) != self.count or len(self.meta["labels"]) != self.count:
            raise CacheError(f"{meta_path}: holds {len(self.meta['labels'])} labels and {len(self.ids)} ids, "
                             f"the manifest says {self.count} samples")
        self._arrays: dict[str, np.memmap] | None = None  # opened lazily, once per process

    def __getstate__(self) -> dict:
        # A pickled np.memmap carries its whole contents: worker processes reopen the files instead.
        return {**self.__dict__, "_arrays": None}

    def __getattr__(self, name: str):
        attributes = self.__dict__.get("attributes", {})
        if name in attributes:
            return attributes[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def arrays(self) -> dict[str, np.memmap]:
        if self._arrays is None:
            self._arrays = {k: np.memmap(self.path / s.file, dtype=s.dtype, mode="r", shape=s.shape)
                            for k, s in self.specs.items()}
        return self._arrays

    @property
    def source(self) -> str:
        return self.manifest["source"]

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"CachedDataset({str(self.path)!r}, {self.count} samples of {self.source})"

    def _audio(self, rows: np.ndarray) -> torch.Tensor:
        audio = torch.from_numpy(rows).float()
        return audio / INT16_SCALE if self.audio_dtype == "int16" else audio

    def _ragged(self, key: str, rows: np.ndarray) -> list[torch.Tensor]:
        """Per-sample rows of a ragged field (``boxes``, ``classes``) as views of one gathered tensor."""
        offsets = self.meta[f"{key}_offsets"]
        starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]  # (B,), (B,)
        before = np.cumsum(lengths) - lengths  # where each sample's rows start in the gathered tensor
        index = np.arange(lengths.sum()) + np.repeat(starts - before, lengths)  # (sum of lengths,)
        return list(torch.split(torch.from_numpy(self.meta[key][index]), lengths.tolist()))

    def _index(self, index: int) -> int:
        index = int(index)
        if not -self.count <= index < self.count:
            raise IndexError(f"index {index} out of range for a cache of {self.count} samples")
        return index % self.count

    def __getitem__(self, index: int) -> dict:
        i = self._index(index)
        arrays = self.arrays
        sample = {
            "image": torch.from_numpy(np.array(arrays["images"][i])),  # (3, H, W) uint8, copied out of the map
            "audio": self._audio(np.array(arrays["audio"][i])),  # (T,)
            "gt_map": torch.from_numpy(np.array(arrays["gt"][i])).float(),  # (H, W)
            "boxes": self._ragged("boxes", np.array([i]))[0],  # (n, 4)
            "classes": self._ragged("classes", np.array([i]))[0],  # (k,)
            "label": int(self.meta["labels"][i]),
            "on_screen": bool(self.meta["on_screen"][i]),
            "id": self.ids[i],
        }
        if "mask" in arrays:
            sample["mask"] = torch.from_numpy(np.array(arrays["mask"][i])).float()
        return sample

    def __getitems__(self, indices: list[int]) -> PreCollated:
        """A whole batch from one fancy-indexed read per array (torch's DataLoader calls this)."""
        rows = np.asarray([self._index(i) for i in indices], dtype=np.int64)  # (B,)
        arrays = self.arrays
        batch = Batch({
            "image": torch.from_numpy(np.asarray(arrays["images"][rows])),  # (B, 3, H, W) uint8
            "audio": self._audio(np.asarray(arrays["audio"][rows])),  # (B, T)
            "gt_map": torch.from_numpy(np.asarray(arrays["gt"][rows])).float(),  # (B, H, W)
            "label": torch.from_numpy(self.meta["labels"][rows]),  # (B,)
            "on_screen": torch.from_numpy(self.meta["on_screen"][rows]),  # (B,)
            "boxes": self._ragged("boxes", rows),  # B x (n_i, 4)
            "classes": self._ragged("classes", rows),  # B x (k_i,)
            "id": [self.ids[i] for i in rows],
        })
        if "mask" in arrays:
            batch["mask"] = torch.from_numpy(np.asarray(arrays["mask"][rows])).float()
        return PreCollated(batch)


def wait_for_cache(path: Path, wait_seconds: float | None = None) -> None:
    """Under ``torchrun``, let rank 0 build the cache at ``path``: the other ranks wait for its
    manifest, up to ``wait_seconds`` (forever by default). Returns at once on rank 0."""
    if process_info().is_main:
        return
    start = time.monotonic()
    while not (Path(path) / MANIFEST).is_file():
        if wait_seconds is not None and time.monotonic() - start > wait_seconds:
            raise TimeoutError(f"{path}: rank 0 did not finish this cache in {wait_seconds:g} s")
        time.sleep(min(CACHE_POLL_SECONDS, wait_seconds or CACHE_POLL_SECONDS))


def cache_dataset(dataset: Dataset, path: str | Path, *, rebuild: bool = False, verify: str = "size",
                  **options) -> CachedDataset:
    """Open the cache of ``dataset`` at ``path``, building it first if it is absent (or ``rebuild``).

    A cache built from another source (``describe_source``) or with another length is refused
    rather than silently reused; ``options`` go to ``build_cache``.
    """
    path = Path(path)
    if rebuild or not (path / MANIFEST).is_file():
        build_cache(dataset, path, overwrite=True, **options)
    cached = CachedDataset(path, verify=verify)
    source = options.get("source") or describe_source(dataset)
    if cached.source != source or len(cached) != len(dataset):
        raise CacheError(f"{path / MANIFEST}: built from {cached.source!r} ({len(cached)} samples), not from "
                         f"{source!r} ({len(dataset)} samples); pass rebuild=True, delete {path}, or use another path")
    return cached
