"""Analysis of ``cnn-am`` records: normalized attained values, claims declared as data, certified gaps,
chosen step sizes, anytime and stuck/moved views.

The unit of replication is the network unit ``u`` of one model: per (model, role, optimizer, unit,
method) the best value over the starts, ``F_m(u) = max_s f_best(u, m, s)`` (AM keeps the best of its
starts: the declared summary), and ``F_m^t(u)`` the best within the first ``t`` steps (``best_at_<t>``).
Before anything is pooled or ranked across units, each is normalized to its reference:

- ``reference(u)``: the certified upper bound ``U(u)`` where the unit is certified (the proven optimum when
  the certificate is optimal), else the best value any method reached on the unit in any role and
  optimizer, or the data set's maximum ``max_{x in test set} f_u(x)`` if that is higher;
- ``attained_m(u) = (F_m(u) - F_0(u)) / (reference(u) - F_0(u))`` with ``F_0(u)`` the best start value
  (1 when the reference equals the start), in [0, 1] where the reference is a bound.

Claims (:func:`claim_specs`, decided by :func:`benchmarks.framework.replication.evaluate`, one Holm
family each): C2, the declared ``claim_method`` against plain per trained (model, optimizer) over units;
B8, the same over the certified units only (on a unit both share the bound, so a positive difference
narrows the certified gap); and the C1 part of this experiment: plain AM stops below a value the
certifier attained on a share of the certified units (Wilson interval over units).

Step sizes are tuned per unit group (the logits; the channels of each layer: units of different gradient
scales do not share one lr, :func:`group_choices`). Where the run has ``sweep`` rows (every tried lr on
the evaluation units, a diagnostic that feeds no choice), ``lr_regret`` gives per group the median ratio
of the gain at the chosen lr to the gain at the best tried lr, and ``anytime`` compares the methods at
each budget at the lr tuned for that budget.

Descriptive tables (mean differences of ``attained`` with 95% bootstrap intervals over units, no
p-values, so a test's adjusted p appears only in its claim's table): ``tests`` (every method against
plain per layer), ``anytime`` (the claim method at each budget; column ``lrs`` says which lrs),
``stuck_moved`` (stuck: the plain gradient is zero at every start, ``start_grad_zero``, decided before
any method ran) and ``combinations`` (every other method and the derived best of plain and the claim
method at equal total budget, at the lrs tuned for the full budget, as its column ``lrs`` says).

Models with random weights are kept apart: claims about trained networks use trained models only.
"""
from __future__ import annotations

import math
from pathlib import Path
import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication, stats, tuning
from benchmarks.framework.claims import Claim, ClaimSpec

EXPERIMENT = "cnn-am"
UNIT_KEYS: list[str] = ["model", "weights", "trained", "optimizer", "role", "layer", "layer_depth", "unit"]
ALPHA = 0.05
#: A method reaches a proven optimum when ``F_m >= incumbent - OPT_TOL * max(1, |incumbent|)`` (the maximum lies in
#: ``[incumbent, optimum]``, ``optimum`` being its proven upper end).
OPT_TOL = 1e-4
#: The budgets (steps) at which every claim-2 comparison is made, where the records have them.
CLAIM_BUDGETS: tuple[int, ...] = (16, 64, 256)
#: C1's threshold: plain AM "fails" on a model when the lower end of its shortfall share is at least this.
SHORT_MIN = 0.1
#: Label of the derived method "best of plain and the large-slope proxy, each with half the budget".
BEST_OF_TWO = "best-of-plain-and-{}"
#: The unit group of a choice made on every tuning unit of a model (used where a group has no tuning unit).
POOLED = "all"
#: The lr-regret table's target: the median ratio of each (model, optimizer, method, unit group) should reach it.
REGRET_TARGET = 0.9


