"""The stopping rule's check: is the fixed epoch count on the plateau of the validation curve?

The profile trains every run for a fixed number of epochs ``E`` (the declared stopping rule).  For each
(dataset, arch, variant) of the final runs that did not diverge, with ``v(e)`` the mean over seeds of the
validation accuracy after epoch ``e``:

- ``val_last = v(E)``, ``val_best = max_e v(e)``;
- ``late_gain = v(E) - v(E - w)`` with ``w = ceil(E / 4)`` (the last quarter of the schedule);
- ``on_plateau``: ``late_gain < PLATEAU_GAIN`` (1 accuracy point) and ``val_best - val_last < PLATEAU_GAIN``.

Under a cosine schedule the step size shrinks to 0, so a flat end is partly the schedule's doing; the
table states the check, and the test accuracy reached (``test_acc_mean``), which is the other half of the
convergence criterion for ``relu/plain`` (at least :data:`TARGET_ACC` on ``small_cnn``).
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.experiments.training.runs import GROUP, final_runs, role_rows

PLATEAU_GAIN = 0.01
TARGET_ACC = 0.88


def plateau_table(records: pd.DataFrame) -> pd.DataFrame:
    """See the module docstring."""
    fin = role_rows(records, "final")
    if fin.empty:
        return pd.DataFrame()
    ok = fin[~fin["diverged"].astype(bool)]
    runs = final_runs(records)
    out = []
    for (ds, arch, v), g in ok.groupby(GROUP + ["variant"], sort=False):
        curve = g.groupby("epoch")["val_acc"].mean().sort_index()
        e = int(curve.index.max())
        w = math.ceil(e / 4)
        last, best = float(curve.loc[e]), float(curve.max())
        gain = last - float(curve.loc[e - w]) if e - w in curve.index else math.nan
        tested = runs[(runs["dataset"] == ds) & (runs["arch"] == arch) & (runs["variant"] == v)]["score"].dropna()
        out.append({"dataset": ds, "arch": arch, "variant": v, "epochs": e, "runs": g["seed"].nunique(),
                    "val_last": last, "val_best": best, "late_epochs": w, "late_gain": gain,
                    "on_plateau": bool(math.isfinite(gain) and gain < PLATEAU_GAIN and best - last < PLATEAU_GAIN),
                    "test_acc_mean": float(tested.mean()) if len(tested) else math.nan})
    return pd.DataFrame(out)
