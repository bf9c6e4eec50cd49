"""Analysis of ``toy-am`` records: unit-level tables and the claims, declared as data.

Every number here is computed from the records; nothing is typed in. The *unit of replication* is the
instance ``(family, dim, seed)``: the starts of one instance share its function, so each instance's
starts are summarized first (:mod:`benchmarks.framework.replication`: the mean over starts of the
attained fraction ``(f_best - f_start) / (f_star - f_start)``, 1 at the certified optimum), and every
test, interval and power figure counts instances. The *primary* rows are the ``evaluation`` rows (every
method at the step size tuned for it on disjoint tuning instances) when the records have them, else the
``fixed`` rows (one shared step size: untuned).

Claims (:func:`claim_specs`, decided by :func:`benchmarks.framework.replication.evaluate`): C1 (plain AM
fails, a rule of its own), C2 (the declared ``claim_method`` against plain), and beyond the paper
straight-through, each peer rule, annealing, switching, the network ablation, the derived best-of and
the gradient-free baselines, each tested against its reference, one Holm family per claim.

Descriptive tables (mean differences with 95% bootstrap intervals over instances, no p-values, so that a
test's adjusted p appears only in its claim): ``units`` (per family, optimizer and method: instances,
mean attained fraction with its interval, success rate over instances of the best start), the claims'
``claim_<id>`` tables, ``slope_sweep`` (every ``proxy-<s>`` against plain), ``anytime`` (the claim
method at 16, 64 and 256 steps, with the lrs tuned for the full budget), ``stuck_moved`` (stuck:
the plain gradient is zero at every start, decided before any method ran), ``baselines`` and, for
tuned records, ``vs_plain_untuned``, ``lr_choice`` and ``lr_sensitivity``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication, stats
from benchmarks.framework.claims import Claim, ClaimSpec
from benchmarks.framework.methods import Method

EXPERIMENT = "toy-am"
PAIR_KEYS = ["dim", "seed", "start"]
INSTANCE_KEYS = ["family", "dim", "seed"]
UNIT = ("family", "dim", "seed")
STRATA = ("family", "optimizer")
SCORE = "attained"
ANYTIME = (16, 64, 256)  # the budgets (steps) of the anytime view, where the profile has them
ALPHA = 0.05
FAIL_RATE_MIN = 0.1      # AM "fails" on a family when the lower end of its instances' failure rate >= this
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


def budgets(rows: pd.DataFrame) -> list[int]:
    """The anytime budgets present: those of :data:`ANYTIME` recorded as ``best@t``, and the full budget."""
    if rows.empty:
        return []
    steps = int(rows["steps"].max())
    have = {int(c[len("best@"):]) for c in rows.columns if c.startswith("best@")}
    return sorted({t for t in ANYTIME if t in have and t <= steps} | {steps})


def attained_at(rows: pd.DataFrame, t: int) -> np.ndarray:
    """The attained fraction at budget ``t``: ``(best@t - f_start) / (f_star - f_start)`` (1 when the start
    is optimal, NaN without an optimum)."""
    best, start, star = (rows[c].to_numpy(float) for c in (f"best@{t}", "f_start", "f_star"))
    scale = star - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (best - start) / np.where(scale > 0, scale, 1.0), np.where(scale <= 0, 1.0, np.nan))


def _with_score(rows: pd.DataFrame, t: int | None = None) -> pd.DataFrame:
    """``rows`` with ``score`` = the attained fraction at budget ``t`` (None: the full budget)."""
    return rows.assign(score=rows[SCORE].to_numpy(float) if t is None else attained_at(rows, t))


def _lr_of(rows: pd.DataFrame, optimizer: str, method: str) -> float:
    lrs = rows.loc[(rows["optimizer"] == optimizer) & (rows["method"] == method), "lr"].astype(float)
    return float(lrs.iloc[0]) if len(lrs) else float("nan")


def _method_fields(records: pd.DataFrame) -> pd.DataFrame:
    """One row per method label with its ``method_kind`` and ``method_slope``, in the config's order."""
    return records.drop_duplicates("method")[["method", "method_kind", "method_slope"]].reset_index(drop=True)


