"""Analysis of ``cnn-am`` records: attained values relative to plain AM, paired tests, certified gaps.

The sampling unit is the network unit ``u``: per (model, optimizer, unit, method) the best value over
the starts, ``F_m(u) = max_s f_best(u, m, s)`` (AM keeps the best of its starts).  Against plain AM:

- attained ratio ``rho_m(u) = 1 + (F_m(u) - F_plain(u)) / |F_plain(u)|`` (equals ``F_m / F_plain`` when
  ``F_plain > 0``; units with ``F_plain == 0`` are left out of the ratio);
- paired two-sided Wilcoxon signed-rank test of ``F_m`` against ``F_plain`` over units, with the
  rank-biserial effect size, Holm-corrected within each (model, optimizer);
- ``beats dataset``: fraction of units with ``F_m(u) > max_{x in test set} f_u(x)`` (Wilson interval);
- certified gap (models with a certifier bound ``U(u)``): ``U(u) - F_m(u) >= optimum - F_m(u) >= 0``.

Models with random weights are kept apart: claims about trained networks use trained models only.
"""
from __future__ import annotations

import math
from pathlib import Path
import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats
from benchmarks.framework.claims import Claim

EXPERIMENT = "cnn-am"
UNIT_KEYS: list[str] = ["model", "weights", "trained", "optimizer", "layer", "layer_depth", "unit"]
ALPHA = 0.05
#: A method reaches a proven optimum when ``F_m >= optimum - OPT_TOL * max(1, |optimum|)``.
OPT_TOL = 1e-4


def _as_bool(series: pd.Series) -> pd.Series:
    """Booleans as written by the store and read back (True/False, "True"/"False", empty -> NaN)."""
    mapping = {True: 1.0, False: 0.0, "True": 1.0, "False": 0.0}
    return series.map(lambda v: mapping.get(v, math.nan) if not isinstance(v, float) else v).astype(float)


def per_unit(records: pd.DataFrame) -> pd.DataFrame:
    """Best-of-starts table: one row per (unit keys, method) with ``F`` and the unit's reference values."""
    df = records.copy()
    df["trained"] = _as_bool(df["trained"]).astype(bool)
    agg = df.groupby(UNIT_KEYS + ["method"], sort=False, dropna=False).agg(
        F=("f_best", "max"), F_start=("f_start", "max"), dataset_max=("dataset_max", "first"),
        upper_bound=("upper_bound", "first"), incumbent=("incumbent", "first"), optimum=("optimum", "first"),
        cert_status=("cert_status", "first"), method_kind=("method_kind", "first"),
        method_slope=("method_slope", "first"), lr=("lr", "first")).reset_index()
    plain = agg[agg["method"] == "plain"].set_index(UNIT_KEYS)["F"].rename("F_plain")
    agg = agg.join(plain, on=UNIT_KEYS)
    denom = agg["F_plain"].abs().replace(0.0, np.nan)
    agg["ratio"] = 1.0 + (agg["F"] - agg["F_plain"]) / denom
    agg["beats_dataset"] = np.where(agg["dataset_max"].notna(), agg["F"] > agg["dataset_max"], np.nan)
    agg["gap_upper"] = agg["upper_bound"] - agg["F"]
    agg["gap_lower"] = (agg["incumbent"] - agg["F"]).clip(lower=0.0)
    return agg


