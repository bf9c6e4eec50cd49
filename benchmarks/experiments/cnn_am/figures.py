"""Figures of ``cnn-am``, each a pure function of the records; every multi-panel figure is a grid (rows =
models, columns = optimizers) with one shared legend.

- ``cnn-am-paired``: C2's and B8's test, unit by unit: the claim
  method's attained fraction (best of starts, normalized to the unit's reference) against plain's, one
  point per evaluation unit of a trained model (filled: a certified reference, B8's units; hollow: the best
  value found), the diagonal marking no difference.
- ``cnn-am-trace``: the same statistic as it grows with the steps: per unit and method the best of the
  starts' best-so-far values (from the recorded traces, with the full budget's best at the last step),
  normalized like the claim, then the mean over units; its last point is the mean C2 tests.
- ``cnn-am-depth``: mean attained fraction over units against layer depth, per method.
- ``cnn-am-lr``: lr sensitivity on one scale: the mean over units of the attained fraction (best of
  starts at that lr, normalized to the unit's certified bound, else the best any lr and method reached)
  against lr, per method and unit kind (line style); the chosen lrs starred. It reads the ``sweep`` rows
  (the evaluation units at every lr tried) where the records have them, else the ``tuning`` rows.
- ``cnn-am-stimuli-<model>-<optimizer>``: the best input of start 0 for the first units, plain against the
  claim method (and every other method); the panel gives ``f_best``, the row the unit and its certified
  value where it has one; on a certified model a last column shows the certifier's argmax input (kept in
  the certificate cell's array file) and its value, the incumbent.

Models with random weights carry ``[random-init]`` in every panel title. Rows of roles other than the
figure's (``tuning``, ``sweep``, ``fixed``) are ignored unless named above. ``CLAIM_FIGURES`` declares which
figure shows which claim and what to see in it (the report's captions).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import plotting
from benchmarks.experiments.cnn_am import arrays
from benchmarks.experiments.cnn_am.unit_values import am_records, large_slope_method, normalized, per_unit

MAX_UNITS = 6
#: Size in inches of one panel of the grid figures (paired, trace, depth, lr).
PANEL_WIDTH, PANEL_HEIGHT = 3.0, 2.5
UNIT_KIND_STYLES = ("-", "--", ":", "-.")

CLAIM_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "C1": (("cnn-am-stimuli-fmnist-tiny8-*", "The best inputs AM found for certified units of a trained CNN, "
            "plain (left) against the other methods, with each unit's certified maximum beside it: a panel's "
            "value below the row's certified value is a unit where AM stops short. The last column is the "
            "certifier's argmax input and its value. Pixels that do not move the unit are arbitrary in both (AM "
            "leaves them at their random start values, the certifier at a corner of the box), so compare the "
            "structured regions: where those differ and AM's value is lower, AM stopped at another maximum."),),
    "C2": (("cnn-am-paired", "C2's test unit by unit: each point is one evaluation unit, plain's attained "
            "fraction (x) against the claim method's (y), both the best of the starts; points above the "
            "diagonal are units where ProxyGrad found the higher maximum. Filled points have a certified "
            "reference."),),
    "B8": (("cnn-am-paired", "B8 is the filled points only (certified units of the small CNNs): above the "
            "diagonal, ProxyGrad narrows the gap to the certified maximum."),),
}
"""Claim id -> ``(figure name pattern, caption)``: the figures the report shows in each claim's section."""


