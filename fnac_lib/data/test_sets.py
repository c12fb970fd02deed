"""Test sets: what runs are scored on (the default data's variants and splits, the real benchmarks),
and the inputs each was built for."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset

from ..config import RunConfig, apply_overrides
from .factory import DEFAULT_KINDS, make_dataset

# "mask": AVSBench-style pixel masks; "listening": one picture, two objects that can sound, each heard in turn
DEFAULT_VARIANTS = ("single", "listening", "multi", "open_set", "mask")
# default-data test sets that come in several splits; every other one is drawn from its variant's own
SPLITS_OF = {("objects", "single"): ("heard", "unheard"), ("objects", "listening"): ("heard", "pictures", "val")}


@dataclass
class TestSet:
    """One test set and the inputs it was built for (runs must match them to be scored on it)."""

    __test__ = False  # not a pytest test class, despite the name

    name: str  # "objects-heard", "objects-unheard", "objects-listening", "objects-multi", "digits", "flickr", ...
    dataset: Dataset
    inputs: tuple[int, int, float]  # (image_size, sample_rate, clip_seconds)
    protocols: tuple[str, ...] | None = None  # None: every protocol the samples allow (summarize_scores)
    listening: bool = False  # the listening test: scored by where each map peaks (``scoring.LISTENING``)


def config_inputs(config: RunConfig) -> tuple[int, int, float]:
    """(image_size, sample_rate, clip_seconds): the inputs a run takes and a test set is built for."""
    return config.data.image_size, config.audio.sample_rate, config.audio.clip_seconds


def test_set_name(kind: str, variant: str = "single", split: str | None = None) -> str:
    """``objects``, ``objects-heard``, ``objects-unheard``, ``objects-listening``, ``objects-pictures-listening``,
    ``objects-val-listening``, ``digits-multi``, ...: the split is named where it is not the variant's own
    (``default_split``)."""
    split = split or default_split(variant)
    return "-".join([kind] + ([split] if split != default_split(variant) else [])
                    + ([variant] if variant != "single" else []))


def default_split(variant: str) -> str:
    """The test split a variant is drawn from unless told: the listening test asks about heard classes."""
    return "heard" if variant == "listening" else "test"


def default_test_set(config: RunConfig, kind: str = "objects", variant: str = "single",
                     length: int | None = None, split: str | None = None) -> TestSet:
    """The ``variant`` scenes of default-data ``kind`` on a test ``split`` ("test", its parts "heard"
    and "unheard", or "val": the training assets in scenes of their own; default: ``default_split``),
    built for ``config``'s inputs."""
    split = split or default_split(variant)
    built = make_dataset(apply_overrides(config, {"data.dataset": kind, "data.data_root": None}), split,
                         variant=variant, length=length)
    # The mask variant's scenes are scored on their masks; their boxes repeat the single-source test.
    return TestSet(test_set_name(kind, variant, split), built, config_inputs(config),
                   protocols=("segmentation",) if variant == "mask" else
                   ("localization",) if variant == "listening" else None, listening=variant == "listening")


def default_test_sets(config: RunConfig, kind: str, variant: str, length: int | None = None) -> list[TestSet]:
    """The test sets of one default ``kind`` and ``variant``: single-source objects come as the
    heard and the unheard test (VGG-SS's two regimes); digits are all heard in training. The objects
    listening test comes three times: on held-out pictures and recordings of heard classes
    (``objects-listening``), on the same pictures and layouts heard through the training recordings
    (``objects-pictures-listening``: only the pictures are new) and on validation scenes
    (``objects-val-listening``: the training pictures and recordings in new scenes). They tell a map that
    cannot listen from one that listens to what it has seen, and what it fails to carry over: new
    pictures (val to pictures) or new recordings (pictures to listening)."""
    splits = SPLITS_OF.get((kind, variant), (default_split(variant),))
    return [default_test_set(config, kind, variant, length, split) for split in splits]


def benchmark_test_set(config: RunConfig, name: str, data_root, **options) -> TestSet:
    """The test split of a real benchmark (``readers.open_benchmark``) for ``config``'s inputs."""
    from .benchmarks import open_benchmark
    from .factory import benchmark_inputs

    built = open_benchmark(name, data_root, split="test", **benchmark_inputs(config, "test"), **options)
    return TestSet(name, built, config_inputs(config))


def available_test_sets(config: RunConfig, kinds=DEFAULT_KINDS, variants=DEFAULT_VARIANTS,
                        length: int | None = None, data_roots: dict | None = None,
                        benchmark_options: dict | None = None) -> list[TestSet]:
    """Every test set available: default ``kinds`` x ``variants`` (``default_test_sets``: objects
    heard and unheard, digits, ``<kind>-listening``, ``<kind>-multi``...), and each benchmark with a root.

    ``data_roots`` maps ``flickr`` / ``vggss`` / ``avsbench-s4`` to a directory or None (skipped);
    ``benchmark_options`` passes reader keywords per benchmark (e.g. ``extended_csv`` for the
    open-set Flickr test). Masks, where a set has them, are scored by ``scoring.evaluate_runs`` too.
    """
    found = [test for kind in kinds for variant in variants for test in default_test_sets(config, kind, variant, length)]
    for name, root in (data_roots or {}).items():
        if root is not None:
            found.append(benchmark_test_set(config, name, root, **(benchmark_options or {}).get(name, {})))
    return found
