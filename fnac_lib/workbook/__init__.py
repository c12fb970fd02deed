"""What the notebooks measure and draw, kept out of the notebooks so their cells stay short.

One module per notebook, holding its computation, figures and tables: ``false_negatives`` (01),
``adjacency`` (02), ``training_runs`` (03), ``benchmark`` (04), ``explorer`` (05) and ``study``
(06); ``common`` holds what they share (the set-up call, how methods, maps and sounds are named,
the figure style, markdown tables, real batches) and ``report`` turns executed notebooks into an
offline HTML report. What several notebooks compute lives in the library: ``runs`` (training the
methods, finding runs), ``data.test_sets``, ``scoring`` and ``statistics``.
"""