def _title(model: str, weights: str) -> str:
    return f"{model} [random-init]" if weights == "random-init" else model


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def _grid(frame: pd.DataFrame) -> tuple[Any, dict[tuple[str, str], Any], list[str], list[str]]:
    """A grid of panels: rows = the models of ``frame``, columns = its optimizers (in order of appearance);
    returns the figure, ``{(model, optimizer): axis}``, the models and the optimizers."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(frame["model"]))
    opts = list(dict.fromkeys(frame["optimizer"]))
    fig, axes = plt.subplots(max(1, len(models)), max(1, len(opts)), squeeze=False, sharex="col",
                             figsize=(PANEL_WIDTH * max(1, len(opts)), PANEL_HEIGHT * max(1, len(models))))
    weights = frame.groupby("model", sort=False)["weights"].first() if "weights" in frame.columns else {}
    cells = {}
    for i, model in enumerate(models):
        for j, opt in enumerate(opts):
            ax = axes[i][j]
            ax.set_title(f"{_title(model, str(weights.get(model, '')))} ({opt})", fontsize=8)
            cells[(model, opt)] = ax
    return fig, cells, models, opts


def _finish(fig: Any, cells: dict[tuple[str, str], Any], handles: list[Any], xlabel: str, ylabel: str,
            out: Path, name: str) -> list[Path]:
    """Label the outer axes, put one legend of ``handles`` right of the grid, save as ``name``."""
    axes = np.array(fig.axes).reshape(-1)
    for ax in axes:
        ax.tick_params(labelsize=7)
    for ax in fig.axes:
        if ax.get_subplotspec().is_last_row():
            ax.set_xlabel(xlabel, fontsize=8)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(ylabel, fontsize=8)
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return plotting.save(fig, out, name)


def _handles(colours: dict[str, Any], methods: list[str], **style: Any) -> list[Any]:
    import matplotlib.pyplot as plt

    return [plt.Line2D([], [], color=colours[m], label=m, **style) for m in methods]


def _image(stim: np.ndarray) -> np.ndarray:
    x = np.asarray(stim, dtype=float)
    x = np.clip((x + 1.0) / 2.0, 0.0, 1.0)  # the AM box [-1, 1] shown as [0, 1]
    return x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))


def _certified_text(row: pd.Series) -> str:
    """``max <optimum>`` (proven) or ``<= <bound>`` of a certified unit, else ""."""
    if "optimum" in row.index and pd.notna(row.get("optimum")):
        return f"max {float(row['optimum']):.3g}"
    if "upper_bound" in row.index and pd.notna(row.get("upper_bound")):
        return f"max <= {float(row['upper_bound']):.3g}"
    return ""


#: Column title of the certifier's argmax in the stimulus figures.
ARGMAX = "certified argmax"


def stimuli_grid(records: pd.DataFrame, out: Path, argmaxes: pd.DataFrame | None = None) -> list[Path]:
    """One figure per model and optimizer: rows = units (at most ``MAX_UNITS``), columns = methods (plain
    first, then the claim method) and, where the model is certified, the certifier's argmax (``argmaxes``:
    the certificate records with their ``stimulus``, value ``f_best`` = the incumbent); the row label names
    the unit and its certified value, and the title says when no unit shown is certified."""
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    first = records[(records["start"] == 0) & records["stimulus"].notna()]
    certs = pd.DataFrame() if argmaxes is None else argmaxes[argmaxes["stimulus"].notna()]
    for (model, opt), g in first.groupby(["model", "optimizer"], sort=False):
        methods = list(dict.fromkeys(g["method"]))
        big = large_slope_method(g)
        order = ["plain"] + ([big] if big and big != "plain" else [])
        order += [m for m in methods if m not in order]
        mine = certs[certs["model"] == model] if len(certs) else certs
        columns = order + ([ARGMAX] if len(mine) else [])
        units = list(dict.fromkeys(g["unit"]))[:MAX_UNITS]
        fig, axes = plt.subplots(len(units), len(columns), figsize=(1.6 * len(columns) + 0.6, 1.7 * len(units)),
                                 squeeze=False)
        for i, unit in enumerate(units):
            for j, method in enumerate(columns):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                row = (mine[mine["unit"] == unit] if method == ARGMAX
                       else g[(g["unit"] == unit) & (g["method"] == method)])
                if row.empty:
                    continue
                r = row.iloc[0]
                img = _image(r["stimulus"])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
                ax.set_title(f"{method}\nf = {r['f_best']:.3g}", fontsize=6)
                if j == 0:
                    ax.set_ylabel(f"{unit}\n{_certified_text(r)}".rstrip(), fontsize=6)
        shown = (f"; last column: the certifier's argmax and its value (the incumbent)" if len(mine) else "")
        certified = any(_certified_text(r) for _, r in g[g["unit"].isin(units)].iterrows())
        row_text = "unit and its certified maximum" if certified else "unit (not certified)"
        fig.suptitle(f"{_title(model, str(g['weights'].iloc[0]))}, {opt}: best input of start 0 per unit\n(row: "
                     f"{row_text}; panel: method and its value f{shown})", fontsize=7)
        paths += plotting.save(fig, out, _safe(f"cnn-am-stimuli-{model}-{opt}"))
    return paths


def claim_units(records: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The per-unit table (:func:`per_unit`) of C2's rows: trained models' evaluation units (else the fixed
    runs), and the declared claim method."""
    units = per_unit(records)
    units = units[units["trained"]]
    role = "evaluation" if (units["role"] == "evaluation").any() else "fixed"
    return units[units["role"] == role], large_slope_method(units)


