"""The per-unit values every ``cnn-am`` table and claim reads (see :mod:`benchmarks.experiments.cnn_am.analysis`):
the AM records, the best-of-starts table :func:`per_unit` with each unit's reference and normalized values,
the derived best-of-two method, and the primary comparison's units and budgets.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.framework import schema
from benchmarks.framework.codec import as_bool


EXPERIMENT = "cnn-am"
#: The columns that name a unit's row of :func:`per_unit` (with ``method``).
UNIT_KEYS: list[str] = ["model", "weights", "trained", "optimizer", "role", "layer", "layer_depth", "unit"]
#: A method reaches a proven optimum when ``F_m >= incumbent - OPT_TOL * max(1, |incumbent|)`` (the maximum lies in
#: ``[incumbent, optimum]``, ``optimum`` being its proven upper end).
OPT_TOL = 1e-4
#: The budgets (steps) at which every claim-2 comparison is made, where the records have them.
CLAIM_BUDGETS: tuple[int, ...] = (16, 64, 256)
#: Label of the derived method "best of plain and the large-slope proxy, each with half the budget".
BEST_OF_TWO = "best-of-plain-and-{}"
#: The unit group of a choice made on every tuning unit of a model (used where a group has no tuning unit).
POOLED = "all"
#: The unit of replication: a network unit of one model.
UNIT = ("model", "layer", "unit")


def group_label(value: object) -> str:
    """A unit group's label as written (``logits`` or a layer name such as ``5``), also where the CSV
    reader made a numeric layer name a float (``5.0``); a missing value is the empty string."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def checkpoints(records: pd.DataFrame) -> list[int]:
    """The budgets ``t`` of the ``best_at_<t>`` columns, ascending."""
    return list(schema.budget_columns(records.columns))


def am_records(records: pd.DataFrame) -> pd.DataFrame:
    """The AM records (``cell_kind == "am"``); records without a ``role`` are fixed-lr runs."""
    df = records[records["cell_kind"] == "am"].copy() if "cell_kind" in records.columns else records.copy()
    if "role" not in df.columns:
        df["role"] = "fixed"
    for col in ("layer", "lr_group"):
        if col in df.columns:
            df[col] = df[col].map(group_label)
    return df


def per_unit(records: pd.DataFrame) -> pd.DataFrame:
    """Best-of-starts table: one row per (unit keys, method) with ``F`` (best ``f_best`` over starts),
    ``F_<t>`` (best value within ``t`` steps) for every checkpoint, the unit's reference values and
    ``stuck`` (the plain gradient is zero at every start, ``start_grad_zero``). The ``sweep`` rows (every
    tried lr on the evaluation units) enter only the reference, as values some method reached."""
    df = am_records(records)
    sweep_best = df[df["role"] == "sweep"].groupby(["model", "layer", "unit"], dropna=False)["f_best"].max()
    df = df[df["role"] != "sweep"]
    df["trained"] = as_bool(df["trained"]).fillna(False).astype(bool)
    ts = checkpoints(df)
    extra = {f"F_{t}": (schema.budget_column(t), "max") for t in ts}
    agg = df.groupby(UNIT_KEYS + ["method"], sort=False, dropna=False).agg(
        F=("f_best", "max"), F_start=("f_start", "max"), dataset_max=("dataset_max", "first"),
        upper_bound=("upper_bound", "first"), incumbent=("incumbent", "first"), optimum=("optimum", "first"),
        cert_status=("cert_status", "first"), method_kind=("method_kind", "first"),
        method_slope=("method_slope", "first"), lr=("lr", "first"),
        claim_method=("claim_method", "first"), **extra).reset_index()
    plain = agg[agg["method"] == "plain"].set_index(UNIT_KEYS)
    agg = agg.join(plain["F"].rename("F_plain"), on=UNIT_KEYS)
    for t in ts:
        agg = agg.join(plain[f"F_{t}"].rename(f"F_plain_{t}"), on=UNIT_KEYS)
    if "start_grad_zero" in df.columns:
        zero = as_bool(df["start_grad_zero"]).fillna(False).astype(bool)
        stuck = zero.groupby([df[k] for k in UNIT_KEYS], dropna=False).all()
        agg = agg.join(stuck.rename("stuck"), on=UNIT_KEYS)
    else:
        agg["stuck"] = np.nan
    best_any = agg.groupby(["model", "layer", "unit"], dropna=False)["F"].transform("max")
    if len(sweep_best):
        swept = agg.join(sweep_best.rename("_sweep"), on=["model", "layer", "unit"])["_sweep"]
        best_any = np.fmax(best_any.to_numpy(float), swept.to_numpy(float))
    ref = np.where(agg["upper_bound"].notna(), agg["upper_bound"],
                   np.fmax(np.asarray(best_any, float), agg["dataset_max"].to_numpy(float)))
    agg["reference"] = ref
    agg["reference_kind"] = np.where(agg["upper_bound"].notna(), "certified bound", "best found")
    agg["attained"] = normalized(agg["F"], agg["F_start"], agg["reference"])
    for t in ts:
        agg[f"attained_{t}"] = normalized(agg[f"F_{t}"], agg["F_start"], agg["reference"])
    denom = agg["F_plain"].abs().replace(0.0, np.nan)
    agg["ratio"] = 1.0 + (agg["F"] - agg["F_plain"]) / denom
    agg["beats_dataset"] = np.where(agg["dataset_max"].notna(), agg["F"] > agg["dataset_max"], np.nan)
    agg["gap_upper"] = agg["upper_bound"] - agg["F"]
    agg["gap_lower"] = (agg["incumbent"] - agg["F"]).clip(lower=0.0)
    return agg


