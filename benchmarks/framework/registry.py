"""The experiments of the suite, by name and import path.

``EXPERIMENTS`` maps each experiment's name (as used on the command line and in
``benchmarks/configs/<name>.toml``) to the import path of its protocol module
(:class:`benchmarks.framework.protocol.Experiment`). The framework lists no experiment itself: the
suite's list is :data:`benchmarks.experiments.EXPERIMENTS` (one line per experiment), which the package
``benchmarks`` registers here when it is first imported (:func:`register`), so every entry point, test
and the console script sees it. The framework never imports an experiment by an import statement:
:func:`load` resolves the path when the experiment is asked for, so a missing or broken experiment does not
stop the others, and the framework stays below the experiments.

An experiment's manifest (:func:`manifest`) is the package its protocol module lives in: what the framework
reads without running the experiment (:mod:`benchmarks.framework.catalogue`).
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from types import ModuleType

from benchmarks.framework import protocol
from benchmarks.framework.catalogue import Catalogue, gather
from benchmarks.framework.config import ConfigError, did_you_mean

EXPERIMENTS: dict[str, str] = {}
"""Experiment name -> import path of its protocol module, in the order the suite runs and reports them."""


class ExperimentUnavailable(ImportError):
    """A listed experiment whose module (or one of its dependencies) cannot be imported."""


def register(experiments: Mapping[str, str]) -> None:
    """Add ``experiments`` (name -> import path of the protocol module) to :data:`EXPERIMENTS`, in their
    order; a name already registered keeps its place and takes the new path. Nothing is imported."""
    for name, path in experiments.items():
        if not name or not path:
            raise ValueError(f"an experiment needs a name and an import path, got {name!r}: {path!r}")
        EXPERIMENTS[name] = path


def _known(name: str) -> str:
    """The import path of experiment ``name``; ConfigError with a did-you-mean hint when it is not listed."""
    if name not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {name!r}{did_you_mean(name, EXPERIMENTS)}; choose from {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


def load(name: str) -> ModuleType:
    """Import the experiment ``name``.

    Raises ConfigError for a name not in EXPERIMENTS (with a did-you-mean hint) and
    ExperimentUnavailable, naming the missing module, when it cannot be imported.
    """
    path = _known(name)
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise ExperimentUnavailable(f"experiment {name!r} is not available: {exc}") from exc
    return protocol.check(module)


def manifest(name: str) -> ModuleType | None:
    """The manifest of experiment ``name``: the package of its protocol module (the module itself when it is
    top-level), or None when it cannot be imported. ConfigError for a name not in EXPERIMENTS."""
    path = _known(name)
    try:
        return importlib.import_module(path.rpartition(".")[0] or path)
    except ImportError:
        return None


def catalogue() -> Catalogue:
    """The claims and units of replication every registered experiment declares (its manifest), gathered in
    registry order (:func:`benchmarks.framework.catalogue.gather`)."""
    return gather((name, manifest(name)) for name in EXPERIMENTS)


def present(name: str) -> bool:
    """True when the experiment's module file exists (cheap: only its package, the manifest, is imported)."""
    return importlib.util.find_spec(EXPERIMENTS[name]) is not None
