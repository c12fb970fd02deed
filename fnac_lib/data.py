"""One entry point from a run configuration to a dataset, default data or real benchmark.

``python -m fnac_lib.data build-default`` builds the embedded default data (see ``assets``).
"""

from __future__ import annotations

import sys

from torch.utils.data import Dataset

from .config import RunConfig

DEFAULT_KINDS = ("objects", "digits")


def make_dataset(config: RunConfig, split: str, variant: str = "single", length: int | None = None) -> Dataset:
    """The ``split`` ("train", "val" or "test") of the dataset ``config.data`` names."""
    data = config.data
    if data.dataset in DEFAULT_KINDS:
        from .datasets import make_default_dataset

        lengths = {"train": data.train_length, "val": data.val_length, "test": data.test_length}
        if split not in lengths:
            raise ValueError(f"unknown split {split!r}; choose one of {sorted(lengths)}")
        dataset = make_default_dataset(
            kind=data.dataset, split=split, variant=variant, labels=data.labels, image_size=data.image_size,
            clip_seconds=config.audio.clip_seconds, length=length or lengths[split], seed=config.train.seed,
            data_dir=data.data_root,
        )
    else:
        from .readers import open_benchmark

        if data.data_root is None:
            raise ValueError(f"dataset {data.dataset!r} is a real benchmark: set data.data_root to where it lives")
        dataset = open_benchmark(
            data.dataset, data.data_root, split=split, image_size=data.image_size,
            sample_rate=config.audio.sample_rate, clip_seconds=config.audio.clip_seconds, **data.reader_options,
        )
    rate = getattr(dataset, "sample_rate", config.audio.sample_rate)
    if rate != config.audio.sample_rate:
        raise ValueError(f"{data.dataset} audio is at {rate} Hz but audio.sample_rate is {config.audio.sample_rate}")
    return dataset


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


if __name__ == "__main__":
    if sys.argv[1:2] != ["build-default"]:
        sys.exit("usage: python -m fnac_lib.data build-default [--data-dir DIR] [--force]")
    from .assets import main_build

    sys.exit(main_build(sys.argv[2:]))
