"""The descriptive tables of ``toy-am``: mean differences with 95% bootstrap intervals over instances, no
p-values (a test's adjusted p appears only in its claim, :mod:`.declared_claims`).

``units`` (per family, optimizer and method: instances, mean attained fraction with its interval, success
rate over instances of the best start), ``slope_sweep`` (every ``proxy-<s>`` against plain), ``anytime``
(the claim method at 16, 64 and 256 steps, with the lrs tuned for the full budget), ``stuck_moved``
(stuck: the plain gradient is zero at every start, decided before any method ran) and, for tuned
records, ``vs_plain_untuned``, ``lr_choice`` and ``lr_sensitivity``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication, stats
from benchmarks.framework.codec import as_bool
from benchmarks.framework.claims import ClaimSpec
from benchmarks.experiments.toy_am.rows import (INSTANCE_KEYS, SCORE, STRATA, SUCCESS_TARGET, UNIT, best_of_label,
                                                big_proxy, budgets, gradient_rows, is_tuned, lr_of, method_fields,
                                                ordered, primary, role_rows, tuning_scores, with_best_of,
                                                with_score)

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
        out.append({"family": fam, "optimizer": opt, "method": m, "lr": lr_of(rows, opt, m), "instances": len(g),
                    "starts": int(g["starts"].sum()), "attained": ci.estimate, "attained_low": ci.low,
                    "attained_high": ci.high, "success": w.estimate, "success_low": w.low, "success_high": w.high})
    return pd.DataFrame(out)


def difference_table(rows: pd.DataFrame, method: str, reference: str, *, by: list[str], t: int | None = None,
                     extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """Descriptive: per ``by`` stratum, the mean over instances of ``method - reference`` (attained fraction at
    budget ``t``, each instance the mean over starts) with its 95% bootstrap interval; no p-value."""
    scored = with_score(rows[rows["method"].isin([method, reference])], t)
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
    fields = method_fields(rows)
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
        r = with_best_of(rows, big, t)
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
    flag = as_bool(rows["start_grad_zero"]).fillna(False).astype(bool)
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


def vs_plain_untuned_table(records: pd.DataFrame) -> pd.DataFrame:
    """Secondary, untuned: every method against plain on the ``fixed`` rows (one shared lr per optimizer),
    unit level, its own Holm family (these are other runs than any claim's)."""
    fixed = role_rows(records, "fixed")
    if fixed.empty or not is_tuned(records):
        return pd.DataFrame()
    methods = tuple(m for m in ordered(fixed["method"]) if m != "plain")
    spec = ClaimSpec("untuned", "untuned", "", methods, "plain", UNIT, STRATA, SCORE)
    return replication.claim_table(spec, fixed)


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
                         "at_limit": bool(as_bool(e["lr_at_limit"]).fillna(False).any())})
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
