"""The benchmarks' metadata: id lists, Flickr-SoundNet XML, VGG-SS JSON, VGG-Sound and AVSBench csv.

File-level problems raise ``DatasetError`` naming the file; per-sample problems are returned
with the sample's id, so a reader can skip them (``skip_bad``) or report the first one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from ...errors import ConfigError, DatasetError
from .dataset import Record
from .metadata import FrameFiles, resolve

log = logging.getLogger(__name__)

FLICKR_ANNOTATION_SIZE = 256  # Flickr-SoundNet boxes are pixel coordinates of a 256x256 frame
S4_SPLITS = ("train", "val", "test")
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".wav", ".flac", ".mp4", ".mkv", ".webm")


def _read_text(path: Path) -> io.StringIO:
    """A small text file (csv, JSON) as a stream for ``csv``: UTF-8, a byte-order mark allowed (as
    spreadsheet exports write it). Other encodings and binary files raise ``DatasetError``."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(path, f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
                                 f"{error.start}); save the file as UTF-8") from None
    if "\x00" in text:
        raise DatasetError(path, "holds NUL bytes: not a text file")
    return io.StringIO(text, newline="")


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
    with _read_text(path) as handle:
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
    if not all(math.isfinite(v) for v in values):
        raise DatasetError(path, f"box {index}: coordinates {texts} are not all finite numbers")
    box = clip_box([v / size for v in values])
    if box is None:
        raise DatasetError(path, f"box {index}: ({', '.join(t.strip() for t in texts)}) lies wholly outside the "
                                 f"{size:g}x{size:g} frame (annotation_size) and would mark nothing")
    return box


def clip_box(box) -> tuple[float, float, float, float] | None:
    """A normalised ``x1, y1, x2, y2`` box clipped to the frame, [0, 1], as upstream clips it; None
    when the box has an area but none of it lies in the frame: misread coordinates (pixels in a
    normalised file, another frame size), whose empty ground truth would be scored without a word.
    A box without an area (an edge, a point, or inverted: the public VGG-SS file holds a few) stays
    a valid box that marks nothing."""
    x1, y1, x2, y2 = (float(v) for v in box)
    clipped = tuple(min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2))
    has_area, shows_area = x2 > x1 and y2 > y1, clipped[2] > clipped[0] and clipped[3] > clipped[1]
    return None if has_area and not shows_area else clipped


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

    Boxes are normalised ``[x1, y1, x2, y2]``, clipped to [0, 1] as upstream does (``clip_box``).
    The public file holds a few degenerate (zero-area) boxes; they are valid and simply mark nothing.
    A box with an area wholly outside the frame is a problem of its entry.
    """
    path = _require_file(Path(path))
    try:
        entries = json.loads(_read_text(path).getvalue())
    except json.JSONDecodeError as error:
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
                isinstance(b, list) and len(b) == 4 and all(_finite_number(v) for v in b) for b in boxes
            ):
                raise DatasetError(path, f"{where}: 'bbox' must be a list of [x1, y1, x2, y2] finite numbers")
            clipped = tuple(clip_box(box) for box in boxes)
            if None in clipped:
                k = clipped.index(None)
                raise DatasetError(path, f"{where}: box {k} {boxes[k]} lies wholly outside the frame and would mark "
                                         "nothing (VGG-SS boxes are fractions of the frame, in [0, 1])")
        except DatasetError as error:
            problems.append((_strip_media_suffix(name) if isinstance(name, str) and name else where, error))
            continue
        annotations[_strip_media_suffix(name)] = (entry["class"], clipped)
    return annotations, problems


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_vggsound_csv(path) -> tuple[dict[str, str], list[tuple[str, DatasetError]]]:
    """The official ``vggsound.csv`` (YouTube id, start second, label, split; no header) as
    ``{"<ytid>_<start:06d>": label}``, the id convention of the VGG-Sound train lists."""
    path = _require_file(Path(path))
    labels, problems = {}, []
    with _read_text(path) as handle:
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
    with _read_text(path) as handle:
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
    with _read_text(path) as handle:
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


def paired_ids(frames: Path, audio: Path, image_ext: str | None, audio_ext: str) -> list[str]:
    """Ids with both ``frames/<id><image_ext>`` and ``audio/<id><audio_ext>``; unpaired files are
    reported (upstream drops them without a word)."""
    for folder in (frames, audio):
        if not folder.is_dir():
            raise DatasetError(folder, "missing directory")
    images = FrameFiles(frames, image_ext).ids  # image_ext None: .jpg, .png or .jpeg
    sounds = {p.name[: -len(audio_ext)] for p in os.scandir(audio) if p.name.endswith(audio_ext)}
    unpaired = len(images ^ sounds)
    if unpaired:
        log.warning("%s: %d files have no partner in %s/%s and are not used", frames.parent, unpaired,
                    frames.name, audio.name)
    return sorted(images & sounds)


def listed_ids(name: str, split: str, val_list, test_list, root: Path) -> list[str] | None:
    """Ids of an evaluation split named by a list file; None when the reader's default applies.

    ``val`` needs ``val_list``: these benchmarks have no validation split, and upstream validated
    on the test set, which picks checkpoints on test data.
    """
    if split == "val":
        if val_list is None:
            raise ConfigError(f"{name} has no validation split: pass val_list=<file of held-out annotated ids>. "
                              "Upstream validated on the test set, which picks checkpoints on test data.")
        return read_id_list(resolve(val_list, root))
    return read_id_list(resolve(test_list, root)) if test_list is not None else None
