"""The on-disk layout of a cache: one directory of memory-mapped arrays and a manifest.

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
                   sizes, SHA-256, source,       a cache
                   the dataset contract's
                   attributes
=================  ============================  ==============================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import CacheError

FORMAT = "fnac-cache"
VERSION = 1
MANIFEST = "manifest.json"
META = "meta.npz"
IDS = "ids.json"
INT16_SCALE = 32767.0
AUDIO_DTYPES = {"float16": ("audio.f16", "<f2"), "int16": ("audio.i16", "<i2"), "float32": ("audio.f32", "<f4")}
MAP_DTYPES = {"float16": ("f16", "<f2"), "uint8": ("u8", "|u1"), "float32": ("f32", "<f4")}


@dataclass(frozen=True)
class ArraySpec:
    """Where one memory-mapped array lives and how to read it."""

    file: str  # file name inside the cache directory
    dtype: str  # numpy dtype string with byte order, e.g. "<f2"
    shape: tuple[int, ...]  # full shape, N first

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": sha256_of(path)}


def read_manifest(path: str | Path) -> dict:
    """The manifest of the cache at ``path``; ``CacheError`` naming the file if it is not one."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        hint = " (the directory exists, but its build never finished)" if Path(path).is_dir() else ""
        raise CacheError(f"{manifest_path}: no cache manifest{hint}; build it with fnac_lib.data.cache.build_cache")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CacheError(f"{manifest_path}: unreadable cache manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError(f"{manifest_path}: not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise CacheError(f"{manifest_path}: cache format version {manifest.get('version')}, this library reads "
                         f"{VERSION}; rebuild the cache (delete {path}: a cache_dir rebuilds a missing one)")
    missing = [key for key in ("count", "source", "audio_dtype", "arrays", "files") if key not in manifest]
    if missing:
        raise CacheError(f"{manifest_path}: lacks {missing}; rebuild the cache (delete {path}: a cache_dir "
                         "rebuilds a missing one)")
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
            raise CacheError(f"{file}: {state} ({size} bytes, manifest says {entry['bytes']}); rebuild the cache "
                             f"(delete {path}: a cache_dir rebuilds a missing one)")
        if checksums and sha256_of(file) != entry["sha256"]:
            raise CacheError(f"{file}: SHA-256 does not match the manifest (corrupt); rebuild the cache "
                             f"(delete {path}: a cache_dir rebuilds a missing one)")
    return manifest
