"""The experiments of the suite, listed once, by import path.

``EXPERIMENTS`` maps each experiment's name (as used on the command line and in
``benchmarks/configs/<name>.toml``) to the import path of its module. The framework never imports an
experiment by an import statement: :func:`load` resolves the path when the experiment is asked for, so a
missing or broken experiment does not stop the others, and the framework stays below the experiments.

An experiment module follows :class:`benchmarks.framework.protocol.Experiment`.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from benchmarks.framework import protocol
from benchmarks.framework.config import ConfigError, did_you_mean

EXPERIMENTS: dict[str, str] = {
    "toy-am": "benchmarks.experiments.toy_am.experiment",
    "cnn-am": "benchmarks.experiments.cnn_am.experiment",
    "training": "benchmarks.experiments.training.experiment",
}


class ExperimentUnavailable(ImportError):
    """A listed experiment whose module (or one of its dependencies) cannot be imported."""


def load(name: str) -> ModuleType:
    """Import the experiment ``name``.

    Raises ConfigError for a name not in EXPERIMENTS (with a did-you-mean hint) and
    ExperimentUnavailable, naming the missing module, when it cannot be imported.
    """
    if name not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {name!r}{did_you_mean(name, EXPERIMENTS)}; choose from {', '.join(EXPERIMENTS)}"
        )
    try:
        module = importlib.import_module(EXPERIMENTS[name])
    except ImportError as exc:
        raise ExperimentUnavailable(f"experiment {name!r} is not available: {exc}") from exc
    return protocol.check(module)


def present(name: str) -> bool:
    """True when the experiment's module file exists (cheap: nothing is imported)."""
    import importlib.util

    return importlib.util.find_spec(EXPERIMENTS[name]) is not None
