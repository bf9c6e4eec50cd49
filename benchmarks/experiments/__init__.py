"""The experiments of the suite, listed once.

``EXPERIMENTS`` maps each experiment's name (as used on the command line and in
``benchmarks/configs/<name>.toml``) to its module.  Modules are imported lazily by :func:`load`, so a
missing or broken experiment does not stop the others from running.

An experiment module exposes ``NAME``, ``parse_config``, ``cells``, ``run_cell``, ``analyze``,
``figures``, ``summarize`` and ``claims`` (see docs/DESIGN.md).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from benchmarks import protocol
from benchmarks.config import ConfigError, did_you_mean

EXPERIMENTS: dict[str, str] = {
    "toy-am": "benchmarks.experiments.toy_am",
    "cnn-am": "benchmarks.experiments.cnn_am",
    "training": "benchmarks.experiments.training",
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


def available() -> dict[str, str | None]:
    """Each experiment's name -> None when it imports, else the reason it does not."""
    status: dict[str, str | None] = {}
    for name in EXPERIMENTS:
        try:
            load(name)
            status[name] = None
        except ExperimentUnavailable as exc:
            status[name] = str(exc.__cause__ or exc)
    return status