def paired_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """Per (model, optimizer): each unit's attained fraction, plain (x) against the claim method (y)."""
    import matplotlib.pyplot as plt

    units, method = claim_units(records)
    if method is None or units.empty:
        return []
    keys = ["model", "optimizer", "layer", "unit"]
    a = units[units["method"] == "plain"].set_index(keys)
    b = units[units["method"] == method].set_index(keys)
    pairs = a[["attained", "weights", "reference_kind"]].join(b["attained"].rename("proxy"), how="inner").reset_index()
    if pairs.empty:
        return []
    fig, cells, _, _ = _grid(pairs)
    for (model, opt), ax in cells.items():
        g = pairs[(pairs["model"] == model) & (pairs["optimizer"] == opt)]
        cert = g["reference_kind"] == "certified bound"
        ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--")
        ax.scatter(g.loc[cert, "attained"], g.loc[cert, "proxy"], s=12, color="C0", edgecolor="C0")
        ax.scatter(g.loc[~cert, "attained"], g.loc[~cert, "proxy"], s=12, facecolor="none", edgecolor="C0")
        d = (g["proxy"] - g["attained"]).to_numpy(float)
        if len(d):
            ax.text(0.03, 0.97, f"n = {len(d)}, mean diff {d.mean():+.3f}\nabove {int((d > 0).sum())}, below "
                    f"{int((d < 0).sum())}", transform=ax.transAxes, va="top", fontsize=6)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
    handles = [plt.Line2D([], [], ls="", marker="o", color="C0", label="unit, certified reference"),
               plt.Line2D([], [], ls="", marker="o", mfc="none", color="C0", label="unit, best value found"),
               plt.Line2D([], [], color="0.5", ls="--", label="no difference")]
    return _finish(fig, cells, handles, "plain: attained fraction", f"{method}: attained fraction", out,
                   "cnn-am-paired")


def _best_so_far(rows: pd.DataFrame, length: int) -> np.ndarray:
    """The best over the rows (starts) of each trace's running maximum, ``[length]``."""
    curves = [np.maximum.accumulate(np.asarray(t[1], dtype=float)) for t in rows["trace"]]
    return np.max(np.vstack([c[:length] for c in curves]), axis=0)


def trace_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """Per (model, optimizer) and method: the mean over units of the attained fraction of the best start's
    best-so-far value against the step (the last point: the full budget's best, the value C2 tests)."""
    df = records[records["trace"].notna()]
    units, _ = claim_units(records)
    if df.empty or units.empty:
        return []
    ref = units.set_index(["model", "optimizer", "unit", "method"])[["F", "F_start", "reference"]]
    methods = list(dict.fromkeys(df["method"]))
    colours = plotting.palette(methods)
    fig, cells, _, _ = _grid(df[df["model"].isin(set(units["model"]))])
    for (model, opt), ax in cells.items():
        g = df[(df["model"] == model) & (df["optimizer"] == opt)]
        for method, gm in g.groupby("method", sort=False):
            steps = np.asarray(gm["trace"].iloc[0][0])
            curves = []
            for unit, gu in gm.groupby("unit", sort=False):
                if (model, opt, unit, method) not in ref.index:
                    continue
                r = ref.loc[(model, opt, unit, method)]
                best = _best_so_far(gu, len(steps))
                best[-1] = max(best[-1], float(r["F"]))
                curves.append(normalized(best, np.full_like(best, r["F_start"]), np.full_like(best, r["reference"])))
            if curves:
                ax.plot(steps, np.mean(np.vstack(curves), axis=0), color=colours[method], lw=1.1)
        ax.set_ylim(-0.03, 1.03)
    return _finish(fig, cells, _handles(colours, methods), "step", "mean attained fraction (best start)", out,
                   "cnn-am-trace")


def depth_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """Mean attained fraction over units against layer depth, per (model, optimizer) and method."""
    units, _ = claim_units(records)
    if units.empty:
        return []
    methods = list(dict.fromkeys(units["method"]))
    colours = plotting.palette(methods)
    fig, cells, _, _ = _grid(units)
    for (model, opt), ax in cells.items():
        g = units[(units["model"] == model) & (units["optimizer"] == opt)]
        for method, gm in g.groupby("method", sort=False):
            mean = gm.groupby("layer_depth")["attained"].mean()
            ax.plot(mean.index, mean.to_numpy(), marker="o", ms=3, lw=1, color=colours[method])
        ax.set_ylim(-0.03, 1.03)
    return _finish(fig, cells, _handles(colours, methods, marker="o", ms=3), "layer depth (fraction of modules)",
                   "mean attained fraction", out, "cnn-am-depth")


