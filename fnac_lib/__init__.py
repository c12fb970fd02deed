"""fnac_lib: self-supervised audio-visual sound-source localisation with EZ-VSL and FNAC.

Modules, one job each: ``config`` (dataclasses and presets), ``audio`` (spectrogram front end),
``augment`` (device-side image batches), ``model`` (encoders), ``losses`` (EZ-VSL and FNAC terms),
``localization`` (maps and OGL), ``metrics`` (cIoU, AUC), ``protocols`` (open-set, AVSBench),
``training``, ``evaluation``, ``runs`` (run directories), ``distributed`` (torchrun),
``assets`` / ``scenes`` / ``datasets`` (the embedded default data), ``readers`` / ``prepare``
(real benchmarks), ``analysis`` and ``plots`` (what the notebooks show), ``cli``.
"""

__version__ = "0.1.0"
