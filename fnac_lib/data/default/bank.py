"""The asset bank of the default data: one ``bank.npz`` of arrays, its schema, loading and checks.

The bank is a zip of ``.npy`` members written with fixed timestamps and sorted keys, so two
builds are byte-identical; ``load_bank`` decompresses it once per process and file version.
"""

from __future__ import annotations

import functools
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ...errors import BankError

BANK_VERSION = 3  # 2: heard / unheard test split; 3: many pictures (art styles) and recordings per class
BANK_FILE = "bank.npz"
ATTRIBUTION_FILE = "ATTRIBUTION.md"
SAMPLE_RATE = 16_000  # Hz, every recording in the bank
TRAIN, TEST = 0, 1  # values of the *_split arrays


def save_bank(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``np.load``-able npz whose bytes depend only on the arrays (sorted keys, fixed timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def default_data_dir() -> Path:
    """``$FNAC_DATA`` if set, else ``<repo root>/data/default`` (``~/.local/share/fnac_lib`` outside a checkout)."""
    if os.environ.get("FNAC_DATA"):
        return Path(os.environ["FNAC_DATA"])
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").exists():
        return repo / "data" / "default"
    return Path.home() / ".local" / "share" / "fnac_lib" / "default"


# key -> (dtype kind, ndim); every bank must have exactly these
BANK_SCHEMA: dict[str, tuple[str, int]] = {
    "meta": ("U", 0), "class_names": ("U", 1), "class_coarse": ("i", 1), "class_sounds": ("b", 1),
    "coarse_names": ("U", 1), "style_names": ("U", 1), "cutout_style": ("i", 1), "cutout_pixels": ("u", 2), "cutout_offsets": ("i", 1), "cutout_hw": ("i", 2),
    "cutout_class": ("i", 1), "cutout_split": ("i", 1), "cutout_names": ("U", 1), "sound_audio": ("i", 1),
    "sound_offsets": ("i", 1), "sound_class": ("i", 1), "sound_split": ("i", 1), "sound_names": ("U", 1),
    "background_images": ("u", 4), "background_names": ("U", 1), "digit_images": ("u", 3),
    "digit_labels": ("i", 1), "digit_boxes": ("i", 2), "digit_split": ("i", 1), "speaker_names": ("U", 1),
    "voice_audio": ("i", 1), "voice_offsets": ("i", 1), "voice_digit": ("i", 1), "voice_speaker": ("i", 1),
    "voice_split": ("i", 1), "voice_names": ("U", 1),
}


def stored_version(path: Path) -> int | None:
    """The version a bank file was built as (reads only its ``meta`` member), None if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["meta"])).get("version")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, json.JSONDecodeError):
        return None


def load_bank(path: Path | str) -> dict[str, np.ndarray]:
    """The bank as a dict of read-only arrays, decompressed once and cached per file version."""
    path = Path(path)
    if path.is_dir():
        path = path / BANK_FILE
    if not path.exists():
        raise BankError(f"no asset bank at {path}: build it with `python -m fnac_lib build-data`")
    stat = path.stat()
    return _load_bank_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_bank_cached(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            bank = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise BankError(f"corrupt asset bank {path} ({err}); rebuild with `python -m fnac_lib build-data --force`") from err
    validate_bank(bank, path)
    for array in bank.values():
        array.flags.writeable = False  # shared by every dataset in the process
    return bank


def validate_bank(bank: dict[str, np.ndarray], where: str = "bank") -> None:
    """Raise BankError naming ``where`` unless ``bank`` has the schema and consistent offsets."""
    problems = [f"missing {k}" for k in BANK_SCHEMA if k not in bank]
    problems += [f"{k} is {bank[k].dtype}/{bank[k].ndim}d, expected {kind}/{nd}d"
                 for k, (kind, nd) in BANK_SCHEMA.items() if k in bank and
                 (bank[k].dtype.kind != kind and not (kind == "i" and bank[k].dtype.kind == "u")
                  or bank[k].ndim != nd)]
    if not problems:
        meta = json.loads(str(bank["meta"]))
        if meta.get("version") != BANK_VERSION:
            problems.append(f"bank version {meta.get('version')}, this fnac_lib reads {BANK_VERSION}")
        for prefix, flat, count in (("cutout", "cutout_pixels", "cutout_names"),
                                    ("sound", "sound_audio", "sound_names"), ("voice", "voice_audio", "voice_names")):
            off = bank[f"{prefix}_offsets"]
            if len(off) != len(bank[count]) + 1 or off[-1] != len(bank[flat]) or np.any(np.diff(off) <= 0):
                problems.append(f"{prefix}_offsets do not match {flat}")
    if problems:
        raise BankError(f"corrupt asset bank {where}: {'; '.join(problems)}; rebuild with --force")


def summary(bank: dict[str, np.ndarray], path: Path | None = None) -> str:
    """One readable paragraph on what a bank holds."""
    where = f"{path} ({path.stat().st_size / 2**20:.1f} MiB): " if path else ""
    heard = np.unique(bank["sound_class"][bank["sound_split"] == TRAIN])
    return (f"{where}{len(bank['cutout_names'])} cut-outs ({int((bank['cutout_split'] == TEST).sum())} test) in "
            f"{len(bank['style_names'])} art styles, "
            f"{len(bank['sound_names'])} recordings ({int((bank['sound_split'] == TEST).sum())} test), "
            f"{int(bank['class_sounds'].sum())} sounding of {len(bank['class_names'])} fine classes "
            f"({len(heard)} heard in training), {len(bank['coarse_names'])} coarse groups, "
            f"{len(bank['background_names'])} background photos; {len(bank['digit_labels'])} digits, "
            f"{len(bank['voice_names'])} spoken digits by {len(bank['speaker_names'])} voices "
            f"({int((bank['voice_split'] == TEST).sum())} test)")
