"""Readers of the real benchmarks: Flickr-SoundNet, VGG-Sound / VGG-SS, AVSBench S4, plain folders.

Every reader is a ``BenchmarkDataset`` of the sample dicts of ``data.sample``: the frame, the
centred clip, and the benchmark's ground truth (README, "Real benchmarks"). On-disk layouts
(the ones the field's code expects; ``prepare`` writes the plain one):

* plain (``folder``, Flickr and VGG-Sound training): ``frames/<id>.jpg`` (or .png, found per id
  unless ``image_ext`` says) + ``audio/<id>.wav``.
* Flickr-SoundNet test: the plain layout plus ``Annotations/<id>.xml`` (several annotators'
  boxes in 256x256 pixel coordinates); the ids of ``flickr_test.csv`` (the data root's, else the
  shipped ``metadata/flickr_test.csv``: 249 ids, EZ-VSL's and FNAC's list).
* VGG-SS test: the plain layout plus ``vggss.json`` ([{file, class, bbox: [[x1, y1, x2, y2], ...]}],
  normalised; the data root's, else the shipped one) and ``vggss_{heard,unheard}_test.csv`` for
  ``subset`` (likewise).

Metadata paths given as options resolve against the data root (``metadata.resolve``).
* AVSBench S4: ``s4_meta_data.csv`` (columns ``name``, ``category``, ``split``; the start time
  sits in between and is not needed) next to ``s4_data/{visual_frames,audio_wav,gt_masks}/
  <split>/<category>/<name>...`` with frames and masks named ``<name>_<k>.png``, k = 1..5.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from ...errors import DatasetError
from .annotations import (
    FLICKR_ANNOTATION_SIZE,
    S4_SPLITS,
    paired_ids,
    parse_flickr_xml,
    parse_vggss_json,
    parse_vggsound_csv,
    read_extended_pairs,
    read_id_list,
    read_s4_metadata,
    _require_file,
)
from .dataset import BenchmarkDataset, Record
from .metadata import FrameFiles, own_or_shipped, resolve

log = logging.getLogger(__name__)

BENCHMARKS = ("flickr", "vggss", "vggsound", "avsbench-s4", "folder")
S4_FRAMES = 5  # AVSBench S4: five frames per 5-s clip, frame k paired with second k


def _plain_records(ids, frame_of: FrameFiles, audio: Path, audio_ext: str) -> list[Record]:
    return [Record(id=i, image=frame_of(i), audio=audio / f"{i}{audio_ext}") for i in ids]


def _extended_pairs(extended_csv, root: Path, frame_of: FrameFiles, audio: Path, audio_ext: str) -> list[Record]:
    """SLAVC's silent / mismatched pairs, their frames in whichever format the download has."""
    records = read_extended_pairs(resolve(extended_csv, root), frame_of.frames, audio, "", audio_ext)
    return [replace(r, image=frame_of(r.image.name)) for r in records]


def _listed_ids(name: str, split: str, val_list, test_list, root: Path) -> list[str] | None:
    """Ids of an evaluation split named by a list file; None when the reader's default applies.

    ``val`` needs ``val_list``: these benchmarks have no validation split, and upstream validated
    on the test set, which picks checkpoints on test data.
    """
    if split == "val":
        if val_list is None:
            raise ValueError(f"{name} has no validation split: pass val_list=<file of held-out annotated ids>. "
                             "Upstream validated on the test set, which picks checkpoints on test data.")
        return read_id_list(resolve(val_list, root))
    return read_id_list(resolve(test_list, root)) if test_list is not None else None