def _as_bool(series: pd.Series) -> pd.Series:
    """Booleans as written by the store and read back (True/False, "True"/"False", empty -> NaN)."""
    mapping = {True: 1.0, False: 0.0, "True": 1.0, "False": 0.0}
    return series.map(lambda v: mapping.get(v, math.nan) if not isinstance(v, float) else v).astype(float)


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
    return sorted(int(c[len("best_at_"):]) for c in records.columns if c.startswith("best_at_"))


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
    df["trained"] = _as_bool(df["trained"]).astype(bool)
    ts = checkpoints(df)
    extra = {f"F_{t}": (f"best_at_{t}", "max") for t in ts}
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
        zero = _as_bool(df["start_grad_zero"]).fillna(0.0).astype(bool)
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


def group_scores(rows: pd.DataFrame, value: str = "f_best") -> dict[str, dict[int, float]]:
    """Tuning scores of one (model, optimizer, method) per unit group (``layer``: ``logits`` or a layer) and
    pooled over every tuning unit (:data:`POOLED`): per tuning unit the best ``value`` over starts at each
    grid index, ranked across indices and averaged over the group's units
    (:func:`benchmarks.framework.tuning.mean_rank_scores`: scale-free)."""
    per = rows.assign(layer=rows["layer"].map(group_label)).groupby(
        ["layer", "unit", "lr_index"], sort=False)[value].max().reset_index()
    out = {str(g): tuning.mean_rank_scores(part, index="lr_index", units=["unit"], value=value)
           for g, part in per.groupby("layer", sort=False)}
    out[POOLED] = tuning.mean_rank_scores(per, index="lr_index", units=["unit"], value=value)
    return out


def group_choices(rows: pd.DataFrame, grid: tuning.Grid, groups: list[str] | None = None,
                  value: str = "f_best") -> dict[str, tuning.Choice]:
    """The step-size choice of every unit group from one (model, optimizer, method)'s tuning records.

    Units of different gradient scales do not share one lr: each group (the logits; the channels of each
    layer) is tuned on its own tuning units by :func:`benchmarks.framework.tuning.choose`. ``groups``: the
    groups that need a choice (those of the evaluation units); a group without tuning units takes the
    pooled choice over all tuning units (:data:`POOLED`), which is then included."""
    scores = group_scores(rows, value)
    need = set(scores) - {POOLED} if groups is None else set(groups)
    out = {g: tuning.choose(scores[g], grid) for g in sorted(need) if g in scores}
    if need - set(out):
        out[POOLED] = tuning.choose(scores[POOLED], grid)
    return out


