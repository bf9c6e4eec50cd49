"""The runs of the ``training`` records, one row each: the last-epoch row of every (dataset, arch, variant,
role, lr index, seed), with the two ways a diverged run can enter a comparison.

- ``score``: the test accuracy after the last epoch; NaN for a diverged run (it is *excluded* from the
  main tests, and counted separately).
- ``itt``: intention to treat: the test accuracy, or chance level ``1 / num_classes`` for a diverged run
  (a network that diverged predicts nothing).

Both are NaN for tuning runs (they never see the test split).  Matched runs (the matched-lr comparison)
are the ``matched`` runs and the ``final`` runs whose lr index is the profile's ``matched_lr_k``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ["dataset", "arch"]
RUN_KEYS = GROUP + ["variant", "role", "lr_k", "seed"]


def role_rows(records: pd.DataFrame, *roles: str) -> pd.DataFrame:
    """The rows of ``records`` whose role is one of ``roles`` (empty when there is no role column)."""
    if records.empty or "role" not in records.columns:
        return records.iloc[0:0]
    return records[records["role"].isin(roles)]


def last_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The last-epoch row of every run (dataset, arch, variant, role, lr_k, seed)."""
    if records.empty:
        return records
    last = records.groupby(RUN_KEYS, sort=False)["epoch"].transform("max")
    return records[records["epoch"] == last].reset_index(drop=True)


def scored(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (last-epoch rows of tested runs) with the columns ``score`` and ``itt`` (module docstring)."""
    out = runs.copy()
    if out.empty:
        return out.assign(score=pd.Series(dtype=float), itt=pd.Series(dtype=float))
    div = out["diverged"].astype(bool).to_numpy()
    acc = out["test_acc"].astype(float).to_numpy()
    out["score"] = np.where(div, np.nan, acc)
    out["itt"] = np.where(div, 1.0 / out["num_classes"].astype(float).to_numpy(), acc)
    return out


def final_runs(records: pd.DataFrame) -> pd.DataFrame:
    """The scored final runs (each variant at its tuned lr)."""
    return scored(last_rows(role_rows(records, "final")))


def matched_k(records: pd.DataFrame) -> int | None:
    """The matched-lr comparison's grid index, when the records have one (column ``matched_lr_k``)."""
    if records.empty or "matched_lr_k" not in records.columns:
        return None
    ks = records["matched_lr_k"].dropna()
    return int(ks.iloc[0]) if len(ks) else None


def matched_runs(records: pd.DataFrame) -> pd.DataFrame:
    """The scored runs of every variant at the matched lr (``matched`` runs, and ``final`` runs at that lr)."""
    k = matched_k(records)
    if k is None:
        return records.iloc[0:0].assign(score=pd.Series(dtype=float), itt=pd.Series(dtype=float))
    rows = role_rows(records, "final", "matched")
    return scored(last_rows(rows[rows["lr_k"] == k]))
