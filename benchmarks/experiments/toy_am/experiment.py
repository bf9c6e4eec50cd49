"""Experiment ``toy-am``: how far AM gets from the certified optimum of toy ReLU functions.

Grid: families x dims x instances (seeds) x methods x optimizers x starts.  An instance is
``(family, dim, seed)``; all its rows, of every method, optimizer, step size and role, start from the
SAME starts ``x0`` (drawn once from the instance), so every comparison is paired.

**Roles.** Every row has a ``role``:

- ``tuning``: the instances ``seed = cfg.seed + instances + i`` (``i < tuning_instances``), disjoint from
  the evaluation ones, run at every step size of the optimizer's grid (``lr = 10 ** (lr_index /
  per_decade)``, :mod:`benchmarks.framework.tuning`).  Each (method, optimizer) pair gets the score
  ``mean over tuning instances of the rank of its mean f_best at that index`` (scale-free; no certified
  optimum needed, so random families' tuning instances are not certified) and ``tuning.choose``
  picks its lr; when the choice touches an edge of the grid the grid extends by one index (a new round
  of tuning cells), until no choice does (or a declared limit stops it: ``lr_at_limit``).
- ``evaluation``: the instances ``seed = cfg.seed + i`` (``i < instances``), each pair at its chosen lr.
  This is the primary comparison: every method at a step size tuned for it, with the same steps,
  starts and gradient evaluations.
- ``fixed``: the evaluation instances at the optimizer's declared fixed ``lr``, shared by every method:
  the secondary, untuned comparison.
- ``baseline``: the evaluation instances under the gradient-free baselines of
  :mod:`benchmarks.experiments.toy_am.baselines` (``baselines = true``), at the AM runs' budget of
  forward evaluations (optimizer ``none``, no lr).

``claim_method`` (declared in the profile, before the run) is the one ProxyGrad method that tests the
claim "a large backward slope raises the maxima AM finds"; every row carries it. ``start_grad_zero``
(every row) says whether the box-projected plain gradient at the row's start is exactly zero, computed
before any method runs: an instance is *stuck* when it is zero at every start.

The cells are staged (:mod:`benchmarks.framework.runner`): ``cells(cfg, done)`` lists the tuning and
fixed cells, then the extension rounds that the stored tuning records call for, then the evaluation
cells at the chosen step sizes, which travel in the cells' params (``run_cell`` stays a pure function
of ``(cfg, cell)``).

Per row (one start of one method/optimizer/lr on one instance), with ``f`` the ORIGINAL function:

- ``f_start = f(x0)``, ``f_best = max_t f(x_t)`` over ``t = 0..T`` (so ``f_start <= f_best``),
  ``f_star`` = the family's certified optimum (empty for uncertified tuning instances);
- ``gap = f_star - f_best``; ``rel_gap = gap / (f_star - f_start)`` when ``f_star > f_start``, else 0
  (the start is already optimal); ``attained = 1 - rel_gap`` (the fraction of the initial gap closed);
- targets ``tau`` (a fixed list on ``rel_gap``): ``steps_to_<tau>`` is the first step ``t`` with
  ``f_star - max_{u<=t} f(x_u) <= tau * (f_star - f_start)`` (0 when the start is optimal; empty
  when never reached) -- the COCO-style run length for ECDFs;
- ``best@<t>``: ``max_{u<=t} f(x_u)`` at the steps ``0, 1, 2, 4, ..., T`` (anytime results);
- ``lr``, ``lr_index`` (empty for fixed rows), ``tuning_round`` (tuning rows), ``lr_at_limit``
  (True on evaluation rows whose choice touches a grid limit; False on every other row);
- ``seconds``: wall time of the batched AM call divided by the number of starts (the only column that
  is not a pure function of the config);
- ``arrays`` / ``array_row``: the observed cells (below) name their ``.npz`` file and the run's index in
  it; empty elsewhere.

**Observed trajectories.** The cells of the first evaluation instance (``seed = cfg.seed``) of every
2-D family, evaluation and fixed roles, record every iterate while they run (``maximize``'s observer
callback) into ``cells/<key>.npz`` (:mod:`benchmarks.framework.arrays`), which the cell's commit marker
covers: ``trajectories`` ``[R, T+1, N, 2]`` float32 (run ``r`` = ``array_row``, start ``n`` = the
row's ``start``), the instance on a ``LANDSCAPE_POINTS``-point grid per axis (``grid`` ``[G]``,
``landscape`` ``[G, G]`` with ``landscape[i, j] = f(grid[j], grid[i])``, float64) and its argmax
(``argmax`` ``[2]``).  The landscape figure reads these; it never re-runs AM.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from proxygrad.engine import OPTIMIZERS

from benchmarks.framework import arrays as _arrays
from benchmarks.framework import methods as _methods
from benchmarks.framework import tuning
from benchmarks.framework import plugins as _plugins
from benchmarks.framework.config import ConfigError, Reader, choice
from benchmarks.framework.runner import Cell, RunContext
from benchmarks.experiments.toy_am import baselines as _baselines
from benchmarks.experiments.toy_am.analysis import SCORE_DEFINITION, analyze, claims, leaderboard_scores, summarize
from benchmarks.experiments.toy_am.figures import figures
from benchmarks.experiments.toy_am.instances import build, build_for_tuning, draw_starts, start_seed

NAME = "toy-am"
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)
#: The columns that say what a row is (not what it measured): rows of two runs of one config are compared
#: on them (benchmarks.framework.spread).
ROW_KEY: tuple[str, ...] = ("method", "seed", "family", "params", "dim", "role", "optimizer", "lr_index",
                            "tuning_round", "steps", "start")
#: The outcome columns whose spread the report's reproducibility statement shows first.
OUTCOME_COLUMNS: tuple[str, ...] = ("f_best", "attained")
#: What repeats bit for bit where (the report's reproducibility statement quotes it).
CROSS_MACHINE = ("the functions, starts and AM run in float64. Every column but `seconds` repeated bit for bit on a "
                 "second machine (0.2.0 quick records, all 47,088 rows), but not under another instruction set: "
                 "with the avx2 or sse41 kernels of this machine the float64 values (`f_start`, `f_best`, "
                 "`f_star`, the checkpoints, `gap`, `attained`) differ in their last bits (at most 4e-13 "
                 "relative, smoke profile) while every count, step, success and verdict is the same; so "
                 "records repeat bit for bit only on a CPU with the same instruction set and library build, "
                 "and to float64 rounding elsewhere.")
#: Certified bounds (benchmarks.framework.bounds): f_best <= f_star exactly, per instance and start.
BOUNDS = {"f_best": ("f_star", ("family", "dim", "seed", "method", "optimizer", "start"))}
#: Upper limits of the sizes (documented in benchmarks/configs/toy-am.toml): a profile beyond them is
#: a typo or would not finish (``steps`` and ``starts`` bound one ``maximize`` call's time and memory).
MAX_INSTANCES = 1000
MAX_STARTS = 4096
MAX_STEPS = 100_000
MAX_SEED = 2**31 - 1
#: Grid points per axis of the recorded 2-D landscapes.
LANDSCAPE_POINTS = 121


@dataclass(frozen=True)
class Family:
    """One family entry: ``toy_functions.get(name, dim=d, seed=s, **params)`` for each dim and seed."""

    name: str
    label: str
    dims: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Optimizer:
    """An AM optimizer of ``proxygrad.maximize``: ``lr`` is the fixed step size of the untuned
    comparison (None: no fixed rows), ``grid`` the step-size grid it is tuned on (None: not tuned)."""

    name: str
    lr: float | None
    grid: tuning.Grid | None = None


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
    tuning_instances: int = 0
    tuning_dims: str = "all"
    claim_method: str = ""
    baselines: bool = False


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


#: Largest number of grid points an optimizer may declare between its hard limits (a bound on tuning cost).
MAX_GRID_POINTS = 64
ROLES: tuple[str, ...] = ("tuning", "evaluation", "fixed", "baseline")
#: Which dims of a family entry get tuning instances: all of them, or only the largest (cheaper).
TUNING_DIMS: tuple[str, ...] = ("all", "largest")


def _grid(raw: Reader) -> tuning.Grid:
    """``grid = { low, high, per_decade = 2, min = low / 10**4, max = high * 10**4 }`` (step sizes > 0)."""
    low = raw.float("low", min=0.0, min_exclusive=True)
    high = raw.float("high", min=0.0, min_exclusive=True)
    per_decade = raw.int("per_decade", 2, min=1, max=12)
    lr_min = raw.float("min", low / 10**4, min=0.0, min_exclusive=True)
    lr_max = raw.float("max", high * 10**4, min=0.0, min_exclusive=True)
    raw.done()
    if low > high:
        raise ConfigError(f"{raw.where}: low {low!r} must be <= high {high!r}")
    if not lr_min <= low or not high <= lr_max:
        raise ConfigError(f"{raw.where}: the limits must hold min <= low <= high <= max, got min={lr_min!r}, "
                          f"low={low!r}, high={high!r}, max={lr_max!r}")
    try:
        grid = tuning.Grid.from_lrs(low, high, per_decade, lr_min=lr_min, lr_max=lr_max)
    except ValueError as exc:
        raise ConfigError(f"{raw.where}: {exc}") from exc
    if grid.k_max - grid.k_min + 1 > MAX_GRID_POINTS:
        raise ConfigError(f"{raw.where}: min={lr_min!r} to max={lr_max!r} at per_decade={per_decade} spans "
                          f"{grid.k_max - grid.k_min + 1} grid points, more than {MAX_GRID_POINTS}")
    return grid


def _optimizer(o: Reader) -> Optimizer:
    name = o.str("name", choices=OPTIMIZERS)
    lr = o.float("lr", None, min=0.0, min_exclusive=True)
    grid = _grid(o.table("grid")) if "grid" in o.raw else None
    o.done()
    if lr is None and grid is None:
        raise ConfigError(f"{o.where} ({name}) needs a fixed lr, a tuning grid, or both")
    return Optimizer(name, lr, grid)


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
    recipes = [m.label for m in methods if getattr(m, "recipe", None) is not None]
    if recipes:  # the recipes act on images; toy functions take vectors
        raise ConfigError(f"{NAME}.methods: the image recipe(s) {recipes} need image inputs (C, H, W); "
                          "toy functions take vectors")
    optimizers = [_optimizer(o) for o in r.tables("optimizers")]
    if len({o.name for o in optimizers}) != len(optimizers):
        raise ConfigError(f"{NAME}.optimizers lists an optimizer twice")
    tuned = any(o.grid is not None for o in optimizers)
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
    instances = r.int("instances", min=1, max=MAX_INSTANCES)
    tuning_instances = r.int("tuning_instances", 1 if tuned else 0, min=0, max=MAX_INSTANCES)
    if tuned and tuning_instances < 1:
        raise ConfigError(f"{NAME}.tuning_instances must be >= 1 when an optimizer declares a grid, "
                          f"got {tuning_instances!r}")
    if cfg_seed + instances + tuning_instances - 1 > MAX_SEED:
        raise ConfigError(f"{NAME}.seed {cfg_seed!r} + instances + tuning_instances exceeds {MAX_SEED}")
    cfg = Config(
        families=tuple(families),
        methods=methods,
        optimizers=tuple(optimizers),
        instances=instances,
        seed=cfg_seed,
        starts=r.int("starts", min=1, max=MAX_STARTS),
        steps=r.int("steps", min=1, max=MAX_STEPS),
        targets=tuple(sorted(r.list("targets", float, min=0.0, max=1.0, min_exclusive=True), reverse=True)),
        tuning_instances=tuning_instances if tuned else 0,
        tuning_dims=r.str("tuning_dims", "all", choices=TUNING_DIMS),
        claim_method=_claim_method(r.str("claim_method", ""), methods),
        baselines=r.bool("baselines", False),
    )
    r.done()
    return cfg


def _claim_method(label: str, methods: tuple[_methods.Method, ...]) -> str:
    try:
        return _methods.claim_method(label, methods)
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc


# ---- instances and cells -----------------------------------------------------------------------

def evaluation_seeds(cfg: Config) -> range:
    """Seeds of the evaluation instances (fixed and evaluation rows): ``seed .. seed + instances - 1``."""
    return range(cfg.seed, cfg.seed + cfg.instances)


def tuning_seeds(cfg: Config) -> range:
    """Seeds of the tuning instances, after the evaluation seeds (so the two sets are disjoint)."""
    start = cfg.seed + cfg.instances
    return range(start, start + cfg.tuning_instances)


def _instances(cfg: Config, seeds: range, dims: str = "all"):
    for fam in cfg.families:
        for dim in fam.dims if dims == "all" else (max(fam.dims),):
            for seed in seeds:
                yield fam, dim, seed


def role_instances(cfg: Config, role: str) -> list[tuple[Family, int, int]]:
    """``(family, dim, seed)`` of the ``"evaluation"`` instances (the evaluation and fixed rows') or of the
    ``"tuning"`` instances, in cell order (ValueError for another role)."""
    if role == "evaluation":
        return list(_instances(cfg, evaluation_seeds(cfg)))
    if role == "tuning":
        return list(_instances(cfg, tuning_seeds(cfg), cfg.tuning_dims))
    raise ValueError(f"role must be 'evaluation' or 'tuning', got {role!r}")


def _tuned(cfg: Config) -> list[Optimizer]:
    return [o for o in cfg.optimizers if o.grid is not None]


def _cell(role: str, key: str, fam: Family, dim: int, seed: int, **params: Any) -> Cell:
    return Cell(key, {"role": role, "family": fam.label, "dim": dim, "seed": seed, **params})


def _round_cells(cfg: Config, rnd: int, runs: list[list[Any]]) -> list[Cell]:
    """The tuning cells of round ``rnd`` (0: the initial grids), one per tuning instance."""
    suffix = "" if rnd == 0 else f".x{rnd}"
    return [_cell("tuning", f"tune.{fam.label}.d{dim}.s{seed}{suffix}", fam, dim, seed, round=rnd, runs=runs)
            for fam, dim, seed in _instances(cfg, tuning_seeds(cfg), cfg.tuning_dims)]


def initial_runs(cfg: Config) -> list[list[Any]]:
    """``[method, optimizer, lr_index]`` of round 0: every tuned pair at every index of its initial grid."""
    return [[m.label, o.name, k] for o in _tuned(cfg) for k in o.grid.initial() for m in cfg.methods]


def choices(cfg: Config, tuning_rows: Any) -> dict[tuple[str, str], tuning.Choice]:
    """``{(method, optimizer): Choice}`` from tuning records only: the score of an lr index is the mean
    over tuning instances of its rank by mean ``f_best`` (:func:`tuning.mean_rank_scores`), and
    :func:`tuning.choose` selects.  A pure function of the rows (their order does not matter)."""
    out = {}
    for o in _tuned(cfg):
        for m in cfg.methods:
            sel = tuning_rows[(tuning_rows["method"] == m.label) & (tuning_rows["optimizer"] == o.name)]
            scores = tuning.mean_rank_scores(sel, index="lr_index", units=["family", "dim", "seed"], value="f_best")
            out[(m.label, o.name)] = tuning.choose(scores, o.grid)
    return out


def cells(cfg: Config, done: Any = None) -> list[Cell]:
    """The staged cell list (see the module docstring), a pure function of ``cfg`` and the stored records.

    Round 0: the tuning cells (every tuned pair at its initial grid) and the fixed cells (keys
    ``<family>.d<dim>.s<seed>``).  Then, replaying the stored tuning records round by round, one more
    round of tuning cells for the pairs whose choice asks for an extension, and once every choice is
    final, the evaluation cells (``eval.<family>.d<dim>.s<seed>``) at the chosen indices.
    """
    out: list[Cell] = []
    if _tuned(cfg):
        out += _round_cells(cfg, 0, initial_runs(cfg))
    if any(o.lr is not None for o in cfg.optimizers):
        out += [_cell("fixed", f"{fam.label}.d{dim}.s{seed}", fam, dim, seed)
                for fam, dim, seed in _instances(cfg, evaluation_seeds(cfg))]
    if cfg.baselines:
        out += [_cell("baseline", f"base.{fam.label}.d{dim}.s{seed}", fam, dim, seed)
                for fam, dim, seed in _instances(cfg, evaluation_seeds(cfg))]
    if done is None or not _tuned(cfg) or len(done) == 0 or "role" not in done.columns:
        return out
    rows = done[done["role"] == "tuning"]
    rnd = 0
    while True:
        chosen = choices(cfg, rows[rows["tuning_round"] <= rnd])
        runs = [[m, o, k] for (m, o), c in chosen.items() for k in c.extend]
        if not runs:
            runs = [[m, o, c.k, c.at_limit] for (m, o), c in chosen.items()]
            out += [_cell("evaluation", f"eval.{fam.label}.d{dim}.s{seed}", fam, dim, seed, runs=runs)
                    for fam, dim, seed in _instances(cfg, evaluation_seeds(cfg))]
            return out
        rnd += 1
        out += _round_cells(cfg, rnd, runs)
        if not (rows["tuning_round"] == rnd).any():
            return out  # this round is new: run it, then come back


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


def _runs(cfg: Config, cell: Cell) -> list[tuple[_methods.Method, Optimizer, int | None, float, bool]]:
    """``(method, optimizer, lr_index, lr, at_limit)`` of each AM run of a cell, in order."""
    by_label = {m.label: m for m in cfg.methods}
    by_name = {o.name: o for o in cfg.optimizers}
    if cell.params.get("role", "fixed") == "fixed":
        return [(m, o, None, o.lr, False) for o in cfg.optimizers if o.lr is not None for m in cfg.methods]
    out = []
    for run in cell.params["runs"]:
        o = by_name[run[1]]
        k = int(run[2])
        out.append((by_label[run[0]], o, k, o.grid.lr(k), bool(run[3]) if len(run) > 3 else False))
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
            rows.append(_row(cfg, fam, dim, seed, forward_slope, method, res.config, opt.name, run, j,
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
            rows.append(_row(cfg, fam, dim, seed, forward_slope, _baselines.Baseline(name), {}, "none", run, j,
                             trace[:, j], best[:, j], f_star, ckpts, grad_evals, seconds, bool(stuck[j])))
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


def _row(cfg: Config, fam: Family, dim: int, seed: int, forward_slope: float, method: Any, rcfg: dict,
         optimizer: str, run: dict[str, Any], j: int, trace: np.ndarray, best: np.ndarray, f_star: float,
         ckpts: list[int], grad_evals: int, seconds: float, start_grad_zero: bool) -> dict[str, Any]:
    f_start, f_best = float(trace[0]), float(best[-1])
    gap = f_star - f_best
    scale = f_star - f_start
    rel_gap = gap / scale if scale > 0 else (0.0 if scale <= 0 else math.nan)
    row: dict[str, Any] = {
        "family": fam.label,
        "family_name": fam.name,
        "params": json.dumps(fam.params, sort_keys=True),
        "dim": dim,
        "seed": seed,
        "role": run["role"],
        "forward_slope": forward_slope,
        **method.columns(),
        "backward_rule": str(rcfg.get("backward_slope")),
        "proxy": rcfg.get("proxy"),
        "backward_slope": method.constant_backward_slope(forward_slope),
        "optimizer": optimizer,
        "lr": run["lr"],
        "lr_index": run["lr_index"],
        "tuning_round": run["tuning_round"],
        "lr_at_limit": run["lr_at_limit"],
        "steps": cfg.steps,
        "start": j,
        "start_grad_zero": start_grad_zero,
        "claim_method": cfg.claim_method,
        "f_start": f_start,
        "f_best": f_best,
        "f_star": f_star,
        "gap": gap,
        "rel_gap": rel_gap,
        "attained": 1.0 - rel_gap,
        "best_step": int(np.argmax(trace == f_best)),
        "arrays": run["arrays"],
        "array_row": run["array_row"],
    }
    for tau in cfg.targets:
        if not scale > 0:
            row[target_column(tau)] = 0 if scale <= 0 else math.nan
        else:
            hit = np.flatnonzero(f_star - best <= tau * scale)
            row[target_column(tau)] = int(hit[0]) if hit.size else math.nan
    for t in ckpts:
        row[f"best@{t}"] = float(best[t])
    row["grad_evals"] = grad_evals
    row["seconds"] = seconds
    return row


__all__ = ["NAME", "TIMING_COLUMNS", "ROW_KEY", "CROSS_MACHINE", "OUTCOME_COLUMNS", "BOUNDS", "ROLES", "Config", "parse_config", "cells", "choices", "run_cell",
           "observes", "landscape", "extra_files",
           "analyze", "figures", "summarize", "claims", "build", "build_for_tuning", "draw_starts", "start_seed",
           "evaluation_seeds", "tuning_seeds", "role_instances", "leaderboard_scores", "SCORE_DEFINITION"]
