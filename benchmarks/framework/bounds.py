"""Certified bounds on record values: each experiment declares them, the framework enforces them.

An experiment module may declare ::

    BOUNDS: dict[str, tuple[str, tuple[str, ...]]] = {
        "<value column>": ("<bound column>", ("<column naming the unit>", ...)),
    }

meaning: in every record whose bound column holds a number, ``value <= bound`` holds exactly (no
tolerance, not even one ulp); a record whose bound is empty (NaN: no bound for that unit) is not
checked.  A NaN value beside a numeric bound is a violation too (it cannot be shown to be within its
bound).  The unit columns identify the violating record in messages.  A module without ``BOUNDS``
declares none.

The runner checks the merged records after every run (the run fails with :class:`BoundViolationError`
after the run directory is complete), and ``report``, ``check``, ``baseline --from`` and ``reproduce``
check the records they read.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

Bounds = dict[str, tuple[str, tuple[str, ...]]]
SHOWN = 20
"""How many violations a message lists one by one (the table written beside it lists all)."""


class BoundViolationError(Exception):
    """Records above their certified bound; ``lines`` name each (up to :data:`SHOWN`), ``table`` lists all."""

    def __init__(self, lines: list[str], table: pd.DataFrame) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.table = table


def declared(module: ModuleType | Any) -> Bounds:
    """The module's ``BOUNDS`` ({} when it declares none); ValueError when its shape is wrong."""
    raw = getattr(module, "BOUNDS", {})
    name = getattr(module, "NAME", getattr(module, "__name__", "?"))
    ok = isinstance(raw, dict) and all(
        isinstance(v, str) and isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str)
        and isinstance(b[1], tuple) and all(isinstance(c, str) for c in b[1])
        for v, b in raw.items())
    if not ok:
        raise ValueError(f"experiment {name!r}: BOUNDS must map a value column to (bound column, "
                         f"(unit columns...)), got {raw!r}")
    return raw


def violations(records: pd.DataFrame, bounds: Bounds) -> pd.DataFrame:
    """One row per violation: ``value_column``, ``value``, ``bound_column``, ``bound``, ``excess``, ``unit``.

    ValueError when a declared column is missing from non-empty records or is not numeric.
    """
    found: list[dict[str, Any]] = []
    if records.empty:
        return pd.DataFrame(columns=["value_column", "value", "bound_column", "bound", "excess", "unit"])
    for value_col, (bound_col, unit_cols) in bounds.items():
        for col in (value_col, bound_col, *unit_cols):
            if col not in records.columns:
                raise ValueError(f"BOUNDS names the column {col!r}, which the records do not have")
        try:
            value = records[value_col].to_numpy(dtype=np.float64)
            bound = records[bound_col].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"BOUNDS columns {value_col!r} and {bound_col!r} must be numeric: {exc}") from exc
        bad = ~np.isnan(bound) & ~(value <= bound)
        for i in np.flatnonzero(bad):
            unit = " ".join(f"{c}={records[c].iloc[i]}" for c in unit_cols)
            found.append({"value_column": value_col, "value": float(value[i]), "bound_column": bound_col,
                          "bound": float(bound[i]), "excess": float(value[i] - bound[i]), "unit": unit})
    return pd.DataFrame(found, columns=["value_column", "value", "bound_column", "bound", "excess", "unit"])


def describe(table: pd.DataFrame, source: str) -> list[str]:
    """Message lines for the violations in ``table`` (from :func:`violations`) of the run ``source``."""
    lines = [f"BOUND VIOLATION in {source}: {r.unit}: {r.value_column}={r.value!r} > "
             f"{r.bound_column}={r.bound!r} (by {r.excess:.3g})" for r in table.head(SHOWN).itertuples()]
    if len(table) > SHOWN:
        lines.append(f"BOUND VIOLATION in {source}: ... and {len(table) - SHOWN} more")
    lines.append(f"FAILED: {len(table)} record(s) of {source} exceed their certified bound")
    return lines


def check(records: pd.DataFrame, module: ModuleType | Any, source: str) -> None:
    """Raise :class:`BoundViolationError` when any record of ``module``'s run exceeds a declared bound."""
    table = violations(records, declared(module))
    if len(table):
        raise BoundViolationError(describe(table, source), table)
