"""Figures of the ``training`` experiment: learning curves, final accuracies, and the mechanism (dead
rectifier units and gradient norm per layer, per epoch) per dataset/arch and per variant, and at the
matched lr (plain and ProxyGrad at the same step size).

Every figure is a pure function of the records: means and 95% t intervals (inside [0, 1] for accuracies)
over seeds (no resampling).  Diverged runs are marked: the final-accuracy figure draws every seed, a
diverged one as a red cross at chance level; the curve, dead-unit and mechanism figures average the runs
that did not diverge and name in the legend how many diverged (``k diverged, not in the mean``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import plotting
from benchmarks.experiments.training.declared_claims import claim_family
from benchmarks.experiments.training.runs import GROUP, final_runs
from benchmarks.experiments.training.tables import curves, final_accuracy, mechanism_table

CLAIM_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "C3": (("paired", "C3's tests, one panel per data set and architecture: for each ProxyGrad variant and "
            "reference (the same network trained with the plain gradient, and the best conventional variant "
            "chosen on validation), the mean over seeds of the paired difference in final test accuracy, with "
            "the 95% t interval and the Holm outcome; seeds where either run diverged are left out (see the "
            "divergence table); an interval above 0 is a variant that beats conventional training."),),
    "B9": (("mechanism_matched_*", "Every variant at the matched lr (one data set and architecture): dead "
            "rectifier units per epoch and gradient norm per layer after the last epoch, means over the runs "
            "that did not diverge (the legend names the diverged ones)."),),
}
"""Claim id -> ``(figure name pattern, caption)``: the figures the report shows in each claim's section."""


def _label(variant: str, diverged: int) -> str:
    """A legend entry: the variant, and how many of its runs diverged (left out of the mean)."""
    return variant if not diverged else f"{variant} ({diverged} diverged, not in the mean)"


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """``paired`` (C3's paired differences, :func:`paired_figure`),
    ``curves_<dataset>_<arch>`` (validation accuracy and train loss per epoch of the final runs),
    ``final_<dataset>_<arch>`` (test accuracy), ``dead_<dataset>_<arch>`` (dead fraction per epoch, every
    variant) and ``mechanism_<dataset>_<arch>_<variant>`` (dead fraction per rectifier and gradient norm per
    layer, per epoch)."""
    if records.empty:
        return []
    plotting.setup()
    colours = plotting.palette(list(dict.fromkeys(records["variant"])))
    paths: list[Path] = []
    paths += paired_figure(records, out)
    paths += curves_figures(curves(records), colours, out)
    paths += final_figures(final_accuracy(records), final_runs(records), colours, out)
    mech = mechanism_table(records)
    if mech.empty:
        return paths
    paths += matched_mechanism_figure(mech[mech["set"] == "matched"], colours, out)
    paths += mechanism_figures(mech[mech["set"] == "tuned"], colours, out)
    return paths


def _epoch_ticks(*axes: object) -> None:
    """Whole-number ticks (epochs) on the x axis of every matplotlib axis in ``axes``."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def curves_figures(cur: pd.DataFrame, colours: dict[str, object], out: Path) -> list[Path]:
    """``curves_<dataset>_<arch>``: validation accuracy (mean, 95% interval) and train loss per epoch of the
    final runs, one line per variant (``cur``: :func:`.tables.curves`)."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    for (ds, arch), g in cur.groupby(GROUP, sort=False):
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.4))
        for v, gv in g.groupby("variant", sort=False):
            c = colours[v]
            ax_acc.plot(gv["epoch"], gv["val_acc_mean"], marker="o", ms=3, color=c,
                        label=_label(v, int(gv["diverged_runs"].iloc[0])))
            ok = np.isfinite(gv["val_acc_low"].to_numpy(float))
            if ok.any():
                ax_acc.fill_between(gv["epoch"][ok], gv["val_acc_low"][ok], gv["val_acc_high"][ok],
                                    color=c, alpha=0.15, linewidth=0)
            ax_loss.plot(gv["epoch"], gv["train_loss_mean"], marker="o", ms=3, color=c)
        ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title=f"{ds} / {arch}")
        ax_loss.set(xlabel="epoch", ylabel="train loss (mean over seeds)")
        _epoch_ticks(ax_acc, ax_loss)
        ax_acc.legend(fontsize=6, loc="lower right")
        paths += plotting.save(fig, out, _safe(f"curves_{ds}_{arch}"))
    return paths


