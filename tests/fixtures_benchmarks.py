"""Benchmark downloads as a user meets them, in the real formats, with real ids of the shipped lists.

``make_flickr_root`` writes a Flickr-SoundNet test root (``frames/<id>.jpg``, ``audio/<id>.wav`` at
the given native rate, ``Annotations/<id>.xml`` in 256x256 pixels) for ids of the shipped
``metadata/flickr_test.csv``; ``make_vggss_root`` a VGG-SS root whose frames are ``.png`` (as many
downloads) for entries of the shipped ``metadata/vggss.json``.
"""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from PIL import Image

from fnac_lib.data.benchmarks.metadata import METADATA_DIR

FLICKR_IDS = ("10000130166", "10007936344", "10008553263")  # the first ids of metadata/flickr_test.csv
VGGSS_IDS = ("zpWuikVorYg_000032", "gEvCUcZ6w88_000030", "JIemsK_0lXc_000364")  # first of metadata/vggss.json


def write_frame(path, size=(320, 240), seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).clip(-1, 1)


def write_wav(path, wave, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, rate, subtype="PCM_16")


def flickr_xml(boxes) -> str:
    """A Senocak-style annotation file: one <bbox> per annotator, an index field first."""
    body = "".join(f"<object><bbox><idx>{i}</idx><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
                   f"<ymax>{y2}</ymax></bbox></object>" for i, (x1, y1, x2, y2) in enumerate(boxes))
    return f"<?xml version='1.0'?><annotation>{body}</annotation>"


def make_flickr_root(root, rate: int = 22050, ids=FLICKR_IDS, image_ext: str = ".jpg", seconds: float = 5.0):
    """A partial Flickr-SoundNet test download: ``ids`` only, every file in its real format."""
    for k, sample_id in enumerate(ids):
        write_frame(root / "frames" / f"{sample_id}{image_ext}", size=(320 + 40 * k, 240), seed=k)
        write_wav(root / "audio" / f"{sample_id}.wav", noise(seconds, rate, k), rate)
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{sample_id}.xml").write_text(flickr_xml([(30, 40, 150, 200), (60, 50, 170, 230)]))
    (root / "flickr_test.csv").write_text("".join(f"{i},0\r\n" for i in ids))  # LVS's format, CRLF
    return root


def make_vggss_root(root, rate: int = 16000, ids=VGGSS_IDS, image_ext: str = ".png"):
    """A partial VGG-SS download (``ids`` of the shipped vggss.json), without its own metadata."""
    for k, sample_id in enumerate(ids):
        write_frame(root / "frames" / f"{sample_id}{image_ext}", seed=10 + k)
        write_wav(root / "audio" / f"{sample_id}.wav", noise(10.0, rate, 10 + k), rate)
    return root


def shipped_vggss_entries() -> list[dict]:
    return json.loads((METADATA_DIR / "vggss.json").read_text())
