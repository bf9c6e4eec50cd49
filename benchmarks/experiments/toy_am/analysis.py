"""Analysis of ``toy-am`` records: the tables the report writes, the baseline metrics and the leaderboard values.

Every number here is computed from the records; nothing is typed in. The *unit of replication* is the
instance ``(family, dim, seed)``: the starts of one instance share its function, so each instance's
starts are summarized first (:mod:`benchmarks.framework.replication`: the mean over starts of the
attained fraction ``(f_best - f_start) / (f_star - f_start)``, 1 at the certified optimum), and every
test, interval and power figure counts instances.  The rows read are chosen in :mod:`.rows`, the
descriptive tables built in :mod:`.tables`, the claims declared and decided in :mod:`.declared_claims`.

Tables (:func:`analyze`): ``units``, the claims' ``claim_<id>`` tables, ``slope_sweep``, ``anytime``,
``stuck_moved``, ``baselines`` and, for tuned records, ``vs_plain_untuned``, ``lr_choice`` and
``lr_sensitivity``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.framework import replication
from benchmarks.experiments.toy_am.declared_claims import claim_specs, claim_tables, claims
from benchmarks.experiments.toy_am.rows import (SCORE, UNIT, best_of_rows, big_proxy, gradient_rows, is_tuned,
                                                ordered, primary, role_rows, target_columns)
from benchmarks.experiments.toy_am.tables import (anytime_table, lr_choice_table, lr_sensitivity_table,
                                                  slope_sweep_table, stuck_moved_table, stuck_table, units_table,
                                                  vs_plain_untuned_table)

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


__all__ = ["SCORE_DEFINITION", "analyze", "best_of_rows", "claim_specs", "claims", "leaderboard_scores", "stuck_table",
           "summarize"]
