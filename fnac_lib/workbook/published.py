"""The published numbers beside which the workbook's are read, in percent, with their sources.

From the FNAC paper's comparison tables (EZ-VSL and FNAC rows) and the SLAVC paper (open set):
numbers a paper prints, never a leaderboard's approximation of them.
"""

from __future__ import annotations

FNAC_PAPER = "FNAC, Sun et al., CVPR 2023 (arXiv 2303.11302), comparison tables"


PUBLISHED: tuple[dict, ...] = (
    *({"method": m, "train_set": t, "test": "vggss", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for m, t, c, a in (("fnac", "VGG-Sound 10k", 37.29, 38.99), ("fnac", "VGG-Sound 144k", 39.50, 39.66),
                         ("fnac", "Flickr 10k", 35.27, 38.00), ("fnac", "Flickr 144k", 33.93, 37.29),
                         ("ezvsl", "VGG-Sound 10k", 37.18, 38.75), ("ezvsl", "VGG-Sound 144k", 38.85, 39.54))),
    *({"method": "ezvsl", "train_set": t, "test": "flickr", "cIoU": c, "AUC": a, "source": FNAC_PAPER}
      for t, c, a in (("Flickr 10k", 81.93, 62.58), ("Flickr 144k", 83.13, 63.06))),
    {"method": "slavc", "train_set": "VGG-Sound 144k", "test": "flickr/open_set", "AP": 51.63, "max_F1": 59.10,
     "source": "SLAVC, Mo & Morgado, NeurIPS 2022 (extended Flickr-SoundNet)"},
)


def published_rows(test: str | None = None) -> list[dict]:
    """The published numbers (percent), optionally of one test set (``vggss``, ``flickr``...)."""
    return [dict(r) for r in PUBLISHED if test is None or r["test"] == test]
