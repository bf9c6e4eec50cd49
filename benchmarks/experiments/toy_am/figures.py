"""Figures of ``toy-am`` (seaborn, PNG + PDF), each a pure function of the records.

- ``rel_gap_by_method``: ``rel_gap`` per method, one panel per family, optimizers as hue;
- ``ecdf_steps``: COCO-style ECDF over (instance, start, target) of the steps needed, per method;
- ``convergence``: median attained fraction ``(best@t - f_start) / (f_star - f_start)`` against step
  with the inter-quartile band, per family and method;
- ``gap_vs_slope``: median ``rel_gap`` against the constant backward slope (plain = forward slope);
- ``lr_sensitivity``: the tuning score (mean rank of f_best over tuning instances) and the median
  attained fraction (tuning instances with a known optimum) against lr, per method and optimizer, the
  chosen lr marked;
- ``anytime``: median attained fraction against the budget (steps) per method and optimizer, with the
  derived best-of-plain-and-ProxyGrad at half the budget each (dashed);
- ``landscape_<family>``: contours of each family's observed 2-D instance with the AM trajectories its
  run recorded (``maximize``'s observer, ``cells/<key>.npz``; see the experiment module), plain against
  the largest-slope ProxyGrad, each at its recorded lr.  Nothing is re-run: a run directory that keeps
  no array files (only ``records.csv`` and ``meta.json``) gets no landscape figures.

The first four figures use the primary rows (:func:`analysis.primary`: tuned evaluation rows when
present, else the fixed-lr rows).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from benchmarks.framework import arrays, plotting
from benchmarks.experiments.toy_am.analysis import (_big_proxy, attained_at, best_of_label, best_of_rows,
                                                    lr_sensitivity_table, ordered, primary, target_columns)


def _attained_traces(records: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in records.columns if c.startswith("best@")]
    long = records.melt(id_vars=["family", "method", "optimizer", "f_start", "f_star"], value_vars=cols,
                        var_name="ckpt", value_name="best")
    long["step"] = long["ckpt"].str[len("best@"):].astype(int)
    scale = long["f_star"] - long["f_start"]
    long["attained"] = np.where(scale > 0, (long["best"] - long["f_start"]) / scale.where(scale > 0, 1.0), 1.0)
    return long


def rel_gap_by_method(records: pd.DataFrame, out: Path) -> list[Path]:
    """Box plots of ``rel_gap`` by method, one panel per family."""
    import seaborn as sns

    fams = ordered(records["family"])
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert` to boxplot
        warnings.simplefilter("ignore", DeprecationWarning)
        g = sns.catplot(data=records, x="method", y="rel_gap", hue="optimizer", col="family", col_order=fams,
                        col_wrap=min(3, len(fams)), kind="box", order=ordered(records["method"]),
                        height=2.8, aspect=1.5, fliersize=1.5, sharey=True)
    for ax in g.axes.flat:
        ax.tick_params(axis="x", labelrotation=60, labelbottom=True)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    g.set_axis_labels("", "rel_gap = (f* - f_best) / (f* - f_start)")
    g.tight_layout()
    return plotting.save(g.figure, out, "rel_gap_by_method", tight=False)


def ecdf_steps(records: pd.DataFrame, out: Path) -> list[Path]:
    """Fraction of (instance, start, target) triples solved by step t, per method; one panel per optimizer."""
    import matplotlib.pyplot as plt

    taus = target_columns(records)
    opts, methods = ordered(records["optimizer"]), ordered(records["method"])
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.2 * len(opts), 3.4), squeeze=False, sharey=True)
    steps = int(records["steps"].max())
    grid = np.unique(np.concatenate([[0], np.geomspace(1, max(steps, 1), 200).astype(int), [steps]]))
    for ax, opt in zip(axes[0], opts):
        for m in methods:
            g = records[(records["optimizer"] == opt) & (records["method"] == m)]
            hits = np.concatenate([g[c].to_numpy(float) for c in taus.values()])
            hits = np.where(np.isnan(hits), np.inf, hits)
            frac = [(hits <= t).mean() for t in grid]
            ax.step(grid + 1, frac, where="post", label=m, color=colours[m], lw=1.2)
        ax.set_xscale("log")
        ax.set_xlabel("steps + 1")
        ax.set_title(f"{opt}: targets {', '.join(f'{t:g}' for t in taus)}")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("fraction of (instance, start, target) reached")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return plotting.save(fig, out, "ecdf_steps")


def convergence(records: pd.DataFrame, out: Path) -> list[Path]:
    """Median attained fraction against step with the IQR band; rows = optimizers, columns = families."""
    import matplotlib.pyplot as plt

    long = _attained_traces(records)
    fams, opts, methods = ordered(records["family"]), ordered(records["optimizer"]), ordered(records["method"])
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(len(opts), len(fams), figsize=(3.0 * len(fams), 2.6 * len(opts)), squeeze=False,
                             sharey=True)
    for i, opt in enumerate(opts):
        for j, fam in enumerate(fams):
            ax = axes[i][j]
            sel = long[(long["optimizer"] == opt) & (long["family"] == fam)]
            for m in methods:
                q = sel[sel["method"] == m].groupby("step")["attained"].quantile([0.25, 0.5, 0.75]).unstack()
                if q.empty:
                    continue
                ax.plot(q.index + 1, q[0.5], label=m, color=colours[m], lw=1.1)
                ax.fill_between(q.index + 1, q[0.25], q[0.75], color=colours[m], alpha=0.15, lw=0)
            ax.set_xscale("log")
            ax.set_title(f"{fam} ({opt})", fontsize=8)
            ax.set_xlabel("step + 1")
        axes[i][0].set_ylabel("attained fraction")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return plotting.save(fig, out, "convergence")


def gap_vs_slope(records: pd.DataFrame, out: Path) -> list[Path]:
    """Median ``rel_gap`` (IQR bars) against the backward slope, one line per family."""
    import matplotlib.pyplot as plt

    sel = records[np.isfinite(records["backward_slope"].astype(float))]
    opts, fams = ordered(records["optimizer"]), ordered(records["family"])
    colours = plotting.palette(fams)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.2 * len(opts), 3.4), squeeze=False, sharey=True)
    for ax, opt in zip(axes[0], opts):
        for fam in fams:
            g = sel[(sel["optimizer"] == opt) & (sel["family"] == fam)]
            q = g.groupby("backward_slope")["rel_gap"].quantile([0.25, 0.5, 0.75]).unstack()
            if q.empty:
                continue
            ax.errorbar(q.index, q[0.5], yerr=[q[0.5] - q[0.25], q[0.75] - q[0.5]], label=fam,
                        color=colours[fam], marker="o", ms=3, lw=1, capsize=2)
        ax.set_xlabel("backward slope on the negative side")
        ax.set_title(opt)
    axes[0][0].set_ylabel("median rel_gap (IQR)")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return plotting.save(fig, out, "gap_vs_slope")


def lr_sensitivity(records: pd.DataFrame, out: Path) -> list[Path]:
    """Tuning score and median attained fraction against lr; columns = optimizers, chosen lr starred."""
    import matplotlib.pyplot as plt

    table = lr_sensitivity_table(records)
    if table.empty:
        return []
    opts, methods = ordered(table["optimizer"]), ordered(table["method"])
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(2, len(opts), figsize=(4.2 * len(opts), 6.0), squeeze=False, sharex="col")
    for j, opt in enumerate(opts):
        for m in methods:
            g = table[(table["optimizer"] == opt) & (table["method"] == m)].sort_values("lr")
            for i, col in enumerate(("score", "median_attained")):
                ax = axes[i][j]
                ax.plot(g["lr"], g[col], marker="o", ms=2.5, lw=1.0, color=colours[m], label=m)
                c = g[g["chosen"]]
                ax.plot(c["lr"], c[col], "*", ms=9, color=colours[m], mec="black", mew=0.5)
        axes[0][j].set_title(f"{opt} (star: chosen lr)")
        axes[1][j].set_xlabel("lr")
        for i in range(2):
            axes[i][j].set_xscale("log")
    axes[0][0].set_ylabel("tuning score: mean rank of f_best")
    axes[1][0].set_ylabel("median attained fraction (tuning)")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return plotting.save(fig, out, "lr_sensitivity")


def anytime(records: pd.DataFrame, out: Path) -> list[Path]:
    """Median attained fraction against the budget, per optimizer (primary rows), with the derived
    best-of-plain-and-ProxyGrad at half the budget each."""
    import matplotlib.pyplot as plt

    rows = primary(records)
    ts = sorted(int(c[len("best@"):]) for c in rows.columns if c.startswith("best@"))
    ts = [t for t in ts if t >= 1]
    if rows.empty or not ts:
        return []
    opts, methods = ordered(rows["optimizer"]), ordered(rows["method"])
    big = _big_proxy(rows)
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.2 * len(opts), 3.4), squeeze=False, sharey=True)
    for ax, opt in zip(axes[0], opts):
        ro = rows[rows["optimizer"] == opt]
        for m in methods:
            g = ro[ro["method"] == m]
            ax.plot(ts, [float(np.nanmedian(attained_at(g, t))) for t in ts], label=m, color=colours[m], lw=1.1)
        if big is not None:
            pts = [(t, best_of_rows(ro, big, t)) for t in ts]
            pts = [(t, float(np.nanmedian(attained_at(d, t)))) for t, d in pts if len(d)]
            if pts:
                ax.plot(*zip(*pts), "--", color="black", lw=1.1, label=best_of_label(big))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget (steps)")
        ax.set_title(opt)
    axes[0][0].set_ylabel("median attained fraction")
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return plotting.save(fig, out, "anytime")


def landscapes(records: pd.DataFrame, out: Path, max_starts: int = 8) -> list[Path]:
    """Contours of each family's observed 2-D instance with the recorded plain and largest-slope proxy
    trajectories (the first ``max_starts`` starts), read from the run's array files."""
    import matplotlib.pyplot as plt

    run_dir = arrays.run_dir_of(records, out)
    records = primary(records)
    proxies = records[records["method_kind"] == "proxy"]
    if run_dir is None or proxies.empty or "arrays" not in records.columns:
        return []
    big = float(proxies["method_slope"].astype(float).max())
    plain = records["method_kind"] == "plain"
    largest = (records["method_kind"] == "proxy") & (records["method_slope"].astype(float) == big)
    observed = records["arrays"].fillna("").astype(str).str.len() > 0
    two = records[(records["dim"] == 2) & observed & (plain | largest)]
    paths: list[Path] = []
    for fam in ordered(two["family"]):
        sel = two[two["family"] == fam]
        opt = "ascent" if "ascent" in set(sel["optimizer"]) else ordered(sel["optimizer"])[0]
        sel = sel[sel["optimizer"] == opt]
        labels = [ordered(sel.loc[sel["method_kind"] == kind, "method"])[0]
                  for kind in ("plain", "proxy") if (sel["method_kind"] == kind).any()]
        if len(labels) < 2:
            continue
        seed = int(sel["seed"].min())
        inst = sel[sel["seed"] == seed]
        z = arrays.read_verified(run_dir, str(inst["arrays"].iloc[0]))
        if not z:
            continue
        grid, values, argmax = z["grid"], z["landscape"], z["argmax"]
        gx, gy = np.meshgrid(grid, grid)
        steps = int(inst["steps"].iloc[0])
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.2), sharey=True, layout="constrained")
        for ax, label in zip(axes, labels):
            cs = ax.contourf(gx, gy, values, levels=20, cmap="viridis")
            cs.set_rasterized(True)  # keeps the PDF small and quick to write
            rows = inst[inst["method"] == label]
            lr = float(rows["lr"].iloc[0])
            traj = z["trajectories"][int(rows["array_row"].iloc[0])]          # [T+1, N, 2]
            for k in sorted(int(j) for j in rows["start"])[:max_starts]:
                path = traj[:, k, :][np.isfinite(traj[:, k, 0])]
                ax.plot(path[:, 0], path[:, 1], color="white", lw=0.9)
                ax.plot(path[0, 0], path[0, 1], "o", color="white", ms=3, clip_on=False)
                ax.plot(path[-1, 0], path[-1, 1], "x", color="red", ms=5, clip_on=False)
            ax.plot(argmax[0], argmax[1], "*", color="gold", ms=12, mec="black", label="certified argmax",
                    clip_on=False, zorder=5)
            ax.set_title(f"{fam}, seed {seed}\n{label} ({opt}, lr {lr:.3g}, {steps} steps)", fontsize=9)
            ax.set_xlabel("x1")
            ax.set_aspect("equal")
        axes[0].set_ylabel("x2")
        axes[0].legend(fontsize=7, loc="lower left")
        fig.colorbar(cs, ax=list(axes), shrink=0.8, label="f(x)")
        paths += plotting.save(fig, out, f"landscape_{fam}")
    return paths


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """All toy-am figures into ``out`` (PNG and PDF); returns the files written."""
    plotting.setup()
    out = Path(out)
    paths: list[Path] = []
    rows = primary(records)
    for fn in (rel_gap_by_method, ecdf_steps, convergence, gap_vs_slope):
        paths += fn(rows, out)
    for fn in (lr_sensitivity, anytime, landscapes):
        paths += fn(records, out)
    return paths
