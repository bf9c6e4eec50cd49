"""proxygrad-bench: the benchmark harnesses (toy functions, real CNNs, training) and their framework.

Layers: :mod:`benchmarks.framework` (configs, methods, store, runner, comparisons, report, CLI) below
:mod:`benchmarks.domain` (data, models, zoo, training loop) below :mod:`benchmarks.experiments` (one
package per experiment). Run ``python -m benchmarks --help`` (or the console script ``proxygrad-bench``).
Importing the package registers the suite's experiments (:data:`benchmarks.experiments.EXPERIMENTS`) with the
framework's registry, which lists none itself (:mod:`benchmarks.framework.registry`).

``benchmarks.instances(experiment, profile)`` and ``benchmarks.score(experiment, profile, results)``
(:mod:`benchmarks.public`) give the benchmark instances (evaluation, or with ``role="tuning"`` the disjoint
tuning set) to run any method outside the harness, and score it; ``benchmarks.choose_lr`` applies the
suite's step-size rule to its tuning runs.
"""
from __future__ import annotations

from benchmarks.experiments import EXPERIMENTS as _EXPERIMENTS
from benchmarks.framework import registry as _registry
from benchmarks.framework.meta import __version__, suite_version

_registry.register(_EXPERIMENTS)  # the framework lists no experiment itself (benchmarks.framework.registry)

__all__ = ["__version__", "suite_version", "instances", "score", "choose_lr"]


def __getattr__(name: str):
    """``instances``, ``score``, ``choose_lr``, ``Instance``, ``Tuning`` from :mod:`benchmarks.public`, imported
    when first asked for."""
    if name in ("instances", "score", "choose_lr", "Instance", "Tuning"):
        from benchmarks import public

        return getattr(public, name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
