"""Analysis of ``cnn-am`` records: attained values relative to plain AM, paired tests, certified gaps,
chosen step sizes, anytime and stuck/moved views.

The sampling unit is the network unit ``u``: per (model, role, optimizer, unit, method) the best value
over the starts, ``F_m(u) = max_s f_best(u, m, s)`` (AM keeps the best of its starts), and ``F_m^t(u)``
the best within the first ``t`` steps (``best_at_<t>``).  Roles: ``evaluation`` (each method at the step
size chosen on the disjoint ``tuning`` units: the primary comparison), ``fixed`` (every method at the
profile's ``lr``: the untuned comparison), ``tuning``.  Against plain AM:

- attained ratio ``rho_m(u) = 1 + (F_m(u) - F_plain(u)) / |F_plain(u)|`` (equals ``F_m / F_plain`` when
  ``F_plain > 0``; units with ``F_plain == 0`` are left out of the ratio);
- paired two-sided Wilcoxon signed-rank test of ``F_m`` against ``F_plain`` over units, with the
  rank-biserial effect size, Holm-corrected within each declared family, and the smallest effect the
  family detects at 80% power (:func:`benchmarks.framework.compare.power_statement`);
- anytime: the same comparison at every claim budget ``t`` in :data:`CLAIM_BUDGETS` (one family per budget);
- stuck / moved: unit ``u`` is *stuck* when plain's best over the whole budget equals its start value on
  every start; the proxy's effect is tested separately on stuck and on moved units;
- best of two at equal total budget: ``max(F_plain^{t/2}(u), F_proxy^{t/2}(u))`` from the same starts;
- ``beats dataset``: fraction of units with ``F_m(u) > max_{x in test set} f_u(x)`` (Wilson interval);
- certified gap (models with a certifier bound ``U(u)``): ``U(u) - F_m(u) >= optimum - F_m(u) >= 0``.

Models with random weights are kept apart: claims about trained networks use trained models only.
"""
from __future__ import annotations

import math
from pathlib import Path
import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats, tuning
from benchmarks.framework.claims import Claim

EXPERIMENT = "cnn-am"
UNIT_KEYS: list[str] = ["model", "weights", "trained", "optimizer", "role", "layer", "layer_depth", "unit"]
ALPHA = 0.05
#: A method reaches a proven optimum when ``F_m >= optimum - OPT_TOL * max(1, |optimum|)``.
OPT_TOL = 1e-4
#: The budgets (steps) at which every claim-2 comparison is made, where the records have them.
CLAIM_BUDGETS: tuple[int, ...] = (16, 64, 256)
#: Label of the derived method "best of plain and the large-slope proxy, each with half the budget".
BEST_OF_TWO = "best-of-plain-and-{}"


def _as_bool(series: pd.Series) -> pd.Series:
    """Booleans as written by the store and read back (True/False, "True"/"False", empty -> NaN)."""
    mapping = {True: 1.0, False: 0.0, "True": 1.0, "False": 0.0}
    return series.map(lambda v: mapping.get(v, math.nan) if not isinstance(v, float) else v).astype(float)


def checkpoints(records: pd.DataFrame) -> list[int]:
    """The budgets ``t`` of the ``best_at_<t>`` columns, ascending."""
    return sorted(int(c[len("best_at_"):]) for c in records.columns if c.startswith("best_at_"))


def am_records(records: pd.DataFrame) -> pd.DataFrame:
    """The AM records (``cell_kind == "am"``); records without a ``role`` are fixed-lr runs."""
    df = records[records["cell_kind"] == "am"].copy() if "cell_kind" in records.columns else records.copy()
    if "role" not in df.columns:
        df["role"] = "fixed"
    return df