def gradient_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The primary rows of the AM methods (baselines left out)."""
    rows = primary(records)
    return rows[rows["method_kind"] != "baseline"] if "method_kind" in rows.columns else rows


# ---- unit-level descriptive tables --------------------------------------------------------------

def units_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per family, optimizer and method (primary rows and baselines): instances, mean attained fraction over
    instances (each the mean over its starts) with its 95% bootstrap interval, and the success rate: the
    fraction of instances whose best start reaches ``rel_gap <= SUCCESS_TARGET`` (Wilson interval)."""
    rows = pd.concat([primary(records), role_rows(records, "baseline")], ignore_index=True)
    if rows.empty:
        return pd.DataFrame()
    mean = replication.unit_values(rows, unit=UNIT, by=["family", "optimizer", "method"], score=SCORE)
    best = replication.unit_values(rows.assign(_ok=(rows["rel_gap"] <= SUCCESS_TARGET).astype(float)),
                                   unit=UNIT, by=["family", "optimizer", "method"], score="_ok", summary="max")
    out = []
    for (fam, opt, m), g in mean.groupby(["family", "optimizer", "method"], sort=False):
        ci = stats.bootstrap_ci(g["value"].to_numpy(float), np.mean, method="percentile")
        ok = best[(best["family"] == fam) & (best["optimizer"] == opt) & (best["method"] == m)]["value"]
        w = stats.wilson(int(ok.sum()), len(ok))
        out.append({"family": fam, "optimizer": opt, "method": m, "lr": _lr_of(rows, opt, m), "instances": len(g),
                    "starts": int(g["starts"].sum()), "attained": ci.estimate, "attained_low": ci.low,
                    "attained_high": ci.high, "success": w.estimate, "success_low": w.low, "success_high": w.high})
    return pd.DataFrame(out)


def difference_table(rows: pd.DataFrame, method: str, reference: str, *, by: list[str], t: int | None = None,
                     extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """Descriptive: per ``by`` stratum, the mean over instances of ``method - reference`` (attained fraction at
    budget ``t``, each instance the mean over starts) with its 95% bootstrap interval; no p-value."""
    scored = _with_score(rows[rows["method"].isin([method, reference])], t)
    values = replication.unit_values(scored, unit=UNIT, by=[*by, "method"], score="score")
    out = []
    for key, g in values.groupby(by, sort=False) if by else [((), values)]:
        j = replication.paired_units(g, method=method, reference=reference, unit=list(UNIT))
        if j.empty:
            continue
        d = (j["a"] - j["b"]).to_numpy(float)
        lo, hi = compare.mean_interval(d)
        out.append({**(extra or {}), **dict(zip(by, key if isinstance(key, tuple) else (key,))), "method": method,
                    "reference": reference, "instances": len(d), "value": float(j["a"].mean()),
                    "value_ref": float(j["b"].mean()), "mean_diff": float(d.mean()), "diff_low": lo,
                    "diff_high": hi, "wins": int((d > 0).sum()), "ties": int((d == 0).sum()),
                    "losses": int((d < 0).sum())})
    return pd.DataFrame(out)


def slope_sweep_table(records: pd.DataFrame) -> pd.DataFrame:
    """Every ``proxy-<s>`` method against plain per family and optimizer (the gap-versus-slope curve)."""
    rows = gradient_rows(records)
    fields = _method_fields(rows)
    parts = [difference_table(rows, str(r.method), "plain", by=["family", "optimizer"],
                              extra={"slope": float(r.method_slope)})
             for r in fields[fields["method_kind"] == "proxy"].itertuples()]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True).sort_values(["family", "optimizer", "slope"], kind="stable") \
        if parts else pd.DataFrame()


