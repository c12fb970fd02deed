"""Benchmark samples from records: where each file lives and what its ground truth is.

Bad input is never papered over. Upstream's loaders catch any failure and return a random
*other* sample instead, silently, test set included; this dataset does not. A missing file, an
unreadable image or audio file, or a malformed annotation raises ``DatasetError`` naming the
file and the problem. With ``skip_bad=True`` every sample is decoded once up front; bad ones are
dropped, listed in ``dataset.skipped`` as ``(id, problem)`` and logged as a warning.
"""

from __future__ import annotations

import inspect
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError, DatasetError, printable
from ...progress import track
from ..boxes import boxes_to_map, mask_box
from .decoding import check_mask_fits, load_audio, load_image, load_mask, load_train_crop, train_frame_size, utf8_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """Where one sample lives and what its ground truth is (no pixels or samples yet)."""

    id: str
    image: Path
    audio: Path
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # normalised x1, y1, x2, y2
    gt: str = "none"  # "consensus" (Flickr), "union" (VGG-SS), "mask" (AVSBench) or "none"
    label: int = -1
    classes: tuple[int, ...] = ()
    on_screen: bool = True
    mask: Path | None = None
    audio_start: float | None = None  # seconds; None takes the centre of the file
    audio_seconds: float | None = None  # length of the audio segment; None means clip_seconds


