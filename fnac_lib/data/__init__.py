"""Everything that feeds the model: one sample contract, the default data, the real benchmarks, caches.

``sample`` (the sample dict, the dataset protocol, ``collate``), ``boxes`` (boxes and ground-truth
maps), ``default`` (the embedded default data), ``benchmarks`` (readers of the real benchmarks and
video preparation), ``cache`` (decode once into memory maps), ``factory`` (``make_dataset``: a
run configuration to a dataset) and ``test_sets`` (what runs are scored on, built for their inputs).
"""

from .factory import make_dataset, make_validation_set

__all__ = ["make_dataset", "make_validation_set"]
