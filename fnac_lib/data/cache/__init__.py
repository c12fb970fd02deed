"""Decode a dataset once into memory-mapped arrays, so that an epoch reads bytes, not files.

``layout`` (the files of a cache and its manifest), ``build`` (``build_cache``: parallel decode,
written under a temporary name and renamed) and ``dataset`` (``CachedDataset``, ``cache_dataset``).
"""

from .build import build_cache, describe_source
from .dataset import CachedDataset, cache_dataset, wait_for_cache
from .layout import MANIFEST, read_manifest, verify_cache

__all__ = ["CachedDataset", "MANIFEST", "build_cache", "cache_dataset", "describe_source", "read_manifest",
           "verify_cache", "wait_for_cache"]