def final_figures(fin: pd.DataFrame, runs: pd.DataFrame, colours: dict[str, object], out: Path) -> list[Path]:
    """``final_<dataset>_<arch>``: the final test accuracy per variant (mean of the runs that did not diverge
    with its 95% interval; dots: seeds, a diverged seed as a red cross at chance).  ``fin``:
    :func:`.tables.final_accuracy`; ``runs``: :func:`.runs.final_runs`."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(g), 3.4))
        x = np.arange(len(g))
        low = (g["test_acc_mean"] - g["test_acc_low"]).to_numpy(float)
        high = (g["test_acc_high"] - g["test_acc_mean"]).to_numpy(float)
        err = np.nan_to_num(np.vstack([low, high]))
        ax.errorbar(x, g["test_acc_mean"], yerr=err, fmt="none", ecolor="0.3", capsize=3)
        ax.scatter(x, g["test_acc_mean"], c=[colours[v] for v in g["variant"]], zorder=3)
        r = runs[(runs["dataset"] == ds) & (runs["arch"] == arch)]
        for xi, v in zip(x, g["variant"]):
            rv = r[r["variant"] == v]
            div = rv["diverged"].astype(bool).to_numpy()
            ax.scatter(np.full(int((~div).sum()), xi + 0.18), rv["score"][~div], s=8, color=colours[v], alpha=0.6,
                       zorder=2)
            if div.any():
                ax.scatter(np.full(int(div.sum()), xi + 0.18), rv["itt"][div], s=28, marker="x", color="red",
                           zorder=4, label="diverged seed (at chance; not in the mean)" if not ax.get_legend_handles_labels()[0] else None)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="lower left")
        ax.set_xticks(x, [f"{v}\n{int(d)} diverged" if d else v for v, d in zip(g["variant"], g["diverged_runs"])],
                      rotation=40, ha="right")
        ax.set(ylabel="final test accuracy (mean of the runs that did\nnot diverge, 95% CI; dots: seeds)",
               title=f"{ds} / {arch}")
        paths += plotting.save(fig, out, _safe(f"final_{ds}_{arch}"))
    return paths


def mechanism_figures(mech: pd.DataFrame, colours: dict[str, object], out: Path) -> list[Path]:
    """``dead_<dataset>_<arch>`` (dead fraction per epoch, every variant) and
    ``mechanism_<dataset>_<arch>_<variant>`` (dead fraction per rectifier and gradient norm per layer, per
    epoch) of the tuned runs (``mech``: the ``tuned`` set of :func:`.tables.mechanism_table`)."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    for (ds, arch), g in mech.groupby(GROUP, sort=False):
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for v, gv in g.groupby("variant", sort=False):
            ax.plot(gv["epoch"], gv["dead_fraction"], marker="o", ms=3, color=colours[v],
                    label=_label(v, int(gv["diverged_runs"].iloc[0])))
        ax.set(xlabel="epoch", ylabel="dead rectifier units (fraction, mean over seeds)", title=f"{ds} / {arch}")
        _epoch_ticks(ax)
        ax.legend(fontsize=7)
        paths += plotting.save(fig, out, _safe(f"dead_{ds}_{arch}"))
        for v, gv in g.groupby("variant", sort=False):
            fig, (ax_d, ax_g) = plt.subplots(1, 2, figsize=(9, 3.4))
            for col in [c for c in gv.columns if c.startswith("dead_") and c[5:].isdigit()]:
                if gv[col].notna().any():
                    ax_d.plot(gv["epoch"], gv[col], marker="o", ms=3, label=f"rectifier {col[5:]}")
            for col in [c for c in gv.columns if c.startswith("grad_norm_")]:
                if gv[col].notna().any():
                    ax_g.plot(gv["epoch"], gv[col], marker="o", ms=3, label=f"layer {col[10:]}")
            ax_d.set(xlabel="epoch", ylabel="dead units (fraction)",
                     title=f"{ds} / {arch} / {_label(v, int(gv['diverged_runs'].iloc[0]))}")
            ax_g.set(xlabel="epoch", ylabel="gradient norm on the probe batch", yscale="log")
            _epoch_ticks(ax_d, ax_g)
            for ax in (ax_d, ax_g):
                ax.legend(fontsize=6)
            paths += plotting.save(fig, out, _safe(f"mechanism_{ds}_{arch}_{v}"))
    return paths


