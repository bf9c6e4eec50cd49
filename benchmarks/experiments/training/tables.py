"""The descriptive tables of ``training``: tuned lrs, accuracies, the paired tests against ``relu/plain``,
the mechanism probe and the validation curves.

Runs (:mod:`.runs`): a diverged run is excluded from the accuracies and tests (its seed drops out of every
test it is in) and counted separately; the ITT mean counts it at chance level ``1 / num_classes``.
Accuracy intervals are t intervals intersected with [0, 1] (:func:`benchmarks.framework.stats.bounded_mean_ci`);
differences get the t interval of the paired differences.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats, tuning
from benchmarks.experiments.training import comparisons as cmp
from benchmarks.experiments.training.runs import GROUP, final_runs, last_rows, matched_k, matched_runs, role_rows
from benchmarks.experiments.training.selection import TUNING_SCORE

#: The variant every paired test is against.
BASELINE = "relu/plain"
#: The level of the descriptive paired tests.
ALPHA = 0.05


def _order(records: pd.DataFrame) -> list[str]:
    """The variants in the order of the records (the config's)."""
    return list(dict.fromkeys(records["variant"]))


def final_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Last-epoch rows of the final runs with ``score`` (test accuracy, NaN when diverged) and ``itt``."""
    return final_runs(records)


def tuning_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): each lr tried with its validation score (mean over tuning seeds, NaN
    when one diverged), the number of diverged tuning runs, the chosen lr and whether the variant failed."""
    tune = last_rows(role_rows(records, "tune"))
    fin = role_rows(records, "final")
    out = []
    for (ds, arch, v), g in tune.groupby(GROUP + ["variant"], sort=False):
        chosen = fin[(fin["dataset"] == ds) & (fin["arch"] == arch) & (fin["variant"] == v)]
        k_chosen = int(chosen["lr_k"].iloc[0]) if not chosen.empty else None
        score = tuning.scores(g, TUNING_SCORE)
        for k, gk in g.groupby("lr_k", sort=True):
            div = gk["diverged"].astype(bool)
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gk["method"].iloc[0],
                        "lr_k": int(k), "lr": float(gk["lr"].iloc[0]), "tune_seeds": len(gk),
                        "val_acc": score[int(k)],
                        "diverged_runs": int(div.sum()), "chosen": k_chosen == int(k),
                        "failed": k_chosen is None})
    return pd.DataFrame(out)


def chosen_lrs(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): the chosen lr (NaN when failed), lrs tried, diverged tuning runs, and
    whether the choice sits at an edge of the lrs tried (it never should: the grid extends)."""
    t = tuning_table(records)
    out = []
    if t.empty:
        return t
    for (ds, arch, v), g in t.groupby(GROUP + ["variant"], sort=False):
        ks = sorted(g["lr_k"])
        pick = g[g["chosen"]]
        k = int(pick["lr_k"].iloc[0]) if not pick.empty else None
        out.append({"dataset": ds, "arch": arch, "variant": v, "lr": float(pick["lr"].iloc[0]) if k is not None
                    else math.nan, "lr_k": k, "val_acc": float(pick["val_acc"].iloc[0]) if k is not None else math.nan,
                    "lrs_tried": " ".join(f"{x:.3g}" for x in sorted(g["lr"])),
                    "diverged_runs": int(g["diverged_runs"].sum()),
                    "at_edge": k is not None and len(ks) > 1 and k in (ks[0], ks[-1]),
                    "failed": k is None})
    return pd.DataFrame(out)


def accuracy_table(runs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant) of the scored ``runs``: runs, diverged runs, the mean test accuracy of
    the runs that did not diverge with its 95% interval inside [0, 1], and the ITT mean (diverged at chance)."""
    out = []
    for (ds, arch), g in runs.groupby(GROUP, sort=False):
        for v in _order(g):
            gv = g[g["variant"] == v]
            ok = gv["score"].dropna().to_numpy(float)
            ci = stats.bounded_mean_ci(ok) if ok.size else stats.Interval(math.nan, math.nan, math.nan)
            seeds = set(gv["seed"])
            rows = records[(records["dataset"] == ds) & (records["arch"] == arch) & (records["variant"] == v)
                           & records["role"].isin(list(set(gv["role"]))) & records["seed"].isin(seeds)
                           & records["lr_k"].isin(list(set(gv["lr_k"])))]
            live = gv[~gv["diverged"].astype(bool)]
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gv["method"].iloc[0],
                        "lr": float(gv["lr"].iloc[0]), "seeds": len(gv), "epochs": int(gv["epoch"].max()),
                        "diverged_runs": int(gv["diverged"].astype(bool).sum()), "runs_used": int(ok.size),
                        "test_acc_mean": ci.estimate, "test_acc_low": ci.low, "test_acc_high": ci.high,
                        "itt_mean": float(gv["itt"].mean()),
                        "dead_fraction_last": float(live["dead_fraction"].mean()) if len(live) else math.nan,
                        "seconds_mean": float(rows.groupby("seed")["seconds"].sum().mean())})
    return pd.DataFrame(out)


