"""Divergence as a result: how often a variant's training diverges, per lr (tuning) and per role.

A run *diverges* when its training loss becomes non-finite (NaN or inf); the run is recorded up to the
diverging epoch (:mod:`benchmarks.experiments.training.experiment`).

- :func:`stability_table`: per (dataset, arch, variant, lr): the tuning seeds run there, how many
  diverged, the rate ``k / n`` with its Wilson 95% interval (inside [0, 1] by construction), whether the
  lr was chosen (zero divergence is required for that), and the final / matched runs at that lr with
  their diverged counts.  Read across the lrs of a variant it is the stability curve.
- :func:`divergence_table`: per (dataset, arch, variant, role) of the tested runs: runs, diverged runs, and
  how they enter the comparisons (excluded from the main tests; at chance in the intention-to-treat line).
"""
from __future__ import annotations

import pandas as pd

from benchmarks.framework import stats
from benchmarks.experiments.training.runs import GROUP, last_rows, role_rows
from benchmarks.experiments.training.selection import tuning_scores


def stability_table(records: pd.DataFrame) -> pd.DataFrame:
    """See the module docstring."""
    scores = tuning_scores(records)
    if scores.empty:
        return scores
    tested = last_rows(role_rows(records, "final", "matched"))
    out = []
    for r in scores.itertuples(index=False):
        at = tested[(tested["dataset"] == r.dataset) & (tested["arch"] == r.arch) & (tested["variant"] == r.variant)
                    & (tested["lr_k"] == r.lr_k)] if not tested.empty else tested
        fin = at[at["role"] == "final"] if not at.empty else at
        rate = stats.wilson(r.diverged_runs, r.tune_seeds)
        out.append({"dataset": r.dataset, "arch": r.arch, "variant": r.variant, "lr": r.lr, "lr_k": r.lr_k,
                    "tune_runs": r.tune_seeds, "tune_diverged": r.diverged_runs,
                    "divergence_rate": rate.estimate, "rate_low": rate.low, "rate_high": rate.high,
                    "val_acc": r.val_acc, "chosen": bool(len(fin)),
                    "tested_runs": len(at), "tested_diverged": int(at["diverged"].astype(bool).sum()) if len(at) else 0})
    return pd.DataFrame(out)


def divergence_table(records: pd.DataFrame) -> pd.DataFrame:
    """See the module docstring."""
    tested = last_rows(role_rows(records, "final", "matched"))
    out = []
    for (ds, arch, v, role), g in tested.groupby(GROUP + ["variant", "role"], sort=False):
        div = g["diverged"].astype(bool)
        out.append({"dataset": ds, "arch": arch, "variant": v, "role": role, "lr": float(g["lr"].iloc[0]),
                    "runs": len(g), "diverged_runs": int(div.sum()),
                    "diverged_seeds": " ".join(str(int(s)) for s in g.loc[div, "seed"]),
                    "main_tests": "excluded", "intention_to_treat": "at chance (1 / classes)"})
    return pd.DataFrame(out)
