"""proxygrad-bench: the benchmark harnesses (toy functions, real CNNs, training) and their framework.

Run ``python -m benchmarks --help`` (or the console script ``proxygrad-bench``).
"""
from __future__ import annotations

import functools

__version__ = "0.1.0"


@functools.lru_cache(maxsize=1)
def suite_version() -> str:
    """The suite version written into every record: the installed distribution's version, else ``__version__``."""
    try:
        from importlib.metadata import version

        return version("proxygrad-bench")
    except Exception:  # not installed (run from a checkout)
        return __version__
