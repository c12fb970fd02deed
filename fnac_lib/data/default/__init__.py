"""The embedded default data: an offline "Flickr-SoundNet" made of real sounds and real pictures.

Built once from registry packages (``sources`` -> ``collect`` -> ``tables`` -> ``bank``, driven by
``build``), then composed into scenes on the fly (``scenes`` draws a scene's spec, ``render`` turns
it into pixels and a waveform) and served as torch datasets (``datasets``).
"""

from .bank import BANK_FILE, default_data_dir, load_bank
from .build import build_default_bank, ensure_default_bank
from .datasets import DefaultSceneDataset, make_default_dataset

__all__ = ["BANK_FILE", "DefaultSceneDataset", "build_default_bank", "default_data_dir", "ensure_default_bank",
           "load_bank", "make_default_dataset"]