def per_unit(records: pd.DataFrame) -> pd.DataFrame:
    """Best-of-starts table: one row per (unit keys, method) with ``F`` (best ``f_best`` over starts),
    ``F_<t>`` (best value within ``t`` steps) for every checkpoint, the unit's reference values and
    ``stuck``: plain's best over the whole budget equals its start value on every start."""
    df = am_records(records)
    df["trained"] = _as_bool(df["trained"]).astype(bool)
    ts = checkpoints(df)
    extra = {f"F_{t}": (f"best_at_{t}", "max") for t in ts}
    agg = df.groupby(UNIT_KEYS + ["method"], sort=False, dropna=False).agg(
        F=("f_best", "max"), F_start=("f_start", "max"), dataset_max=("dataset_max", "first"),
        upper_bound=("upper_bound", "first"), incumbent=("incumbent", "first"), optimum=("optimum", "first"),
        cert_status=("cert_status", "first"), method_kind=("method_kind", "first"),
        method_slope=("method_slope", "first"), lr=("lr", "first"), **extra).reset_index()
    plain = agg[agg["method"] == "plain"].set_index(UNIT_KEYS)
    agg = agg.join(plain["F"].rename("F_plain"), on=UNIT_KEYS)
    for t in ts:
        agg = agg.join(plain[f"F_{t}"].rename(f"F_plain_{t}"), on=UNIT_KEYS)
    if ts:
        p = df[df["method"] == "plain"]
        moved = (p[f"best_at_{ts[-1]}"] != p["f_start"]).groupby([p[k] for k in UNIT_KEYS], dropna=False).any()
        agg = agg.join((~moved).rename("stuck"), on=UNIT_KEYS)
    else:
        agg["stuck"] = np.nan
    denom = agg["F_plain"].abs().replace(0.0, np.nan)
    agg["ratio"] = 1.0 + (agg["F"] - agg["F_plain"]) / denom
    agg["beats_dataset"] = np.where(agg["dataset_max"].notna(), agg["F"] > agg["dataset_max"], np.nan)
    agg["gap_upper"] = agg["upper_bound"] - agg["F"]
    agg["gap_lower"] = (agg["incumbent"] - agg["F"]).clip(lower=0.0)
    return agg


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
    both["ratio"] = 1.0 + (both["F"] - both["F_plain"]) / both["F_plain"].abs().replace(0.0, np.nan)
    return pd.concat([units, both], ignore_index=True)