def anytime_table(records: pd.DataFrame, reference: str = "plain") -> pd.DataFrame:
    """The claim method (and the derived best-of) against ``reference`` at each budget of :func:`budgets`,
    per optimizer over all instances; the lrs are those tuned for the full budget."""
    rows = gradient_rows(records)
    big = big_proxy(rows)
    if big is None:
        return pd.DataFrame()
    parts = []
    for t in budgets(rows):
        r = _with_best_of(rows, big, t)
        for m in (big, best_of_label(big)):
            parts.append(difference_table(r, m, reference, by=["optimizer"], t=t, extra={"budget": t}))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stuck_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per instance: ``stuck`` when the plain gradient is zero at every start (``start_grad_zero``, recorded
    before any method ran), and its number of starts."""
    keys = list(UNIT)
    if rows.empty or "start_grad_zero" not in rows.columns:
        return pd.DataFrame(columns=[*keys, "stuck", "starts"])
    flag = _truthy(rows["start_grad_zero"])
    per = rows.assign(_z=flag).drop_duplicates([*keys, "start"]).groupby(keys, sort=False)["_z"]
    out = per.agg(["all", "size"]).reset_index().rename(columns={"all": "stuck", "size": "starts"})
    out["stuck"] = out["stuck"].astype(bool)
    return out


def stuck_moved_table(records: pd.DataFrame, reference: str = "plain") -> pd.DataFrame:
    """The claim method against ``reference`` per optimizer, separately on stuck and moved instances."""
    rows = gradient_rows(records)
    big = big_proxy(rows)
    if big is None or rows.empty:
        return pd.DataFrame()
    stuck = stuck_table(rows)
    parts = []
    for part, sel in compare.split_stuck(rows, stuck, list(UNIT)).items():
        parts.append(difference_table(sel, big, reference, by=["optimizer"], extra={"part": part}))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


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


# ---- claims as data ----------------------------------------------------------------------------

def claim_specs(records: pd.DataFrame) -> list[ClaimSpec]:
    """The comparative claims this experiment tests on ``records`` (methods present in them)."""
    rows = gradient_rows(records)
    if rows.empty:
        return []
    fields = _method_fields(rows)
    kinds = dict(zip(fields["method"].astype(str), fields["method_kind"].astype(str)))
    labels = set(kinds)

    def spec(cid: str, key: str, statement: str, methods: list[str], reference: str = "plain") -> ClaimSpec | None:
        methods = [m for m in methods if m in labels | {best_of_label(str(big_proxy(rows)))}]
        return ClaimSpec(cid, key, statement, tuple(methods), reference, UNIT, STRATA, SCORE) if methods else None

    big = big_proxy(rows)
    specs = [
        spec("C2", "slope-raises-maxima", "A large backward slope (ProxyGrad, the declared slope) raises the maxima "
             "AM finds.", [big] if big else []),
        spec("B1", "beyond:straight-through", "Straight-through (backward slope 1, a fully linear backward pass) "
             "raises the maxima AM finds.", [m for m, k in kinds.items() if k == "proxy" and
                                            float(fields.set_index("method").loc[m, "method_slope"]) == 1.0]),
        spec("B2", "beyond:peers", "Other backward rules (Lucid's redirected ReLU, SUGAR's B-SiLU and NeLU) raise "
             "the maxima AM finds.", [m for m, k in kinds.items() if k in ("redirected", "bsilu", "nelu")]),
        spec("B3", "beyond:anneal", "Annealing the backward slope down to the forward slope raises the maxima AM "
             "finds.", [m for m, k in kinds.items() if k == "anneal"]),
        spec("B4", "beyond:switch", "ProxyGrad for the first quarter of the steps, then plain AM, raises the "
             "maxima AM finds.", [m for m, k in kinds.items() if k == "switch"]),
    ]
    if big is not None and len(best_of_rows(rows, big, int(rows["steps"].max()))):
        specs.append(spec("B5", "beyond:best-of", f"The better of plain AM and {big} run for half the steps each "
                          f"beats plain AM run for all the steps (equal total budget).", [best_of_label(big)]))
    for r in fields[fields["method_kind"] == "network"].itertuples(index=False):
        ref = Method("proxy", float(r.method_slope)).label
        if ref in labels:
            specs.append(ClaimSpec("B6", f"beyond:network-{float(r.method_slope):g}", f"Gradients of the proxy "
                                   f"network ({r.method}) find higher maxima than ProxyGrad's mixed gradient ({ref}).",
                                   (str(r.method),), ref, UNIT, STRATA, SCORE))
    if not role_rows(records, "baseline").empty:
        specs.append(ClaimSpec("B7", "beyond:baselines", "Gradient AM beats the strongest gradient-free baseline "
                               "(uniform random search, random corners, the linearized gradient's corner) at equal "
                               "forward evaluations.", tuple(m for m in ("plain", big) if m), BEST_BASELINE, UNIT,
                               STRATA, SCORE))
    return [s for s in specs if s is not None]


def _claim_rows(records: pd.DataFrame, spec: ClaimSpec) -> pd.DataFrame:
    rows = gradient_rows(records)
    big = big_proxy(rows)
    if spec.reference == BEST_BASELINE:
        return pd.concat([rows, baseline_rows(records)], ignore_index=True)
    if big is not None and best_of_label(big) in spec.methods:
        return _with_best_of(rows, big, int(rows["steps"].max())).pipe(
            lambda r: r.assign(attained=np.where(r["method"] == best_of_label(big),
                                                 attained_at(r, int(rows["steps"].max())), r[SCORE])))
    return rows


def claim_tables(records: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"claim_<id>": the claim's Holm family}`` for every declared comparative claim."""
    out = {}
    for spec in claim_specs(records):
        t = replication.claim_table(spec, _claim_rows(records, spec))
        if len(t):
            out[f"claim_{spec.id}" + (f"_{spec.key.rpartition('-')[2]}" if spec.id == "B6" else "")] = t
    return out