def _wilson(k: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return math.nan, math.nan, math.nan
    iv = stats.wilson(k, n)
    return iv.estimate, iv.low, iv.high


def attained_table(units: pd.DataFrame) -> pd.DataFrame:
    """Per (model, weights, optimizer, layer, method): median F, median ratio, win rate vs plain, dataset wins."""
    rows = []
    for key, g in units.groupby(["model", "weights", "optimizer", "layer", "method"], sort=False):
        has_data = g["beats_dataset"].notna()
        k, n = int(g.loc[has_data, "beats_dataset"].sum()), int(has_data.sum())
        frac, lo, hi = _wilson(k, n)
        rows.append(dict(zip(["model", "weights", "optimizer", "layer", "method"], key),
                         units=len(g), median_F=float(g["F"].median()),
                         median_ratio=float(g["ratio"].median()) if g["ratio"].notna().any() else math.nan,
                         wins_vs_plain=int((g["F"] > g["F_plain"]).sum()),
                         losses_vs_plain=int((g["F"] < g["F_plain"]).sum()),
                         beats_dataset=frac, beats_dataset_low=lo, beats_dataset_high=hi, dataset_units=n))
    return pd.DataFrame(rows)


def tests_table(units: pd.DataFrame) -> pd.DataFrame:
    """Paired Wilcoxon of each method against plain, per layer and over all layers; one Holm family per
    (model, optimizer)."""
    parts = []
    for (model, weights, opt), g in units.groupby(["model", "weights", "optimizer"], sort=False):
        pairs = []
        layers = [("all", g)] + list(g.groupby("layer", sort=False))
        for layer, gl in layers:
            for method, gm in gl.groupby("method", sort=False):
                if method == "plain":
                    continue
                pairs.append(compare.Pair({"model": model, "weights": weights, "optimizer": opt, "layer": layer,
                                           "method": method}, gm["F"].to_numpy(), gm["F_plain"].to_numpy()))
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
    for key, g in bounded.groupby(["model", "weights", "optimizer", "method"], sort=False):
        proven = g["optimum"].notna()
        reached = g.loc[proven, "F"] >= g.loc[proven, "optimum"] - _tol(g.loc[proven, "optimum"])
        rows.append(dict(zip(["model", "weights", "optimizer", "method"], key), units=len(g),
                         proven=int(proven.sum()), reached_optimum=int(reached.sum()),
                         short=int((g["gap_lower"] > _tol(g["incumbent"])).sum()),
                         mean_gap_lower=float(g["gap_lower"].mean()), mean_gap_upper=float(g["gap_upper"].mean()),
                         median_gap_upper=float(g["gap_upper"].median()),
                         bound_violations=int((g["gap_upper"] < -_tol(g["upper_bound"])).sum())))
    return pd.DataFrame(rows)


def analyze(records: pd.DataFrame, out: Path | None = None) -> dict[str, pd.DataFrame]:
    """The tables ``attained``, ``tests`` and ``certified`` (empty frames when nothing applies)."""
    units = per_unit(records)
    return {"attained": attained_table(units), "tests": tests_table(units), "certified": certified_table(units)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """``<model>/<optimizer>/<method>/median_F`` and ``.../median_ratio`` for every combination."""
    out: dict[str, float] = {}
    units = per_unit(records)
    for (model, opt, method), g in units.groupby(["model", "optimizer", "method"], sort=False):
        out[f"{model}/{opt}/{method}/median_F"] = float(g["F"].median())
        if g["ratio"].notna().any():
            out[f"{model}/{opt}/{method}/median_ratio"] = float(g["ratio"].median())
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


def claim_slope(units: pd.DataFrame) -> Claim:
    """``slope-raises-maxima``: the large-slope method against plain, on trained models only."""
    statement = "A large backward slope raises the maxima AM finds on trained CNNs."
    trained = units[units["trained"]]
    method = large_slope_method(units)
    if trained.empty or method is None:
        why = "no trained model in the records" if trained.empty else "no proxy method in the records"
        return Claim("slope-raises-maxima", statement, EXPERIMENT, why, "not tested",
                     "needs plain and a proxy-s method on at least one trained network")
    pairs, ratios = [], []
    for (model, opt), g in trained.groupby(["model", "optimizer"], sort=False):
        gm = g[g["method"] == method]
        pairs.append(compare.Pair({"model": model, "optimizer": opt, "method": method},
                                  gm["F"].to_numpy(), gm["F_plain"].to_numpy()))
        ratios.append(float(gm["ratio"].median()))
    table = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
    table.insert(table.columns.get_loc("statistic"), "median_ratio", ratios)
    decision = compare.decide("slope-raises-maxima", table, alpha=ALPHA)
    verdict = decision.verdict
    effect = "; ".join(
        f"{r.model} ({r.optimizer}): {method} vs plain over {r.n} units, wins/ties/losses "
        f"{r.wins}/{r.ties}/{r.losses}, median attained ratio {_fmt(r.median_ratio)}, "
        f"rank-biserial {_fmt(r.effect)}, Holm p {compare.format_p(r.p_holm)}" for r in table.itertuples())
    untuned = compare.untuned_note({str(o): list(g["lr"]) for o, g in trained.groupby("optimizer", sort=False)})
    rationale = (f"{untuned} Per trained (model, optimizer), paired Wilcoxon signed-rank of {method} against plain "
                 f"over units (best of starts per unit); random-init models are excluded. {decision.rationale}")
    return Claim("slope-raises-maxima", statement, EXPERIMENT, effect, verdict, rationale, table,
                 rule=decision.rule)


def claim_certified(units: pd.DataFrame) -> Claim:
    """``beyond:certified-gaps-cnn``: plain AM's certified gap on a trained CNN, and the proxy's."""
    statement = ("On a trained CNN whose units are certified exactly, plain AM stops short of the maximum "
                 "and the large-slope proxy narrows the certified gap.")
    table = certified_table(units[units["trained"]])
    method = large_slope_method(units)
    if table.empty or method is None or "plain" not in set(table["method"]):
        return Claim("beyond:certified-gaps-cnn", statement, EXPERIMENT,
                     "no certified bounds (or no proxy method) in the records", "not tested",
                     "needs a certifiable trained model (certify = true)")
    parts, verdict_parts = [], {}
    for (model, opt), g in table.groupby(["model", "optimizer"], sort=False):
        plain = g[g["method"] == "plain"].iloc[0]
        prox = g[g["method"] == method]
        gap_plain = float(plain["mean_gap_upper"])
        gap_prox = float(prox["mean_gap_upper"].iloc[0]) if len(prox) else math.nan
        short = int(plain["short"]) > 0
        narrower = gap_prox < gap_plain
        verdict_parts[(model, opt)] = (short, bool(narrower))
        parts.append(f"{model} ({opt}): plain stays below a value the certifier attained on "
                     f"{int(plain['short'])}/{int(plain['units'])} units and reaches {int(plain['reached_optimum'])}/"
                     f"{int(plain['proven'])} proven optima; mean gap to the bound: plain {_fmt(gap_plain)}, "
                     f"{method} {_fmt(gap_prox)}; mean certified gap (lower end): plain "
                     f"{_fmt(float(plain['mean_gap_lower']))}, {method} "
                     f"{_fmt(float(prox['mean_gap_lower'].iloc[0])) if len(prox) else 'nan'}; "
                     f"bound violations {int(g['bound_violations'].sum())}")
    both = [s and n for s, n in verdict_parts.values()]
    either = [s or n for s, n in verdict_parts.values()]
    verdict = "reproduced" if all(both) else "partly reproduced" if any(either) else "not reproduced"
    rationale = ("reproduced when, on every certified trained model, plain AM stays below a value the "
                 "certifier attained on at least one unit (a certified shortfall) and "
                 f"{method}'s mean gap to the upper bound is smaller than plain's; partly when one holds")
    return Claim("beyond:certified-gaps-cnn", statement, EXPERIMENT, "; ".join(parts), verdict, rationale, table)


def claims(records: pd.DataFrame) -> list[Claim]:
    """The two claims this experiment tests."""
    units = per_unit(records)
    return [claim_slope(units), claim_certified(units)]