def tuning_choices(records: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method, unit group): the step sizes tried on the tuning units, their scores
    (mean rank over the group's tuning units of the best value over starts), the chosen lr of the group's
    evaluation units, and whether it lies at an edge of the tried range (``at_edge``: with a final choice,
    a hard limit of the grid stopped the extension; such choices are flagged in the claim text)."""
    df = am_records(records)
    tune = df[df["role"] == "tuning"]
    evaluated = df[df["role"] == "evaluation"]
    if "lr_group" not in evaluated.columns:  # records made before lrs were tuned per unit group
        evaluated = evaluated.assign(lr_group=POOLED)
    rows = []
    for (model, opt, method), g in tune.groupby(["model", "optimizer", "method"], sort=False):
        lrs = g.groupby("lr_index")["lr"].first()
        ev = evaluated[(evaluated["model"] == model) & (evaluated["optimizer"] == opt) & (evaluated["method"] == method)]
        for group, scores in group_scores(g).items():
            decided = ev[ev["lr_group"].replace("", POOLED) == group]
            if decided.empty:
                continue
            k = int(decided["lr_index"].iloc[0])
            units = g["unit"].nunique() if group == POOLED else g.loc[g["layer"].astype(str) == group, "unit"].nunique()
            rows.append({"model": model, "optimizer": opt, "method": method, "unit_group": group,
                         "tuning_units": int(units), "evaluation_units": int(decided["unit"].nunique()),
                         "lrs_tried": len(scores), "lr_low": float(lrs.min()), "lr_high": float(lrs.max()),
                         "chosen_lr": float(decided["lr"].iloc[0]), "chosen_index": k,
                         "at_edge": k in (min(scores), max(scores)),
                         "scores": "; ".join(f"{lrs[i]:.3g}: {v:.3g}" for i, v in sorted(scores.items()))})
    return pd.DataFrame(rows)


def _sweep_units(records: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per (model, optimizer, method, unit, lr_index) of the ``sweep`` rows: the best ``value`` over
    starts and the best start value."""
    df = am_records(records)
    sweep = df[df["role"] == "sweep"]
    if sweep.empty:
        return pd.DataFrame()
    return sweep.groupby(["model", "optimizer", "method", "layer", "unit", "lr_index"], sort=False).agg(
        V=(value, "max"), V0=("f_start", "max"), starts=("start", "nunique"), lr=("lr", "first")).reset_index()


def lr_regret_table(records: pd.DataFrame, chosen: pd.DataFrame | None = None) -> pd.DataFrame:
    """The lr-regret table: on the evaluation units, at the full budget, per (model, optimizer, method, unit
    group), the ratio ``(F(k*) - F_0) / max_k (F(k) - F_0)`` of the gain a unit's run reaches at its chosen
    grid index ``k*`` to the largest gain at any tried index ``k`` (``F``: best value over the ``sweep``
    starts, ``F_0``: the start value). Median, minimum and n over units; units where no lr moves AM
    (largest gain 0) have no ratio and are counted apart. ``ok``: median >= :data:`REGRET_TARGET`.
    ``hindsight_lr`` / ``hindsight_median_ratio``: the one tried lr whose median ratio over the group's
    evaluation units is highest, and that median (ties: the lower lr). It is chosen on the evaluation units
    themselves, so it is no protocol, only a reading aid, and an optimistic one: it bounds what any rule that
    gives a group one lr can reach on these units. Where it stays below the target, no single lr serves the
    group's units (their best lrs differ); where it reaches the target and the chosen lr does not, the
    shortfall is the choice's (few tuning units, or units whose best lrs differ from the tuning units').
    ``chosen``: :func:`tuning_choices` of ``records`` where the caller has it already."""
    sweep = _sweep_units(records, "f_best")
    if sweep.empty:
        return pd.DataFrame()
    chosen = tuning_choices(records) if chosen is None else chosen
    evaluated = am_records(records)
    evaluated = evaluated[evaluated["role"] == "evaluation"]
    rows = []
    for (model, opt, method, group), g in sweep.groupby(["model", "optimizer", "method", "layer"], sort=False):
        ev = evaluated[(evaluated["model"] == model) & (evaluated["optimizer"] == opt)
                       & (evaluated["method"] == method) & (evaluated["layer"].astype(str) == str(group))]
        if ev.empty:
            continue
        k_star = int(ev["lr_index"].iloc[0])
        wide = g.pivot_table(index="unit", columns="lr_index", values="V", aggfunc="max")
        start = g.groupby("unit")["V0"].max().reindex(wide.index)
        gain = wide.sub(start, axis=0)
        best = gain.max(axis=1)
        ratios = gain.div(best.where(best > 0), axis=0).dropna(how="all")
        ratio = ratios[k_star].dropna() if k_star in ratios.columns else pd.Series(dtype=float)
        medians = ratios.median()
        k_hind = int(medians.idxmax()) if medians.notna().any() else k_star
        decided = (str(ev["lr_group"].iloc[0]) or POOLED) if "lr_group" in ev.columns else POOLED
        pick = chosen[(chosen["model"] == model) & (chosen["optimizer"] == opt) & (chosen["method"] == method)
                      & (chosen["unit_group"] == decided)] if len(chosen) else chosen
        rows.append({"model": model, "optimizer": opt, "method": method, "unit_group": str(group),
                     "lr_decided_by": decided, "chosen_lr": float(ev["lr"].iloc[0]), "lrs_swept": int(wide.shape[1]),
                     "units": int(len(ratio)), "units_unmoved": int((best <= 0).sum()),
                     "median_ratio": float(ratio.median()) if len(ratio) else math.nan,
                     "min_ratio": float(ratio.min()) if len(ratio) else math.nan,
                     "ok": bool(len(ratio) == 0 or ratio.median() >= REGRET_TARGET),
                     "hindsight_lr": float(g.loc[g["lr_index"] == k_hind, "lr"].iloc[0])
                     if "lr" in g.columns and (g["lr_index"] == k_hind).any() else math.nan,
                     "hindsight_median_ratio": float(medians[k_hind]) if medians.notna().any() else math.nan,
                     "at_edge": bool(pick["at_edge"].any()) if len(pick) else False})
    return pd.DataFrame(rows)


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
                     "dead_in_pool": int(_as_bool(g["dead"]).fillna(0).sum()),
                     "certified": int(_as_bool(g["certified"]).fillna(0).sum())})
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


