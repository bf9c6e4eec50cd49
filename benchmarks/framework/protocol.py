"""The experiment protocol: what a module must define to be run, reported and checked by the framework.

An experiment is a module (or package) with these names; :func:`check` verifies one. Every table and
figure is a pure function of the records (``analyze``, ``figures``, ``summarize``, ``claims`` read
records only), and ``run_cell`` is a pure function of ``(cfg, cell)`` apart from the columns declared in
``TIMING_COLUMNS``.

Optional: ``BASELINE_TOLERANCES`` ``{statistic: {"abs": a, "rel": r}}``, the regression tolerance of each
statistic of ``summarize`` (a metric's last path component without its ``@...`` suffix), resolved per metric
as ``max(a, r * |baseline value|)`` and written into the baseline file by ``baseline --update``
(:mod:`benchmarks.framework.baseline`); without it every metric has the file's one ``tolerance``.

Optional: ``ROW_KEY``, the record columns that say what a row is (not what it measured); two runs of one
config are compared row by row on them (:mod:`benchmarks.framework.spread`); without it rows align by order.

Optional: ``CROSS_MACHINE``, one sentence: which columns repeat bit for bit on any x86-64 CPU, which only on
the same CPU and library build, and what was measured on another machine; the report's reproducibility
statement quotes it (:mod:`benchmarks.framework.reproducibility`).

Optional: ``OUTCOME_COLUMNS``, the record columns a reader looks at first (attained values, accuracies): the
spread summary names them whether they differ or not, and the report shows them first.

Optional: ``leaderboard_scores(records)``, one normalized value per unit of replication, and
``SCORE_DEFINITION``, its legend (:mod:`benchmarks.framework.leaderboard`); without them the experiment has no
leaderboard rows.

**The manifest.** What the framework reads about an experiment without running it lives in the package of
its protocol module (its ``__init__.py``; :func:`benchmarks.framework.registry.manifest`), all optional:
``CLAIMS``, the claims and findings it sets out to test (:class:`benchmarks.framework.claims.ClaimDeclaration`:
the report lists each under its id in every profile, and knows no claim by name); ``UNIT``, its unit of
replication in words (the report's glossary; :mod:`benchmarks.framework.catalogue`); ``public_api()``, its public
instances and their scoring (:class:`benchmarks.framework.instances.PublicAPI`, for ``benchmarks.instances``
and ``benchmarks.score``). With the registry line (:data:`benchmarks.experiments.EXPERIMENTS`) and its profiles
(``benchmarks/configs/<name>.toml``) that is all there is to an experiment: nothing in the framework names one.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Experiment(Protocol):
    """The names an experiment module defines (see docs/DESIGN.md for their contracts)."""

    NAME: str
    #: Columns that are not a pure function of the config (wall times); () when there are none.
    TIMING_COLUMNS: tuple[str, ...]
    #: ``{value_column: (bound_column, unit_columns)}``: rows where ``value > bound`` fail the run.
    BOUNDS: dict[str, tuple[str, tuple[str, ...]]]

    def parse_config(self, raw: dict[str, Any], *, data_dir: Any = None) -> Any: ...

    def cells(self, cfg: Any) -> list[Any]: ...

    def run_cell(self, cfg: Any, cell: Any, ctx: Any) -> list[dict[str, Any]]: ...

    def analyze(self, records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]: ...

    def figures(self, records: pd.DataFrame, out: Path) -> list[Path]: ...

    def summarize(self, records: pd.DataFrame) -> dict[str, float]: ...

    def claims(self, records: pd.DataFrame) -> list[Any]: ...


def check(module: ModuleType) -> ModuleType:
    """``module`` if it follows :class:`Experiment`, else TypeError naming what is missing or mistyped."""
    missing = [n for n in ("NAME", "TIMING_COLUMNS", "BOUNDS", "parse_config", "cells", "run_cell", "analyze",
                           "figures", "summarize", "claims") if not hasattr(module, n)]
    if missing:
        raise TypeError(f"experiment module {module.__name__} lacks {missing}")
    if not isinstance(module.NAME, str) or not module.NAME:
        raise TypeError(f"{module.__name__}.NAME must be a non-empty str, got {module.NAME!r}")
    timing = module.TIMING_COLUMNS
    if not isinstance(timing, tuple) or not all(isinstance(c, str) for c in timing):
        raise TypeError(f"{module.__name__}.TIMING_COLUMNS must be a tuple of column names, got {timing!r}")
    if not isinstance(module.BOUNDS, dict):
        raise TypeError(f"{module.__name__}.BOUNDS must be a dict, got {module.BOUNDS!r}")
    for name in ("parse_config", "cells", "run_cell", "analyze", "figures", "summarize", "claims"):
        if not callable(getattr(module, name)):
            raise TypeError(f"{module.__name__}.{name} must be callable")
    return module