class FolderBenchmark(BenchmarkDataset):
    """Plain ``frames/<id>.jpg`` + ``audio/<id>.wav`` pairs without annotations.

    ``id_list`` restricts and orders the ids; without it every id with both files is used.
    ``frame=k`` reads the k-th of several frames ``prepare.py`` extracted, ``frames/<id>/<id>_<k>.jpg``.
    """

    name = "folder"

    def __init__(self, data_root, split: str = "test", *, id_list=None, frame: int | None = None,
                 image_ext: str | None = None, audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        if id_list is not None:
            ids = read_id_list(resolve(id_list, root))
        elif frame is None:
            ids = paired_ids(frames, audio, image_ext, audio_ext)
        else:
            ids = sorted(set(p.name for p in os.scandir(frames) if p.is_dir())
                         & {p.name[: -len(audio_ext)] for p in os.scandir(audio) if p.name.endswith(audio_ext)})
        if frame is None:
            records = _plain_records(ids, FrameFiles(frames, image_ext), audio, audio_ext)
        else:
            records = [Record(id=f"{i}_{frame}", image=FrameFiles(frames / i, image_ext)(f"{i}_{frame}"),
                              audio=audio / f"{i}{audio_ext}") for i in ids]
        super().__init__(records, split=split, **options)


class FlickrSoundNet(BenchmarkDataset):
    """Flickr-SoundNet (Senocak et al. 2018 test annotations, as used by LVS / EZ-VSL / FNAC).

    ``split="test"``: ids from ``test_list`` (default ``<root>/flickr_test.csv`` if present, else the
    shipped ``metadata/flickr_test.csv``: never every ``Annotations/*.xml``, which may hold the
    labelled training images too); gt = annotator consensus (sum of box masks / 2, clipped to 1).
    ``extended_csv`` adds SLAVC's silent/mismatched pairs (``on_screen=False``) for the open-set test.
    ``split="train"``: the ids of ``id_list`` (``flickr_10k.txt``, ``flickr_144k.csv``) or every pair.
    ``split="val"``: the test format restricted to ``val_list``.
    """

    name = "flickr"

    def __init__(self, data_root, split: str = "test", *, id_list=None, test_list=None, val_list=None,
                 annotations=None, extended_csv=None, annotation_size: float = FLICKR_ANNOTATION_SIZE,
                 image_ext: str | None = None, audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        frame_of = FrameFiles(frames, image_ext)
        problems: list[tuple[str, DatasetError]] = []
        if split == "train":
            ids = read_id_list(resolve(id_list, root)) if id_list is not None else \
                paired_ids(frames, audio, image_ext, audio_ext)
            records = _plain_records(ids, frame_of, audio, audio_ext)
        elif split in ("test", "val"):
            ann_dir = resolve(annotations, root) if annotations is not None else root / "Annotations"
            ids = _listed_ids(self.name, split, val_list, test_list, root)
            if ids is None:
                ids = read_id_list(own_or_shipped(root, "flickr_test.csv"))
            records = []
            for sample_id in ids:
                xml = ann_dir / f"{sample_id}.xml"
                try:
                    boxes = parse_flickr_xml(_require_file(xml), annotation_size)
                except DatasetError as error:
                    problems.append((sample_id, error))
                    continue
                records.append(Record(id=sample_id, image=frame_of(sample_id),
                                      audio=audio / f"{sample_id}{audio_ext}", boxes=boxes, gt="consensus"))
            if extended_csv is not None:
                records += _extended_pairs(extended_csv, root, frame_of, audio, audio_ext)
        else:
            raise ValueError(f"unknown split {split!r} for flickr; choose train, val or test")
        super().__init__(records, problems, split=split, **options)


class VGGSoundSource(BenchmarkDataset):
    """VGG-Sound training lists and the VGG-SS test set (Chen et al. 2021, LVS).

    ``split="test"``: entries of ``annotations`` (default ``<root>/vggss.json``, else the shipped
    one: 5,158 entries, the ids of ``vggss_test.csv``), restricted to ``test_list`` or to
    ``subset="heard"`` / ``"unheard"`` (``vggss_{subset}_test.csv``, EZ-VSL's open-set lists, the
    data root's or the shipped ones); gt = binary union of the boxes; label = index of the class name in
    ``class_names`` (sorted names of the JSON, 221 for the public file, unless ``class_names`` is given).
    ``extended_csv`` adds SLAVC's silent/mismatched pairs for the open-set test.
    ``split="train"``: ids of ``id_list`` (``vggss_10k.txt``, ``vggss_144k.txt``, ``vggss_heard.txt``)
    or every pair; labels from the official ``vggsound.csv`` when ``class_csv`` is given, else -1.
    ``split="val"``: the test format restricted to ``val_list``.
    """

    name = "vggss"

    def __init__(self, data_root, split: str = "test", *, id_list=None, test_list=None, val_list=None,
                 subset: str | None = None, annotations=None, class_csv=None, class_names=None,
                 extended_csv=None, image_ext: str | None = None, audio_ext: str = ".wav", **options) -> None:
        root = Path(data_root)
        frames, audio = root / "frames", root / "audio"
        frame_of = FrameFiles(frames, image_ext)
        problems: list[tuple[str, DatasetError]] = []
        if split == "train":
            ids = read_id_list(resolve(id_list, root)) if id_list is not None else \
                paired_ids(frames, audio, image_ext, audio_ext)
            names: dict[str, str] = {}
            if class_csv is not None:
                names, problems = parse_vggsound_csv(resolve(class_csv, root))
            classes = list(class_names) if class_names else sorted(set(names.values()))
            index = {c: i for i, c in enumerate(classes)}
            unlabelled = sum(1 for i in ids if i not in names) if class_csv is not None else 0
            if unlabelled:
                log.warning("%s: %d training ids have no row in %s; their label is -1", root, unlabelled, class_csv)
            records = [Record(id=i, image=frame_of(i), audio=audio / f"{i}{audio_ext}",
                              label=index.get(names.get(i), -1)) for i in ids]
        elif split in ("test", "val"):
            ann_path = resolve(annotations, root) if annotations is not None else own_or_shipped(root, "vggss.json")
            table, problems = parse_vggss_json(ann_path)
            classes = list(class_names) if class_names else sorted({c for c, _ in table.values()})
            index = {c: i for i, c in enumerate(classes)}
            ids = _listed_ids(self.name, split, val_list, test_list, root)
            if ids is None and subset is not None:
                if subset not in ("heard", "unheard"):
                    raise ValueError(f"unknown VGG-SS subset {subset!r}; choose 'heard' or 'unheard'")
                ids = read_id_list(own_or_shipped(root, f"vggss_{subset}_test.csv"))
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
                records.append(Record(id=sample_id, image=frame_of(sample_id),
                                      audio=audio / f"{sample_id}{audio_ext}", boxes=boxes, gt="union",
                                      label=label, classes=(label,) * len(boxes)))
            if split == "val" or test_list is not None or subset is not None:
                listed = set(ids)  # malformed entries outside the chosen list do not matter
                problems = [p for p in problems if p[0] in listed or p[0].startswith("entry ")]
            if extended_csv is not None:
                records += _extended_pairs(extended_csv, root, frame_of, audio, audio_ext)
        else:
            raise ValueError(f"unknown split {split!r} for vggss; choose train, val or test")
        super().__init__(records, problems, split=split, class_names=classes, **options)


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
        csv_file = resolve(csv_path, root) if csv_path is not None else root / "s4_meta_data.csv"
        rows, problems = read_s4_metadata(csv_file)
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
        super().__init__(records, problems, split=split, class_names=classes, **options)

    @property
    def clip_names(self) -> list[str]:
        """The clip of each sample (``<name>_<k>`` -> ``<name>``): S4's F-score is taken per clip."""
        return [sample_id.rsplit("_", 1)[0] for sample_id in self.ids]


def open_benchmark(
    name: str,
    data_root,
    split: str = "test",
    image_size: int = 224,
    sample_rate: int | str = 16000,
    clip_seconds: float = 3.0,
    skip_bad: bool = False,
    **kw,
) -> BenchmarkDataset:
    """The ``split`` of benchmark ``name`` under ``data_root``, as a dataset of sample dicts.

    Names: ``flickr`` (Flickr-SoundNet), ``vggss`` / ``vggsound`` (one family: ``train`` reads a
    VGG-Sound list, ``test`` the VGG-SS annotations), ``avsbench-s4``, ``folder`` (plain layout).
    Extra keywords go to the reader (``FlickrSoundNet``, ``VGGSoundSource``, ``AVSBenchS4``,
    ``FolderBenchmark``: id lists, annotation paths, ``extended_csv``) and on to ``BenchmarkDataset``
    (``workers`` for ``skip_bad``, ``short_clips``, ``train_resize``, ``seed``); ``sample_rate="native"``
    keeps each file's rate.
    """
    readers = {"flickr": FlickrSoundNet, "vggss": VGGSoundSource, "vggsound": VGGSoundSource,
               "avsbench-s4": AVSBenchS4, "folder": FolderBenchmark}
    key = name.lower().replace("_", "-")
    if key not in readers:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {BENCHMARKS}")
    return readers[key](data_root, split, image_size=image_size, sample_rate=sample_rate,
                        clip_seconds=clip_seconds, skip_bad=skip_bad, **kw)
