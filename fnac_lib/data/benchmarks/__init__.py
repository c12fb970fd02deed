"""The real benchmarks, read from the user's disk: Flickr-SoundNet, VGG-Sound / VGG-SS, AVSBench S4.

``decoding`` (one file to one tensor), ``annotations`` (id lists, XML / JSON / csv metadata),
``dataset`` (records to samples, bad input named), ``readers`` (one reader per benchmark and
``open_benchmark``), ``prepare`` (raw videos to the ``frames/`` + ``audio/`` layout).
"""

from .readers import BENCHMARKS, AVSBenchS4, FlickrSoundNet, FolderBenchmark, VGGSoundSource, open_benchmark

__all__ = ["AVSBenchS4", "BENCHMARKS", "FlickrSoundNet", "FolderBenchmark", "VGGSoundSource", "open_benchmark"]