def vs_plain_untuned_table(records: pd.DataFrame) -> pd.DataFrame:
    """Secondary, untuned: every method against plain on the ``fixed`` rows (one shared lr per optimizer),
    unit level, its own Holm family (these are other runs than any claim's)."""
    fixed = role_rows(records, "fixed")
    if fixed.empty or not is_tuned(records):
        return pd.DataFrame()
    methods = tuple(m for m in ordered(fixed["method"]) if m != "plain")
    spec = ClaimSpec("untuned", "untuned", "", methods, "plain", UNIT, STRATA, SCORE)
    return replication.claim_table(spec, fixed)


# ---- derived: best of plain and ProxyGrad at half the budget each -------------------------------

def best_of_label(proxy: str, reference: str = "plain") -> str:
    """The label of the derived method "best of ``reference`` and ``proxy`` at half the budget each"."""
    return f"best-of({reference}, {proxy}) (derived)"


def best_of_rows(rows: pd.DataFrame, proxy: str, t: int, reference: str = "plain") -> pd.DataFrame:
    """Derived rows at total budget ``t``: per start, ``max(reference best@(t/2), proxy best@(t/2))``, the
    better of two runs of ``t/2`` steps each from the same start (each at its own lr), stored as
    ``best@t`` of the method :func:`best_of_label`.  Empty when ``best@(t/2)`` was not recorded."""
    half = f"best@{t // 2}"
    if t % 2 or half not in rows.columns:
        return rows.iloc[0:0]
    keys = ["family", "optimizer", *PAIR_KEYS]
    ref = rows[rows["method"] == reference]
    prox = rows[rows["method"] == proxy][keys + [half, "lr"]]
    joined = ref.merge(prox, on=keys, suffixes=("", "_proxy"))
    out = joined[[*keys, "f_start", "f_star", "steps"]].copy()
    out["method"] = best_of_label(proxy, reference)
    out[f"best@{t}"] = np.maximum(joined[half].to_numpy(float), joined[f"{half}_proxy"].to_numpy(float))
    out["lr"] = np.nan
    return out


def _with_best_of(rows: pd.DataFrame, proxy: str | None, t: int) -> pd.DataFrame:
    if proxy is None:
        return rows
    derived = best_of_rows(rows, proxy, t)
    return pd.concat([rows, derived], ignore_index=True) if len(derived) else rows


def big_proxy(records: pd.DataFrame) -> str | None:
    """The declared claim method (column ``claim_method``), or None when the profile declares none."""
    if "claim_method" not in records.columns or records.empty:
        return None
    declared = [str(x) for x in records["claim_method"].dropna().unique() if str(x)]
    return declared[0] if declared else None


# ---- tuning ------------------------------------------------------------------------------------

def tuning_scores(tuning: pd.DataFrame, optimizer: str, method: str) -> dict[int, float]:
    """The tuning score of each lr index of a pair (mean rank of mean f_best over tuning instances)."""
    from benchmarks.framework import tuning as _tuning

    sel = tuning[(tuning["optimizer"] == optimizer) & (tuning["method"] == method)]
    return _tuning.mean_rank_scores(sel, index="lr_index", units=INSTANCE_KEYS, value="f_best")


