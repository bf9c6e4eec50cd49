"""The record schema: the columns of every record, composed from three parts and stated once each.

A record of a run is, in this order,

    experiment, suite_version             (:data:`STAMPED`, written by the runner)
    Method.columns()                      (the method's fields: method, method_kind, method_slope)
    seed                                  (the instance's seed)
    further method columns                (only in a run with a plug-in method: method_version)
    the experiment's own columns          (declared by the experiment, nothing else)

in the manner of an experiment's ``get_description()``: the header is the part every experiment shares,
the method contributes its own description (``method``, ``method_kind``, ``method_slope``, and
``method_version`` for a plug-in), and an experiment declares only what is its own.

Budget columns (the best value within the first ``t`` steps) are named by one scheme everywhere,
``best_at_<t>`` (a valid identifier): :func:`budget_column` and :func:`budget_columns`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.framework.methods import Method

#: The columns the runner writes into every record: the experiment's name and the suite's version.
STAMPED: tuple[str, ...] = ("experiment", "suite_version")
#: The seed column, which closes the common header.
SEED = "seed"
#: Budget column prefix: ``best_at_<t>`` = ``max_{u <= t} f(x_u)``, the best value within ``t`` steps.
BUDGET_PREFIX = "best_at_"
_BUDGET = re.compile(rf"^{BUDGET_PREFIX}(\d+)$")


def method_columns(methods: Iterable[Any] = ()) -> tuple[str, ...]:
    """The method part of the header: the keys of ``Method.columns()`` of every method of the run, in
    order of first appearance (a run with a plug-in method adds ``method_version``); the built-in
    method's columns when ``methods`` is empty."""
    out = dict.fromkeys(Method("plain").columns())
    for m in methods:
        out.update(dict.fromkeys(m.columns()))
    return tuple(out)


def header(methods: Iterable[Any] = ()) -> tuple[str, ...]:
    """The common header of a run whose methods are ``methods``: :data:`STAMPED`, the columns every
    method has, :data:`SEED`, then the method columns only some methods have (``method_version``)."""
    every = tuple(Method("plain").columns())
    return (*STAMPED, *every, SEED, *(c for c in method_columns(methods) if c not in every))


def required() -> tuple[str, ...]:
    """The header columns an experiment's row must carry itself (the runner stamps :data:`STAMPED`;
    a column that only some methods have, such as ``method_version``, may be absent: empty)."""
    return header()[len(STAMPED):]


def row_columns(own: Sequence[str], methods: Iterable[Any] = ()) -> tuple[str, ...]:
    """The columns of an experiment's row before the runner stamps it: the method columns, the seed and
    the experiment's ``own`` columns (ValueError when ``own`` restates a header column)."""
    head = header(methods)
    restated = [c for c in own if c in head]
    if restated:
        raise ValueError(f"an experiment's own columns must not restate the common header: {restated}")
    return (*head[len(STAMPED):], *own)


def budget_column(t: int) -> str:
    """The record column of the best value within the first ``t`` steps: ``best_at_<t>``."""
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise ValueError(f"a budget is an int >= 0, got {t!r}")
    return f"{BUDGET_PREFIX}{t}"


def budget_columns(columns: Iterable[str]) -> dict[int, str]:
    """``{t: column}`` of the budget columns among ``columns`` (``best_at_<t>``), ascending in ``t``."""
    found = {int(m.group(1)): c for c in columns if (m := _BUDGET.match(str(c)))}
    return {t: found[t] for t in sorted(found)}
