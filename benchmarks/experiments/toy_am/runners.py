"""Running one ``toy-am`` cell: its AM runs (or baselines) from the instance's shared starts, and the
trajectories and landscape that the observed cells keep in their array file."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.framework import arrays as _arrays
from benchmarks.framework import methods as _methods
from benchmarks.framework.runner import Cell, RunContext
from benchmarks.experiments.toy_am import baselines as _baselines
from benchmarks.experiments.toy_am.config import Config, Family, Optimizer
from benchmarks.experiments.toy_am.instances import build, build_for_tuning, draw_starts, start_seed
from benchmarks.experiments.toy_am.records import checkpoints, make_row

#: Grid points per axis of the recorded 2-D landscapes.
LANDSCAPE_POINTS = 121


def _family(cfg: Config, label: str) -> Family:
    return next(f for f in cfg.families if f.label == label)


def _runs(cfg: Config, cell: Cell) -> list[tuple[_methods.Method, Optimizer, int | None, float, bool]]:
    """``(method, optimizer, lr_index, lr, at_limit)`` of each AM run of a cell, in order (the params'
    runs carry the method value and the optimizer's name)."""
    by_name = {o.name: o for o in cfg.optimizers}
    if cell.params.get("role", "fixed") == "fixed":
        return [(m, o, None, o.lr, False) for o in cfg.optimizers if o.lr is not None for m in cfg.methods]
    out = []
    for run in cell.params["runs"]:
        o = by_name[run[1]]
        k = int(run[2])
        out.append((run[0], o, k, o.grid.lr(k), bool(run[3]) if len(run) > 3 else False))
    return out


def run_cell(cfg: Config, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
    """All rows of one cell: each of its runs (method, optimizer, lr) x start, from the instance's starts."""
    import torch

    fam = _family(cfg, cell.params["family"])
    dim, seed = cell.params["dim"], cell.params["seed"]
    role = cell.params.get("role", "fixed")
    if role == "tuning":
        f = build_for_tuning(fam.name, dim, seed, fam.params)
    else:
        f = build(fam.name, dim, seed, fam.params, Path(ctx.cache_dir) / "certificates")
    device = torch.device(ctx.device)
    f = f.to(device)
    x0 = draw_starts(f, fam.label, dim, seed, cfg.starts).to(device)
    certified = getattr(f, "certificate", None) is not None
    f_star = float(f.optimum) if certified else math.nan
    ckpts = checkpoints(cfg.steps)
    forward_slope = float(f.forward_slope)
    rows: list[dict[str, Any]] = []
    extra = {"role": role, "tuning_round": cell.params.get("round") if role == "tuning" else None}
    stuck = _baselines.start_gradient_is_zero(f, x0)
    if role == "baseline":
        return _baseline_rows(cfg, fam, dim, seed, f, x0, f_star, forward_slope, ckpts, extra, stuck)
    observed = observes(cfg, cell) and getattr(ctx, "out_dir", None) is not None
    paths: list[np.ndarray] = []
    npz_name = _arrays.path(ctx.out_dir, cell.key).name if observed else ""
    for r, (method, opt, k, lr, at_limit) in enumerate(_runs(cfg, cell)):
        iterates = np.full((cfg.steps + 1, *x0.shape), np.nan, dtype=np.float32)   # [T+1, N, 2]

        def observe(t: int, x: Any, v: Any, iterates: np.ndarray = iterates) -> None:
            iterates[t] = x.detach().cpu().numpy()   # steps a plug-in AM function does not report stay NaN

        res = _methods.run_am(method, f, x0, steps=cfg.steps, lr=lr, optimizer=opt.name, seed=seed,
                              forward_slope=forward_slope, callback=observe if observed else None)
        if observed:
            paths.append(iterates)
        trace = res.trace.detach().cpu().numpy().astype(np.float64)      # [T+1, N]
        best_so_far = np.maximum.accumulate(trace, axis=0)
        run = {**extra, "lr": lr, "lr_index": k, "lr_at_limit": bool(at_limit),
               "arrays": npz_name, "array_row": r if observed else None}
        for j in range(cfg.starts):
            rows.append(make_row(cfg, fam, dim, seed, forward_slope, method, res.config, opt.name, run, j,
                                 trace[:, j], best_so_far[:, j], f_star, ckpts, res.grad_evals,
                                 res.seconds / cfg.starts, bool(stuck[j])))
    if observed:
        _arrays.write(ctx.out_dir, cell.key, {"trajectories": np.stack(paths), **landscape(f)})
    return rows


def _baseline_rows(cfg: Config, fam: Family, dim: int, seed: int, f: Any, x0: Any, f_star: float,
                   forward_slope: float, ckpts: list[int], extra: dict[str, Any], stuck: np.ndarray
                   ) -> list[dict[str, Any]]:
    """The rows of a baseline cell: every baseline x start, at ``cfg.steps + 1`` forward evaluations."""
    import time

    rows = []
    run = {**extra, "lr": None, "lr_index": None, "lr_at_limit": False, "arrays": "", "array_row": None}
    for name in _baselines.BASELINES:
        t0 = time.perf_counter()
        trace, grad_evals = _baselines.trace(f, x0, name, steps=cfg.steps, seed=start_seed(fam.label, dim, seed))
        seconds = (time.perf_counter() - t0) / cfg.starts
        best = np.maximum.accumulate(trace, axis=0)
        for j in range(cfg.starts):
            rows.append(make_row(cfg, fam, dim, seed, forward_slope, _baselines.Baseline(name), {}, "none", run,
                                 j, trace[:, j], best[:, j], f_star, ckpts, grad_evals, seconds, bool(stuck[j])))
    return rows


def observes(cfg: Config, cell: Cell) -> bool:
    """Whether cell records its trajectories: a 2-D instance, the first evaluation seed, not tuning."""
    p = cell.params
    return p["dim"] == 2 and p["seed"] == cfg.seed and p.get("role", "fixed") != "tuning"


def landscape(f: Any) -> dict[str, np.ndarray]:
    """``grid`` ``[G]``, ``landscape`` ``[G, G]`` (``f`` at ``(grid[j], grid[i])``) and ``argmax`` of a 2-D
    instance ``f``, evaluated on the CPU in float64."""
    import torch

    lo, hi = f.bounds
    grid = np.linspace(lo, hi, LANDSCAPE_POINTS)
    gx, gy = np.meshgrid(grid, grid)
    cpu = f.to(torch.device("cpu"))
    with torch.no_grad():
        z = cpu(torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))).double().numpy().reshape(gx.shape)
    return {"grid": grid, "landscape": z, "argmax": cpu.argmax.double().numpy().reshape(-1)}


def extra_files(out: Path, key: str) -> list[Path]:
    """The array file of cell ``key`` when it recorded trajectories (the runner's marker covers it)."""
    return _arrays.existing(out, key)