def _truthy(values: pd.Series) -> pd.Series:
    """A boolean column as read back from CSV (bools, or the strings "True" / "False", or empty)."""
    return values.map(lambda v: v is True or str(v).strip().lower() in ("true", "1", "1.0"))


def lr_choice_table(records: pd.DataFrame) -> pd.DataFrame:
    """Each tuned pair: the chosen lr (from the evaluation rows), the lrs tried on how many tuning
    instances, the chosen index's score, and whether it lies at an edge of the tried range or a limit."""
    ev, tu = role_rows(records, "evaluation"), role_rows(records, "tuning")
    rows = []
    for opt in ordered(ev["optimizer"]) if len(ev) else []:
        for m in ordered(ev["method"]):
            e = ev[(ev["optimizer"] == opt) & (ev["method"] == m)]
            if e.empty:
                continue
            t = tu[(tu["optimizer"] == opt) & (tu["method"] == m)]
            ks = sorted(int(k) for k in t["lr_index"].dropna().unique())
            k = int(e["lr_index"].iloc[0])
            scores = tuning_scores(tu, opt, m)
            rows.append({"optimizer": opt, "method": m, "lr": float(e["lr"].iloc[0]), "lr_index": k,
                         "lr_tried_min": float(t.loc[t["lr_index"] == ks[0], "lr"].iloc[0]) if ks else np.nan,
                         "lr_tried_max": float(t.loc[t["lr_index"] == ks[-1], "lr"].iloc[0]) if ks else np.nan,
                         "points": len(ks), "tuning_instances": int(t[INSTANCE_KEYS].drop_duplicates().shape[0]),
                         "score": scores.get(k, np.nan), "at_edge": bool(ks) and k in (ks[0], ks[-1]),
                         "at_limit": bool(_truthy(e["lr_at_limit"]).any())})
    return pd.DataFrame(rows)


def lr_sensitivity_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per tuned pair and lr tried: the tuning score, the median attained fraction over tuning rows with a
    known optimum, and whether it is the chosen lr."""
    tu = role_rows(records, "tuning")
    chosen = {(r.optimizer, r.method): r.lr_index for r in lr_choice_table(records).itertuples()}
    rows = []
    for opt in ordered(tu["optimizer"]) if len(tu) else []:
        for m in ordered(tu["method"]):
            scores = tuning_scores(tu, opt, m)
            t = tu[(tu["optimizer"] == opt) & (tu["method"] == m)]
            for k in sorted(scores):
                g = t[t["lr_index"] == k]
                att = g["attained"].to_numpy(float)
                att = att[np.isfinite(att)]
                rows.append({"optimizer": opt, "method": m, "lr_index": k, "lr": float(g["lr"].iloc[0]),
                             "score": scores[k], "median_attained": float(np.median(att)) if att.size else np.nan,
                             "chosen": chosen.get((opt, m)) == k})
    return pd.DataFrame(rows)


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """The tables of the module docstring (the framework writes csv/md/tex)."""
    tables = {"units": units_table(records), **claim_tables(records), "slope_sweep": slope_sweep_table(records),
              "anytime": anytime_table(records), "stuck_moved": stuck_moved_table(records)}
    if not role_rows(records, "baseline").empty:
        tables["baselines"] = units_table(role_rows(records, "baseline").pipe(
            lambda b: pd.concat([b, primary(records)], ignore_index=True))).pipe(
            lambda t: t[(t["method"].isin([*ordered(role_rows(records, "baseline")["method"]), "plain",
                                            big_proxy(gradient_rows(records)) or "plain"]))])
    if is_tuned(records):
        tables["vs_plain_untuned"] = vs_plain_untuned_table(records)
        tables["lr_choice"] = lr_choice_table(records)
        tables["lr_sensitivity"] = lr_sensitivity_table(records)
    return {k: v for k, v in tables.items() if v is not None and len(v)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics (all higher-is-better) per family/method/optimizer, on the primary rows, at the unit of
    replication: ``.../mean_attained`` (mean over instances of the mean attained fraction over starts) and
    ``.../success@<tau>`` (fraction of instances whose best start reaches ``rel_gap <= tau``)."""
    out: dict[str, float] = {}
    rows = primary(records)
    if rows.empty:
        return out
    keys = ["family", "method", "optimizer"]
    mean = replication.unit_values(rows, unit=UNIT, by=keys, score=SCORE)
    for (fam, m, opt), g in mean.groupby(keys, sort=False):
        out[f"{fam}/{m}/{opt}/mean_attained"] = float(g["value"].mean())
    for tau in target_columns(records):
        ok = replication.unit_values(rows.assign(_ok=(rows["rel_gap"] <= tau).astype(float)), unit=UNIT, by=keys,
                                     score="_ok", summary="max")
        for (fam, m, opt), g in ok.groupby(keys, sort=False):
            out[f"{fam}/{m}/{opt}/success@{tau:g}"] = float(g["value"].mean())
    return out


