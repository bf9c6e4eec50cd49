"""Figures of ``cnn-am``, each a pure function of the records.

- ``cnn-am-stimuli-<model>``: the best input of start 0 for the same units, plain against the
  large-slope proxy (and every other method), one row per unit; the title gives ``f_best``.
- ``cnn-am-trace``: activation against step, per model: the median over units and starts of
  ``(f(x_t) - f(x_0)) / max_m |F_m(u) - f(x_0)|`` (each unit scaled by its largest gain over methods).
- ``cnn-am-depth``: median attained ratio ``rho_m(u)`` (see ``cnn_am_analysis``) against layer depth.

Models with random weights carry ``[random-init]`` in every panel title.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import plotting
from benchmarks.experiments.cnn_am import arrays
from benchmarks.experiments.cnn_am.analysis import am_records, large_slope_method, per_unit

MAX_UNITS = 6
#: Size in inches of one panel of the one-row figures (trace, depth, lr).
PANEL_WIDTH, PANEL_HEIGHT = 3.2, 2.6


def _title(model: str, weights: str) -> str:
    return f"{model} [random-init]" if weights == "random-init" else model


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def _panel_row(groups: list[tuple[tuple[str, str], pd.DataFrame]]) -> tuple[Any, list[Any]]:
    """One row of panels, one per ``(model, optimizer)`` group (at least one panel)."""
    import matplotlib.pyplot as plt

    n = max(1, len(groups))
    fig, axes = plt.subplots(1, n, figsize=(PANEL_WIDTH * n, PANEL_HEIGHT), squeeze=False)
    return fig, list(axes[0])


def _finish_row(fig: Any, axes: list[Any], groups: list[tuple[tuple[str, str], pd.DataFrame]], xlabel: str,
                ylabel: str, out: Path, name: str) -> list[Path]:
    """Title every panel ``model (optimizer)`` (``[random-init]`` marked), label the axes, put the legend on
    the last panel, and save the figure as ``name``."""
    for ax, ((model, opt), g) in zip(axes, groups):
        ax.set_title(f"{_title(model, str(g['weights'].iloc[0]))} ({opt})", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[-1].legend(fontsize=6)
    return plotting.save(fig, out, name)


def _image(stim: np.ndarray) -> np.ndarray:
    x = np.asarray(stim, dtype=float)
    x = np.clip((x + 1.0) / 2.0, 0.0, 1.0)  # the AM box [-1, 1] shown as [0, 1]
    return x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))


def stimuli_grid(records: pd.DataFrame, out: Path) -> list[Path]:
    """One figure per model: rows = units (at most ``MAX_UNITS``), columns = methods (plain first)."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    first = records[(records["start"] == 0) & records["stimulus"].notna()]
    for (model, opt), g in first.groupby(["model", "optimizer"], sort=False):
        methods = list(dict.fromkeys(g["method"]))
        big = large_slope_method(g)
        order = ["plain"] + ([big] if big and big != "plain" else [])
        order += [m for m in methods if m not in order]
        units = list(dict.fromkeys(g["unit"]))[:MAX_UNITS]
        fig, axes = plt.subplots(len(units), len(order), figsize=(1.6 * len(order), 1.7 * len(units)),
                                 squeeze=False)
        for i, unit in enumerate(units):
            for j, method in enumerate(order):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                row = g[(g["unit"] == unit) & (g["method"] == method)]
                if row.empty:
                    continue
                r = row.iloc[0]
                img = _image(r["stimulus"])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
                ax.set_title(f"{method}\n{r['f_best']:.3g}", fontsize=6)
                if j == 0:
                    ax.set_ylabel(unit, fontsize=6)
        fig.suptitle(f"{_title(model, str(g['weights'].iloc[0]))}, {opt}: best stimuli", fontsize=8)
        paths += plotting.save(fig, out, _safe(f"cnn-am-stimuli-{model}-{opt}"))
    return paths


