"""Readers for the real benchmarks: Flickr-SoundNet, VGG-Sound / VGG-SS, AVSBench S4, plain folders.

Every reader is a ``torch.utils.data.Dataset`` of the sample dicts described in ``sample.py``:
the image resized to ``image_size`` square (test) or ``round(image_size * 246 / 224)`` square
(train: the device random-crops ``image_size``, as the published recipe's resize-246/crop-224),
a mono float32 waveform at ``sample_rate`` cropped or zero-padded around its centre to
``clip_seconds``, and the ground truth of the benchmark (fnac_method.md, sections 3 and 4).

On-disk layouts (the ones the field's code expects; ``prepare.py`` writes the plain one):

* plain (``folder``, Flickr and VGG-Sound training): ``frames/<id>.jpg`` + ``audio/<id>.wav``.
* Flickr-SoundNet test: the plain layout plus ``Annotations/<id>.xml`` (several annotators'
  boxes in 256x256 pixel coordinates) and, optionally, ``flickr_test.csv`` listing the ids.
* VGG-SS test: the plain layout plus ``vggss.json`` ([{file, class, bbox: [[x1, y1, x2, y2], ...]}],
  normalised) and, optionally, ``vggss_heard_test.csv`` / ``vggss_unheard_test.csv``.
* AVSBench S4: ``s4_meta_data.csv`` (columns ``name``, ``category``, ``split``; the start time
  sits in between and is not needed) next to ``s4_data/{visual_frames,audio_wav,gt_masks}/
  <split>/<category>/<name>...`` with frames and masks named ``<name>_<k>.png``, k = 1..5.

Bad input is never papered over. Upstream's loaders catch any failure and return a random
*other* sample instead, silently, test set included; these readers do not. A missing file, an
unreadable image or audio file, or a malformed XML/JSON/CSV entry raises ``DatasetError``
naming the file and the problem. With ``skip_bad=True`` every sample is loaded once up front;
bad ones are dropped, listed in ``dataset.skipped`` as ``(id, problem)`` and logged as a warning.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

BENCHMARKS = ("flickr", "vggss", "vggsound", "avsbench-s4", "folder")
TRAIN_RESIZE = 246 / 224  # published recipe: resize to 246, random-crop 224 (kept as a ratio of image_size)
FLICKR_ANNOTATION_SIZE = 256  # Flickr-SoundNet boxes are pixel coordinates of a 256x256 frame
S4_FRAMES = 5  # AVSBench S4: five frames per 5-s clip, frame k paired with second k
S4_SPLITS = ("train", "val", "test")
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".wav", ".flac", ".mp4", ".mkv", ".webm")


class DatasetError(ValueError):
    """A benchmark file is missing, unreadable or malformed; the message names the file."""

    def __init__(self, path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


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


# ---------------------------------------------------------------------------------------------
# Decoding: one file to one tensor, errors named by file.


def train_frame_size(image_size: int) -> int:
    """Side of the training frame, from which the device random-crops ``image_size``."""
    return int(round(image_size * TRAIN_RESIZE))


def load_image(path: Path, size: int) -> torch.Tensor:
    """RGB image resized (bicubic, as upstream) to ``size`` square. Returns uint8 (3, size, size)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # forces the full decode: truncated files fail here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(path, f"unreadable image ({error})") from error
    image = image.resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()  # (3, size, size)


