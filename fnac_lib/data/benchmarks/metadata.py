"""Where a benchmark reader finds its files: the standard split lists the workbook ships, metadata
paths given relative to the data root, and frames in whichever image format a download has.

The field's code keeps its split lists in a ``metadata/`` folder next to the code (EZ-VSL, SLAVC,
FNAC_AVL); the workbook ships the same public files in its top-level ``metadata/`` folder
(``metadata/README.md`` names their source, commit and licence) and reads them by default, so a
test set is the published one whatever else lies in the data root.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DatasetError

WORKBOOK_ROOT = Path(__file__).resolve().parents[3]  # the repository: fnac_lib/data/benchmarks/ -> ../../..
METADATA_DIR = WORKBOOK_ROOT / "metadata"
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg")  # the order of preference when one id has several frames


def shipped(name: str) -> Path:
    """A file of the workbook's ``metadata/`` folder (``flickr_test.csv``, ``vggss.json``...)."""
    path = METADATA_DIR / name
    if not path.is_file():
        raise DatasetError(path, "missing file: one of the split lists the workbook ships (metadata/README.md); "
                                 "restore it from the repository or pass the list explicitly")
    return path


def own_or_shipped(data_root, name: str) -> Path:
    """``<data_root>/<name>`` when the download has it, else the workbook's shipped copy."""
    own = Path(data_root) / name
    return own if own.is_file() else shipped(name)


def resolve(path, data_root) -> Path | None:
    """A metadata path as given (``extended_csv``, ``test_list``, ``id_list``...): absolute as it
    is; relative under the data root, else under the workbook's folder (so ``metadata/vggss_10k.txt``
    names the shipped list), never the working directory. None stays None."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    for base in (Path(data_root), WORKBOOK_ROOT):
        if (base / path).exists():
            return base / path
    raise DatasetError(Path(data_root) / path, f"missing file (a relative metadata path is looked up under the "
                                               f"data root, then under the workbook's folder {WORKBOOK_ROOT})")


class FrameFiles:
    """The frame of each id in a ``frames/`` folder: ``<id><image_ext>``, or with ``image_ext=None``
    whichever of ``IMAGE_SUFFIXES`` exists (VGG-SS downloads come as .jpg or .png). One listing."""

    def __init__(self, frames: Path, image_ext: str | None = None) -> None:
        self.frames, self.image_ext = Path(frames), image_ext
        suffixes = IMAGE_SUFFIXES if image_ext is None else (image_ext,)
        rank = {suffix: i for i, suffix in enumerate(suffixes)}
        self.names: dict[str, str] = {}  # id -> file name
        for name in (os.listdir(self.frames) if self.frames.is_dir() else ()):
            suffix = next((s for s in suffixes if name.lower().endswith(s.lower())), None)
            if suffix is None:
                continue
            stem = name[: -len(suffix)]
            held = self.names.get(stem)
            if held is None or rank[suffix] < rank[next(s for s in suffixes if held.lower().endswith(s.lower()))]:
                self.names[stem] = name

    def __call__(self, sample_id: str) -> Path:
        """The frame of ``sample_id``; a missing one (reported as missing) is named with the folder's
        most common suffix."""
        return self.frames / self.names.get(sample_id, f"{sample_id}{self.image_ext or self.usual_suffix}")

    @property
    def usual_suffix(self) -> str:
        """The suffix most frames have (ties and an empty folder: the first of ``IMAGE_SUFFIXES``)."""
        suffixes = [Path(name).suffix.lower() for name in self.names.values()]
        return max(IMAGE_SUFFIXES, key=lambda suffix: (suffixes.count(suffix), -IMAGE_SUFFIXES.index(suffix)))

    @property
    def ids(self) -> set[str]:
        return set(self.names)
