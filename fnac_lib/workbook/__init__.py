"""What the notebooks measure, draw and conclude, kept out of the notebooks so their cells stay short.

One module per notebook, holding its computation, figures, tables and reading (the sentences its
numbers support, computed from them): ``false_negatives`` (01), ``adjacency`` (02),
``training_runs`` (03), ``benchmark`` (04), with ``listening`` its breakdown of the listening tests,
``explorer`` (05) and ``study`` (06), with ``study_conclusion`` its paragraph per data set;
``common`` holds what they share (the set-up call, how methods, maps and sounds are named, the
figure style, sample galleries, markdown tables, labels and real batches), ``seed_noise`` the
seed-to-seed spread every reading measures a difference between methods against, ``published``
the published numbers, ``report`` turns executed notebooks into an offline HTML report and
``lab`` makes the working copies ``make lab`` opens. What several notebooks compute lives in the
library: ``runs`` (training the methods, finding runs), ``data.test_sets``, ``scoring`` and
``statistics``.
"""
