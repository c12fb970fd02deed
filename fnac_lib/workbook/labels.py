"""How methods, maps and sounds are named in tables and figures."""

from __future__ import annotations

METHOD_LABELS = {"ezvsl": "EZ-VSL", "fnac": "FNAC", "fns_audio": "FNS-audio only",
                 "fns_visual": "FNS-visual only", "tne": "TNE only", "oracle": "oracle",
                 "fnac_shuffled": "FNAC, shuffled adjacency"}


MAP_LABELS = {"av": "AV", "obj": "objectness", "av_ogl": "AV+OGL"}


def method_label(name: str) -> str:
    """``fnac`` -> ``FNAC``; run names that are not methods stay as they are."""
    return METHOD_LABELS.get(name, name)


def sound_names(samples: list[dict], dataset) -> list[str]:
    """What sounds in each sample, for titles and choosers: ``zebra (heard)`` or ``zebra (unheard)``.

    "Heard" means the class sounds in the training split (``dataset.heard_classes``, the default
    data); a real benchmark has no such split and its classes are named without the suffix. A
    sample without a known class is an ``unknown sound``; a silent or off-screen pair says so.
    """
    names = list(getattr(dataset, "class_names", None) or [])
    heard = getattr(dataset, "heard_classes", None)  # read once: it walks the training split's pools
    heard = set(heard) if heard is not None else None
    found = []
    for sample in samples:
        label = int(sample["label"])
        if 0 <= label < len(names):
            name = str(names[label])
            if heard is not None:
                name += " (heard)" if label in heard else " (unheard)"
        else:
            name = "unknown sound"
        found.append(name if sample.get("on_screen", True) else f"{name}, not in the picture")
    return found
