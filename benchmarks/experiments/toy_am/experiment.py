"""Experiment ``toy-am``: how far AM gets from the certified optimum of toy ReLU functions.

Grid: families x dims x instances (seeds) x methods x optimizers x starts.  A cell is one instance
``(family, dim, seed)``; its rows cover every method and optimizer from the SAME starts ``x0`` (drawn
once from the instance), so every comparison is paired.

Per row (one start of one method/optimizer on one instance), with ``f`` the ORIGINAL function:

- ``f_start = f(x0)``, ``f_best = max_t f(x_t)`` over ``t = 0..T`` (so ``f_start <= f_best``),
  ``f_star`` = the family's certified optimum;
- ``gap = f_star - f_best``; ``rel_gap = gap / (f_star - f_start)`` when ``f_star > f_start``, else 0
  (the start is already optimal); ``attained = 1 - rel_gap`` (the fraction of the initial gap closed);
- targets ``tau`` (a fixed list on ``rel_gap``): ``steps_to_<tau>`` is the first step ``t`` with
  ``f_star - max_{u<=t} f(x_u) <= tau * (f_star - f_start)`` (0 when the start is optimal; empty
  when never reached) -- the COCO-style run length for ECDFs;
- ``best@<t>``: ``max_{u<=t} f(x_u)`` at log-spaced checkpoints ``t`` (for convergence figures);
- ``seconds``: wall time of the batched ``maximize`` call divided by the number of starts (the only
  column that is not a pure function of the config).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from proxygrad.engine import OPTIMIZERS

from benchmarks.framework import methods as _methods
from benchmarks.framework import plugins as _plugins
from benchmarks.framework.config import ConfigError, Reader, choice
from benchmarks.framework.runner import Cell, RunContext
from benchmarks.experiments.toy_am.analysis import analyze, claims, summarize
from benchmarks.experiments.toy_am.figures import figures
from benchmarks.experiments.toy_am.instances import build, draw_starts, start_seed

NAME = "toy-am"
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)
#: Certified bounds (benchmarks.framework.bounds): f_best <= f_star exactly, per instance and start.
BOUNDS = {"f_best": ("f_star", ("family", "dim", "seed", "method", "optimizer", "start"))}
#: Upper limits of the sizes (documented in benchmarks/configs/toy-am.toml): a profile beyond them is
#: a typo or would not finish (``steps`` and ``starts`` bound one ``maximize`` call's time and memory).
MAX_INSTANCES = 1000
MAX_STARTS = 4096
MAX_STEPS = 100_000
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Family:
    """One family entry: ``toy_functions.get(name, dim=d, seed=s, **params)`` for each dim and seed."""

    name: str
    label: str
    dims: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Optimizer:
    """An AM optimizer of ``proxygrad.maximize`` with its step size."""

    name: str
    lr: float


@dataclass(frozen=True)
class Config:
    """The resolved ``toy-am`` profile (see ``benchmarks/configs/toy-am.toml``)."""

    families: tuple[Family, ...]
    methods: tuple[_methods.Method, ...]
    optimizers: tuple[Optimizer, ...]
    instances: int
    seed: int
    starts: int
    steps: int
    targets: tuple[float, ...]


def _family_names() -> list[str]:
    import toy_functions

    return list(toy_functions.names())


def _safe_label(text: str, where: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*", text):
        raise ConfigError(f"{where} {text!r} must use letters, digits, '_', '+', '-' only (it names files)")
    return text


def _check_family(name: str, dims: tuple[int, ...], seed: int, params: dict[str, Any], where: str) -> None:
    """Build a closed-form family at each dim to validate its parameters (cheap); for a certified
    family, whose construction solves a MILP, run the builder's own checks without solving."""
    import toy_functions
    from toy_functions import random_nets

    try:
        if _plugins.is_spec(name):  # resolved and signature-checked here; built (maybe certified) per cell
            _plugins.family_factory(name)
            return
        for dim in dims:
            if toy_functions.optimum_kind(name) == toy_functions.CERTIFIED:
                random_nets.check_params(name, dim, **params)
            else:
                build(name, dim, seed, params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} ({name}, dims={list(dims)}, params={params}): {exc}") from exc


def parse_config(raw: dict[str, Any], *, data_dir: Any = None) -> Config:
    """Validate a raw profile into :class:`Config`; ConfigError names any bad key or value.
    (``data_dir`` is accepted like every experiment's; toy-am reads no data set.)

    Each hand-built family is built once per dim (first seed) so that unknown or bad parameters and
    dims are reported here, before anything runs (random families: parameter names only).
    """
    r = Reader(raw, NAME)
    try:
        methods = _methods.parse_all(r.list("methods", str))
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
    if _methods.Method("plain") not in methods:
        raise ConfigError(f"{NAME}.methods must include 'plain' (the reference of the paired tests)")
    optimizers = []
    for o in r.tables("optimizers"):
        optimizers.append(Optimizer(o.str("name", choices=OPTIMIZERS), o.float("lr", min=0.0, min_exclusive=True)))
        o.done()
    if len({o.name for o in optimizers}) != len(optimizers):
        raise ConfigError(f"{NAME}.optimizers lists an optimizer twice")
    cfg_seed = r.int("seed", 0, min=0, max=MAX_SEED)
    known = _family_names()
    families = []
    for fr in r.tables("families"):
        name = fr.str("name")
        name = name if _plugins.is_spec(name) else choice(name, known, f"family in {fr.where}")
        params = dict(fr.table("params", {}).raw)
        label = _safe_label(fr.str("label", _plugins.default_label(name) if _plugins.is_spec(name) else name),
                            f"{fr.where}.label")
        dims = fr.list("dims", int, min=1, max=4096)
        fr.done()
        _check_family(name, dims, cfg_seed, params, fr.where)
        families.append(Family(name, label, dims, params))
    labels = [f.label for f in families]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise ConfigError(f"{NAME}.families: label {dup!r} used twice; give each entry its own label")
    cfg = Config(
        families=tuple(families),
        methods=methods,
        optimizers=tuple(optimizers),
        instances=r.int("instances", min=1, max=MAX_INSTANCES),
        seed=cfg_seed,
        starts=r.int("starts", min=1, max=MAX_STARTS),
        steps=r.int("steps", min=1, max=MAX_STEPS),
        targets=tuple(sorted(r.list("targets", float, min=0.0, max=1.0, min_exclusive=True), reverse=True)),
    )
    r.done()
    return cfg