class BenchmarkDataset(Dataset):
    """Samples (``sample.py``) from a list of records; the benchmark readers below build the records.

    Missing files are found when the dataset is built (one directory listing), not after an hour
    of evaluation. With ``skip_bad`` every sample is also decoded once, on ``workers`` threads.

    ``sample_rate="native"`` keeps each file's rate (as upstream): the dataset takes the rate of its
    first audio file, and a file at another rate is a bad sample naming it (a batch cannot mix
    clip lengths). ``short_clips``: "pad" or "tile" (``decoding.load_audio``). Training frames with
    ``train_resize="short-side"`` are resized with their aspect kept and randomly cropped as they
    load (``decoding.load_train_crop``), from a generator seeded by (``seed``, epoch, index), so a
    run draws the same crops with any number of loader workers and after a resume.
    """

    name = "benchmark"

    def __init__(
        self,
        records: list[Record],
        problems: list[tuple[str, DatasetError]] = (),
        *,
        split: str = "test",
        image_size: int = 224,
        sample_rate: int = 16000,
        clip_seconds: float = 3.0,
        skip_bad: bool = False,
        class_names: list[str] = (),
        workers: int = 4,
        short_clips: str = "pad",
        train_resize: str = "square",
        seed: int = 0,
    ) -> None:
        if train_resize not in ("square", "short-side") or short_clips not in ("pad", "tile"):
            raise ConfigError(f"train_resize must be 'square' or 'short-side' and short_clips 'pad' or 'tile', "
                              f"got {train_resize!r} and {short_clips!r}")
        self.split = split
        self.image_size = image_size
        self.crop_on_load = split == "train" and train_resize == "short-side"
        self.frame_size = train_frame_size(image_size) if split == "train" and not self.crop_on_load else image_size
        self.clip_seconds = clip_seconds
        self.short_clips, self.seed, self.epoch = short_clips, seed, 0
        self.class_names = list(class_names)
        self.skipped: list[tuple[str, str]] = []
        problems = list(problems) + self._missing_files(records)
        bad = {sample_id for sample_id, _ in problems}
        records = [r for r in records if r.id not in bad]
        self.resample = sample_rate != "native"
        self.sample_rate = sample_rate if self.resample else self._first_rate(records)
        if skip_bad:
            problems += self._undecodable(records, workers)
            bad = {sample_id for sample_id, _ in problems}
            records = [r for r in records if r.id not in bad]
        self._report(problems, skip_bad, len(records))
        if not records:
            raise DatasetError(f"{self.name} {split}", "no samples: the files and lists found name none")
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        try:
            return self.load(self.records[index], index)
        except DatasetError as error:  # found while reading: say how to skip such samples
            raise DatasetError(error.path, f"{error.problem} (the reader option skip_bad=True checks every "
                                           "sample first and skips the bad ones)") from None

    def set_epoch(self, epoch: int) -> None:
        """The epoch the loader is about to draw: it seeds the training crops (``crop_on_load``)."""
        self.epoch = epoch

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, split={self.split!r}, {len(self)} samples, "
                f"{len(self.skipped)} skipped, image {self.frame_size}px, "
                f"audio {self.clip_seconds} s @ {self.sample_rate} Hz)")

    def load(self, record: Record, index: int = 0) -> dict:
        """Decode one record (the ``index``-th) into a sample dict; raises ``DatasetError`` naming any bad file."""
        size = self.frame_size
        if self.crop_on_load:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image = load_train_crop(record.image, train_frame_size(self.image_size), size, rng)
        else:
            image = load_image(record.image, size)
        audio = load_audio(record.audio, self.sample_rate, self.clip_seconds, record.audio_start,
                           record.audio_seconds, self.short_clips, self.resample)
        boxes = torch.tensor(record.boxes, dtype=torch.float32).reshape(-1, 4)  # (N, 4)
        sample = {}
        if record.gt == "mask":
            check_mask_fits(record.mask, record.image)
            mask = load_mask(record.mask, size)
            sample["mask"] = mask
            gt_map, boxes = mask, mask_box(mask)
        elif record.gt in ("consensus", "union"):
            gt_map = boxes_to_map(record.boxes, size, record.gt)
        else:
            gt_map = torch.zeros(size, size)
        sample.update(
            image=image, audio=audio, gt_map=gt_map, boxes=boxes,
            classes=torch.tensor(record.classes, dtype=torch.long), label=record.label,
            on_screen=record.on_screen, id=record.id,
        )
        return sample

    @staticmethod
    def _first_rate(records: list[Record]) -> int:
        """The native rate of the first readable audio file: the rate of every clip of the dataset."""
        for record in records:
            try:
                return int(sf.info(str(record.audio)).samplerate)
            except (sf.LibsndfileError, RuntimeError):
                continue  # reported with its sample when it is loaded
        if records:
            raise DatasetError(records[0].audio.parent, "no readable audio file to take the native sample rate from")
        return 0  # an empty dataset: nothing to load

    def _missing_files(self, records: list[Record]) -> list[tuple[str, DatasetError]]:
        listings: dict[Path, set[str]] = {}

        def exists(path: Path) -> bool:
            if path.parent not in listings:
                listings[path.parent] = set(os.listdir(path.parent)) if path.parent.is_dir() else set()
            return path.name in listings[path.parent]

        problems = []
        for record in records:
            for path in (record.image, record.audio, record.mask):
                try:
                    if path is not None and not exists(utf8_path(path)):
                        raise DatasetError(path, "missing file")
                except DatasetError as error:  # missing, or a name that is not UTF-8
                    problems.append((record.id, error))
                    break
        return problems

    def _undecodable(self, records: list[Record], workers: int) -> list[tuple[str, DatasetError]]:
        def check(record: Record):
            try:
                self.load(record)
            except DatasetError as error:
                return record.id, error
            return None

        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = list(track(pool.map(check, records), f"checking {self.name} {self.split}", len(records),
                                 enabled=len(records) >= 500, leave=False, unit="files"))
        return [r for r in results if r is not None]

    def _report(self, problems: list[tuple[str, DatasetError]], skip_bad: bool, kept: int) -> None:
        if not problems:
            return
        sample_id, first = problems[0]
        if not skip_bad:
            more = (f" ({len(problems) - 1} more bad samples; pass skip_bad=True to skip them)"
                    if len(problems) > 1 else "")
            raise DatasetError(first.path, f"{first.problem}{more}")
        if kept == 0:
            raise DatasetError(first.path, f"{first.problem} (no sample of {self.name} {self.split} is left: "
                                           f"all {len(problems)} are bad)")
        self.skipped = [(printable(sample_id), str(error)) for sample_id, error in problems]
        shown = "; ".join(f"{i}: {e}" for i, e in self.skipped[:5])
        log.warning("%s %s: skipped %d bad samples, kept %d: %s%s", self.name, self.split, len(self.skipped), kept,
                    shown, " ... (all in .skipped)" if len(self.skipped) > 5 else "")


def check_reader_options(reader: type, options: dict) -> None:
    """Refuse a keyword the reader does not take (``data.reader_options``), listing the ones it does."""
    known = {name for cls in (reader, BenchmarkDataset) for name in inspect.signature(cls.__init__).parameters}
    known -= {"self", "data_root", "split", "records", "problems", "options"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"data.reader_options: {reader.name} takes no option {', '.join(map(repr, unknown))}; "
                          f"its options are {', '.join(sorted(known))}")
