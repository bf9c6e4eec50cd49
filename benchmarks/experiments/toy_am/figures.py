"""Figures of ``toy-am`` (seaborn, PNG + PDF), each a pure function of the records.

- ``success_by_method``: per family (a grid of panels) and method, the mean over instances of the
  fraction of starts that reach the optimum (``rel_gap <= 1e-3``), the complement of C1's failure rate,
  with its 95% bootstrap interval over instances (the interval C1 uses), one marker per optimizer;
- ``attained_by_method``: per family and method (baselines included), the mean over instances of the
  instance's mean attained fraction over its starts (the unit value every comparative claim tests), with
  its 95% bootstrap interval over instances;
- ``ecdf_steps``: COCO-style ECDF over (instance, start, target) of the steps needed, per method;
- ``convergence``: the mean attained fraction ``(best_at_<t> - f_start) / (f_star - f_start)`` over instances
  (each the mean over its starts) against the step, per family (rows), optimizer (columns) and method;
- ``attained_vs_slope``: C2's unit value (mean attained fraction per instance; mean over instances, 95%
  bootstrap interval) against the backward slope (plain = the forward slope), one line per family;
- ``lr_sensitivity``: the mean attained fraction over tuning instances (each the mean over its starts)
  against lr, per method and optimizer, on one scale, the chosen lr starred;
- ``anytime``: the mean attained fraction over instances (each the mean over its starts) against the
  budget (steps) per method and optimizer, with the derived best-of-plain-and-ProxyGrad at half the
  budget each (dashed);
- ``landscape_<family>``: contours of each family's observed 2-D instance with the AM trajectories its
  run recorded (``maximize``'s observer, ``cells/<key>.npz``; see the experiment module), plain against
  the largest-slope ProxyGrad, each at its recorded lr.  Nothing is re-run: a run directory that keeps
  no array files (only ``records.csv`` and ``meta.json``) gets no landscape figures.

Markers of the landscape figures are explained in their legend. ``CLAIM_FIGURES`` declares which
figure shows which claim and what to see in it (the report's captions). The figures of the evaluation runs
use the primary rows (:func:`.rows.primary`: tuned evaluation rows when present, else the fixed-lr rows).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from benchmarks.framework import arrays, compare, plotting, replication, schema
from benchmarks.experiments.toy_am.rows import (SCORE, UNIT, attained_at, best_of_label, best_of_rows, big_proxy,
                                                ordered, primary, role_rows, success_target, target_columns)
from benchmarks.experiments.toy_am.tables import lr_choice_table

CLAIM_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "C1": (("success_by_method", "Per family (panel) and method, the share of starts that reach the certified "
            "optimum, averaged over instances, with its 95% bootstrap interval over instances: for plain AM this "
            "is 1 minus C1's failure rate. Plain (black) far below 1 means AM fails on that family."),),
    "C2": (("attained_vs_slope", "The unit value C2 tests (mean attained fraction of an instance's starts; mean "
            "over instances, 95% interval) against the backward slope, one line per family; plain AM sits at the "
            "forward slope (0 or 0.01). A line that rises from there to the dotted declared slope is a family "
            "where ProxyGrad raises the maxima."),),
    "B1": (("attained_vs_slope", "The same curves as C2: straight-through is slope 1, the right end of each "
            "line; where the line falls from its peak to slope 1, straight-through is worse than a moderate "
            "slope."),),
    "B2": (("attained_by_method", "Per family (panel), every method's mean attained fraction (the unit value "
            "the claims test) with its 95% interval over instances, one marker per optimizer; compare each peer "
            "rule with plain (first column)."),),
    "B5": (("anytime", "Mean attained fraction against the step budget per method (one panel per optimizer); "
            "the dashed line is the better of plain and ProxyGrad at half the budget each, B5's derived method: "
            "where it lies above plain at the full budget, splitting the budget wins."),),
    "B7": (("attained_by_method", "The gradient-free baselines (grey, right) beside the gradient methods: "
            "where a baseline reaches 1 and plain AM does not, gradient AM loses to it."),),
}
"""Claim id -> ``(figure name pattern, caption)``: the figures the report shows in each claim's section."""