def cells(cfg: Config) -> list[Cell]:
    """One cell per (family entry, dim, instance seed), in config order."""
    out = []
    for fam in cfg.families:
        for dim in fam.dims:
            for i in range(cfg.instances):
                seed = cfg.seed + i
                out.append(Cell(f"{fam.label}.d{dim}.s{seed}", {"family": fam.label, "dim": dim, "seed": seed}))
    return out


def checkpoints(steps: int) -> list[int]:
    """Log-spaced steps 0, 1, 2, 4, ..., and ``steps`` at which ``best@t`` is recorded."""
    pts = {0, steps}
    t = 1
    while t < steps:
        pts.add(t)
        t *= 2
    return sorted(pts)


def target_column(tau: float) -> str:
    """Record column of a target, e.g. ``steps_to_0.001``."""
    return f"steps_to_{tau:g}"


def _family(cfg: Config, label: str) -> Family:
    return next(f for f in cfg.families if f.label == label)


def run_cell(cfg: Config, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
    """All rows of one instance: every optimizer x method x start, from the same starts."""
    import torch

    fam = _family(cfg, cell.params["family"])
    dim, seed = cell.params["dim"], cell.params["seed"]
    f = build(fam.name, dim, seed, fam.params, Path(ctx.cache_dir) / "certificates")
    device = torch.device(ctx.device)
    f = f.to(device)
    x0 = draw_starts(f, fam.label, dim, seed, cfg.starts).to(device)
    f_star = float(f.optimum)
    ckpts = checkpoints(cfg.steps)
    rows: list[dict[str, Any]] = []
    for opt in cfg.optimizers:
        for method in cfg.methods:
            res = _methods.run_am(method, f, x0, steps=cfg.steps, lr=opt.lr, optimizer=opt.name, seed=seed,
                                  forward_slope=float(f.forward_slope))
            trace = res.trace.detach().cpu().numpy().astype(np.float64)      # [T+1, N]
            best_so_far = np.maximum.accumulate(trace, axis=0)
            for j in range(cfg.starts):
                rows.append(_row(cfg, fam, dim, seed, float(f.forward_slope), method, res.config, opt, j,
                                 trace[:, j], best_so_far[:, j], f_star, ckpts, res.grad_evals,
                                 res.seconds / cfg.starts))
    return rows


def _row(cfg: Config, fam: Family, dim: int, seed: int, forward_slope: float, method: _methods.Method, rcfg: dict,
         opt: Optimizer, j: int, trace: np.ndarray, best: np.ndarray, f_star: float, ckpts: list[int],
         grad_evals: int, seconds: float) -> dict[str, Any]:
    f_start, f_best = float(trace[0]), float(best[-1])
    gap = f_star - f_best
    scale = f_star - f_start
    rel_gap = gap / scale if scale > 0 else 0.0
    row: dict[str, Any] = {
        "family": fam.label,
        "family_name": fam.name,
        "params": json.dumps(fam.params, sort_keys=True),
        "dim": dim,
        "seed": seed,
        "forward_slope": forward_slope,
        **method.columns(),
        "backward_rule": str(rcfg.get("backward_slope")),
        "proxy": rcfg.get("proxy"),
        "backward_slope": method.constant_backward_slope(forward_slope),
        "optimizer": opt.name,
        "lr": opt.lr,
        "steps": cfg.steps,
        "start": j,
        "f_start": f_start,
        "f_best": f_best,
        "f_star": f_star,
        "gap": gap,
        "rel_gap": rel_gap,
        "attained": 1.0 - rel_gap,
        "best_step": int(np.argmax(trace == f_best)),
    }
    for tau in cfg.targets:
        if scale <= 0:
            row[target_column(tau)] = 0
        else:
            hit = np.flatnonzero(f_star - best <= tau * scale)
            row[target_column(tau)] = int(hit[0]) if hit.size else math.nan
    for t in ckpts:
        row[f"best@{t}"] = float(best[t])
    row["grad_evals"] = grad_evals
    row["seconds"] = seconds
    return row



__all__ = ["NAME", "TIMING_COLUMNS", "BOUNDS", "Config", "parse_config", "cells", "run_cell", "analyze", "figures",
           "summarize", "claims", "build", "draw_starts", "start_seed"]
