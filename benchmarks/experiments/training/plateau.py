"""The stopping rule's check: is the fixed epoch count on the plateau of the validation curve?

The profile trains every run for a fixed number of epochs ``E`` (the declared stopping rule).  For each
(dataset, arch, variant) of the final runs that did not diverge, with ``v(e)`` the mean over seeds of the
validation accuracy after epoch ``e``:

- ``val_last = v(E)``, ``val_best = max_e v(e)``;
- ``late_gain = v(E) - v(E - w)`` with ``w = ceil(E / 4)`` (the last quarter of the schedule).

Under a cosine schedule the step size shrinks to 0 at ``E``, so most of a run's gain comes late and
``late_gain`` says little about the plateau.  Where the records hold *reference* runs (the baseline trained
for ``E_ref > E`` epochs on the tuning seeds, a schedule of that length, validation data only), the plateau
is measured, not inferred:

- ``val_reference``: the mean over the reference runs that did not diverge of their last-epoch validation
  accuracy; ``gap_to_reference = val_reference - val_last`` with a 95% Welch interval
  (``gap_low``, ``gap_high``: final seeds against reference seeds, two independent samples);
- ``on_plateau`` (``plateau_rule = "reference"``): ``gap_to_reference < PLATEAU_GAIN`` (1 accuracy point)
  and ``val_best - val_last < PLATEAU_GAIN``.

Without a reference (``plateau_rule = "late gain"``), ``on_plateau`` is ``late_gain < PLATEAU_GAIN`` and
``val_best - val_last < PLATEAU_GAIN``.  ``test_acc_mean`` (final runs) is the other half of the
convergence criterion for ``relu/plain``: at least :data:`TARGET_ACC` on ``small_cnn``.
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.framework import stats
from benchmarks.experiments.training.runs import GROUP, final_runs, last_rows, role_rows

PLATEAU_GAIN = 0.01
TARGET_ACC = 0.88


def plateau_table(records: pd.DataFrame) -> pd.DataFrame:
    """See the module docstring."""
    fin = role_rows(records, "final")
    if fin.empty:
        return pd.DataFrame()
    ok = fin[~fin["diverged"].astype(bool)]
    runs = final_runs(records)
    ref = last_rows(role_rows(records, "reference"))
    out = []
    for (ds, arch, v), g in ok.groupby(GROUP + ["variant"], sort=False):
        curve = g.groupby("epoch")["val_acc"].mean().sort_index()
        e = int(curve.index.max())
        w = math.ceil(e / 4)
        last, best = float(curve.loc[e]), float(curve.max())
        gain = last - float(curve.loc[e - w]) if e - w in curve.index else math.nan
        tested = runs[(runs["dataset"] == ds) & (runs["arch"] == arch) & (runs["variant"] == v)]["score"].dropna()
        row = {"dataset": ds, "arch": arch, "variant": v, "epochs": e, "runs": g["seed"].nunique(),
               "val_last": last, "val_best": best, "late_epochs": w, "late_gain": gain,
               "reference_epochs": math.nan, "reference_runs": 0, "reference_diverged": 0,
               "val_reference": math.nan, "gap_to_reference": math.nan, "gap_low": math.nan, "gap_high": math.nan}
        r = ref[(ref["dataset"] == ds) & (ref["arch"] == arch) & (ref["variant"] == v)]
        if len(r):
            div = r["diverged"].astype(bool)
            good = r[~div]["val_acc"].astype(float).to_numpy()
            ci = stats.welch_diff_ci(good, g[g["epoch"] == e]["val_acc"].astype(float).to_numpy())
            row.update(reference_epochs=int(r["epoch"].max()), reference_runs=len(r), reference_diverged=int(div.sum()),
                       val_reference=float(good.mean()) if len(good) else math.nan, gap_to_reference=ci.estimate, gap_low=ci.low, gap_high=ci.high)
        has_ref = math.isfinite(row["gap_to_reference"])
        measure = row["gap_to_reference"] if has_ref else gain
        row["plateau_rule"] = "reference" if has_ref else "late gain"
        row["on_plateau"] = bool(math.isfinite(measure) and measure < PLATEAU_GAIN and best - last < PLATEAU_GAIN)
        row["test_acc_mean"] = float(tested.mean()) if len(tested) else math.nan
        out.append(row)
    return pd.DataFrame(out)