def unit_points(rows: pd.DataFrame, score: str, by: list[str]) -> pd.DataFrame:
    """Per ``by`` group: the mean over instances of each instance's mean ``score`` over its starts (the
    claims' unit value), its 95% bootstrap interval over instances (:func:`compare.mean_interval`, as the
    claims use) and the number of instances."""
    values = replication.unit_values(rows, unit=UNIT, by=by, score=score)
    out = []
    for key, g in values.groupby(by, sort=False):
        v = g["value"].to_numpy(float)
        lo, hi = compare.mean_interval(v)
        out.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "mean": float(v.mean()),
                    "low": lo, "high": hi, "n": len(v)})
    return pd.DataFrame(out)


MARKERS = ("o", "s", "^", "D", "v", "P")


def _family_grid(points: pd.DataFrame, methods: list[str], ylabel: str, out: Path, name: str,
                 grey: frozenset[str] = frozenset()) -> list[Path]:
    """A grid of panels, one per family (3 columns): per method (x) a point with its interval bar per
    optimizer (one marker each, slightly offset; the methods of ``grey``, the gradient-free baselines, in
    grey); one shared legend of the optimizers below."""
    import matplotlib.pyplot as plt

    fams, opts = ordered(points["family"]), ordered(points["optimizer"])
    ncol = min(3, len(fams))
    nrow = -(-len(fams) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.9 * nrow), squeeze=False, sharey=True)
    colours = plotting.palette([m for m in methods if m not in grey]) | {m: (0.55, 0.55, 0.55) for m in grey}
    for ax, fam in zip(axes.flat, fams):
        for k, opt in enumerate(opts):
            g = points[(points["family"] == fam) & (points["optimizer"] == opt)].set_index("method")
            for i, m in enumerate(methods):
                if m not in g.index:
                    continue
                r = g.loc[m]
                x = i + (k - (len(opts) - 1) / 2) * 0.18
                ax.errorbar(x, r["mean"], yerr=[[r["mean"] - r["low"]], [r["high"] - r["mean"]]],
                            fmt=MARKERS[k % len(MARKERS)], color=colours[m], ms=4, capsize=2, lw=1)
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
        ax.set_title(fam, fontsize=9)
        ax.set_ylim(-0.05, 1.05)
    for ax in axes.flat[len(fams):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(ylabel, fontsize=8)
    handles = [plt.Line2D([], [], ls="", marker=MARKERS[k % len(MARKERS)], color="0.3",
                          label="gradient-free baseline" if o == "none" else f"optimizer {o}")
               for k, o in enumerate(opts)]
    handles.append(plt.Line2D([], [], color="0.3", lw=1, label="95% interval over instances"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return plotting.save(fig, out, name, tight=False)


def success_by_method(records: pd.DataFrame, out: Path) -> list[Path]:
    """Share of starts reaching the optimum (``rel_gap <= `` C1's target), mean over instances with its
    interval, per family, method and optimizer (primary rows; the baselines have their own figure)."""
    rows = primary(records)
    rows = rows[rows["method_kind"] != "baseline"] if "method_kind" in rows.columns else rows
    if rows.empty:
        return []
    tau = success_target(rows)
    rows = rows.assign(_ok=(rows["rel_gap"] <= tau).astype(float))
    points = unit_points(rows, "_ok", ["family", "optimizer", "method"])
    return _family_grid(points, ordered(rows["method"]), f"share of starts with rel_gap <= {tau:g}", out,
                        "success_by_method")


def attained_by_method(records: pd.DataFrame, out: Path) -> list[Path]:
    """Mean attained fraction per instance (mean over starts), mean over instances with its interval, per
    family, method and optimizer, the gradient-free baselines included (their optimizer is ``none``)."""
    rows = pd.concat([primary(records), role_rows(records, "baseline")], ignore_index=True)
    if rows.empty:
        return []
    points = unit_points(rows, SCORE, ["family", "optimizer", "method"])
    grey = frozenset(role_rows(records, "baseline")["method"].astype(str))
    return _family_grid(points, ordered(rows["method"]), "mean attained fraction", out, "attained_by_method", grey)


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
    """Mean attained fraction over instances (each the mean over its starts) against the step budget, per
    family (rows) and optimizer (columns), one line per method; one shared legend."""
    import matplotlib.pyplot as plt

    ts = list(schema.budget_columns(records.columns))
    if records.empty or not ts:
        return []
    by = ["family", "optimizer", "method"]
    curves = pd.concat([replication.unit_values(records.assign(_a=attained_at(records, t)), unit=UNIT, by=by,
                                                score="_a").groupby(by, sort=False)["value"].mean().rename(t)
                        for t in ts], axis=1)
    fams, opts, methods = ordered(records["family"]), ordered(records["optimizer"]), ordered(records["method"])
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(len(fams), len(opts), figsize=(3.4 * len(opts), 2.0 * len(fams)), squeeze=False,
                             sharey=True, sharex=True)
    for i, fam in enumerate(fams):
        for j, opt in enumerate(opts):
            ax = axes[i][j]
            for m in methods:
                if (fam, opt, m) in curves.index:
                    ax.plot(np.asarray(ts) + 1, curves.loc[(fam, opt, m)].to_numpy(float), color=colours[m], lw=1.1)
            ax.set_xscale("log")
            ax.set_title(f"{fam} ({opt})", fontsize=8)
        axes[i][0].set_ylabel("mean attained", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("step + 1")
    handles = [plt.Line2D([], [], color=colours[m], label=m) for m in methods]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return plotting.save(fig, out, "convergence")


def attained_vs_slope(records: pd.DataFrame, out: Path) -> list[Path]:
    """C2's unit value against the backward slope: per optimizer (panel) and family (line), the mean over
    instances of the mean attained fraction over starts, with its 95% interval; the declared slope dotted."""
    import matplotlib.pyplot as plt

    rows = primary(records)
    sel = rows[np.isfinite(rows["backward_slope"].astype(float))]
    if sel.empty:
        return []
    opts, fams = ordered(sel["optimizer"]), ordered(sel["family"])
    colours = plotting.palette(fams)
    points = unit_points(sel, SCORE, ["optimizer", "family", "backward_slope"])
    big = big_proxy(rows)
    declared = rows.loc[rows["method"] == big, "backward_slope"].astype(float) if big else pd.Series(dtype=float)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.6 * len(opts), 3.6), squeeze=False, sharey=True)
    for ax, opt in zip(axes[0], opts):
        for fam in fams:
            g = points[(points["optimizer"] == opt) & (points["family"] == fam)].sort_values("backward_slope")
            ax.errorbar(g["backward_slope"], g["mean"], yerr=[g["mean"] - g["low"], g["high"] - g["mean"]],
                        label=fam, color=colours[fam], marker="o", ms=3, lw=1, capsize=2)
        if len(declared):
            ax.axvline(float(declared.iloc[0]), color="0.4", ls=":", lw=1)
        ax.set_xlabel("backward slope on the negative side (plain = forward slope)")
        ax.set_title(f"optimizer {opt}")
    axes[0][0].set_ylabel("mean attained fraction (95% interval)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="0.4", ls=":", label=f"declared slope ({big})"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return plotting.save(fig, out, "attained_vs_slope")


def lr_sensitivity(records: pd.DataFrame, out: Path) -> list[Path]:
    """Mean attained fraction over tuning instances (each the mean over its starts) against lr, per method,
    one panel per optimizer, on one scale; the chosen lr of each method starred."""
    import matplotlib.pyplot as plt

    tu = role_rows(records, "tuning")
    if tu.empty:
        return []
    points = unit_points(tu, SCORE, ["optimizer", "method", "lr"])
    chosen = {(r.optimizer, r.method): r.lr for r in lr_choice_table(records).itertuples()}
    opts, methods = ordered(points["optimizer"]), ordered(points["method"])
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.6 * len(opts), 3.6), squeeze=False, sharey=True)
    for ax, opt in zip(axes[0], opts):
        for m in methods:
            g = points[(points["optimizer"] == opt) & (points["method"] == m)].sort_values("lr")
            if g.empty:
                continue
            ax.plot(g["lr"], g["mean"], marker="o", ms=2.5, lw=1.0, color=colours[m], label=m)
            c = g[np.isclose(g["lr"], chosen.get((opt, m), np.nan))]
            ax.plot(c["lr"], c["mean"], "*", ms=10, color=colours[m], mec="black", mew=0.5)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel("lr")
        ax.set_title(f"optimizer {opt}")
    axes[0][0].set_ylabel("mean attained fraction (tuning instances)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], ls="", marker="*", ms=10, color="0.6", mec="black", label="chosen lr"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return plotting.save(fig, out, "lr_sensitivity")


def _mean_attained(rows: pd.DataFrame, t: int) -> float:
    """The mean over instances of the mean attained fraction at budget ``t`` over each instance's starts."""
    v = replication.unit_values(rows.assign(_a=attained_at(rows, t)), unit=UNIT, by=[], score="_a")
    return float(v["value"].mean()) if len(v) else float("nan")


def anytime(records: pd.DataFrame, out: Path) -> list[Path]:
    """Median attained fraction against the budget, per optimizer (primary rows), with the derived
    best-of-plain-and-ProxyGrad at half the budget each."""
    import matplotlib.pyplot as plt

    rows = primary(records)
    ts = list(schema.budget_columns(rows.columns))
    ts = [t for t in ts if t >= 1]
    if rows.empty or not ts:
        return []
    opts, methods = ordered(rows["optimizer"]), ordered(rows["method"])
    big = big_proxy(rows)
    colours = plotting.palette(methods)
    fig, axes = plt.subplots(1, len(opts), figsize=(4.2 * len(opts), 3.4), squeeze=False, sharey=True)
    for ax, opt in zip(axes[0], opts):
        ro = rows[rows["optimizer"] == opt]
        for m in methods:
            g = ro[ro["method"] == m]
            ax.plot(ts, [_mean_attained(g, t) for t in ts], label=m, color=colours[m], lw=1.1)
        if big is not None:
            pts = [(t, best_of_rows(ro, big, t)) for t in ts]
            pts = [(t, _mean_attained(d, t)) for t, d in pts if len(d)]
            if pts:
                ax.plot(*zip(*pts), "--", color="black", lw=1.1, label=best_of_label(big))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget (steps)")
        ax.set_title(f"optimizer {opt}")
    axes[0][0].set_ylabel("mean attained fraction over instances")
    handles, _ = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return plotting.save(fig, out, "anytime")


def landscapes(records: pd.DataFrame, out: Path, max_starts: int = 8) -> list[Path]:
    """Contours of each family's observed 2-D instance with the recorded plain and ProxyGrad trajectories
    (the declared claim method, else the largest slope; the first ``max_starts`` starts), read from the
    run's array files."""
    import matplotlib.pyplot as plt

    run_dir = arrays.run_dir_of(records, out)
    records = primary(records)
    proxies = records[records["method_kind"] == "proxy"]
    if run_dir is None or proxies.empty or "arrays" not in records.columns:
        return []
    declared = big_proxy(records)
    slopes = proxies.loc[proxies["method"] == declared, "method_slope"] if declared else proxies["method_slope"]
    big = float(slopes.astype(float).max())
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
                first = k == min(int(j) for j in rows["start"])
                ax.plot(path[:, 0], path[:, 1], color="white", lw=0.9, label="AM trajectory" if first else None)
                ax.plot(path[0, 0], path[0, 1], "o", color="white", mec="black", mew=0.4, ms=4, clip_on=False,
                        label="start" if first else None)
                ax.plot(path[-1, 0], path[-1, 1], "x", color="red", ms=6, mew=1.5, clip_on=False,
                        label=f"end after {steps} steps" if first else None)
            ax.plot(argmax[0], argmax[1], "*", color="gold", ms=12, mec="black", label="certified argmax",
                    clip_on=False, zorder=5)
            ax.set_title(f"{fam}, seed {seed}\n{label} ({opt}, lr {lr:.3g}, {steps} steps)", fontsize=9)
            ax.set_xlabel("x1")
            ax.set_aspect("equal")
        axes[0].set_ylabel("x2")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8, frameon=True,
                   facecolor="0.5")
        fig.colorbar(cs, ax=list(axes), shrink=0.8, label="f(x)")
        paths += plotting.save(fig, out, f"landscape_{fam}")
    return paths


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """All toy-am figures into ``out`` (PNG and PDF); returns the files written."""
    plotting.setup()
    out = Path(out)
    paths: list[Path] = []
    rows = primary(records)
    for fn in (ecdf_steps, convergence):
        paths += fn(rows, out)
    for fn in (success_by_method, attained_by_method, attained_vs_slope, lr_sensitivity, anytime, landscapes):
        paths += fn(records, out)
    return paths
