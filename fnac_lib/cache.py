"""Decode a dataset once into memory-mapped arrays, so that an epoch reads bytes, not files.

Upstream decodes a JPEG, a sound file and a float64 spectrogram per sample, every epoch
(fnac_method.md, section 6). ``build_cache`` runs any dataset of sample dicts (``sample.py``)
through a parallel DataLoader once and stores:

=================  ============================  ==============================================
file               array                         notes
=================  ============================  ==============================================
``images.u8``      uint8 (N, 3, H, W)            the frames exactly as the dataset returned them
``audio.f16``      float16 (N, T)                the waveforms; ``audio.i16`` (int16, x 32767)
                                                 or ``audio.f32`` (bit-exact) on request
``gt.f16``         float16 (N, H, W)             ground-truth maps (exact for 0, 0.5 and 1);
                                                 ``gt.u8`` for binary maps, ``gt.f32`` exact
``mask.*``         like ``gt``                   only when the dataset has segmentation masks
``meta.npz``       labels, on_screen, boxes,     boxes (M, 4) and classes (K,) are ragged:
                   classes + offsets             sample i owns rows offsets[i]:offsets[i + 1]
``ids.json``       list of N strings
``manifest.json``  count, shapes, dtypes,        written last: a directory without it is not
                   sizes, SHA-256, source        a cache
=================  ============================  ==============================================

The cache holds waveforms, not spectrograms: the library computes spectrograms on the training
device from waveforms (``audio.AudioFrontend``), so a cached waveform is the equivalent of
upstream's cached spectrogram, costs no CPU time per epoch, and leaves the front end free to
change (linear or log-mel, any hop) without rebuilding the cache.

``CachedDataset`` returns the same sample dicts from the memory maps. Its ``__getitems__``
fancy-indexes a whole batch at once and ``collate`` (the collate function of the training and
evaluation loaders) passes that batch through, so a DataLoader over a cache runs no per-sample
``__getitem__``, decode or stack. ``Batch`` packs the ragged per-sample lists when a batch
leaves a worker process. A cache is a snapshot: datasets that draw new scenes every epoch
(``set_epoch``) are frozen at the epoch they were built from.

    cached = cache_dataset(open_benchmark("flickr", root, "test"), "caches/flickr-test")
    scores, _ = evaluate(model, cached, batch_size=128, device="cuda")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .sample import check_sample, collate_samples

FORMAT = "fnac-cache"
VERSION = 1
MANIFEST = "manifest.json"
META = "meta.npz"
IDS = "ids.json"
INT16_SCALE = 32767.0
# Dataset attributes worth keeping with the cache (e.g. make_dataset checks sample_rate).
KEPT_ATTRIBUTES = ("sample_rate", "image_size", "frame_size", "clip_seconds", "split", "name", "kind",
                   "variant", "classes", "class_names", "num_classes", "clip_names")
AUDIO_DTYPES = {"float16": ("audio.f16", "<f2"), "int16": ("audio.i16", "<i2"), "float32": ("audio.f32", "<f4")}
MAP_DTYPES = {"float16": ("f16", "<f2"), "uint8": ("u8", "|u1"), "float32": ("f32", "<f4")}


class CacheError(RuntimeError):
    """A cache is missing, truncated, corrupt or does not fit the dataset; the message names the file."""


@dataclass(frozen=True)
class ArraySpec:
    """Where one memory-mapped array lives and how to read it."""

    file: str  # file name inside the cache directory
    dtype: str  # numpy dtype string with byte order, e.g. "<f2"
    shape: tuple[int, ...]  # full shape, N first

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


# ------------------------------------------------------------------------------------- building


def describe_source(dataset: Dataset) -> str:
    """A stable one-line description of ``dataset`` (its own ``repr`` when it has one)."""
    if type(dataset).__repr__ is not object.__repr__:
        return repr(dataset)
    return f"{type(dataset).__module__}.{type(dataset).__qualname__} of {len(dataset)} samples"


def _kept_attributes(dataset: Dataset) -> dict:
    kept = {}
    for name in KEPT_ATTRIBUTES:
        value = getattr(dataset, name, None)
        if value is None:
            continue
        try:
            kept[name] = json.loads(json.dumps(value))  # JSON round trip: tuples become lists
        except (TypeError, ValueError):
            continue  # not plain data (e.g. a tensor): not worth keeping
    return kept


def _as_list(samples: list[dict]) -> list[dict]:
    return samples


class _Writer:
    """Streams samples, in order, into preallocated memory maps, hashing every byte written."""

    def __init__(self, directory: Path, count: int, first: dict, audio_dtype: str, gt_dtype: str) -> None:
        if audio_dtype not in AUDIO_DTYPES:
            raise ValueError(f"audio_dtype must be one of {sorted(AUDIO_DTYPES)}, got {audio_dtype!r}")
        if gt_dtype not in MAP_DTYPES:
            raise ValueError(f"gt_dtype must be one of {sorted(MAP_DTYPES)}, got {gt_dtype!r}")
        self.audio_dtype, self.gt_dtype = audio_dtype, gt_dtype
        height, width = first["image"].shape[1:]
        map_ext, map_dtype = MAP_DTYPES[gt_dtype]
        self.specs = {
            "images": ArraySpec("images.u8", "|u1", (count, 3, height, width)),
            "audio": ArraySpec(*AUDIO_DTYPES[audio_dtype], (count, first["audio"].shape[0])),
            "gt": ArraySpec(f"gt.{map_ext}", map_dtype, (count, height, width)),
        }
        if "mask" in first:
            self.specs["mask"] = ArraySpec(f"mask.{map_ext}", map_dtype, (count, height, width))
        self.arrays = {k: np.memmap(directory / s.file, dtype=s.dtype, mode="w+", shape=s.shape)
                       for k, s in self.specs.items()}
        self.hashes = {k: hashlib.sha256() for k in self.specs}
        self.labels, self.on_screen, self.ids = [], [], []
        self.boxes, self.classes = [], []
        self.count = 0

    def add(self, sample: dict) -> None:
        index = self.count
        where = f"sample {index} ({sample.get('id', '?')})"
        check_sample(sample, where)
        rows = {
            "images": sample["image"].numpy(),
            "audio": self._audio_row(sample["audio"], where),
            "gt": self._map_row(sample["gt_map"], where, "gt_map"),
        }
        if ("mask" in sample) != ("mask" in self.specs):
            raise CacheError(f"{where}: 'mask' is present in some samples and absent in others")
        if "mask" in sample:
            rows["mask"] = self._map_row(sample["mask"], where, "mask")
        for key, row in rows.items():
            expected = self.specs[key].shape[1:]
            if row.shape != expected:
                raise CacheError(f"{where}: {key} has shape {row.shape}, but the first sample's is {expected}; "
                                 "a cache needs one fixed size per field")
            row = np.ascontiguousarray(row, dtype=self.specs[key].dtype)
            self.arrays[key][index] = row
            self.hashes[key].update(row.tobytes())
        self.labels.append(int(sample["label"]))
        self.on_screen.append(bool(sample["on_screen"]))
        self.ids.append(str(sample["id"]))
        self.boxes.append(np.asarray(sample["boxes"], dtype=np.float32).reshape(-1, 4))
        self.classes.append(np.asarray(sample["classes"], dtype=np.int64).reshape(-1))
        self.count += 1

    def _audio_row(self, wave: torch.Tensor, where: str) -> np.ndarray:
        wave = wave.detach().float().numpy()
        if self.audio_dtype == "int16":
            if np.abs(wave).max(initial=0.0) > 1.0:
                raise CacheError(f"{where}: audio leaves [-1, 1], which int16 cannot hold; use audio_dtype='float16'")
            return np.round(wave * INT16_SCALE).astype(np.int16)
        row = wave.astype(np.dtype(AUDIO_DTYPES[self.audio_dtype][1]))
        if not np.isfinite(row).all():
            raise CacheError(f"{where}: audio is not finite in {self.audio_dtype}")
        return row

    def _map_row(self, values: torch.Tensor, where: str, key: str) -> np.ndarray:
        values = values.detach().float().numpy()
        if self.gt_dtype == "uint8" and not np.isin(values, (0.0, 1.0)).all():
            raise CacheError(f"{where}: {key} is not binary; gt_dtype='uint8' holds only 0 and 1, use 'float16'")
        return values

    def finish(self, directory: Path) -> dict:
        """Flush the arrays, write the side files, and return the manifest's array/file entries."""
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()
        entries = {k: {"file": s.file, "dtype": s.dtype, "shape": list(s.shape), "bytes": s.nbytes,
                       "sha256": self.hashes[k].hexdigest()} for k, s in self.specs.items()}
        np.savez(
            directory / META,
            labels=np.asarray(self.labels, dtype=np.int64),
            on_screen=np.asarray(self.on_screen, dtype=bool),
            boxes=np.concatenate(self.boxes).reshape(-1, 4),
            boxes_offsets=_offsets(self.boxes),
            classes=np.concatenate(self.classes),
            classes_offsets=_offsets(self.classes),
        )
        (directory / IDS).write_text(json.dumps(self.ids))
        files = {name: _file_entry(directory / name) for name in (META, IDS)}
        for spec in self.specs.values():
            _fsync(directory / spec.file)
        return {"arrays": entries, "files": files}


