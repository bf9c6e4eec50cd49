"""The experiments of the suite: one package each (``toy_am``, ``cnn_am``, ``training``).

Each package holds ``experiment.py`` (config, cells, ``run_cell``: the experiment protocol of
:mod:`benchmarks.framework.protocol`), ``analysis.py`` (tables, baseline metrics, claims) and
``figures.py``. The list of experiments is :data:`benchmarks.framework.registry.EXPERIMENTS`.
"""
