"""What a bank holds, counted from its arrays: per source package and per sounding class.

``python -m fnac_lib build-data --counts`` prints both tables as Markdown (the README's data
section quotes them), so the numbers a reader sees are the bank's, not typed by hand.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .bank import TEST, TRAIN


def _package(name: str) -> str:
    return str(name).split(":", 1)[0]


def class_counts(bank: dict[str, np.ndarray]) -> list[dict]:
    """One row per sounding class: its pictures and recordings on each side of the split."""
    names, styles = bank["class_names"], bank["style_names"]
    heard = set(np.unique(bank["sound_class"][bank["sound_split"] == TRAIN]).tolist())
    rows = []
    for cls in np.flatnonzero(bank["class_sounds"]):
        cuts, recs = bank["cutout_class"] == cls, bank["sound_class"] == cls
        train_cuts, test_cuts = cuts & (bank["cutout_split"] == TRAIN), cuts & (bank["cutout_split"] == TEST)
        rows.append({
            "class": str(names[cls]), "heard": cls in heard,
            "train_pictures": int(train_cuts.sum()), "test_pictures": int(test_cuts.sum()),
            "train_styles": sorted({str(styles[s]) for s in bank["cutout_style"][train_cuts]}),
            "test_styles": sorted({str(styles[s]) for s in bank["cutout_style"][test_cuts]}),
            "train_recordings": int((recs & (bank["sound_split"] == TRAIN)).sum()),
            "test_recordings": int((recs & (bank["sound_split"] == TEST)).sum()),
            "recording_packages": sorted({_package(n) for n in bank["sound_names"][recs]}),
        })
    return rows


def source_counts(bank: dict[str, np.ndarray]) -> dict[str, Counter]:
    """Per package: cut-outs (sounding classes, silent ones), recordings, backgrounds, digits, voices."""
    counts: dict[str, Counter] = {}
    sounding = bank["class_sounds"][bank["cutout_class"]]
    for name, loud in zip(bank["cutout_names"], sounding):
        counts.setdefault(_package(name), Counter())["pictures of sounding classes" if loud else "silent pictures"] += 1
    for key, what in (("sound_names", "recordings"), ("background_names", "background photos"),
                      ("voice_names", "spoken digits")):
        for name in bank[key]:
            counts.setdefault(_package(name), Counter())[what] += 1
    return counts


def counts_markdown(bank: dict[str, np.ndarray]) -> str:
    """The two tables of the README's data section."""
    rows = class_counts(bank)
    heard = [r for r in rows if r["heard"]]
    lines = ["| package | pictures of sounding classes | silent pictures | recordings | background photos | "
             "spoken digits |", "|---|---|---|---|---|---|"]
    for package, c in sorted(source_counts(bank).items()):
        lines.append(f"| `{package}` | {c['pictures of sounding classes']} | {c['silent pictures']} | "
                     f"{c['recordings']} | {c['background photos']} | {c['spoken digits']} |")
    lines += ["", f"{len(heard)} classes heard in training (training pictures / styles / recordings; held-out "
              "pictures in their styles / recordings):", "",
              "| class | train pictures | train styles | train recordings | test pictures | test styles | "
              "test recordings | recordings from |", "|---|---|---|---|---|---|---|---|"]
    for r in heard:
        lines.append(f"| {r['class']} | {r['train_pictures']} | {len(r['train_styles'])} | {r['train_recordings']} | "
                     f"{r['test_pictures']} | {', '.join(r['test_styles'])} | {r['test_recordings']} | "
                     f"{', '.join(r['recording_packages'])} |")
    unheard = [r for r in rows if not r["heard"]]
    lines += ["", f"{len(unheard)} classes unheard in training (test only, pictures / recordings): " +
              ", ".join(f"{r['class']} {r['test_pictures']}/{r['test_recordings']}" for r in unheard) + "."]
    return "\n".join(lines) + "\n"
