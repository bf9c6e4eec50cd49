"""The descriptive tables of ``cnn-am`` (mean differences of ``attained`` with 95% bootstrap intervals over
units, no p-values): the draw's unit counts, attained values, every method against plain, certified gaps,
and the claim method against plain at every budget (``anytime``), on stuck and moved units and beside the
other methods (``combinations``). See :mod:`benchmarks.experiments.cnn_am.analysis`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication, schema, stats, tuning
from benchmarks.framework.codec import as_bool
from benchmarks.experiments.cnn_am.choices import group_choices, sweep_units
from benchmarks.experiments.cnn_am.unit_values import (CLAIM_BUDGETS, POOLED, UNIT, am_records, checkpoints,
                                                      claim_budgets, normalized, primary_units, tolerance,
                                                      with_best_of_two)


def unit_counts(records: pd.DataFrame) -> pd.DataFrame:
    """Per model: the pool, and how many units the draw made tuning, evaluation, excluded (dead on the
    data by the declared rule) and unused, and how many evaluation units are certified."""
    if "cell_kind" not in records.columns:
        return pd.DataFrame()
    s = records[records["cell_kind"] == "survey"]
    rows = []
    for model, g in s.groupby("model", sort=False):
        counts = g["role"].value_counts()
        rows.append({"model": model, "pool": len(g), **{r: int(counts.get(r, 0)) for r in
                     ("tuning", "evaluation", "excluded", "unused")},
                     "dead_in_pool": int(as_bool(g["dead"]).fillna(False).sum()),
                     "certified": int(as_bool(g["certified"]).fillna(False).sum())})
    return pd.DataFrame(rows)


def _wilson(k: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return math.nan, math.nan, math.nan
    iv = stats.wilson(k, n)
    return iv.estimate, iv.low, iv.high


def attained_table(units: pd.DataFrame) -> pd.DataFrame:
    """Per (model, weights, optimizer, layer, method): median F, median ratio, win rate vs plain, dataset wins."""
    rows = []
    for key, g in units.groupby(["model", "weights", "role", "optimizer", "layer", "method"], sort=False):
        has_data = g["beats_dataset"].notna()
        k, n = int(g.loc[has_data, "beats_dataset"].sum()), int(has_data.sum())
        frac, lo, hi = _wilson(k, n)
        rows.append(dict(zip(["model", "weights", "role", "optimizer", "layer", "method"], key),
                         lr=float(g["lr"].iloc[0]),
                         units=len(g), median_F=float(g["F"].median()),
                         median_ratio=float(g["ratio"].median()) if g["ratio"].notna().any() else math.nan,
                         wins_vs_plain=int((g["F"] > g["F_plain"]).sum()),
                         losses_vs_plain=int((g["F"] < g["F_plain"]).sum()),
                         beats_dataset=frac, beats_dataset_low=lo, beats_dataset_high=hi, dataset_units=n))
    return pd.DataFrame(rows)


def difference_table(units: pd.DataFrame, method: str, *, by: list[str], column: str = "attained",
                     extra: dict | None = None) -> pd.DataFrame:
    """Descriptive: per ``by`` group, the mean over units of ``method``'s normalized value minus plain's
    (``column``, e.g. ``attained_64``) with its 95% bootstrap interval over units; no p-value."""
    rows = []
    sel = units[units["method"].isin([method, "plain"])]
    for key, g in sel.groupby(by, sort=False):
        j = replication.paired_units(g.rename(columns={column: "value"}), method=method, reference="plain",
                                     unit=list(UNIT))
        j = j.dropna()
        if j.empty:
            continue
        d = (j["a"] - j["b"]).to_numpy(float)
        lo, hi = compare.mean_interval(d)
        rows.append({**(extra or {}), **dict(zip(by, key if isinstance(key, tuple) else (key,))), "method": method,
                     "reference": "plain", "units": len(d), "value": float(j["a"].mean()),
                     "value_ref": float(j["b"].mean()), "mean_diff": float(d.mean()), "diff_low": lo,
                     "diff_high": hi, "wins": int((d > 0).sum()), "ties": int((d == 0).sum()),
                     "losses": int((d < 0).sum())})
    return pd.DataFrame(rows)


def tests_table(units: pd.DataFrame) -> pd.DataFrame:
    """Every method against plain per (model, weights, role, optimizer) and layer, and over all layers
    (``layer = "all"``): descriptive differences of the normalized value (:func:`difference_table`)."""
    units = units[units["role"] != "tuning"]
    by = ["model", "weights", "role", "optimizer"]
    parts = []
    for m in dict.fromkeys(units["method"]):
        if m == "plain":
            continue
        parts.append(difference_table(units.assign(layer_all="all"), m, by=[*by, "layer_all"]).rename(
            columns={"layer_all": "layer"}))
        parts.append(difference_table(units, m, by=[*by, "layer"]))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def certified_table(units: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method) over units with a bound ``U`` and incumbent ``I`` (a value the
    certifier attained, ``I <= max f <= U``): units where AM stays below ``I`` (``short``), proven optima
    reached (``F >= I`` up to :data:`OPT_TOL` on a proven unit, whose maximum lies in ``[I, U]``), and the
    gaps ``max(0, I - F) <= max f - F <= U - F``."""
    bounded = units[units["upper_bound"].notna()]
    rows = []
    for key, g in bounded.groupby(["model", "weights", "role", "optimizer", "method"], sort=False):
        proven = g["optimum"].notna()
        reached = g.loc[proven, "F"] >= g.loc[proven, "incumbent"] - tolerance(g.loc[proven, "incumbent"])
        rows.append(dict(zip(["model", "weights", "role", "optimizer", "method"], key), units=len(g),
                         proven=int(proven.sum()), reached_optimum=int(reached.sum()),
                         short=int((g["gap_lower"] > tolerance(g["incumbent"])).sum()),
                         mean_gap_lower=float(g["gap_lower"].mean()), mean_gap_upper=float(g["gap_upper"].mean()),
                         median_gap_upper=float(g["gap_upper"].median()),
                         bound_violations=int((g["gap_upper"] < -tolerance(g["upper_bound"])).sum())))
    return pd.DataFrame(rows)


