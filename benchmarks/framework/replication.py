"""The unit of replication: starts are summarized within a unit before anything is tested, in one place.

A *unit* is what replicates independently: a toy instance ``(family, dim, seed)``, a CNN unit
``(model, unit)``, a training seed. Starts of one unit share its function, so they are not independent
samples: :func:`unit_values` reduces the rows of each (unit, method, stratum) to one value by the claim's
declared statistic (``mean`` over starts of the normalized score, computed exactly, or ``max``: the
best of the ``k`` starts), and :func:`evaluate` tests a :class:`~benchmarks.framework.claims.ClaimSpec` on those values
(:mod:`benchmarks.framework.compare`). Duplicating every start of every unit changes no value, no p and
no interval (a test asserts it).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd

from benchmarks.framework import compare
from benchmarks.framework.claims import Claim, ClaimSpec


def unit_values(rows: pd.DataFrame, *, unit: tuple[str, ...] | list[str], by: tuple[str, ...] | list[str],
                score: str, summary: str = "mean") -> pd.DataFrame:
    """One row per (``by`` columns, ``unit`` columns) with ``value`` = ``summary`` of ``score`` over its rows
    and ``starts`` = the number of rows summarized. Rows with a NaN score are left out."""
    keys = list(dict.fromkeys([*by, *unit]))
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "value", "starts"])
    sel = rows[np.isfinite(rows[score].to_numpy(float))]
    if summary not in ("mean", "max"):
        raise ValueError(f"summary must be 'mean' or 'max', got {summary!r}")
    g = sel.groupby(keys, sort=False, dropna=False)[score]
    out = g.agg([exact_mean if summary == "mean" else "max", "size"]).reset_index()
    return out.rename(columns={out.columns[-2]: "value", "size": "starts"})


def exact_mean(values: pd.Series) -> float:
    """The mean computed in exact rational arithmetic, then rounded once: independent of the order of the
    values and unchanged when every value is repeated (a float sum is neither)."""
    total = sum((Fraction(float(v)) for v in values), Fraction(0))
    return float(total / len(values)) if len(values) else math.nan


def paired_units(values: pd.DataFrame, *, method: str, reference: str, unit: list[str],
                 method_column: str = "method") -> pd.DataFrame:
    """Units that both ``method`` and ``reference`` have, with columns ``a`` and ``b``, sorted by unit."""
    a = values[values[method_column] == method].set_index(unit)["value"].rename("a")
    b = values[values[method_column] == reference].set_index(unit)["value"].rename("b")
    return pd.concat([a, b], axis=1, join="inner").sort_index()


def _strata(values: pd.DataFrame, strata: list[str]):
    if not strata:
        yield {}, values
        return
    for key, g in values.groupby(strata, sort=False, dropna=False):
        yield dict(zip(strata, key if isinstance(key, tuple) else (key,))), g


def claim_table(spec: ClaimSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The claim's one Holm family: a test per (method, stratum) over the units of the stratum.

    Columns: ``claim`` (the id), ``method``, ``reference``, the strata, ``value``/``value_ref`` (mean of the
    unit values), then :func:`benchmarks.framework.compare.family_table`'s columns.
    """
    unit, strata = list(spec.unit), list(spec.strata)
    values = unit_values(rows[rows["method"].isin([*spec.methods, spec.reference])], unit=unit,
                         by=[*strata, "method"], score=spec.score, summary=spec.summary)
    pairs = []
    for method in spec.methods:
        for labels, g in _strata(values, strata):
            j = paired_units(g, method=method, reference=spec.reference, unit=unit)
            if j.empty:
                continue
            pairs.append(compare.Pair({"claim": spec.id, "method": method, "reference": spec.reference, **labels,
                                       "value": float(j["a"].mean()), "value_ref": float(j["b"].mean())},
                                      j["a"].to_numpy(float), j["b"].to_numpy(float)))
    return compare.family_table(pairs, test=spec.test, margin=spec.margin, relevance=spec.relevance)


def effect_text(table: pd.DataFrame, strata: list[str]) -> str:
    """Each test row in words: stratum, n, mean values, mean difference with its interval, Holm p, outcome."""
    parts = []
    for r in table.to_dict("records"):
        where = "/".join(str(r[s]) for s in strata) or "all"
        low, high = float(r["diff_low"]), float(r["diff_high"])
        interval = (f"[{low:+.3f}, {high:+.3f}]" if math.isfinite(low) and math.isfinite(high)
                    else f"(no interval from n = {r['n']})")
        parts.append(f"{where}: n = {r['n']}, {r['value']:.3f} vs {r['value_ref']:.3f}, difference "
                     f"{r['mean_diff']:+.3f} {interval}, Holm p "
                     f"{compare.format_p(r['p_holm'])}, {r['outcome']}{'' if r['powered'] else ' (unpowered)'}")
    return "; ".join(parts)


def evaluate(spec: ClaimSpec, rows: pd.DataFrame, *, experiment: str, protocol: str = "") -> list[Claim]:
    """One :class:`Claim` per method of ``spec`` (key ``<spec.key>-<method>`` when the spec has several, so each
    method is its own report line), each decided by the spec's rule on its rows of the
    claim's single Holm family (:func:`claim_table`). ``protocol`` opens every rationale (how the step
    sizes were chosen, the budget)."""
    table = claim_table(spec, rows)
    unit_text = ", ".join(spec.unit)
    stat = "mean" if spec.summary == "mean" else "best (max)"
    how = (f"Unit of replication: ({unit_text}); each unit's value is the {stat} of {spec.score} over its "
           f"starts; one paired {spec.test} test per ({', '.join(spec.strata) or 'all'}) and method over "
           f"units, all {len(table)} tests of claim {spec.id} Holm-adjusted together.")
    out = []
    for method in spec.methods:
        key = spec.key if len(spec.methods) == 1 else f"{spec.key}-{method}"
        t = table[table["method"] == method] if len(table) else table
        if t.empty:
            out.append(Claim(key, spec.statement, experiment, f"no paired units of {method} and "
                             f"{spec.reference}", "not tested", table=t, rule=spec.rule, id=spec.id, method=method))
            continue
        decision = compare.decide(spec.rule, t)
        effect = (f"{method} vs {spec.reference} ({stat} {spec.score} per unit): {compare.counts_text(t)} "
                  f"tests. Per test: {effect_text(t, list(spec.strata))}")
        rationale = " ".join(x for x in (protocol, how, decision.rationale) if x)
        out.append(Claim(key, spec.statement, experiment, effect, decision.verdict, rationale, t.reset_index(drop=True),
                         rule=spec.rule, id=spec.id, method=method))
    return out
