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

This module holds :func:`analyze`, :func:`summarize` and the leaderboard's scores; the per-unit values live in
:mod:`.unit_values`, the step-size choices in :mod:`.choices`, the descriptive tables in :mod:`.tables` and
the claims in :mod:`.declared_claims` (their public names are importable from here too).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.framework import replication
from benchmarks.experiments.cnn_am.choices import (REGRET_TARGET, group_choices, group_scores, lr_regret_table,
                                                  sweep_units, tuning_choices)
from benchmarks.experiments.cnn_am.declared_claims import SHORT_MIN, claim_shortfall, claim_specs, claims
from benchmarks.experiments.cnn_am.tables import (anytime_table, attained_table, budget_tuned_units, certified_table,
                                                 combinations_table, difference_table, stuck_moved_table, tests_table,
                                                 unit_counts)
from benchmarks.experiments.cnn_am.unit_values import (BEST_OF_TWO, CLAIM_BUDGETS, EXPERIMENT, OPT_TOL, POOLED, UNIT,
                                                      UNIT_KEYS, am_records, checkpoints, group_label,
                                                      large_slope_method, normalized, per_unit, primary_units,
                                                      with_best_of_two)

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


__all__ = ["analyze", "summarize", "leaderboard_scores", "SCORE_DEFINITION", "claims", "claim_specs", "claim_shortfall",
           "SHORT_MIN", "REGRET_TARGET", "group_choices", "group_scores", "lr_regret_table", "sweep_units",
           "tuning_choices", "anytime_table", "attained_table", "budget_tuned_units", "certified_table",
           "combinations_table", "difference_table", "stuck_moved_table", "tests_table", "unit_counts",
           "BEST_OF_TWO", "CLAIM_BUDGETS", "EXPERIMENT", "OPT_TOL", "POOLED", "UNIT", "UNIT_KEYS", "am_records",
           "checkpoints", "group_label", "large_slope_method", "normalized", "per_unit", "primary_units",
           "with_best_of_two"]