UNIT = ("model", "layer", "unit")


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


def _tol(values: pd.Series) -> pd.Series:
    return OPT_TOL * np.maximum(1.0, values.abs())


def certified_table(units: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method) over units with a bound ``U`` and incumbent ``I`` (a value the
    certifier attained, ``I <= max f <= U``): units where AM stays below ``I`` (``short``), proven optima
    reached (``F >= I`` up to :data:`OPT_TOL` on a proven unit, whose maximum lies in ``[I, U]``), and the
    gaps ``max(0, I - F) <= max f - F <= U - F``."""
    bounded = units[units["upper_bound"].notna()]
    rows = []
    for key, g in bounded.groupby(["model", "weights", "role", "optimizer", "method"], sort=False):
        proven = g["optimum"].notna()
        reached = g.loc[proven, "F"] >= g.loc[proven, "incumbent"] - _tol(g.loc[proven, "incumbent"])
        rows.append(dict(zip(["model", "weights", "role", "optimizer", "method"], key), units=len(g),
                         proven=int(proven.sum()), reached_optimum=int(reached.sum()),
                         short=int((g["gap_lower"] > _tol(g["incumbent"])).sum()),
                         mean_gap_lower=float(g["gap_lower"].mean()), mean_gap_upper=float(g["gap_upper"].mean()),
                         median_gap_upper=float(g["gap_upper"].median()),
                         bound_violations=int((g["gap_upper"] < -_tol(g["upper_bound"])).sum())))
    return pd.DataFrame(rows)


def analyze(records: pd.DataFrame, out: Path | None = None) -> dict[str, pd.DataFrame]:
    """The tables ``attained``, ``tests``, ``certified``, ``claim_C2`` and ``claim_B8`` (the claims' Holm families),
    ``tuning`` (chosen step sizes per unit group), ``lr_regret`` (:func:`lr_regret_table`), ``units``
    (the draw and the dead-unit exclusions), ``anytime`` (the claim-2 comparison at every budget),
    ``stuck_moved`` and ``combinations`` (empty frames when nothing applies)."""
    units = per_unit(records)
    method = large_slope_method(units)
    choices = tuning_choices(records)
    claim_tabs = {f"claim_{spec.id}": replication.claim_table(spec, rows)
                  for spec, rows in claim_specs(units)}
    return {"attained": attained_table(units), "tests": tests_table(units), "certified": certified_table(units),
            **claim_tabs,
            "tuning": choices, "lr_regret": lr_regret_table(records, choices), "units": unit_counts(records),
            "anytime": anytime_table(records, units, method), "stuck_moved": stuck_moved_table(units, method),
            "combinations": combinations_table(units, method)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """``<model>/<role>/<optimizer>/<method>/median_F`` and ``.../median_ratio`` for every combination."""
    out: dict[str, float] = {}
    units = per_unit(records)
    for (model, role, opt, method), g in units.groupby(["model", "role", "optimizer", "method"], sort=False):
        out[f"{model}/{role}/{opt}/{method}/median_F"] = float(g["F"].median())
        if g["ratio"].notna().any():
            out[f"{model}/{role}/{opt}/{method}/median_ratio"] = float(g["ratio"].median())
    return out


def large_slope_method(table: pd.DataFrame) -> str | None:
    """The declared claim method (the records' ``claim_method`` column, or :func:`per_unit`'s), or None."""
    if "claim_method" not in table.columns or table.empty:
        return None
    declared = [str(x) for x in table["claim_method"].dropna().unique() if str(x) and str(x) != "nan"]
    return declared[0] if declared else None


def _claim_units(units: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Trained models' units of the primary comparison: the tuned evaluation runs where the records have
    them, else the fixed-lr runs; and that role."""
    trained = units[units["trained"]]
    role = "evaluation" if (trained["role"] == "evaluation").any() else "fixed"
    return trained[trained["role"] == role], role


def _budgets(units: pd.DataFrame) -> list[int | None]:
    ts = sorted(int(c[2:]) for c in units.columns if c.startswith("F_") and c[2:].isdigit())
    if not ts:
        return [None]
    return [t for t in ts if t in CLAIM_BUDGETS or t == ts[-1]]


def budget_tuned_units(records: pd.DataFrame, units: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per trained model's evaluation unit, optimizer, ``plain`` and ``method``, and claim budget ``t``: the
    best value within ``t`` steps at the lr tuned for budget ``t`` (each unit group's choice among the tried
    indices on the tuning rows' ``best_at_<t>``), read from the ``sweep`` rows (every tried lr on the
    evaluation units), normalized to the unit's reference (column ``attained``). Empty without sweep rows."""
    df = am_records(records)
    claim_units, _ = _claim_units(units)
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
            sweep = _sweep_units(df[sel], f"best_at_{t}")
            if sweep.empty:
                continue
            choices = group_choices(tune, grid, sorted(sweep["layer"].astype(str).unique()), value=f"best_at_{t}")
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
        claim_units, role = _claim_units(units)
        parts = [difference_table(claim_units, method, by=["model", "optimizer"],
                                  column="attained" if t is None else f"attained_{t}",
                                  extra={"role": role, "budget": t, "lrs": "tuned for the full budget"})
                 for t in _budgets(claim_units)]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stuck_moved_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """The claim method against plain at the full budget, separately on units where the plain gradient is
    zero at every start (``stuck``, decided before any method ran) and the others (descriptive)."""
    if method is None or "stuck" not in units.columns or units["stuck"].isna().all():
        return pd.DataFrame()
    claim_units, role = _claim_units(units)
    claim_units = claim_units.assign(part=np.where(claim_units["stuck"].fillna(False).astype(bool), "stuck", "moved"))
    return difference_table(claim_units, method, by=["model", "optimizer", "part"], extra={"role": role})


def combinations_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """Every other method (``switch``, ``anneal``, ..., and the derived best of plain and ``method`` at
    equal total budget) against plain, per trained model and optimizer, at every claim budget (descriptive)."""
    claim_units, role = _claim_units(units)
    if method is not None:
        claim_units = with_best_of_two(claim_units, method)
    parts = []
    for t in _budgets(claim_units):
        col = "attained" if t is None else f"attained_{t}"
        parts += [difference_table(claim_units, m, by=["model", "optimizer"], column=col,
                                   extra={"role": role, "budget": t, "lrs": "tuned for the full budget"})
                  for m in dict.fromkeys(claim_units["method"]) if m != "plain"]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _lr_note(choices: pd.DataFrame, regret: pd.DataFrame, units: pd.DataFrame, role: str, method: str) -> str:
    """The claim text's account of the step sizes: the protocol, every choice stopped at a grid limit
    (``choices``: :func:`tuning_choices`), and the lr-regret summary (``regret``: :func:`lr_regret_table`)
    where the records have a sweep."""
    if role != "evaluation":
        return compare.untuned_note({str(o): list(g["lr"]) for o, g in units.groupby("optimizer", sort=False)})
    choices = choices[choices["method"].isin(["plain", method])] if len(choices) else choices
    edge = choices[choices["at_edge"]] if len(choices) else choices
    flagged = ("; ".join(f"{r.model}/{r.optimizer}/{r.method}/{r.unit_group} at lr {r.chosen_lr:.3g}"
                         for r in edge.itertuples()) if len(edge) else "none")
    note = (f"Tuned comparison: every (model, optimizer, method) runs at its own step size, one per unit group "
            f"(the logits; the channels of each layer), chosen on tuning units of that group disjoint from the "
            f"evaluation units (a group without tuning units takes the model's pooled choice; table `tuning`); "
            f"choices stopped at a grid limit: {flagged}.")
    if len(regret):
        regret = regret[regret["method"].isin(["plain", method])]
        low = regret[~regret["ok"]]
        note += (f" lr regret on the evaluation units (table `lr_regret`): median ratio of the gain at the chosen "
                 f"lr to the best tried lr between {regret['median_ratio'].min():.3g} and "
                 f"{regret['median_ratio'].max():.3g} over {len(regret)} (model, optimizer, method, group) cells"
                 + (f"; below {REGRET_TARGET:g} in " + "; ".join(
                     f"{r.model}/{r.optimizer}/{r.method}/{r.unit_group} ({r.median_ratio:.3g}; best single lr "
                     f"in hindsight {r.hindsight_median_ratio:.3g})"
                     for r in low.itertuples()) if len(low) else f", every one at least {REGRET_TARGET:g}") + ".")
    return note


def claim_specs(units: pd.DataFrame) -> list[tuple[ClaimSpec, pd.DataFrame]]:
    """``(spec, rows)`` of the comparative claims: C2 over the trained models' primary units, B8 over their
    certified units."""
    method = large_slope_method(units)
    claim_units, _ = _claim_units(units)
    if method is None or claim_units.empty:
        return []
    c2 = ClaimSpec("C2", "slope-raises-maxima", "A large backward slope (ProxyGrad, the declared slope) raises "
                   "the maxima AM finds.", (method,), "plain", UNIT, ("model", "optimizer"), "attained",
                   summary="max")
    out = [(c2, claim_units)]
    certified = claim_units[claim_units["upper_bound"].notna()]
    if len(certified):
        b8 = ClaimSpec("B8", "beyond:certified-gaps-cnn", "On trained CNNs whose units are certified exactly, the "
                       "declared proxy narrows AM's gap to the certified maximum.", (method,), "plain", UNIT,
                       ("model", "optimizer"), "attained", summary="max")
        out.append((b8, certified))
    return out


def claim_shortfall(units: pd.DataFrame) -> Claim:
    """The cnn-am part of C1: plain AM stops below a value the certifier attained (``incumbent``) on a share
    of the certified units of each trained model (unit: the network unit, best of starts; Wilson 95%
    interval over units, per model and optimizer). Supported when that share's lower end is at least
    ``SHORT_MIN`` on every certified model for some optimizer; mixed on some; else contradicted."""
    statement = ("Plain activation maximization fails to find the global maximum of units of trained CNNs "
                 "(certified exactly).")
    claim_units, _ = _claim_units(units)
    plain = claim_units[(claim_units["method"] == "plain") & claim_units["upper_bound"].notna()]
    if plain.empty:
        return Claim("am-fails", statement, EXPERIMENT, "no certified trained units in the records", "not tested",
                     id="C1", method="plain")
    rows, by_model = [], {}
    for (model, opt), g in plain.groupby(["model", "optimizer"], sort=False):
        short = int((g["gap_lower"] > _tol(g["incumbent"])).sum())
        w = stats.wilson(short, len(g))
        rows.append({"model": model, "optimizer": opt, "units": len(g), "short": short, "rate": w.estimate,
                     "low": w.low, "high": w.high, "mean_attained": float(g["attained"].mean())})
        by_model[model] = by_model.get(model, False) or w.low >= SHORT_MIN
    table = pd.DataFrame(rows)
    hit = sum(by_model.values())
    verdict = "supported" if hit == len(by_model) else "mixed" if hit else "contradicted"
    effect = "; ".join(f"{r.model} ({r.optimizer}): below the certifier's value on {r.short}/{r.units} units "
                       f"({r.rate:.2f} [{r.low:.2f}, {r.high:.2f}]), mean attained fraction of the bound "
                       f"{r.mean_attained:.3f}" for r in table.itertuples())
    rationale = (f"Unit of replication: the certified unit (best of starts). A model counts when, for some "
                 f"optimizer, the Wilson 95% lower end of the share of units where plain AM stays below a value "
                 f"the certifier attained is at least {SHORT_MIN:g}; supported when every certified model counts "
                 f"({hit} of {len(by_model)}), mixed when some do, contradicted when none does.")
    return Claim("am-fails", statement, EXPERIMENT, effect, verdict, rationale, table, id="C1", method="plain")


SCORE_DEFINITION = ("per unit of a trained model, the best value over starts as the attained fraction of the "
                    "unit's reference, `(F - F_0) / (reference - F_0)`: the certified upper bound (reference "
                    "`certified bound`), else the best value any method or the test set reached on the unit "
                    "(reference `best found`).")


def leaderboard_scores(records: pd.DataFrame) -> pd.DataFrame:
    """One leaderboard value per unit of a trained model, optimizer and method: :func:`per_unit`'s ``attained``."""
    from benchmarks.framework.leaderboard import versions

    df = am_records(records)
    vers = df.assign(method_version=versions(df)).groupby("method", sort=False)["method_version"].first()
    units = per_unit(records)
    units = units[units["trained"]]
    return pd.DataFrame({"benchmark": units["model"].astype(str) + " (" + units["weights"].astype(str) + ")",
                         "reference": units["reference_kind"].astype(str), "optimizer": units["optimizer"].astype(str),
                         "method": units["method"].astype(str),
                         "method_version": units["method"].map(vers).fillna("").astype(str),
                         "value": units["attained"].astype(float)})


def claims(records: pd.DataFrame) -> list[Claim]:
    """C1 (this experiment's part), C2 and B8."""
    units = per_unit(records)
    out = [claim_shortfall(units)]
    specs = claim_specs(units)
    if not specs:
        why = ("no trained model in the records" if _claim_units(units)[0].empty else
               "no declared claim_method in the records")
        out.append(Claim("slope-raises-maxima", "A large backward slope raises the maxima AM finds.", EXPERIMENT,
                         why, "not tested", "needs plain and the declared proxy method on a trained network",
                         id="C2"))
    choices = tuning_choices(records) if specs else pd.DataFrame()
    regret = lr_regret_table(records, choices) if specs else pd.DataFrame()
    for spec, rows in specs:
        role = str(rows["role"].iloc[0])
        steps = f"{int(records['steps'].max())} steps" if "steps" in records.columns else "the records' steps"
        protocol = (f"{_lr_note(choices, regret, rows, role, spec.methods[0])} Trained models only; the full budget of "
                    f"{steps}; units normalized to their reference (the certified bound, "
                    f"else the best value found on the unit) before anything is pooled.")
        out += replication.evaluate(spec, rows, experiment=EXPERIMENT, protocol=protocol)
    return out