def lr_rows(records: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The AM rows of the lr-sensitivity figure and their role: ``sweep`` (the evaluation units at every lr
    tried) where the records have them, else ``tuning``."""
    df = am_records(records)
    for role in ("sweep", "tuning"):
        if (df["role"] == role).any():
            return df[df["role"] == role], role
    return df.iloc[0:0], "tuning"


def lr_points(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method, unit kind, lr): the mean over units of the attained fraction, each
    unit's best value over starts at that lr normalized to its certified bound, else to the best value any
    lr and method reached on it (its best start value ``F_0`` the zero)."""
    kind = rows["unit_kind"] if "unit_kind" in rows.columns else pd.Series("unit", index=rows.index)
    rows = rows.assign(unit_kind=kind.fillna("unit"))
    keys = ["model", "weights", "optimizer", "method", "unit_kind", "unit", "lr"]
    best = rows.groupby(keys, sort=False, dropna=False).agg(F=("f_best", "max"), F0=("f_start", "max"),
                                                           bound=("upper_bound", "first")).reset_index()
    unit = ["model", "unit"]
    top = best.groupby(unit)["F"].transform("max")
    best["attained"] = normalized(best["F"], best.groupby(unit)["F0"].transform("max"),
                                  np.where(best["bound"].notna(), best["bound"], top))
    return best.groupby(["model", "weights", "optimizer", "method", "unit_kind", "lr"], sort=False)["attained"] \
        .mean().reset_index()


def lr_figure(records: pd.DataFrame, out: Path) -> list[Path]:
    """lr sensitivity on one scale: :func:`lr_points` against lr per (model, optimizer), a line per method
    and unit kind; the chosen lr of each (method, unit kind) starred."""
    import matplotlib.pyplot as plt

    rows, role = lr_rows(records)
    if rows.empty:
        return []
    points = lr_points(rows)
    ev = am_records(records)
    ev = ev[ev["role"] == "evaluation"]
    by = ["model", "optimizer", "method"] + (["unit_kind"] if "unit_kind" in ev.columns else [])
    chosen = {k if isinstance(k, tuple) else (k,): set(v) for k, v in ev.groupby(by, sort=False)["lr"]}
    methods = list(dict.fromkeys(points["method"]))
    kinds = list(dict.fromkeys(points["unit_kind"]))
    style = {k: UNIT_KIND_STYLES[i % len(UNIT_KIND_STYLES)] for i, k in enumerate(kinds)}
    colours = plotting.palette(list(dict.fromkeys(am_records(records)["method"])))
    fig, cells, _, _ = _grid(points)
    for (model, opt), ax in cells.items():
        g = points[(points["model"] == model) & (points["optimizer"] == opt)]
        for (method, kind), gm in g.groupby(["method", "unit_kind"], sort=False):
            gm = gm.sort_values("lr")
            ax.plot(gm["lr"], gm["attained"], marker="o", ms=2, lw=1, ls=style[kind], color=colours[method])
            lrs = chosen.get((model, opt, method, kind) if len(by) == 4 else (model, opt, method), set())
            star = gm[gm["lr"].isin(lrs)]
            ax.plot(star["lr"], star["attained"], "*", ms=8, color=colours[method], mec="black", mew=0.4)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_ylim(-0.03, 1.03)
    handles = _handles(colours, methods)
    if len(kinds) > 1:
        handles += [plt.Line2D([], [], color="0.3", ls=style[k], label=f"{k} units") for k in kinds]
    handles.append(plt.Line2D([], [], ls="", marker="*", ms=8, color="0.6", mec="black", label="chosen lr"))
    return _finish(fig, cells, handles, "lr", f"mean attained fraction ({role} units)", out, "cnn-am-lr")


def figures(records: pd.DataFrame, out: Path) -> list[Path]:
    """All ``cnn-am`` figures written into ``out``; the stimulus and trace figures read the run's array
    files (:mod:`.arrays`) and are left out when the run directory keeps none."""
    plotting.setup()
    out = Path(out)
    df = am_records(records)
    main = df[df["role"] == ("evaluation" if (df["role"] == "evaluation").any() else "fixed")]
    run_dir = arrays.run_dir_of(records, out)
    with_arrays = arrays.load(main, run_dir)
    argmaxes = arrays.load(records[records["cell_kind"] == "certificate"], run_dir) \
        if "cell_kind" in records.columns else None
    return (stimuli_grid(with_arrays, out, argmaxes) + paired_figure(main, out) + trace_figure(with_arrays, out)
            + depth_figure(main, out) + lr_figure(records, out))
