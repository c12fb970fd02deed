"""How methods and maps are named in tables and figures."""

from __future__ import annotations

METHOD_LABELS = {"ezvsl": "EZ-VSL", "fnac": "FNAC", "fns_audio": "FNS-audio only",
                 "fns_visual": "FNS-visual only", "tne": "TNE only"}


MAP_LABELS = {"av": "AV", "obj": "objectness", "av_ogl": "AV+OGL"}


def method_label(name: str) -> str:
    """``fnac`` -> ``FNAC``; run names that are not methods stay as they are."""
    return METHOD_LABELS.get(name, name)