def trace_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """Normalized activation against step, median over units and starts, per model and method."""
    df = records[records["trace"].notna()].copy()
    if df.empty:
        return []
    keys = ["model", "optimizer", "unit"]
    scale = (df["f_best"] - df["f_start"]).abs().groupby([df[k] for k in keys]).max()
    groups = list(df.groupby(["model", "optimizer"], sort=False))
    methods = list(dict.fromkeys(df["method"]))
    colours = plotting.palette(methods)
    fig, axes = _panel_row(groups)
    for ax, (_, g) in zip(axes, groups):
        for method, gm in g.groupby("method", sort=False):
            curves = []
            for r in gm.itertuples():
                s = scale.get((r.model, r.optimizer, r.unit), 0.0)
                if s > 0:
                    curves.append((np.asarray(r.trace[1], dtype=float) - r.f_start) / s)
            if curves:
                ax.plot(gm["trace"].iloc[0][0], np.median(np.vstack(curves), axis=0),
                        label=method, color=colours[method])
    return _finish_row(fig, axes, groups, "step", "normalized gain", out, "cnn-am-trace")


def depth_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """Median attained ratio against layer depth, per model and method (plain is 1 by definition)."""
    units = per_unit(records)
    methods = list(dict.fromkeys(records["method"]))  # the same colours as the trace figure
    units = units[units["method"] != "plain"]
    groups = list(units.groupby(["model", "optimizer"], sort=False))
    colours = plotting.palette(methods)
    fig, axes = _panel_row(groups)
    for ax, (_, g) in zip(axes, groups):
        for method, gm in g.groupby("method", sort=False):
            med = gm.groupby("layer_depth")["ratio"].median().dropna()
            ax.plot(med.index, med.to_numpy(), marker="o", label=method, color=colours[method])
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    return _finish_row(fig, axes, groups, "layer depth (fraction of modules)", "attained ratio vs plain", out,
                       "cnn-am-depth")


def lr_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """lr sensitivity: per (model, optimizer), the median over tuning units of the best value over starts,
    scaled per unit by its largest value over step sizes and methods, against the step size; the chosen
    step size of each method marked."""
    df = am_records(records)
    tune = df[df["role"] == "tuning"]
    if tune.empty:
        return []
    best = tune.groupby(["model", "weights", "optimizer", "method", "unit", "lr"], sort=False)["f_best"].max() \
        .reset_index()
    scale = best.groupby(["model", "optimizer", "unit"])["f_best"].transform(lambda v: v.abs().max())
    best["score"] = best["f_best"] / scale.replace(0.0, np.nan)
    chosen = df[df["role"] == "evaluation"].groupby(["model", "optimizer", "method"])["lr"].first()
    groups = list(best.groupby(["model", "optimizer"], sort=False))
    colours = plotting.palette(list(dict.fromkeys(df["method"])))
    fig, axes = _panel_row(groups)
    for ax, ((model, opt), g) in zip(axes, groups):
        for method, gm in g.groupby("method", sort=False):
            med = gm.groupby("lr")["score"].median()
            ax.plot(med.index, med.to_numpy(), marker="o", ms=3, label=method, color=colours[method])
            if (model, opt, method) in chosen.index:
                lr = chosen[(model, opt, method)]
                ax.axvline(lr, color=colours[method], lw=0.6, ls=":")
        ax.set_xscale("log")
    return _finish_row(fig, axes, groups, "lr", "median scaled best value", out, "cnn-am-lr")


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """All ``cnn-am`` figures written into ``out``; the stimulus and trace figures read the run's array
    files (:mod:`.arrays`) and are left out when the run directory keeps none."""
    plotting.setup()
    out = Path(out)
    df = am_records(records)
    main = df[df["role"] == ("evaluation" if (df["role"] == "evaluation").any() else "fixed")]
    with_arrays = arrays.load(main, arrays.run_dir_of(records, out))
    return (stimuli_grid(with_arrays, out) + trace_figure(with_arrays, out) + depth_figure(main, out)
            + lr_figure(records, out))