SCORE_DEFINITION = ("per instance (family, dim, seed; reference `optimum`), the mean over its starts of the "
                    "fraction of the gap from the start to the certified optimum that AM closed, "
                    "`(f_best - f_start) / (f_star - f_start)`.")


def leaderboard_scores(records: pd.DataFrame) -> pd.DataFrame:
    """One leaderboard value per instance, optimizer and method: the mean attained fraction over its starts."""
    from benchmarks.framework.leaderboard import versions

    rows = records[records["method_kind"] != "baseline"] if "method_kind" in records.columns else records
    rows = rows.assign(method_version=versions(rows))
    keys = ["family", "optimizer", "method", "method_version"]
    v = replication.unit_values(rows, unit=UNIT, by=keys, score=SCORE)
    return pd.DataFrame({"benchmark": v["family"].astype(str), "reference": "optimum",
                         "optimizer": v["optimizer"].astype(str), "method": v["method"].astype(str),
                         "method_version": v["method_version"].astype(str), "value": v["value"].astype(float)})


# ---- claims ------------------------------------------------------------------------------------

def _main_optimizer(records: pd.DataFrame) -> str:
    opts = ordered(records["optimizer"])
    return "ascent" if "ascent" in opts else opts[0]


def success_target(records: pd.DataFrame) -> float:
    """The target used for success in the claims: ``SUCCESS_TARGET`` when recorded, else the middle recorded one."""
    taus = sorted(target_columns(records)) or [SUCCESS_TARGET]
    return SUCCESS_TARGET if SUCCESS_TARGET in taus else taus[len(taus) // 2]


def _hand_built(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of families whose optimum is closed-form (as each family declares)."""
    import toy_functions

    kinds = {n: toy_functions.optimum_kind(n) if n in toy_functions.names() else None  # plug-ins: not the suite's
             for n in records["family_name"].astype(str).unique()}
    return records[records["family_name"].astype(str).map(kinds) == toy_functions.CLOSED_FORM]


def _lr_text(rows: pd.DataFrame, methods: list[str]) -> str:
    """``optimizer: method lr, ...`` of the rows' step sizes."""
    parts = []
    for opt in ordered(rows["optimizer"]):
        lrs = ", ".join(f"{m} {_lr_of(rows, opt, m):.3g}" for m in methods if np.isfinite(_lr_of(rows, opt, m)))
        if lrs:
            parts.append(f"{opt}: {lrs}")
    return "; ".join(parts)


def _protocol(records: pd.DataFrame, methods: list[str]) -> str:
    """The first sentences of a comparison's rationale: tuned (and how) or untuned, and every at-limit choice."""
    rows = gradient_rows(records)
    if not is_tuned(records):
        return compare.untuned_note({o: rows.loc[rows["optimizer"] == o, "lr"].tolist()
                                     for o in ordered(rows["optimizer"])})
    tu = role_rows(records, "tuning")
    n_tu = tu[INSTANCE_KEYS].drop_duplicates().shape[0]
    n_ev = rows[INSTANCE_KEYS].drop_duplicates().shape[0]
    limit = lr_choice_table(records)
    limit = limit[limit["method"].isin(methods) & limit["at_limit"]]
    flag = (" No choice of these methods stopped at a grid limit." if limit.empty else
            " AT A GRID LIMIT (its best lr may lie beyond the grid): " +
            ", ".join(f"{r.method} ({r.optimizer}, lr {r.lr:.3g})" for r in limit.itertuples()) + ".")
    return (f"Tuned comparison: each method runs at its own step size per optimizer, chosen on {n_tu} tuning "
            f"instances disjoint from the {n_ev} evaluation instances (score: mean rank of f_best; "
            f"lr = {_lr_text(rows, methods)}), with equal steps, starts and gradient evaluations.{flag}")


def am_fails(records: pd.DataFrame) -> Claim:
    """Plain AM misses the certified optimum on simple ReLU and Leaky ReLU functions (unit: the instance)."""
    rows = gradient_rows(records)
    opt, tau = _main_optimizer(rows), success_target(rows)
    hb = _hand_built(rows)
    hb = hb[(hb["method"] == "plain") & (hb["optimizer"] == opt)]
    statement = "Plain activation maximization fails to find the global maximum of simple ReLU and Leaky ReLU functions."
    fails = replication.unit_values(hb.assign(_fail=(hb["rel_gap"] > tau).astype(float)), unit=UNIT,
                                    by=["family"], score="_fail")
    out = []
    for fam in ordered(fails["family"]) if len(fails) else []:
        v = fails.loc[fails["family"] == fam, "value"].to_numpy(float)
        lo, hi = compare.mean_interval(v)
        g = hb[hb["family"] == fam]
        out.append({"family": fam, "forward_slope": float(g["forward_slope"].iloc[0]), "lr": float(g["lr"].iloc[0]),
                    "instances": len(v), "fail_rate": float(v.mean()), "fail_low": lo, "fail_high": hi,
                    "mean_attained": float(g["attained"].mean()), "fails": lo >= FAIL_RATE_MIN})
    table = pd.DataFrame(out)
    if table.empty:
        return Claim("am-fails", statement, EXPERIMENT, "no hand-built families with plain AM in the records",
                     "not tested", table=table, id="C1", method="plain")
    relu = table[table["forward_slope"] == 0.0]
    leaky = table[table["forward_slope"] > 0.0]
    relu_f, leaky_f = int(relu["fails"].sum()), int(leaky["fails"].sum())
    how = "at its tuned lr" if is_tuned(records) else "at the shared fixed lr"
    effect = (f"plain AM ({opt}, {how}) misses the optimum (rel_gap > {tau:g}) on a fraction of the starts of each "
              f"instance whose mean over instances has a 95% bootstrap lower end >= {FAIL_RATE_MIN:g} on "
              f"{relu_f}/{len(relu)} ReLU and {leaky_f}/{len(leaky)} Leaky ReLU families; per family: " +
              "; ".join(f"{r.family} {r.fail_rate:.2f} [{r.fail_low:.2f}, {r.fail_high:.2f}] over {r.instances} "
                        f"instances" for r in table.itertuples()))
    verdict = "supported" if relu_f and leaky_f else "mixed" if relu_f or leaky_f else "contradicted"
    rationale = (f"Unit of replication: the instance (its failure rate over starts). A family counts as failed when "
                 f"the 95% bootstrap lower end (over instances) of the mean failure rate is at least "
                 f"{FAIL_RATE_MIN:g}; supported when at least one ReLU and one Leaky ReLU family fail, mixed when only "
                 f"one kind does, contradicted when none does.")
    return Claim("am-fails", statement, EXPERIMENT, effect, verdict, rationale, table, id="C1", method="plain")


def claims(records: pd.DataFrame) -> list[Claim]:
    """C1 and every declared comparative claim (:func:`claim_specs`), each method its own verdict line."""
    out = [am_fails(records)]
    steps = int(primary(records)["steps"].max()) if len(primary(records)) else 0
    for spec in claim_specs(records):
        protocol = _protocol(records, [spec.reference, *spec.methods])
        protocol += f" Budget: {steps} steps from the same starts per instance."
        if spec.id == "B5":
            protocol += (" The derived method is the better of two runs of half the steps from the same start "
                         "(plain and the claim method, each at the lr tuned for the full budget).")
        if spec.id == "B7":
            protocol += (" The baselines use the AM runs' forward evaluations (steps + 1 per start); the strongest "
                         "of the three is taken per start, after the fact, which favours them.")
        out += replication.evaluate(spec, _claim_rows(records, spec), experiment=EXPERIMENT, protocol=protocol)
    return out