def final_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """:func:`accuracy_table` of the final runs (each variant at its tuned lr)."""
    return accuracy_table(final_runs(records), records)


def matched_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """:func:`accuracy_table` of the matched runs (every variant at the matched lr); empty without them."""
    runs = matched_runs(records)
    return accuracy_table(runs, records) if len(runs) else pd.DataFrame()


def _pairs(fin: pd.DataFrame, ds: str, arch: str, variants: list[str]) -> list[compare.Pair]:
    """``variant`` against relu/plain over the seeds where neither diverged."""
    g = fin[(fin["dataset"] == ds) & (fin["arch"] == arch)]
    base = g[g["variant"] == BASELINE].set_index("seed")["score"].dropna()
    pairs = []
    for v in variants:
        gv = g[g["variant"] == v].set_index("seed")["score"].dropna()
        seeds = sorted(set(gv.index) & set(base.index))
        if not seeds:
            continue
        pairs.append(compare.Pair({"dataset": ds, "arch": arch, "variant": v,
                                   "method": g[g["variant"] == v]["method"].iloc[0], "baseline": BASELINE},
                                  gv.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)))
    return pairs


def paired_tests(records: pd.DataFrame) -> pd.DataFrame:
    """Descriptive: each non-baseline variant against ``relu/plain`` per (dataset, arch), over the seeds
    where neither diverged: paired t-test and Wilcoxon, each Holm-adjusted within the (dataset, arch)."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        if (g["variant"] == BASELINE).sum() == 0:
            continue
        pairs = _pairs(fin, ds, arch, [v for v in _order(g) if v != BASELINE])
        if not pairs:
            continue
        t = compare.family_table(pairs, test="t", alpha=ALPHA, margin=cmp.MARGIN, relevance=cmp.RELEVANCE)
        w = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA, margin=cmp.MARGIN, relevance=cmp.RELEVANCE)
        part = t[["dataset", "arch", "variant", "method", "baseline", "n", "mean_diff", "diff_low", "diff_high",
                  "wins", "ties", "losses", "statistic", "p", "effect"]].rename(
            columns={"statistic": "t", "p": "p_t", "effect": "cohen_dz"})
        part["p_wilcoxon"] = w["p"].to_numpy()
        part["rank_biserial"] = w["effect"].to_numpy()
        part["p_t_holm"] = t["p_holm"].to_numpy()
        part["p_wilcoxon_holm"] = w["p_holm"].to_numpy()
        part["mde_dz"] = t["mde_dz"].to_numpy()
        part["mde_acc"] = t["mde"].to_numpy()
        out.append(part)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def mechanism_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per (set, dataset, arch, variant, epoch): mean over the runs that did not diverge of the dead fraction
    (all rectifiers and per rectifier) and of the gradient norm per layer; ``runs`` of them, and
    ``diverged_runs`` left out.  Sets: ``tuned`` (the final runs) and, with matched runs, ``matched`` (every
    variant at the matched lr: plain and ProxyGrad at the same step size)."""
    parts = []
    k = matched_k(records)
    for name, rows in (("tuned", role_rows(records, "final")),
                       ("matched", role_rows(records, "final", "matched") if k is not None else records.iloc[0:0])):
        if rows.empty:
            continue
        if name == "matched":
            rows = rows[rows["lr_k"] == k]
        cols = [c for c in rows.columns if c == "dead_fraction" or c.startswith("dead_") and c[5:].isdigit()
                or c.startswith("grad_norm_")]
        div = rows["diverged"].astype(bool)
        ok = rows[~div]
        gone = rows[div].groupby(GROUP + ["variant"])["seed"].nunique()
        t = ok.groupby(GROUP + ["variant", "epoch"], sort=False)[cols].mean().reset_index()
        t.insert(0, "set", name)
        t["runs"] = ok.groupby(GROUP + ["variant", "epoch"], sort=False)["seed"].nunique().to_numpy()
        t["diverged_runs"] = [int(gone.get((r.dataset, r.arch, r.variant), 0)) for r in t.itertuples()]
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def curves(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval (t, inside [0, 1]) of validation accuracy per (dataset, arch, variant, epoch) of
    the final runs that did not diverge (``runs``: how many; ``diverged_runs``: how many were left out)."""
    out = []
    fin = role_rows(records, "final")
    gone = fin[fin["diverged"].astype(bool)].groupby(GROUP + ["variant"])["seed"].nunique() if len(fin) else {}
    fin = fin[~fin["diverged"].astype(bool)] if not fin.empty else fin
    for (ds, arch, v, ep), g in fin.groupby(GROUP + ["variant", "epoch"], sort=False):
        ci = stats.bounded_mean_ci(g["val_acc"].to_numpy(float))
        out.append({"dataset": ds, "arch": arch, "variant": v, "epoch": int(ep), "runs": len(g),
                    "diverged_runs": int(gone.get((ds, arch, v), 0)),
                    "val_acc_mean": ci.estimate,
                    "val_acc_low": ci.low, "val_acc_high": ci.high,
                    "train_loss_mean": float(np.nanmean(g["train_loss"].to_numpy(float)))})
    return pd.DataFrame(out)
