"""Does the tuning schedule order the lrs as the full schedule does?  (The check that licenses a shorter
tuning schedule, ``tune_epochs < epochs``; it is reported either way.)

For each (dataset, arch, variant) whose final seeds ran at two lrs, its chosen lr ``k_c`` (final runs) and
the matched lr ``k_m`` (matched runs), with both lrs also among its tuning runs:

- short order: the sign of ``T(k_c) - T(k_m)``, ``T`` the tuning score (mean last-epoch validation accuracy
  over the tuning seeds, at the tuning schedule; -inf when a tuning seed diverged);
- full order: the sign of ``F(k_c) - F(k_m)``, ``F`` the mean last-epoch validation accuracy of the final
  seeds at the full schedule (runs that diverged count at chance: a diverging lr ranks low);
- ``agree``: the two signs are equal.

Validation accuracies only; the test split is not read.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.experiments.training.runs import GROUP, last_rows, matched_k, role_rows
from benchmarks.experiments.training.selection import tuning_scores


def _full(rows: pd.DataFrame) -> float:
    div = rows["diverged"].astype(bool).to_numpy()
    val = np.where(div, 1.0 / rows["num_classes"].astype(float).to_numpy(), rows["val_acc"].astype(float).to_numpy())
    return float(val.mean())


def rank_check_table(records: pd.DataFrame) -> pd.DataFrame:
    """See the module docstring; empty without matched runs."""
    km = matched_k(records)
    if km is None:
        return pd.DataFrame()
    scores = tuning_scores(records)
    tested = last_rows(role_rows(records, "final", "matched"))
    out = []
    for (ds, arch, v), g in tested.groupby(GROUP + ["variant"], sort=False):
        fin = g[g["role"] == "final"]
        if fin.empty or int(fin["lr_k"].iloc[0]) == km:
            continue
        kc = int(fin["lr_k"].iloc[0])
        at_m = g[g["lr_k"] == km]
        sv = scores[(scores["dataset"] == ds) & (scores["arch"] == arch) & (scores["variant"] == v)].set_index("lr_k")
        if at_m.empty or kc not in sv.index or km not in sv.index:
            continue
        t = {k: float(sv.loc[k, "val_acc"]) if math.isfinite(float(sv.loc[k, "val_acc"])) else -math.inf
             for k in (kc, km)}
        f = {kc: _full(fin), km: _full(at_m)}
        short, full = np.sign(t[kc] - t[km]), np.sign(f[kc] - f[km])
        out.append({"dataset": ds, "arch": arch, "variant": v, "lr_chosen": float(fin["lr"].iloc[0]),
                    "lr_matched": float(at_m["lr"].iloc[0]), "tune_chosen": t[kc], "tune_matched": t[km],
                    "full_chosen": f[kc], "full_matched": f[km], "agree": bool(short == full)})
    return pd.DataFrame(out)
