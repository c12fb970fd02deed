"""fnac_lib: self-supervised audio-visual sound-source localisation with EZ-VSL and FNAC.

The method, flat at the top and readable top to bottom:
``constants`` (the method's fixed numbers), ``config`` (dataclasses and presets), ``config_checks``
(typed, meaningful values), ``audio`` (spectrogram front end), ``augment`` (device-side crops,
flips, masks), ``model`` (encoders: the one encode path), ``losses`` (EZ-VSL and FNAC terms),
``localization`` (maps and OGL), ``metrics`` (cIoU, AUC, pointing game), ``protocols`` (open set,
AVSBench S4), ``step`` (one training step), ``training`` (the loop, checkpoints, model selection),
``evaluation`` (batched scoring), ``shared_features`` (a shared trunk's features computed once),
``runs`` (run directories), ``scoring`` (runs on test sets, reference maps), ``statistics`` (a
multi-seed study's intervals), ``checkpoint``, ``distributed`` (torchrun), ``device``, ``files``
(atomic writes), ``errors`` and ``cli``.

Two packages below it: ``data`` (the sample contract, the embedded default data, the real
benchmarks, caches, test sets) and ``workbook`` (what each notebook measures and draws).
"""

__version__ = "0.1.0"