def normalized(value: pd.Series, start: pd.Series, reference: pd.Series | np.ndarray) -> np.ndarray:
    """``(value - start) / (reference - start)``, 1 where the reference does not exceed the start."""
    v, s0, r = (np.asarray(x, float) for x in (value, start, reference))
    scale = r - s0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (v - s0) / np.where(scale > 0, scale, 1.0), 1.0)


def with_best_of_two(units: pd.DataFrame, method: str) -> pd.DataFrame:
    """``units`` plus the derived method "best of plain and ``method`` at equal total budget":
    ``F_t = max(F_plain_{t/2}, F_method_{t/2})`` from the same starts, for every ``t`` whose half is a
    checkpoint (other budgets NaN)."""
    ts = [int(c[2:]) for c in units.columns if c.startswith("F_") and c[2:].isdigit()]
    prox = units[units["method"] == method]
    if prox.empty:
        return units
    both = prox.copy()
    both["method"] = BEST_OF_TWO.format(method)
    both["method_kind"], both["method_slope"], both["lr"] = "derived", np.nan, np.nan
    for t in ts:
        half = t // 2
        both[f"F_{t}"] = (np.maximum(prox[f"F_{half}"].to_numpy(), prox[f"F_plain_{half}"].to_numpy())
                          if t % 2 == 0 and half in ts else np.nan)
    both["F"] = both[f"F_{max(ts)}"] if ts else np.nan
    for t in ts:
        both[f"attained_{t}"] = normalized(both[f"F_{t}"], both["F_start"], both["reference"])
    both["attained"] = normalized(both["F"], both["F_start"], both["reference"])
    both["ratio"] = 1.0 + (both["F"] - both["F_plain"]) / both["F_plain"].abs().replace(0.0, np.nan)
    return pd.concat([units, both], ignore_index=True)


def tolerance(values: pd.Series) -> pd.Series:
    """The :data:`OPT_TOL` tolerance at each value: ``OPT_TOL * max(1, |value|)``."""
    return OPT_TOL * np.maximum(1.0, values.abs())


def large_slope_method(table: pd.DataFrame) -> str | None:
    """The declared claim method (the records' ``claim_method`` column, or :func:`per_unit`'s), or None."""
    if "claim_method" not in table.columns or table.empty:
        return None
    declared = [str(x) for x in table["claim_method"].dropna().unique() if str(x) and str(x) != "nan"]
    return declared[0] if declared else None


def primary_units(units: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Trained models' units of the primary comparison: the tuned evaluation runs where the records have
    them, else the fixed-lr runs; and that role."""
    trained = units[units["trained"]]
    role = "evaluation" if (trained["role"] == "evaluation").any() else "fixed"
    return trained[trained["role"] == role], role


def claim_budgets(units: pd.DataFrame) -> list[int | None]:
    """The checkpoints of ``units`` (``F_<t>`` columns) at which the claim comparisons are made: those in
    :data:`CLAIM_BUDGETS` and the full budget; ``[None]`` (the full budget's ``F``) when there are none."""
    ts = sorted(int(c[2:]) for c in units.columns if c.startswith("F_") and c[2:].isdigit())
    if not ts:
        return [None]
    return [t for t in ts if t in CLAIM_BUDGETS or t == ts[-1]]
