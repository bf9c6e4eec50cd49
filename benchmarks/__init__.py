"""proxygrad-bench: the benchmark harnesses (toy functions, real CNNs, training) and their framework.

Layers: :mod:`benchmarks.framework` (configs, methods, store, runner, comparisons, report, CLI) below
:mod:`benchmarks.domain` (data, models, zoo, training loop) below :mod:`benchmarks.experiments` (one
package per experiment). Run ``python -m benchmarks --help`` (or the console script ``proxygrad-bench``).
"""
from __future__ import annotations

from benchmarks.framework.meta import __version__, suite_version

__all__ = ["__version__", "suite_version"]
