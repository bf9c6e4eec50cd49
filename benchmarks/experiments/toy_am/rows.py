"""The rows of ``toy-am`` records that the tables, claims and figures read, and the values derived from them.

The *unit of replication* is the instance ``(family, dim, seed)`` (:data:`UNIT`).  The *primary* rows
are the ``evaluation`` rows (every method at the step size tuned for it on disjoint tuning instances)
when the records have them, else the ``fixed`` rows (one shared step size: untuned).  The derived
method "best of plain and ProxyGrad at half the budget each" is built here from the recorded
checkpoints (:func:`best_of_rows`), as is the strongest gradient-free baseline (:func:`baseline_rows`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import schema, tuning
from benchmarks.experiments.toy_am.plan import TUNING_SCORE

EXPERIMENT = "toy-am"
PAIR_KEYS = ["dim", "seed", "start"]
INSTANCE_KEYS = ["family", "dim", "seed"]
UNIT = ("family", "dim", "seed")
STRATA = ("family", "optimizer")
SCORE = "attained"
ANYTIME = (16, 64, 256)  # the budgets (steps) of the anytime view, where the profile has them
SUCCESS_TARGET = 1e-3    # the target used for success/failure in the claims
BEST_BASELINE = "best-baseline (derived)"


def ordered(values: pd.Series) -> list[Any]:
    """Unique values in order of first appearance (the config's order)."""
    return list(dict.fromkeys(values.tolist()))


def target_columns(records: pd.DataFrame) -> dict[float, str]:
    """``{tau: column}`` for the ``steps_to_<tau>`` columns present."""
    return {float(c[len("steps_to_"):]): c for c in records.columns if c.startswith("steps_to_")}


# ---- roles -------------------------------------------------------------------------------------

def role_rows(records: pd.DataFrame, role: str) -> pd.DataFrame:
    """The rows of one role (records without a ``role`` column are all ``fixed``: one shared lr)."""
    if "role" not in records.columns:
        return records if role == "fixed" else records.iloc[0:0]
    return records[records["role"] == role]


def is_tuned(records: pd.DataFrame) -> bool:
    """True when the records hold evaluation rows (methods at tuned step sizes)."""
    return not role_rows(records, "evaluation").empty


def primary(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of the primary comparison: ``evaluation`` when present, else ``fixed`` (untuned)."""
    return role_rows(records, "evaluation") if is_tuned(records) else role_rows(records, "fixed")


def gradient_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The primary rows of the AM methods (baselines left out)."""
    rows = primary(records)
    return rows[rows["method_kind"] != "baseline"] if "method_kind" in rows.columns else rows


def big_proxy(records: pd.DataFrame) -> str | None:
    """The declared claim method (column ``claim_method``), or None when the profile declares none."""
    if "claim_method" not in records.columns or records.empty:
        return None
    declared = [str(x) for x in records["claim_method"].dropna().unique() if str(x)]
    return declared[0] if declared else None


def success_target(records: pd.DataFrame) -> float:
    """The target used for success in the claims: ``SUCCESS_TARGET`` when recorded, else the middle recorded one."""
    taus = sorted(target_columns(records)) or [SUCCESS_TARGET]
    return SUCCESS_TARGET if SUCCESS_TARGET in taus else taus[len(taus) // 2]


def budgets(rows: pd.DataFrame) -> list[int]:
    """The anytime budgets present: those of :data:`ANYTIME` recorded as ``best_at_<t>``, and the full budget."""
    if rows.empty:
        return []
    steps = int(rows["steps"].max())
    have = set(schema.budget_columns(rows.columns))
    return sorted({t for t in ANYTIME if t in have and t <= steps} | {steps})


def attained_at(rows: pd.DataFrame, t: int) -> np.ndarray:
    """The attained fraction at budget ``t``: ``(best_at_<t> - f_start) / (f_star - f_start)`` (1 when the start
    is optimal, NaN without an optimum)."""
    best, start, star = (rows[c].to_numpy(float) for c in (schema.budget_column(t), "f_start", "f_star"))
    scale = star - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (best - start) / np.where(scale > 0, scale, 1.0), np.where(scale <= 0, 1.0, np.nan))


def with_score(rows: pd.DataFrame, t: int | None = None) -> pd.DataFrame:
    """``rows`` with ``score`` = the attained fraction at budget ``t`` (None: the full budget)."""
    return rows.assign(score=rows[SCORE].to_numpy(float) if t is None else attained_at(rows, t))


def lr_of(rows: pd.DataFrame, optimizer: str, method: str) -> float:
    lrs = rows.loc[(rows["optimizer"] == optimizer) & (rows["method"] == method), "lr"].astype(float)
    return float(lrs.iloc[0]) if len(lrs) else float("nan")


def method_fields(records: pd.DataFrame) -> pd.DataFrame:
    """One row per method label with its ``method_kind`` and ``method_slope``, in the config's order."""
    return records.drop_duplicates("method")[["method", "method_kind", "method_slope"]].reset_index(drop=True)


def tuning_scores(records: pd.DataFrame, optimizer: str, method: str) -> dict[int, float]:
    """The tuning score of each lr index of a pair (mean rank of mean f_best over tuning instances)."""
    sel = records[(records["optimizer"] == optimizer) & (records["method"] == method)]
    return tuning.scores(sel, TUNING_SCORE)


def baseline_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer of the primary rows, a copy of each instance's strongest baseline: per start, the
    baseline rows' best attained fraction (the max over the baselines, each at the AM budget of forward
    evaluations), labelled :data:`BEST_BASELINE`. Taking the best of three favours the baselines."""
    base = role_rows(records, "baseline")
    rows = gradient_rows(records)
    if base.empty or rows.empty:
        return rows.iloc[0:0]
    keys = [*UNIT, "start"]
    best = base.groupby(keys, sort=False)[[SCORE, "rel_gap"]].agg({SCORE: "max", "rel_gap": "min"}).reset_index()
    return pd.concat([best.assign(optimizer=o, method=BEST_BASELINE, method_kind="derived")
                      for o in ordered(rows["optimizer"])], ignore_index=True)


# ---- derived: best of plain and ProxyGrad at half the budget each -------------------------------

def best_of_label(proxy: str, reference: str = "plain") -> str:
    """The label of the derived method "best of ``reference`` and ``proxy`` at half the budget each"."""
    return f"best-of({reference}, {proxy}) (derived)"


def best_of_rows(rows: pd.DataFrame, proxy: str, t: int, reference: str = "plain") -> pd.DataFrame:
    """Derived rows at total budget ``t``: per start, ``max(reference best_at_<t/2>, proxy best_at_<t/2>)``, the
    better of two runs of ``t/2`` steps each from the same start (each at its own lr), stored as
    ``best_at_<t>`` of the method :func:`best_of_label`.  Empty when ``best_at_<t/2>`` was not recorded."""
    half = schema.budget_column(t // 2)
    if t % 2 or half not in rows.columns:
        return rows.iloc[0:0]
    keys = ["family", "optimizer", *PAIR_KEYS]
    ref = rows[rows["method"] == reference]
    prox = rows[rows["method"] == proxy][keys + [half, "lr"]]
    joined = ref.merge(prox, on=keys, suffixes=("", "_proxy"))
    out = joined[[*keys, "f_start", "f_star", "steps"]].copy()
    out["method"] = best_of_label(proxy, reference)
    out[schema.budget_column(t)] = np.maximum(joined[half].to_numpy(float), joined[f"{half}_proxy"].to_numpy(float))
    out["lr"] = np.nan
    return out


def with_best_of(rows: pd.DataFrame, proxy: str | None, t: int) -> pd.DataFrame:
    if proxy is None:
        return rows
    derived = best_of_rows(rows, proxy, t)
    return pd.concat([rows, derived], ignore_index=True) if len(derived) else rows