def budget_tuned_units(records: pd.DataFrame, units: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per trained model's evaluation unit, optimizer, ``plain`` and ``method``, and claim budget ``t``: the
    best value within ``t`` steps at the lr tuned for budget ``t`` (each unit group's choice among the tried
    indices on the tuning rows' ``best_at_<t>``), read from the ``sweep`` rows (every tried lr on the
    evaluation units), normalized to the unit's reference (column ``attained``). Empty without sweep rows."""
    df = am_records(records)
    claim_units, _ = primary_units(units)
    if not (df["role"] == "sweep").any() or claim_units.empty:
        return pd.DataFrame()
    ref = claim_units.groupby(list(UNIT), sort=False)["reference"].first()
    ts = [t for t in checkpoints(df) if t in CLAIM_BUDGETS or t == max(checkpoints(df))]
    parts = []
    for (model, opt, meth), tune in df[df["role"] == "tuning"].groupby(["model", "optimizer", "method"], sort=False):
        if meth not in ("plain", method) or model not in set(claim_units["model"]):
            continue
        tried = sorted(int(k) for k in tune["lr_index"].unique())
        grid = tuning.Grid(tried[0], tried[-1], 1, tried[0], tried[-1])
        sel = (df["role"] == "sweep") & (df["model"] == model) & (df["optimizer"] == opt) & (df["method"] == meth)
        for t in ts:
            sweep = sweep_units(df[sel], schema.budget_column(t))
            if sweep.empty:
                continue
            choices = group_choices(tune, grid, sorted(sweep["layer"].astype(str).unique()),
                                    value=schema.budget_column(t))
            k = sweep["layer"].astype(str).map(lambda g: choices[g if g in choices else POOLED].k)
            at = sweep[sweep["lr_index"] == k].assign(budget=t, lr=lambda d: d["lr_index"].map(
                tune.groupby("lr_index")["lr"].first()))
            parts.append(at)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True).join(ref, on=list(UNIT))
    out["attained"] = normalized(out["V"], out["V0"], out["reference"])
    return out


def anytime_table(records: pd.DataFrame, units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """The claim method against plain per trained model and optimizer at every claim budget (descriptive).
    With ``sweep`` rows each method runs at the lr tuned for that budget (:func:`budget_tuned_units`, one
    start per unit: ``lrs = "tuned for the budget"``); without them at the lr tuned for the full budget
    (``lrs = "tuned for the full budget"``), and the table says so."""
    if method is None:
        return pd.DataFrame()
    tuned = budget_tuned_units(records, units, method)
    if len(tuned):
        parts = [difference_table(g, method, by=["model", "optimizer"], column="attained",
                                  extra={"role": "sweep", "budget": int(t), "lrs": "tuned for the budget",
                                         "starts_per_unit": int(g["starts"].max())})
                 for t, g in tuned.groupby("budget", sort=True)]
    else:
        claim_units, role = primary_units(units)
        parts = [difference_table(claim_units, method, by=["model", "optimizer"],
                                  column="attained" if t is None else f"attained_{t}",
                                  extra={"role": role, "budget": t, "lrs": "tuned for the full budget"})
                 for t in claim_budgets(claim_units)]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stuck_moved_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """The claim method against plain at the full budget, separately on units where the plain gradient is
    zero at every start (``stuck``, decided before any method ran) and the others (descriptive)."""
    if method is None or "stuck" not in units.columns or units["stuck"].isna().all():
        return pd.DataFrame()
    claim_units, role = primary_units(units)
    claim_units = claim_units.assign(part=np.where(claim_units["stuck"].fillna(False).astype(bool), "stuck", "moved"))
    return difference_table(claim_units, method, by=["model", "optimizer", "part"], extra={"role": role})


def combinations_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """Every other method (``switch``, ``anneal``, ..., and the derived best of plain and ``method`` at
    equal total budget) against plain, per trained model and optimizer, at every claim budget (descriptive)."""
    claim_units, role = primary_units(units)
    if method is not None:
        claim_units = with_best_of_two(claim_units, method)
    parts = []
    for t in claim_budgets(claim_units):
        col = "attained" if t is None else f"attained_{t}"
        parts += [difference_table(claim_units, m, by=["model", "optimizer"], column=col,
                                   extra={"role": role, "budget": t, "lrs": "tuned for the full budget"})
                  for m in dict.fromkeys(claim_units["method"]) if m != "plain"]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
