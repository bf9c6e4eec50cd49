"""The experiments of the suite: one package each, listed once in :data:`EXPERIMENTS`.

An experiment is its package, one line here and its profiles (``benchmarks/configs/<name>.toml``). The
package's ``__init__.py`` is its manifest, read without running anything (the claims it sets out to test,
its unit of replication in words, its public instances: :mod:`benchmarks.framework.catalogue`); its
``experiment.py`` is the protocol module the runner calls (config, cells, ``run_cell``, tables, claims:
:mod:`benchmarks.framework.protocol`), with ``analysis.py`` (tables, baseline metrics, claims) and
``figures.py`` beside it.
"""
from __future__ import annotations

EXPERIMENTS: dict[str, str] = {
    "toy-am": "benchmarks.experiments.toy_am.experiment",
    "cnn-am": "benchmarks.experiments.cnn_am.experiment",
    "training": "benchmarks.experiments.training.experiment",
}
"""Experiment name -> import path of its protocol module, in the order the suite runs and reports them
(registered with :func:`benchmarks.framework.registry.register` when ``benchmarks`` is imported)."""
