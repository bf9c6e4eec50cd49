"""A claim's table read for the report: the headline numbers, the condensed table, the full table's file name.

Every claim carries its full table (one row per test for a family table of
:func:`benchmarks.framework.replication.claim_table`, else the experiment's own columns). The report shows of
it :func:`headline` (n units, the median test's effect with its 95% interval, the median minimum detectable
effect) and :func:`condense` (at most :data:`MAX_COLUMNS` columns: a family table as a grid of
``difference [95% CI] outcome`` cells, any other table with its intervals merged and its constant and
:data:`DROPPED` columns left out); the full table is written under :func:`full_table_name` and linked.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmarks.framework.claims import Claim

MAX_COLUMNS = 10
"""The most columns a claim section's condensed table has (the full table is linked)."""
INTERVALS: tuple[tuple[str, str, str], ...] = (("mean_diff", "diff_low", "diff_high"),
                                                ("fail_rate", "fail_low", "fail_high"), ("rate", "low", "high"),
                                                ("success", "success_low", "success_high"))
"""Columns ``(estimate, low, high)`` that a condensed table shows as one ``estimate [low, high]`` cell."""
N_COLUMNS: tuple[str, ...] = ("n", "instances", "units")
MDE_COLUMNS: tuple[str, ...] = ("mde", "mde_acc_claim")
DROPPED: tuple[str, ...] = ("claim", "reference", "test", "statistic", "median_diff", "effect", "p", "family_size",
                            "mde_dz", "margin", "relevance", "higher", "lower", "wins", "ties", "losses",
                            "p_t_holm", "p_wilcoxon_holm")
"""Columns of a claim's full table that its condensed table leaves out (they stay in the linked table)."""


# ---- numbers of a claim, from its table ---------------------------------------------------------------

def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _first(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((c for c in names if c in table.columns), None)


def _triple(table: pd.DataFrame) -> tuple[str, str, str] | None:
    return next((t for t in INTERVALS if set(t) <= set(table.columns)), None)


def strata(table: pd.DataFrame) -> list[str]:
    """The columns that label a test of a claim's family table: those between ``reference`` and ``value``
    (see :func:`benchmarks.framework.replication.claim_table`); else the leading text columns."""
    cols = list(table.columns)
    if "reference" in cols and "value" in cols and cols.index("reference") < cols.index("value"):
        return cols[cols.index("reference") + 1:cols.index("value")]
    lead = []
    for c in cols:
        if pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]):
            break
        lead.append(c)
    return lead


def interval_text(est: float, low: float, high: float, signed: bool) -> str:
    """``est [low, high]`` with 3 significant decimals (signed for differences)."""
    f = (lambda v: f"{v:+.3f}") if signed else (lambda v: f"{v:.3f}")
    if not math.isfinite(est):
        return "n/a"
    return f"{f(est)} [{f(low)}, {f(high)}]" if math.isfinite(low) and math.isfinite(high) else f(est)


@dataclass(frozen=True)
class Headline:
    """The headline numbers of one claim line: n units per test, the median test's effect with its
    interval, the median minimum detectable effect, and the number of tests."""

    n: str
    effect: str
    mde: str
    tests: int


def headline(claim: Claim) -> Headline:
    """:class:`Headline` of a claim from its table (``n/a`` for what the table does not have)."""
    t = claim.table
    if t is None or t.empty:
        return Headline("n/a", "n/a", "n/a", 0)
    tri, ncol, mcol = _triple(t), _first(t, N_COLUMNS), _first(t, MDE_COLUMNS)
    ns = sorted({int(_num(v)) for v in t[ncol] if math.isfinite(_num(v))}) if ncol else []
    n = "n/a" if not ns else (str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}")
    if len(t) > 1 and ns:
        n += f" (x{len(t)} tests)"
    effect = "n/a"
    if tri:
        est = t[tri[0]].map(_num)
        order = est.sort_values(kind="stable").index
        row = t.loc[order[(len(order) - 1) // 2]]
        effect = interval_text(_num(row[tri[0]]), _num(row[tri[1]]), _num(row[tri[2]]), tri[0] == "mean_diff")
        where = "/".join(str(row[c]) for c in strata(t))
        if len(t) > 1:
            effect += f" (median test{': ' + where if where else ''})"
    mdes = [v for v in (t[mcol].map(_num) if mcol else []) if math.isfinite(v)]
    mde = "n/a" if mcol is None else (f"{pd.Series(mdes).median():.3f}" if mdes else "inf")
    return Headline(n, effect, mde, len(t))


# ---- condensed tables ---------------------------------------------------------------------------------

def _cell(row: pd.Series, tri: tuple[str, str, str]) -> str:
    text = interval_text(_num(row[tri[0]]), _num(row[tri[1]]), _num(row[tri[2]]), tri[0] == "mean_diff")
    if "outcome" in row.index:
        star = "" if "powered" not in row.index or str(row["powered"]) in ("True", "1", "1.0") else "*"
        text += f" {row['outcome']}{star}"
    return text


def pivot_family(table: pd.DataFrame) -> pd.DataFrame | None:
    """A family table (one row per test: method, strata, outcome) as a grid: rows = the first stratum,
    columns = method x the other strata, each cell ``difference [95% CI] outcome`` (``*``: unpowered).
    None when that grid would be wider than :data:`MAX_COLUMNS`."""
    tri = _triple(table)
    keys = strata(table)
    if tri is None or "outcome" not in table.columns or not keys:
        return None
    several = "method" in table.columns and table["method"].nunique() > 1
    col_keys = (["method"] if several else []) + keys[1:]
    labels = [" ".join(str(r[c]) for c in col_keys) or "effect" for _, r in table.iterrows()]
    grid = pd.DataFrame({keys[0]: table[keys[0]].astype(str).to_numpy(), "_col": labels,
                         "_cell": [_cell(r, tri) for _, r in table.iterrows()]})
    wide = grid.pivot_table(index=keys[0], columns="_col", values="_cell", aggfunc="first", sort=False)
    if wide.shape[1] + 1 > MAX_COLUMNS:
        return None
    wide = wide.reindex(columns=list(dict.fromkeys(labels))).reset_index()
    wide.columns.name = None
    n = _first(table, N_COLUMNS)
    if n and table[n].nunique() == 1:
        wide.insert(1, "n", int(table[n].iloc[0]))
    return wide.fillna("")


def condense(table: pd.DataFrame) -> pd.DataFrame:
    """A claim's table in at most :data:`MAX_COLUMNS` columns: a family table as :func:`pivot_family`'s grid;
    any other table with each ``(estimate, low, high)`` triple merged into one cell, the columns of
    :data:`DROPPED` and those constant over several rows left out, the rest cut at the limit."""
    grid = pivot_family(table)
    if grid is not None:
        return grid
    t = table.copy()
    for tri in INTERVALS:
        if set(tri) <= set(t.columns):
            at = list(t.columns).index(tri[0])
            merged = [_cell(r[list(tri)], tri) for _, r in t.iterrows()]
            t = t.drop(columns=list(tri))
            t.insert(at, f"{tri[0]} [95% CI]", merged)
    t = t.drop(columns=[c for c in DROPPED if c in t.columns])
    if len(t) > 1:
        t = t[[c for c in t.columns if t[c].astype(str).nunique() > 1 or c in strata(table)]]
    return t.iloc[:, :MAX_COLUMNS]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "claim"


def full_table_name(cid: str, experiment: str, method: str) -> str:
    """The file stem of a claim part's full table under ``claims/``."""
    return _slug("-".join(x for x in (cid, experiment, method) if x))
