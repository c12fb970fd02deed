"""Build a cache: decode every sample of a dataset once, in parallel, into memory maps.

Upstream decodes a JPEG, a sound file and a float64 spectrogram per sample, every epoch. The
cache holds waveforms, not spectrograms: the library computes spectrograms on the training
device from waveforms (``audio.AudioFrontend``), so a cached waveform is the equivalent of
upstream's cached spectrogram, costs no CPU time per epoch, and leaves the front end free to
change (linear or log-mel, any hop) without rebuilding the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ...errors import CacheError
from ...files import remove_stale, staging_dir
from ...progress import Progress
from ..sample import check_sample, contract_attributes
from .layout import AUDIO_DTYPES, FORMAT, IDS, INT16_SCALE, MANIFEST, MAP_DTYPES, META, VERSION, ArraySpec, file_entry


def describe_source(dataset: Dataset) -> str:
    """A stable one-line description of ``dataset`` (its own ``repr`` when it has one)."""
    if type(dataset).__repr__ is not object.__repr__:
        return repr(dataset)
    return f"{type(dataset).__module__}.{type(dataset).__qualname__} of {len(dataset)} samples"


def _kept_attributes(dataset: Dataset) -> dict:
    """The dataset contract's attributes (``sample.contract_attributes``) that ``dataset`` has."""
    kept = {}
    for name in contract_attributes():
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
        if not np.isfinite(wave).all():
            raise CacheError(f"{where}: audio holds NaN or infinite samples")
        if self.audio_dtype == "int16":
            if np.abs(wave).max(initial=0.0) > 1.0:
                raise CacheError(f"{where}: audio leaves [-1, 1], which int16 cannot hold; use audio_dtype='float16'")
            return np.round(wave * INT16_SCALE).astype(np.int16)
        row = wave.astype(np.dtype(AUDIO_DTYPES[self.audio_dtype][1]))
        if not np.isfinite(row).all():
            raise CacheError(f"{where}: audio exceeds the range of {self.audio_dtype}; use audio_dtype='float32'")
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
        files = {name: file_entry(directory / name) for name in (META, IDS)}
        for spec in self.specs.values():
            _fsync(directory / spec.file)
        return {"arrays": entries, "files": files}


def _offsets(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)  # (N + 1,)


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
    remove_stale(out_dir.parent, aside=True)  # what killed builds left (files.remove_stale)
    with staging_dir(out_dir.parent, out_dir.name) as temp:
        loader = DataLoader(dataset, batch_size=chunk_size, shuffle=False, num_workers=workers,
                            collate_fn=_as_list, prefetch_factor=4 if workers else None)
        writer = None
        bar = Progress(count, f"caching {source[:60]}", progress, unit="samples")
        for samples in loader:
            for sample in samples:
                if writer is None:
                    writer = _Writer(temp, count, check_sample(sample, "sample 0"), audio_dtype, gt_dtype)
                writer.add(sample)
            bar.update(len(samples))
        bar.close()
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