def load_mask(path: Path, size: int) -> torch.Tensor:
    """Binary segmentation mask resized (nearest) to ``size`` square. Returns float32 (size, size).

    Pixels >= 128 are foreground, the threshold of PIL's ``convert('1')`` that AVSBench uses.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        with Image.open(path) as image:
            image = image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(path, f"unreadable mask image ({error})") from error
    image = image.resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(image) >= 128).float()


def centre_fit(wave: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop or centre-zero-pad a (T,) waveform to ``length`` samples."""
    excess = wave.shape[0] - length
    if excess >= 0:
        return wave[excess // 2: excess // 2 + length]
    left = -excess // 2
    return torch.nn.functional.pad(wave, (left, -excess - left))


def load_audio(
    path: Path, sample_rate: int, clip_seconds: float, start: float | None = None, seconds: float | None = None
) -> torch.Tensor:
    """Mono float32 waveform at ``sample_rate``, exactly ``clip_seconds`` long.

    ``start=None`` reads the centred ``clip_seconds`` of the file (EZ-VSL/FNAC's 3-s centred crop).
    With ``start`` (and ``seconds``) the segment [start, start + seconds) is read instead. Either
    way a shorter read is zero-padded around its centre; upstream tiles short clips, but a
    repeated sound is a different signal, so we pad.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing file")
    try:
        info = sf.info(str(path))
        native = int(info.samplerate)
        total = int(info.frames)
        if total <= 0:
            raise DatasetError(path, "audio file holds no samples")
        want = int(round((seconds if seconds is not None else clip_seconds) * native))
        first = max(0, (total - want) // 2) if start is None else int(round(start * native))
        if first >= total:
            raise DatasetError(path, f"segment at {start:.2f} s starts after the audio ends ({total / native:.2f} s)")
        data, _ = sf.read(str(path), start=first, stop=min(total, first + want), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise DatasetError(path, f"unreadable audio ({error})") from error
    wave = torch.from_numpy(data.mean(axis=1))  # (T,) mono
    if native != sample_rate:
        wave = AF.resample(wave, native, sample_rate)
    return centre_fit(wave, int(round(clip_seconds * sample_rate)))


def boxes_to_map(boxes, size: int, mode: str) -> torch.Tensor:
    """Ground-truth map (size, size) from normalised boxes.

    ``consensus`` (Flickr-SoundNet): sum of the box masks / 2, clipped to 1, so a pixel one
    annotator marked counts 0.5 and one marked by two or more counts 1. ``union`` (VGG-SS): 1
    inside any box. Box edges map to pixels as upstream's ``int(224 * v)`` at any size.
    """
    counts = torch.zeros(size, size)
    for x1, y1, x2, y2 in boxes:
        c1, r1, c2, r2 = (int(math.floor(v * size)) for v in (x1, y1, x2, y2))
        counts[r1:r2, c1:c2] += 1
    if mode == "consensus":
        return (counts / 2).clamp(max=1.0)
    if mode == "union":
        return (counts > 0).float()
    raise ValueError(f"unknown ground-truth mode {mode!r}")


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """Normalised bounding box (1, 4) of a binary (H, W) mask; (0, 4) when the mask is empty."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    if rows.numel() == 0:
        return torch.zeros(0, 4)
    h, w = mask.shape
    return torch.tensor([[cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h]], dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# Metadata: id lists, annotation files. Per-sample problems are collected, file-level ones raise.


def _require_file(path: Path) -> Path:
    if not Path(path).is_file():
        raise DatasetError(path, "missing file")
    return Path(path)


def _strip_media_suffix(name: str) -> str:
    for suffix in MEDIA_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_id_list(path) -> list[str]:
    """Ids, one per line; the first comma-separated field counts (EZ-VSL's ``flickr_10k.txt``,
    ``flickr_144k.csv``, ``vggss_heard_test.csv``; LVS's ``flickr_test.csv`` is ``id,number``)."""
    path = _require_file(Path(path))
    ids, seen = [], set()
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row or not row[0].strip():
                continue
            name = _strip_media_suffix(row[0].strip())
            if name not in seen:
                seen.add(name)
                ids.append(name)
    if not ids:
        raise DatasetError(path, "id list is empty")
    return ids


def _xml_box(element: ET.Element, path: Path, index: int, size: float) -> tuple[float, float, float, float]:
    """One annotator's box from a ``<bbox>``: named ``xmin..ymax`` children, or upstream's
    positional reading (five children: an annotator field, then xmin, ymin, xmax, ymax)."""
    children = list(element)
    named = {child.tag: child.text for child in children}
    if all(key in named for key in ("xmin", "ymin", "xmax", "ymax")):
        texts = [named[key] for key in ("xmin", "ymin", "xmax", "ymax")]
    elif len(children) == 5:
        texts = [child.text for child in children[1:]]
    else:
        tags = [c.tag for c in children]
        raise DatasetError(path, f"box {index}: expected <xmin>, <ymin>, <xmax>, <ymax>, got {tags}")
    try:
        values = [float((text or "").strip()) for text in texts]
    except ValueError as error:
        raise DatasetError(path, f"box {index}: non-numeric coordinate ({error})") from error
    x1, y1, x2, y2 = (min(max(v / size, 0.0), 1.0) for v in values)
    return (x1, y1, x2, y2)


def parse_flickr_xml(path, annotation_size: float = FLICKR_ANNOTATION_SIZE) -> tuple[tuple[float, ...], ...]:
    """All annotators' boxes of one Flickr-SoundNet test image, normalised to [0, 1].

    Every ``<bbox>`` (or VOC-style ``<bndbox>``) anywhere in the file is one annotator's box in
    ``annotation_size`` pixel coordinates; several annotators give several boxes.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise DatasetError(path, f"malformed XML ({error})") from error
    elements = [e for e in root.iter() if e.tag in ("bbox", "bndbox")]
    if not elements:
        raise DatasetError(path, "no <bbox> element: expected one per annotator box")
    return tuple(_xml_box(e, path, i, annotation_size) for i, e in enumerate(elements))


def parse_vggss_json(path) -> tuple[dict[str, tuple[str, tuple]], list[tuple[str, DatasetError]]]:
    """VGG-SS annotations: ``{file: (class name, boxes)}`` plus per-entry problems.

    Boxes are normalised ``[x1, y1, x2, y2]``, clipped to [0, 1] as upstream does. The public file
    holds a few degenerate (zero-area) boxes; they are valid and simply mark nothing.
    """
    path = _require_file(Path(path))
    try:
        entries = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(path, f"malformed JSON ({error})") from error
    if not isinstance(entries, list):
        raise DatasetError(path, f"malformed JSON: expected a list of entries, got {type(entries).__name__}")
    annotations, problems = {}, []
    for index, entry in enumerate(entries):
        name = entry.get("file") if isinstance(entry, dict) else None
        where = f"entry {index}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            if not isinstance(name, str) or not name:
                raise DatasetError(path, f"{where}: missing 'file'")
            if not isinstance(entry.get("class"), str):
                raise DatasetError(path, f"{where}: missing 'class'")
            boxes = entry.get("bbox")
            if not isinstance(boxes, list) or not all(
                isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b) for b in boxes
            ):
                raise DatasetError(path, f"{where}: 'bbox' must be a list of [x1, y1, x2, y2] numbers")
        except DatasetError as error:
            problems.append((_strip_media_suffix(name) if isinstance(name, str) and name else where, error))
            continue
        clipped = tuple(tuple(min(max(float(v), 0.0), 1.0) for v in box) for box in boxes)
        annotations[_strip_media_suffix(name)] = (entry["class"], clipped)
    return annotations, problems


def parse_vggsound_csv(path) -> tuple[dict[str, str], list[tuple[str, DatasetError]]]:
    """The official ``vggsound.csv`` (YouTube id, start second, label, split; no header) as
    ``{"<ytid>_<start:06d>": label}``, the id convention of the VGG-Sound train lists."""
    path = _require_file(Path(path))
    labels, problems = {}, []
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            try:
                if len(row) != 4:
                    raise DatasetError(
                        path, f"line {line}: expected 4 fields (ytid, start, label, split), got {len(row)}")
                try:
                    start = int(float(row[1]))
                except ValueError:
                    raise DatasetError(path, f"line {line}: start time {row[1]!r} is not a number") from None
            except DatasetError as error:
                problems.append((f"line {line}", error))
                continue
            labels[f"{row[0].strip()}_{start:06d}"] = row[2].strip()
    return labels, problems


def read_s4_metadata(path) -> tuple[list[dict[str, str]], list[tuple[str, DatasetError]]]:
    """Rows of AVSBench's ``s4_meta_data.csv`` (header with ``name``, ``category``, ``split``)."""
    path = _require_file(Path(path))
    rows, problems = [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("name", "category", "split") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(path, f"missing column(s) {missing}; header is {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            name, category, split = ((row.get(k) or "").strip() for k in ("name", "category", "split"))
            if not name or not category or split not in S4_SPLITS:
                problems.append((f"line {line}", DatasetError(
                    path, f"line {line}: malformed row {row!r} (need name, category and a split in {S4_SPLITS})")))
                continue
            rows.append({"name": name, "category": category, "split": split})
    return rows, problems


def read_extended_pairs(path, frames: Path, audio: Path, image_ext: str, audio_ext: str) -> list[Record]:
    """SLAVC's extended test csv (``image_id,audio_id,label``): each ``non-sounding`` row is a
    silent or mismatched pair, returned as an off-screen record with an empty ground truth."""
    path = _require_file(Path(path))
    records = []
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) < 3:
                raise DatasetError(path, f"line {line}: expected image_id, audio_id, label; got {row!r}")
            if row[2].strip() != "non-sounding":
                continue  # sounding rows are the ordinary test pairs, already listed
            image_id, audio_id = _strip_media_suffix(row[0].strip()), _strip_media_suffix(row[1].strip())
            records.append(Record(
                id=f"{image_id}__{audio_id}", image=frames / f"{image_id}{image_ext}",
                audio=audio / f"{audio_id}{audio_ext}", on_screen=False,
            ))
    return records


def paired_ids(frames: Path, audio: Path, image_ext: str, audio_ext: str) -> list[str]:
    """Ids with both ``frames/<id><image_ext>`` and ``audio/<id><audio_ext>``; unpaired files are
    reported (upstream drops them without a word)."""
    for folder in (frames, audio):
        if not folder.is_dir():
            raise DatasetError(folder, "missing directory")
    images = {p.name[: -len(image_ext)] for p in os.scandir(frames) if p.name.endswith(image_ext)}
    sounds = {p.name[: -len(audio_ext)] for p in os.scandir(audio) if p.name.endswith(audio_ext)}
    unpaired = len(images ^ sounds)
    if unpaired:
        log.warning("%s: %d files have no partner in %s/%s and are not used", frames.parent, unpaired,
                    frames.name, audio.name)
    return sorted(images & sounds)


# ---------------------------------------------------------------------------------------------
# The dataset: records in, samples out.


class BenchmarkDataset(Dataset):
    """Samples (``sample.py``) from a list of records; the benchmark readers below build the records.

    Missing files are found when the dataset is built (one directory listing), not after an hour
    of evaluation. With ``skip_bad`` every sample is also decoded once, on ``workers`` threads.
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
        classes: list[str] = (),
        workers: int = 4,
    ) -> None:
        self.split = split
        self.image_size = image_size
        self.frame_size = train_frame_size(image_size) if split == "train" else image_size
        self.sample_rate = sample_rate
        self.clip_seconds = clip_seconds
        self.classes = list(classes)
        self.skipped: list[tuple[str, str]] = []
        problems = list(problems) + self._missing_files(records)
        bad = {sample_id for sample_id, _ in problems}
        records = [r for r in records if r.id not in bad]
        if skip_bad:
            problems += self._undecodable(records, workers)
            bad = {sample_id for sample_id, _ in problems}
            records = [r for r in records if r.id not in bad]
        self._report(problems, skip_bad, len(records))
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.load(self.records[index])

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, split={self.split!r}, {len(self)} samples, "
                f"{len(self.skipped)} skipped, image {self.frame_size}px, "
                f"audio {self.clip_seconds} s @ {self.sample_rate} Hz)")

    def load(self, record: Record) -> dict:
        """Decode one record into a sample dict; raises ``DatasetError`` naming any bad file."""
        size = self.frame_size
        image = load_image(record.image, size)
        audio = load_audio(record.audio, self.sample_rate, self.clip_seconds, record.audio_start, record.audio_seconds)
        boxes = torch.tensor(record.boxes, dtype=torch.float32).reshape(-1, 4)  # (N, 4)
        sample = {}
        if record.gt == "mask":
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

    def _missing_files(self, records: list[Record]) -> list[tuple[str, DatasetError]]:
        listings: dict[Path, set[str]] = {}

        def exists(path: Path) -> bool:
            if path.parent not in listings:
                listings[path.parent] = set(os.listdir(path.parent)) if path.parent.is_dir() else set()
            return path.name in listings[path.parent]

        problems = []
        for record in records:
            for path in (record.image, record.audio, record.mask):
                if path is not None and not exists(path):
                    problems.append((record.id, DatasetError(path, "missing file")))
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
            results = list(tqdm(pool.map(check, records), total=len(records), desc=f"checking {self.name} {self.split}",
                                disable=len(records) < 500, leave=False))
        return [r for r in results if r is not None]

    def _report(self, problems: list[tuple[str, DatasetError]], skip_bad: bool, kept: int) -> None:
        if not problems:
            return
        if not skip_bad:
            sample_id, first = problems[0]
            more = (f" ({len(problems) - 1} more bad samples; pass skip_bad=True to skip them)"
                    if len(problems) > 1 else "")
            raise DatasetError(first.path, f"{first.problem}{more}")
        self.skipped = [(sample_id, str(error)) for sample_id, error in problems]
        shown = "; ".join(f"{i}: {e}" for i, e in self.skipped[:5])
        log.warning("%s %s: skipped %d bad samples, kept %d: %s%s", self.name, self.split, len(self.skipped), kept,
                    shown, " ... (all in .skipped)" if len(self.skipped) > 5 else "")


# ---------------------------------------------------------------------------------------------
# The benchmarks.


def _plain_records(ids, frames: Path, audio: Path, image_ext: str, audio_ext: str) -> list[Record]:
    return [Record(id=i, image=frames / f"{i}{image_ext}", audio=audio / f"{i}{audio_ext}") for i in ids]


def _listed_ids(name: str, split: str, val_list, test_list) -> list[str] | None:
    """Ids of an evaluation split named by a list file; None when the reader's default applies.

    ``val`` needs ``val_list``: these benchmarks have no validation split, and upstream validated
    on the test set, which picks checkpoints on test data.
    """
    if split == "val":
        if val_list is None:
            raise ValueError(f"{name} has no validation split: pass val_list=<file of held-out annotated ids>. "
                             "Upstream validated on the test set, which picks checkpoints on test data.")
        return read_id_list(val_list)
    return read_id_list(test_list) if test_list is not None else None


class FolderBenchmark(BenchmarkDataset):
    """Plain ``frames/<id>.jpg`` + ``audio/<id>.wav`` pairs without annotations.

    ``id_list`` restricts and orders the ids; without it every id with both files is used.
    ``frame=k`` reads the k-th of several frames ``prepare.py`` extracted, ``frames/<id>/<id>_<k>.jpg``.
    """

    name = "folder"

    def __init__(self, data_root, split: str = "test", *, id_list=None, frame: int | None = None,
                 image_ext: str = ".jpg", audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        if id_list is not None:
            ids = read_id_list(id_list)
        elif frame is None:
            ids = paired_ids(frames, audio, image_ext, audio_ext)
        else:
            ids = sorted(set(p.name for p in os.scandir(frames) if p.is_dir())
                         & {p.name[: -len(audio_ext)] for p in os.scandir(audio) if p.name.endswith(audio_ext)})
        if frame is None:
            records = _plain_records(ids, frames, audio, image_ext, audio_ext)
        else:
            records = [Record(id=f"{i}_{frame}", image=frames / i / f"{i}_{frame}{image_ext}",
                              audio=audio / f"{i}{audio_ext}") for i in ids]
        super().__init__(records, split=split, **options)


class FlickrSoundNet(BenchmarkDataset):
    """Flickr-SoundNet (Senocak et al. 2018 test annotations, as used by LVS / EZ-VSL / FNAC).

    ``split="test"``: ids from ``test_list`` (default ``<root>/flickr_test.csv`` if present, else
    every ``Annotations/<id>.xml``); gt = annotator consensus (sum of box masks / 2, clipped to 1).
    ``extended_csv`` adds SLAVC's silent/mismatched pairs (``on_screen=False``) for the open-set test.
    ``split="train"``: the ids of ``id_list`` (``flickr_10k.txt``, ``flickr_144k.csv``) or every pair.
    ``split="val"``: the test format restricted to ``val_list``.
    """

    name = "flickr"

    def __init__(self, data_root, split: str = "test", *, id_list=None, test_list=None, val_list=None,
                 annotations=None, extended_csv=None, annotation_size: float = FLICKR_ANNOTATION_SIZE,
                 image_ext: str = ".jpg", audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        problems: list[tuple[str, DatasetError]] = []
        if split == "train":
            ids = read_id_list(id_list) if id_list is not None else paired_ids(frames, audio, image_ext, audio_ext)
            records = _plain_records(ids, frames, audio, image_ext, audio_ext)
        elif split in ("test", "val"):
            ann_dir = Path(annotations) if annotations is not None else root / "Annotations"
            ids = _listed_ids(self.name, split, val_list, test_list)
            if ids is None and (root / "flickr_test.csv").is_file():
                ids = read_id_list(root / "flickr_test.csv")
            elif ids is None:
                if not ann_dir.is_dir():
                    raise DatasetError(ann_dir, "missing directory (Flickr-SoundNet test annotations)")
                ids = sorted(p.stem for p in ann_dir.glob("*.xml"))
            records = []
            for sample_id in ids:
                xml = ann_dir / f"{sample_id}.xml"
                try:
                    boxes = parse_flickr_xml(_require_file(xml), annotation_size)
                except DatasetError as error:
                    problems.append((sample_id, error))
                    continue
                records.append(Record(id=sample_id, image=frames / f"{sample_id}{image_ext}",
                                      audio=audio / f"{sample_id}{audio_ext}", boxes=boxes, gt="consensus"))
            if extended_csv is not None:
                records += read_extended_pairs(extended_csv, frames, audio, image_ext, audio_ext)
        else:
            raise ValueError(f"unknown split {split!r} for flickr; choose train, val or test")
        super().__init__(records, problems, split=split, **options)


class VGGSoundSource(BenchmarkDataset):
    """VGG-Sound training lists and the VGG-SS test set (Chen et al. 2021, LVS).

    ``split="test"``: entries of ``annotations`` (default ``<root>/vggss.json``), restricted to
    ``test_list`` or to ``subset="heard"`` / ``"unheard"`` (``<root>/vggss_{subset}_test.csv``,
    EZ-VSL's open-set lists); gt = binary union of the boxes; label = index of the class name in
    ``classes`` (sorted names of the JSON, 221 for the public file, unless ``class_names`` is given).
    ``extended_csv`` adds SLAVC's silent/mismatched pairs for the open-set test.
    ``split="train"``: ids of ``id_list`` (``vggss_10k.txt``, ``vggss_144k.txt``, ``vggss_heard.txt``)
    or every pair; labels from the official ``vggsound.csv`` when ``class_csv`` is given, else -1.
    ``split="val"``: the test format restricted to ``val_list``.
    """

    name = "vggss"

    def __init__(self, data_root, split: str = "test", *, id_list=None, test_list=None, val_list=None,
                 subset: str | None = None, annotations=None, class_csv=None, class_names=None,
                 extended_csv=None, image_ext: str = ".jpg", audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        problems: list[tuple[str, DatasetError]] = []
        if split == "train":
            ids = read_id_list(id_list) if id_list is not None else paired_ids(frames, audio, image_ext, audio_ext)
            names: dict[str, str] = {}
            if class_csv is not None:
                names, problems = parse_vggsound_csv(class_csv)
            classes = list(class_names) if class_names else sorted(set(names.values()))
            index = {c: i for i, c in enumerate(classes)}
            unlabelled = sum(1 for i in ids if i not in names) if class_csv is not None else 0
            if unlabelled:
                log.warning("%s: %d training ids have no row in %s; their label is -1", root, unlabelled, class_csv)
            records = [Record(id=i, image=frames / f"{i}{image_ext}", audio=audio / f"{i}{audio_ext}",
                              label=index.get(names.get(i), -1)) for i in ids]
        elif split in ("test", "val"):
            ann_path = Path(annotations) if annotations is not None else root / "vggss.json"
            table, problems = parse_vggss_json(ann_path)
            classes = list(class_names) if class_names else sorted({c for c, _ in table.values()})
            index = {c: i for i, c in enumerate(classes)}
            ids = _listed_ids(self.name, split, val_list, test_list)
            if ids is None and subset is not None:
                if subset not in ("heard", "unheard"):
                    raise ValueError(f"unknown VGG-SS subset {subset!r}; choose 'heard' or 'unheard'")
                ids = read_id_list(root / f"vggss_{subset}_test.csv")
            elif ids is None:
                ids = sorted(table)  # every entry, so every malformed entry counts below
            records = []
            for sample_id in ids:
                if sample_id not in table:
                    if not any(i == sample_id for i, _ in problems):
                        problems.append((sample_id, DatasetError(ann_path, f"{sample_id}: no annotation entry")))
                    continue
                class_name, boxes = table[sample_id]
                label = index.get(class_name, -1)
                records.append(Record(id=sample_id, image=frames / f"{sample_id}{image_ext}",
                                      audio=audio / f"{sample_id}{audio_ext}", boxes=boxes, gt="union",
                                      label=label, classes=(label,) * len(boxes)))
            if split == "val" or test_list is not None or subset is not None:
                listed = set(ids)  # malformed entries outside the chosen list do not matter
                problems = [p for p in problems if p[0] in listed or p[0].startswith("entry ")]
            if extended_csv is not None:
                records += read_extended_pairs(extended_csv, frames, audio, image_ext, audio_ext)
        else:
            raise ValueError(f"unknown split {split!r} for vggss; choose train, val or test")
        super().__init__(records, problems, split=split, classes=classes, **options)


class AVSBenchS4(BenchmarkDataset):
    """AVSBench single-source (S4) segmentation, one sample per annotated frame (Zhou et al. 2022).

    Train clips have one mask (frame 1), val/test clips five, so ``train`` yields 1 sample per clip
    and ``val``/``test`` 5. The ``mask`` key holds the binary mask; ``gt_map`` is the same mask so
    cIoU applies too, and ``boxes`` its bounding box. Label = index of the category among the
    sorted categories of the csv (23 for the public file).

    Audio: AVSBench pairs frame k with the k-th second of the 5-s clip (its VGGish features are one
    0.96-s window per second). ``audio_window="segment"`` (default) reads exactly that second,
    [k-1, k) s, centred and zero-padded to ``clip_seconds`` so every batch has one length; with
    ``"context"`` the full ``clip_seconds`` around the segment's centre are read (shifted to stay
    inside the clip), giving the model the context length it was trained with.
    """

    name = "avsbench-s4"

    def __init__(self, data_root, split: str = "test", *, csv_path=None, data_dir=None,
                 audio_window: str = "segment", clip_length: float = 5.0, image_ext: str = ".png",
                 **options) -> None:
        if split not in S4_SPLITS:
            raise ValueError(f"unknown split {split!r} for avsbench-s4; choose one of {S4_SPLITS}")
        if audio_window not in ("segment", "context"):
            raise ValueError(f"audio_window must be 'segment' or 'context', got {audio_window!r}")
        root = Path(data_root)
        rows, problems = read_s4_metadata(Path(csv_path) if csv_path is not None else root / "s4_meta_data.csv")
        base = Path(data_dir) if data_dir is not None else (root / "s4_data" if (root / "s4_data").is_dir() else root)
        classes = sorted({row["category"] for row in rows})
        index = {c: i for i, c in enumerate(classes)}
        clip_seconds = options.get("clip_seconds", 3.0)
        records = []
        for row in (r for r in rows if r["split"] == split):
            name, category = row["name"], row["category"]
            for k in range(1, (1 if split == "train" else S4_FRAMES) + 1):
                if audio_window == "segment":
                    start, seconds = float(k - 1), 1.0
                else:
                    start = min(max(k - 0.5 - clip_seconds / 2, 0.0), max(clip_length - clip_seconds, 0.0))
                    seconds = None
                records.append(Record(
                    id=f"{name}_{k}",
                    image=base / "visual_frames" / split / category / name / f"{name}_{k}{image_ext}",
                    audio=base / "audio_wav" / split / category / f"{name}.wav",
                    mask=base / "gt_masks" / split / category / name / f"{name}_{k}.png",
                    gt="mask", label=index[category], classes=(index[category],),
                    audio_start=start, audio_seconds=seconds,
                ))
        super().__init__(records, problems, split=split, classes=classes, **options)

    @property
    def clip_names(self) -> list[str]:
        """The clip of each sample (``<name>_<k>`` -> ``<name>``): S4's F-score is taken per clip."""
        return [sample_id.rsplit("_", 1)[0] for sample_id in self.ids]


def open_benchmark(
    name: str,
    data_root,
    split: str = "test",
    image_size: int = 224,
    sample_rate: int = 16000,
    clip_seconds: float = 3.0,
    skip_bad: bool = False,
    **kw,
) -> BenchmarkDataset:
    """The ``split`` of benchmark ``name`` under ``data_root``, as a dataset of sample dicts.

    Names: ``flickr`` (Flickr-SoundNet), ``vggss`` / ``vggsound`` (one family: ``train`` reads a
    VGG-Sound list, ``test`` the VGG-SS annotations), ``avsbench-s4``, ``folder`` (plain layout).
    Extra keywords go to the reader (``FlickrSoundNet``, ``VGGSoundSource``, ``AVSBenchS4``,
    ``FolderBenchmark``): id lists, annotation paths, ``extended_csv``, ``workers`` for ``skip_bad``.
    """
    readers = {"flickr": FlickrSoundNet, "vggss": VGGSoundSource, "vggsound": VGGSoundSource,
               "avsbench-s4": AVSBenchS4, "folder": FolderBenchmark}
    key = name.lower().replace("_", "-")
    if key not in readers:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {BENCHMARKS}")
    return readers[key](data_root, split, image_size=image_size, sample_rate=sample_rate,
                        clip_seconds=clip_seconds, skip_bad=skip_bad, **kw)
