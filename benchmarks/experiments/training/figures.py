"""Figures of the ``training`` experiment: learning curves and final accuracies per dataset/arch.

Every figure is a pure function of the records: means and 95% t intervals over seeds (no resampling).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import plotting
from benchmarks.experiments.training.analysis import GROUP, curves, final_accuracy


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """``curves_<dataset>_<arch>`` (test accuracy and train loss per epoch) and ``final_<dataset>_<arch>``."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if records.empty:
        return []
    plotting.setup()
    colours = plotting.palette(list(dict.fromkeys(records["variant"])))
    paths: list[Path] = []
    cur, fin = curves(records), final_accuracy(records)
    for (ds, arch), g in cur.groupby(GROUP, sort=False):
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.4))
        for v, gv in g.groupby("variant", sort=False):
            c = colours[v]
            ax_acc.plot(gv["epoch"], gv["test_acc_mean"], marker="o", ms=3, color=c, label=v)
            ok = np.isfinite(gv["test_acc_low"].to_numpy(float))
            if ok.any():
                ax_acc.fill_between(gv["epoch"][ok], gv["test_acc_low"][ok], gv["test_acc_high"][ok],
                                    color=c, alpha=0.15, linewidth=0)
            ax_loss.plot(gv["epoch"], gv["train_loss_mean"], marker="o", ms=3, color=c, label=v)
        ax_acc.set(xlabel="epoch", ylabel="test accuracy", title=f"{ds} / {arch}")
        ax_loss.set(xlabel="epoch", ylabel="train loss (mean over seeds)")
        for ax in (ax_acc, ax_loss):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_loss.legend(fontsize=7, loc="upper right")
        paths += plotting.save(fig, out, _safe(f"curves_{ds}_{arch}"))
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(g), 3.4))
        x = np.arange(len(g))
        low = (g["test_acc_mean"] - g["test_acc_low"]).to_numpy(float)
        high = (g["test_acc_high"] - g["test_acc_mean"]).to_numpy(float)
        err = np.nan_to_num(np.vstack([low, high]))
        ax.errorbar(x, g["test_acc_mean"], yerr=err, fmt="none", ecolor="0.3", capsize=3)
        ax.scatter(x, g["test_acc_mean"], c=[colours[v] for v in g["variant"]], zorder=3)
        ax.set_xticks(x, g["variant"], rotation=40, ha="right")
        ax.set(ylabel="final test accuracy (mean, 95% CI)", title=f"{ds} / {arch}")
        paths += plotting.save(fig, out, _safe(f"final_{ds}_{arch}"))
    return paths
