"""One entry point from a run configuration to a dataset, default data or real benchmark.

With ``data.cache_dir`` set, a real benchmark's split is decoded once into memory-mapped arrays
(``data.cache``) under that directory, keyed by everything that shapes its samples, and every
later run and epoch reads the cache instead of JPEG and audio files. Under ``torchrun`` rank 0
builds it and the other processes wait for its manifest (the directory must be one that every
process sees). With the default data, ``data.cache_dir`` keeps each epoch's training scenes
(``default.scene_cache``): they are drawn anew every epoch, but runs of the same data and seed
(the methods of a study) draw the same ones, and render them once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from torch.utils.data import Dataset

from ..config import DEFAULT_DATA, RunConfig
from ..device import decode_workers
from ..errors import ConfigError
from .benchmarks import BENCHMARKS, open_benchmark
from .cache import cache_dataset, wait_for_cache
from .cache.layout import sha256_of
from .default import make_default_dataset
from .default.bank import BANK_FILE
from .default.datasets import bank_file
from .default.scene_cache import EpochSceneCache
from .default.scenes import SceneConfig

DEFAULT_KINDS = DEFAULT_DATA  # the embedded default data's datasets (data.default)


def make_dataset(config: RunConfig, split: str, variant: str = "single", length: int | None = None) -> Dataset:
    """The ``split`` ("train", "val" or "test") of the dataset ``config.data`` names (``DATASETS``)."""
    dataset = DATASETS[config.data.dataset](config, split, variant, length)
    rate = dataset.sample_rate  # every dataset meets data.sample.SampleDataset
    if config.audio.sample_rate != "native" and rate != config.audio.sample_rate:
        raise ConfigError(f"audio.sample_rate: {config.data.dataset} audio is at {rate} Hz but audio.sample_rate is "
                          f"{config.audio.sample_rate}")
    return dataset


def default_data(config: RunConfig, split: str, variant: str, length: int | None) -> Dataset:
    """Scenes of the embedded default data; with ``data.cache_dir``, training scenes rendered once."""
    data = config.data
    if data.reader_options:
        raise ConfigError(f"data.reader_options: {sorted(data.reader_options)} apply to real benchmarks; the "
                          f"default data ({data.dataset}) reads none")
    root = Path(data.data_root) if data.data_root is not None else None
    if root is not None and not (root if root.suffix == ".npz" else root / BANK_FILE).is_file():
        raise ConfigError(f"data.data_root: {root} holds no default-data bank ({BANK_FILE}); leave data.data_root "
                          f"unset for the default data, or build one there: python -m fnac_lib build-data "
                          f"--data-dir {root}")
    lengths = {"train": data.train_length, "val": data.val_length, "test": data.test_length,
               "heard": data.test_length, "unheard": data.test_length,  # heard / unheard: parts of test
               "pictures": data.test_length}  # heard's scenes with the training recordings
    if split not in lengths:
        raise ConfigError(f"unknown split {split!r}; choose one of {sorted(lengths)}")
    dataset = make_default_dataset(
        kind=data.dataset, split=split, variant=variant, labels=data.labels, image_size=data.image_size,
        clip_seconds=config.audio.clip_seconds, length=length or lengths[split], seed=config.train.seed,
        data_dir=data.data_root, fixed=split == "train" and data.train_scenes == "fixed",
    )
    if data.cache_dir is not None and split == "train":
        path = scene_cache_path(config, len(dataset))
        dataset = EpochSceneCache(dataset, path, source=f"{dataset!r}, seed {config.train.seed}, {path.name}",
                                  num_workers=decode_workers(data.num_workers))
    return dataset


def benchmark(config: RunConfig, split: str, variant: str, length: int | None) -> Dataset:
    """A real benchmark's split read from ``data.data_root`` (``readers.open_benchmark``); with
    ``data.cache_dir``, decoded once into memory maps."""
    data = config.data
    taken = sorted({"split", "image_size", "sample_rate", "clip_seconds"} & set(data.reader_options))
    if taken:
        raise ConfigError(f"data.reader_options: {taken} come from the run's configuration; set data.image_size, "
                          "audio.sample_rate or audio.clip_seconds instead")
    if data.train_scenes != "fresh":
        raise ConfigError(f"data.train_scenes: {data.train_scenes!r} applies to the default data's composed scenes; "
                          f"a real benchmark ({data.dataset}) shows the same frames every epoch: leave it 'fresh'")
    if data.data_root is None:
        raise ConfigError(f"data.data_root: dataset {data.dataset!r} is a real benchmark; set data.data_root "
                          "to where it lives")
    if data.cache_dir is not None and split == "train" and data.train_resize == "short-side":
        raise ConfigError("data.cache_dir: with data.train_resize='short-side' (published) each training frame "
                          "keeps its aspect ratio and is cropped anew every epoch, which a cache of fixed-size "
                          "frames cannot hold; drop data.cache_dir, or set data.train_resize=square")
    dataset = open_benchmark(data.dataset, data.data_root, split=split, **benchmark_inputs(config, split),
                             **data.reader_options)
    return cached_split(dataset, config, split, variant) if data.cache_dir is not None else dataset


# data.dataset -> what builds its splits; config.DataConfig.dataset lists the same names.
DATASETS: dict[str, Callable[[RunConfig, str, str, int | None], Dataset]] = {
    **{kind: default_data for kind in DEFAULT_KINDS},
    **{name: benchmark for name in BENCHMARKS},
}


def benchmark_inputs(config: RunConfig, split: str) -> dict:
    """The keywords of ``readers.open_benchmark`` that a run configuration fixes: image size, audio
    rate, length and short-clip rule, and for training the frame resize and its crop seed."""
    data, audio = config.data, config.audio
    inputs = {"image_size": data.image_size, "sample_rate": audio.sample_rate, "clip_seconds": audio.clip_seconds,
              "short_clips": audio.short_clips}
    if split == "train":
        inputs.update(train_resize=data.train_resize, seed=config.train.seed)
    return inputs


def cache_path(config: RunConfig, split: str, variant: str = "single") -> Path:
    """Where ``data.cache_dir`` keeps a split: ``<dataset>-<split>-<variant>-<key>``, the key a
    hash of the data root, reader options, image size and audio settings."""
    data, audio = config.data, config.audio
    shaping = {"root": str(Path(data.data_root).resolve()), "options": data.reader_options,
               "image_size": data.image_size, "sample_rate": audio.sample_rate, "clip_seconds": audio.clip_seconds}
    if audio.short_clips != "pad":  # keys of caches built before the option existed stay as they were
        shaping["short_clips"] = audio.short_clips
    return Path(data.cache_dir) / f"{data.dataset}-{split}-{variant}-{shaping_key(shaping)}"


def scene_cache_path(config: RunConfig, length: int | None = None) -> Path:
    """Where ``data.cache_dir`` keeps the default data's training scenes of one data set and seed:
    ``<dataset>-<labels>-s<seed>-<key>``, the key a hash of the bank's bytes and everything else
    that shapes a scene (image size, clip length, scenes per epoch, the scene layout)."""
    data = config.data
    shaping = {"bank": sha256_of(bank_file(data.data_root, progress=False)), "dataset": data.dataset, "labels": data.labels,
               "image_size": data.image_size, "clip_seconds": config.audio.clip_seconds,
               "length": length or data.train_length, "train_scenes": data.train_scenes,
               "seed": config.train.seed, "scene": asdict(SceneConfig())}
    return Path(data.cache_dir) / f"{data.dataset}-{data.labels}-s{config.train.seed}-{shaping_key(shaping)}"


def shaping_key(shaping: dict) -> str:
    """A short hash of what shapes a cache's contents: another value, another folder."""
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_split(dataset: Dataset, config: RunConfig, split: str, variant: str = "single",
                 wait_seconds: float | None = None) -> Dataset:
    """The cache of ``dataset`` under ``data.cache_dir``, built on first use (by rank 0 alone
    under ``torchrun``; other ranks wait up to ``wait_seconds``, forever by default)."""
    path = cache_path(config, split, variant)
    wait_for_cache(path, wait_seconds)
    return cache_dataset(dataset, path, num_workers=decode_workers(config.data.num_workers))


def make_validation_set(config: RunConfig) -> Dataset | None:
    """The model-selection split, or None where the data has none.

    The default data and AVSBench have a validation split; Flickr-SoundNet and VGG-Sound do not,
    so they validate only on a list the user names (``data.reader_options["val_list"]``). Without
    one, runs keep their last checkpoint: upstream validated on the test set, which picks
    checkpoints on test data.
    """
    data = config.data
    if data.dataset in DEFAULT_KINDS or data.dataset == "avsbench-s4" or "val_list" in data.reader_options:
        return make_dataset(config, "val")
    return None