def _offsets(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)  # (N + 1,)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def build_cache(
    dataset: Dataset,
    out_dir: str | Path,
    *,
    audio_dtype: str = "float16",
    gt_dtype: str = "float16",
    num_workers: int | None = None,
    chunk_size: int = 32,
    source: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Decode every sample of ``dataset`` once into a cache directory ``out_dir``; returns its path.

    ``num_workers`` DataLoader processes decode in parallel (default: all cores, at most 8); the
    main process writes rows in order. Everything is written to a temporary directory next to
    ``out_dir`` and renamed into place at the end, so an interrupted build leaves no cache
    rather than half of one. ``audio_dtype``: ``float16`` (default; relative rounding error
    at most 2^-11, i.e. -66 dB, half the bytes), ``int16`` (waveforms in [-1, 1]; absolute error
    at most 1 / 65534) or ``float32`` (bit-exact). ``gt_dtype``: ``float16`` (default), ``uint8``
    (binary maps only, checked) or ``float32``. ``source`` describes the data in the manifest
    (default: ``describe_source``).
    """
    out_dir = Path(out_dir)
    count = len(dataset)
    if count == 0:
        raise CacheError(f"{out_dir}: cannot cache an empty dataset")
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} exists: pass overwrite=True to rebuild it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    workers = min(8, os.cpu_count() or 1) if num_workers is None else num_workers
    source = describe_source(dataset) if source is None else source
    temp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.building-"))
    try:
        loader = DataLoader(dataset, batch_size=chunk_size, shuffle=False, num_workers=workers,
                            collate_fn=_as_list, prefetch_factor=4 if workers else None)
        writer = None
        with tqdm(total=count, desc=f"caching {source[:60]}", disable=not progress, leave=False) as bar:
            for samples in loader:
                for sample in samples:
                    if writer is None:
                        writer = _Writer(temp, count, check_sample(sample, "sample 0"), audio_dtype, gt_dtype)
                    writer.add(sample)
                bar.update(len(samples))
        if writer.count != count:
            raise CacheError(f"{source}: len() says {count} samples but iteration gave {writer.count}")
        manifest = {
            "format": FORMAT, "version": VERSION, "count": count, "source": source,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "audio_dtype": audio_dtype, "gt_dtype": gt_dtype, "attributes": _kept_attributes(dataset),
            **writer.finish(temp),
        }
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _fsync(temp / MANIFEST)
        _move_into_place(temp, out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return out_dir


def _move_into_place(temp: Path, out_dir: Path) -> None:
    """Rename ``temp`` to ``out_dir``; an old cache is renamed aside first and removed after."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
        os.replace(out_dir, old / "cache")
    os.replace(temp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------- reading


def read_manifest(path: str | Path) -> dict:
    """The manifest of the cache at ``path``; ``CacheError`` naming the file if it is not one."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        hint = " (the directory exists, but its build never finished)" if Path(path).is_dir() else ""
        raise CacheError(f"{manifest_path}: no cache manifest{hint}; build it with fnac_lib.cache.build_cache")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CacheError(f"{manifest_path}: unreadable cache manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError(f"{manifest_path}: not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise CacheError(f"{manifest_path}: cache format version {manifest.get('version')}, this library reads "
                         f"{VERSION}; rebuild the cache")
    return manifest


def verify_cache(path: str | Path, checksums: bool = False) -> dict:
    """Check that every file of the cache exists with its recorded size (and SHA-256 with ``checksums``).

    Returns the manifest; raises ``CacheError`` naming the first bad file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    entries = [(e["file"], e) for e in manifest["arrays"].values()] + list(manifest["files"].items())
    for name, entry in entries:
        file = path / name
        if not file.is_file():
            raise CacheError(f"{file}: missing cache file")
        size = file.stat().st_size
        if size != entry["bytes"]:
            state = "truncated" if size < entry["bytes"] else "longer than recorded"
            raise CacheError(f"{file}: {state} ({size} bytes, manifest says {entry['bytes']}); rebuild the cache")
        if checksums and _sha256(file) != entry["sha256"]:
            raise CacheError(f"{file}: SHA-256 does not match the manifest (corrupt); rebuild the cache")
    return manifest


class Batch(dict):
    """A collated batch (``sample.collate_samples``) that crosses process boundaries cheaply.

    A DataLoader worker hands every tensor to the main process as its own shared-memory segment
    and file descriptor. The ragged per-sample lists (``boxes``, ``classes``: 2 x B tiny tensors)
    made that cost more than reading the whole batch (~40 ms of ~50 ms per batch of 32 on a
    2-core machine), so pickling packs each list into one tensor and unpickling splits it back
    into per-sample views.
    """

    def __reduce__(self):
        plain, packed = {}, {}
        for key, value in self.items():
            if _packable(value):
                packed[key] = (torch.cat(value), [len(t) for t in value])
            else:
                plain[key] = value
        return _unpack_batch, (plain, packed)


def _packable(value) -> bool:
    """A non-empty list of tensors that one ``torch.cat`` along dim 0 can hold."""
    if not (isinstance(value, list) and value and all(isinstance(t, torch.Tensor) and t.ndim for t in value)):
        return False
    first = value[0]
    return all(t.dtype == first.dtype and t.shape[1:] == first.shape[1:] for t in value)


def _unpack_batch(plain: dict, packed: dict) -> Batch:
    batch = Batch(plain)
    for key, (values, lengths) in packed.items():
        batch[key] = list(torch.split(values, lengths))
    return batch


class CachedBatch(Sequence):
    """A batch that ``CachedDataset.__getitems__`` already collated.

    ``collate`` hands ``batch`` straight to the training step; any other collate function sees a
    sequence of per-sample dicts (views into the batch), so the fast path is never wrong.
    """

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch["id"])

    def __getitem__(self, k: int) -> dict:
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        sample = {key: value[k] for key, value in self.batch.items()}
        sample["label"], sample["on_screen"] = int(sample["label"]), bool(sample["on_screen"])
        return sample


def collate(items) -> Batch:
    """``collate_samples`` for any dataset, as a ``Batch``; batches a cache already built pass through.

    The training and evaluation loaders use it for every dataset.
    """
    if isinstance(items, CachedBatch):
        return items.batch
    return Batch(collate_samples(items))


class CachedDataset(Dataset):
    """The sample dicts of a cache built by ``build_cache``, read from memory maps.

    ``verify="size"`` (default) checks every file's size when opened (catches truncation at no
    cost), ``"sha256"`` also hashes every byte, ``"none"`` trusts the manifest. Dataset attributes
    recorded at build time (``sample_rate``, ``image_size``, ...) are attributes here too.
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

    def __getitems__(self, indices: list[int]) -> CachedBatch:
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
        return CachedBatch(batch)


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
                         f"{source!r} ({len(dataset)} samples); pass rebuild=True or use another path")
    return cached
