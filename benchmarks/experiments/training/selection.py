"""Choices made on validation data only: the tuning score of each (variant, lr) and the *best
conventional variant* a ProxyGrad variant is compared with.

Tuning score of (dataset, arch, variant, lr index ``k``): the mean over the tuning seeds of the last-epoch
validation accuracy, NaN when any tuning seed diverged at ``k`` (so a diverging lr is never chosen; the
run chose its lrs by the same rule, :func:`benchmarks.experiments.training.plan.tuning_scores`).

Best conventional variant of a (dataset, arch): among the variants trained with the plain gradient
(``method_kind == "plain"``: ``relu/plain``, ``leaky/plain``), the one whose tuning score at its chosen lr
(the lr index of its final runs) is highest; ties go to the first in the records' (config) order.  It
reads tuning runs' validation accuracies and final runs' lr indices, never a test accuracy, and its
tuning seeds are disjoint from the final seeds it is then evaluated on.
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.framework import tuning
from benchmarks.experiments.training.runs import GROUP, last_rows, role_rows

CONVENTIONAL_KIND = "plain"
#: The tuning score of an lr index (one last-epoch row per tuning seed): the mean validation accuracy over
#: the tuning seeds, NaN when any of them diverged.  The plan's choices and the tables both read it.
TUNING_SCORE = tuning.Score("val_acc", units=("seed",), index="lr_k", across="mean", failed="diverged")


def tuning_scores(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant, lr_k): ``lr``, ``tune_seeds``, ``diverged_runs`` and ``val_acc`` (the
    tuning score: mean last-epoch validation accuracy, NaN when a tuning seed diverged)."""
    tune = last_rows(role_rows(records, "tune"))
    out = []
    score = {key: tuning.scores(gv, TUNING_SCORE) for key, gv in tune.groupby(GROUP + ["variant"], sort=False)}
    for (ds, arch, v, k), g in tune.groupby(GROUP + ["variant", "lr_k"], sort=False):
        out.append({"dataset": ds, "arch": arch, "variant": v, "method": g["method"].iloc[0],
                    "method_kind": g["method_kind"].iloc[0] if "method_kind" in g.columns else "",
                    "lr_k": int(k), "lr": float(g["lr"].iloc[0]), "tune_seeds": len(g),
                    "diverged_runs": int(g["diverged"].astype(bool).sum()), "val_acc": score[(ds, arch, v)][int(k)]})
    return pd.DataFrame(out)


def best_conventional(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch): ``best_conventional`` (a variant), its ``lr`` and validation ``val_acc``, and
    ``candidates`` (every conventional variant with its score), chosen by the rule in the module docstring."""
    scores = tuning_scores(records)
    fin = role_rows(records, "final")
    out = []
    if scores.empty or fin.empty:
        return pd.DataFrame(out)
    chosen = fin.groupby(GROUP + ["variant"], sort=False)["lr_k"].first()
    for (ds, arch), g in scores.groupby(GROUP, sort=False):
        cands = []
        for v in dict.fromkeys(g["variant"]):
            gv = g[g["variant"] == v]
            if gv["method_kind"].iloc[0] != CONVENTIONAL_KIND or (ds, arch, v) not in chosen.index:
                continue
            at = gv[gv["lr_k"] == int(chosen[(ds, arch, v)])]
            if not at.empty and math.isfinite(float(at["val_acc"].iloc[0])):
                cands.append((v, float(at["lr"].iloc[0]), float(at["val_acc"].iloc[0])))
        if not cands:
            continue
        best = max(cands, key=lambda c: c[2])  # max keeps the first of equal scores: config order
        out.append({"dataset": ds, "arch": arch, "best_conventional": best[0], "lr": best[1], "val_acc": best[2],
                    "candidates": "; ".join(f"{v} (lr {lr:.3g}): {acc:.4f}" for v, lr, acc in cands)})
    return pd.DataFrame(out)