def matched_mechanism_figure(mech: pd.DataFrame, colours: dict[str, object], out: Path) -> list[Path]:
    """``mechanism_matched_<dataset>_<arch>``: every variant at the matched lr: the dead fraction per epoch
    (left) and the gradient norm per layer after the last epoch (right), means over the runs that did not
    diverge (the legend names the diverged ones)."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    for (ds, arch), g in mech.groupby(GROUP, sort=False):
        fig, (ax_d, ax_g) = plt.subplots(1, 2, figsize=(9, 3.4))
        for v, gv in g.groupby("variant", sort=False):
            label = _label(v, int(gv["diverged_runs"].iloc[0]))
            ax_d.plot(gv["epoch"], gv["dead_fraction"], marker="o", ms=3, color=colours[v], label=label)
            last = gv[gv["epoch"] == gv["epoch"].max()].iloc[0]
            cols = [c for c in gv.columns if c.startswith("grad_norm_") and pd.notna(last[c])]
            ax_g.plot([int(c[10:]) for c in cols], [float(last[c]) for c in cols], marker="o", ms=3,
                      color=colours[v], label=label)
        ax_d.set(xlabel="epoch", ylabel="dead rectifier units (fraction)", title=f"{ds} / {arch}, matched lr")
        ax_g.set(xlabel="layer", ylabel="gradient norm on the probe batch\n(after the last epoch)", yscale="log")
        _epoch_ticks(ax_d, ax_g)
        ax_d.legend(fontsize=6)
        paths += plotting.save(fig, out, _safe(f"mechanism_matched_{ds}_{arch}"))
    return paths


def paired_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """``paired``: C3's family rows, one panel per real (dataset, arch) (3 per row): each ProxyGrad variant's
    mean paired difference in final test accuracy against its reference (``reference_variant``) with its
    95% interval, labelled with its Holm outcome."""
    import matplotlib.pyplot as plt

    family = claim_family(records)
    if family.empty:
        return []
    groups = list(family.groupby(["dataset", "arch"], sort=False))
    ncol = min(3, len(groups))
    nrow = -(-len(groups) // ncol)
    width = max(len(g) for _, g in groups)
    fig, axes = plt.subplots(nrow, ncol, figsize=((1.8 + 0.9 * width) * ncol, 3.2 * nrow), squeeze=False,
                             sharey=True)
    for ax, ((ds, arch), g) in zip(axes.flat, groups):
        x = np.arange(len(g))
        err = np.vstack([(g["mean_diff"] - g["diff_low"]).to_numpy(float),
                         (g["diff_high"] - g["mean_diff"]).to_numpy(float)])
        ax.errorbar(x, g["mean_diff"], yerr=np.nan_to_num(err), fmt="o", color="C0", capsize=3)
        ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
        for xi, r in zip(x, g.itertuples()):
            ax.annotate(str(r.outcome), (xi, r.diff_high), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=7)
        names = (g["variant"] + "\nvs " + g["reference_variant"]) if "reference_variant" in g.columns else g["variant"]
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(g) - 0.4)
        ax.set_title(f"{ds} / {arch}")
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("test accuracy minus the reference's\n(mean over seeds, 95% CI)")
    return plotting.save(fig, out, "paired")
