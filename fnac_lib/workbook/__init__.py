"""What the notebooks measure and draw, kept out of the notebooks so their cells stay short.

``false_negatives`` (notebook 01), ``adjacency`` (02), ``batches`` (both, on real batches),
``training_report`` (03), ``test_sets`` / ``scoring`` / ``tables`` / ``published`` /
``result_plots`` (04), ``explorer`` (05), ``plots`` (the figures of 01 and 02), ``labels``
(how methods, maps and sounds are named), ``figure_style`` (what every figure shares: legible
sizes, identical runs said so) and ``report`` (executed notebooks as an offline HTML report).
"""