def tuning_choices(records: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method): the step sizes tried on the tuning units, their scores (mean rank
    over tuning units of the best value over starts), the chosen lr of the evaluation runs, and whether
    it lies at an edge of the tried range (a choice the grid's hard limit stopped)."""
    df = am_records(records)
    tune = df[df["role"] == "tuning"]
    evaluated = df[df["role"] == "evaluation"]
    rows = []
    for (model, opt, method), g in tune.groupby(["model", "optimizer", "method"], sort=False):
        per = g.groupby(["unit", "lr_index"], sort=False)["f_best"].max().reset_index()
        scores = tuning.mean_rank_scores(per, index="lr_index", units=["unit"], value="f_best")
        lrs = g.groupby("lr_index")["lr"].first()
        ev = evaluated[(evaluated["model"] == model) & (evaluated["optimizer"] == opt) & (evaluated["method"] == method)]
        k = int(ev["lr_index"].iloc[0]) if len(ev) else None
        rows.append({"model": model, "optimizer": opt, "method": method, "tuning_units": int(g["unit"].nunique()),
                     "lrs_tried": len(scores), "lr_low": float(lrs.min()), "lr_high": float(lrs.max()),
                     "chosen_lr": float(ev["lr"].iloc[0]) if len(ev) else math.nan,
                     "chosen_index": k, "at_edge": k is not None and k in (min(scores), max(scores)),
                     "scores": "; ".join(f"{lrs[i]:.3g}: {v:.3g}" for i, v in sorted(scores.items()))})
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


def tests_table(units: pd.DataFrame) -> pd.DataFrame:
    """Paired Wilcoxon of each method against plain, per layer and over all layers; one Holm family per
    (model, role, optimizer)."""
    parts = []
    units = units[units["role"] != "tuning"]
    for (model, weights, role, opt), g in units.groupby(["model", "weights", "role", "optimizer"], sort=False):
        pairs = []
        layers = [("all", g)] + list(g.groupby("layer", sort=False))
        for layer, gl in layers:
            for method, gm in gl.groupby("method", sort=False):
                if method == "plain":
                    continue
                pairs.append(compare.Pair({"model": model, "weights": weights, "role": role, "optimizer": opt,
                                           "layer": layer, "method": method}, gm["F"].to_numpy(),
                                          gm["F_plain"].to_numpy()))
        parts.append(compare.family_table(pairs, test="wilcoxon", alpha=ALPHA))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return table.rename(columns={"n": "units", "effect": "rank_biserial"})


def _tol(values: pd.Series) -> pd.Series:
    return OPT_TOL * np.maximum(1.0, values.abs())


def certified_table(units: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method) over units with a bound ``U`` and incumbent ``I`` (a value the
    certifier attained, ``I <= max f <= U``): units where AM stays below ``I`` (``short``), proven optima
    reached, and the gaps ``max(0, I - F) <= max f - F <= U - F``."""
    bounded = units[units["upper_bound"].notna()]
    rows = []
    for key, g in bounded.groupby(["model", "weights", "role", "optimizer", "method"], sort=False):
        proven = g["optimum"].notna()
        reached = g.loc[proven, "F"] >= g.loc[proven, "optimum"] - _tol(g.loc[proven, "optimum"])
        rows.append(dict(zip(["model", "weights", "role", "optimizer", "method"], key), units=len(g),
                         proven=int(proven.sum()), reached_optimum=int(reached.sum()),
                         short=int((g["gap_lower"] > _tol(g["incumbent"])).sum()),
                         mean_gap_lower=float(g["gap_lower"].mean()), mean_gap_upper=float(g["gap_upper"].mean()),
                         median_gap_upper=float(g["gap_upper"].median()),
                         bound_violations=int((g["gap_upper"] < -_tol(g["upper_bound"])).sum())))
    return pd.DataFrame(rows)


def analyze(records: pd.DataFrame, out: Path | None = None) -> dict[str, pd.DataFrame]:
    """The tables ``attained``, ``tests``, ``certified``, ``certified_tests`` (claim 9's paired tests),
    ``tuning`` (chosen step sizes), ``units``
    (the draw and the dead-unit exclusions), ``anytime`` (the claim-2 comparison at every budget),
    ``stuck_moved`` and ``combinations`` (empty frames when nothing applies)."""
    units = per_unit(records)
    method = large_slope_method(units)
    return {"attained": attained_table(units), "tests": tests_table(units), "certified": certified_table(units),
            "certified_tests": certified_tests_table(units, method),
            "tuning": tuning_choices(records), "units": unit_counts(records),
            "anytime": anytime_table(units, method), "stuck_moved": stuck_moved_table(units, method),
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
    """The label of the configured ProxyGrad method (``method_kind == "proxy"``) with the largest slope, read
    from the ``method``/``method_kind``/``method_slope`` columns of records or of :func:`per_unit`."""
    proxies = table[table["method_kind"] == "proxy"].drop_duplicates("method")
    if proxies.empty:
        return None
    return str(proxies.loc[proxies["method_slope"].astype(float).idxmax(), "method"])


def _fmt(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


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


def _cols(budget: int | None) -> tuple[str, str]:
    return ("F", "F_plain") if budget is None else (f"F_{budget}", f"F_plain_{budget}")


def _family(units: pd.DataFrame, method: str, budget: int | None, by: list[str],
            labels: dict | None = None) -> pd.DataFrame:
    """One Holm family: ``method`` against plain at ``budget``, one paired Wilcoxon per group of ``by``."""
    a_col, b_col = _cols(budget)
    pairs, ratio = [], []
    for key, g in units[units["method"] == method].groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        g = g[g[a_col].notna() & g[b_col].notna()]
        if g.empty:
            continue
        pairs.append(compare.Pair({**(labels or {}), "budget": budget, **dict(zip(by, key)), "method": method},
                                  g[a_col].to_numpy(), g[b_col].to_numpy()))
        d = (g[a_col] - g[b_col]) / g[b_col].abs().replace(0.0, np.nan)
        ratio.append(float((1.0 + d).median()) if d.notna().any() else math.nan)
    table = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
    if not table.empty:
        table.insert(table.columns.get_loc("statistic"), "median_ratio", ratio)
    return table


def anytime_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """The claim-2 comparison (``method`` against plain, per trained model and optimizer) at every
    claim budget; one Holm family per budget."""
    if method is None:
        return pd.DataFrame()
    claim_units, role = _claim_units(units)
    parts = [_family(claim_units, method, t, ["model", "optimizer"], {"role": role}) for t in _budgets(claim_units)]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stuck_moved_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """``method`` against plain at the full budget, separately on units where plain stayed at its start
    value on every start (``stuck``) and where it moved; one Holm family."""
    if method is None or "stuck" not in units.columns:
        return pd.DataFrame()
    claim_units, role = _claim_units(units)
    claim_units = claim_units.assign(part=np.where(claim_units["stuck"].astype(bool), "stuck", "moved"))
    return _family(claim_units, method, _budgets(claim_units)[-1], ["model", "optimizer", "part"], {"role": role})


def combinations_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """Every other method (``switch``, ``anneal``, ..., and the derived best of plain and ``method`` at
    equal total budget) against plain, per trained model and optimizer, at every claim budget; one Holm
    family per budget."""
    claim_units, role = _claim_units(units)
    if method is not None:
        claim_units = with_best_of_two(claim_units, method)
    parts = []
    for t in _budgets(claim_units):
        pairs_parts = [_family(claim_units, m, t, ["model", "optimizer"], {"role": role})
                       for m in dict.fromkeys(claim_units["method"]) if m != "plain"]
        pairs_parts = [p for p in pairs_parts if not p.empty]
        if not pairs_parts:
            continue
        joint = pd.concat(pairs_parts, ignore_index=True)
        joint["p_holm"] = stats.holm(joint["p"].to_numpy(float))
        joint["family_size"] = len(joint)
        sig = joint["p_holm"] < ALPHA
        joint["higher"], joint["lower"] = sig & (joint["effect"] > 0), sig & (joint["effect"] < 0)
        parts.append(joint)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _lr_note(units: pd.DataFrame, role: str, method: str) -> str:
    if role != "evaluation":
        return compare.untuned_note({str(o): list(g["lr"]) for o, g in units.groupby("optimizer", sort=False)})
    chosen = units[units["method"].isin(["plain", method])].groupby(["model", "optimizer", "method"], sort=False)["lr"].first()
    parts = ", ".join(f"{mo}/{o}/{me} {lr:.3g}" for (mo, o, me), lr in chosen.items())
    return (f"Tuned comparison: every (model, optimizer, method) runs at its own step size, chosen on tuning "
            f"units disjoint from the evaluation units (log grid extended past its edges): {parts}.")


def claim_slope(units: pd.DataFrame) -> Claim:
    """``slope-raises-maxima``: the large-slope method against plain on trained models, at every claim
    budget (the verdict is that of the full budget; the others are reported beside it)."""
    statement = "A large backward slope raises the maxima AM finds on trained CNNs."
    claim_units, role = _claim_units(units)
    method = large_slope_method(units)
    if claim_units.empty or method is None:
        why = "no trained model in the records" if claim_units.empty else "no proxy method in the records"
        return Claim("slope-raises-maxima", statement, EXPERIMENT, why, "not tested",
                     "needs plain and a proxy-s method on at least one trained network")
    table = anytime_table(units, method)
    budgets = list(dict.fromkeys(table["budget"])) if not table.empty else [None]
    full = budgets[-1]
    at_full = table[table["budget"].isna()] if full is None or full != full else table[table["budget"] == full]
    decision = compare.decide("slope-raises-maxima", at_full, alpha=ALPHA)
    effect = "; ".join(
        f"{r.model} ({r.optimizer}): {method} vs plain over {r.n} units, wins/ties/losses "
        f"{r.wins}/{r.ties}/{r.losses}, median attained ratio {_fmt(r.median_ratio)}, "
        f"rank-biserial {_fmt(r.effect)}, Holm p {compare.format_p(r.p_holm)}" for r in at_full.itertuples())
    anytime = []
    for b in budgets[:-1]:
        d = compare.decide("slope-raises-maxima", table[table["budget"] == b], alpha=ALPHA)
        anytime.append(f"at {b} steps: {d.verdict} (higher in {int(table.loc[table['budget'] == b, 'higher'].sum())}, "
                       f"lower in {int(table.loc[table['budget'] == b, 'lower'].sum())})")
    sm = stuck_moved_table(units, method)
    split = "; ".join(f"{r.model} ({r.optimizer}) {r.part}: n {r.n}, wins/ties/losses {r.wins}/{r.ties}/{r.losses}, "
                      f"Holm p {compare.format_p(r.p_holm)}" for r in sm.itertuples()) if not sm.empty else "none"
    rationale = (f"{_lr_note(claim_units, role, method)} Per trained (model, optimizer), paired Wilcoxon "
                 f"signed-rank of {method} against plain over evaluation units (best of starts per unit); "
                 f"random-init models are excluded. The verdict is that at the full budget of "
                 f"{full} steps. {decision.rationale} Anytime: "
                 f"{'; '.join(anytime) or 'no other budget in the records'}. "
                 f"Where plain is stuck at its start value on every start vs where it moved: {split}.")
    return Claim("slope-raises-maxima", statement, EXPERIMENT, effect, decision.verdict, rationale, table,
                 rule=decision.rule)


def certified_tests_table(units: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """``method`` against plain over the certified units only (those with an upper bound ``U``), per
    trained (model, optimizer), at the full budget; one Holm family of paired Wilcoxon tests.

    On one unit both methods share ``U``, so the gap difference ``(U - F_plain) - (U - F_method)`` equals
    ``F_method - F_plain``: a positive effect means ``method`` narrows the certified gap."""
    if method is None:
        return pd.DataFrame()
    claim_units, role = _claim_units(units)
    certified = claim_units[claim_units["upper_bound"].notna()]
    if certified.empty:
        return pd.DataFrame()
    return _family(certified, method, _budgets(certified)[-1], ["model", "optimizer"], {"role": role})


def claim_certified(units: pd.DataFrame) -> Claim:
    """``beyond:certified-gaps-cnn``: plain AM's certified shortfall on a trained CNN, and whether the
    large-slope proxy narrows the certified gap (a paired test over the certified units,
    :func:`certified_tests_table`, decided by the claim's rule in :data:`compare.CLAIM_RULES`)."""
    key = "beyond:certified-gaps-cnn"
    statement = ("On a trained CNN whose units are certified exactly, plain AM stops short of the maximum "
                 "and the large-slope proxy narrows the certified gap.")
    claim_units, _ = _claim_units(units)
    table = certified_table(claim_units)
    method = large_slope_method(units)
    if table.empty or method is None or "plain" not in set(table["method"]):
        return Claim(key, statement, EXPERIMENT,
                     "no certified bounds (or no proxy method) in the records", "not tested",
                     "needs a certifiable trained model (certify = true)")
    family = certified_tests_table(units, method)
    decision = compare.decide(key, family, alpha=ALPHA)  # "not tested" when there is no pair
    tests = family.set_index(["model", "optimizer"]) if not family.empty else family
    parts, short_by_model = [], {}
    for (model, opt), g in table.groupby(["model", "optimizer"], sort=False):
        plain = g[g["method"] == "plain"].iloc[0]
        prox = g[g["method"] == method]
        short_by_model[model] = short_by_model.get(model, False) or int(plain["short"]) > 0
        if (model, opt) in tests.index:
            t = tests.loc[(model, opt)]
            test = (f"{method} vs plain over {int(t['n'])} certified units, wins/ties/losses "
                    f"{int(t['wins'])}/{int(t['ties'])}/{int(t['losses'])}, rank-biserial {_fmt(float(t['effect']))}, "
                    f"Holm p {compare.format_p(float(t['p_holm']))}")
        else:
            test = f"no paired test of {method}"
        parts.append(f"{model} ({opt}): plain stays below a value the certifier attained on "
                     f"{int(plain['short'])}/{int(plain['units'])} units and reaches {int(plain['reached_optimum'])}/"
                     f"{int(plain['proven'])} proven optima; gap to the bound, mean (median): plain "
                     f"{_fmt(float(plain['mean_gap_upper']))} ({_fmt(float(plain['median_gap_upper']))}), {method} "
                     f"{_fmt(float(prox['mean_gap_upper'].iloc[0])) if len(prox) else 'nan'} "
                     f"({_fmt(float(prox['median_gap_upper'].iloc[0])) if len(prox) else 'nan'}); {test}; "
                     f"bound violations {int(g['bound_violations'].sum())}")
    shortfall = all(short_by_model.values())
    narrows = decision.verdict
    if shortfall and narrows == "reproduced":
        verdict = "reproduced"
    elif any(short_by_model.values()) or narrows in ("reproduced", "partly reproduced"):
        verdict = "partly reproduced"
    else:
        verdict = "not reproduced"
    rationale = (f"Two parts. (1) Certified shortfall: on every certified trained model, plain AM stays below a "
                 f"value the certifier attained on at least one unit (observed on "
                 f"{sum(short_by_model.values())} of {len(short_by_model)} models). (2) The gap narrows: "
                 f"per trained (model, optimizer), paired Wilcoxon signed-rank of {method} against plain over the "
                 f"certified evaluation units (best of starts per unit, full budget; on a unit both share the "
                 f"bound, so the gap difference is the difference of attained values). {decision.rationale} "
                 f"Verdict: reproduced when (1) holds and (2) is reproduced; partly reproduced when (1) holds on "
                 f"some model or (2) is at least partly reproduced; else not reproduced.")
    return Claim(key, statement, EXPERIMENT, "; ".join(parts), verdict, rationale, table, rule=decision.rule)


def claims(records: pd.DataFrame) -> list[Claim]:
    """The two claims this experiment tests."""
    units = per_unit(records)
    return [claim_slope(units), claim_certified(units)]

