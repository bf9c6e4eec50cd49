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
- ``best_at_<t>``: ``max_{u<=t} f(x_u)`` at the steps ``0, 1, 2, 4, ..., T`` (anytime results);
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

This module is the experiment's protocol surface; the package holds one concept per module: :mod:`.config`
(the profile), :mod:`.instances` (functions and starts), :mod:`.plan` (the staged cells), :mod:`.records`
(the row schema), :mod:`.runners` (running a cell) and :mod:`.baselines`; tables and claims live in
:mod:`.analysis`, figures in :mod:`.figures`.
"""
from __future__ import annotations

from benchmarks.experiments.toy_am.analysis import SCORE_DEFINITION, analyze, claims, leaderboard_scores, summarize
from benchmarks.experiments.toy_am.config import (MAX_INSTANCES, MAX_SEED, MAX_STARTS, MAX_STEPS,
                                                  NAME, ROLES, TUNING_DIMS, Config, Family, Optimizer, parse_config)
from benchmarks.experiments.toy_am.figures import figures
from benchmarks.experiments.toy_am.instances import build, build_for_tuning, draw_starts, start_seed
from benchmarks.experiments.toy_am.plan import (cells, choices, evaluation_seeds, initial_runs, role_instances,
                                                tuning_seeds)
from benchmarks.experiments.toy_am.records import checkpoints, target_column
from benchmarks.experiments.toy_am.runners import LANDSCAPE_POINTS, extra_files, landscape, observes, run_cell

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


__all__ = ["NAME", "TIMING_COLUMNS", "ROW_KEY", "CROSS_MACHINE", "OUTCOME_COLUMNS", "BOUNDS", "ROLES", "Config",
           "Family", "Optimizer", "parse_config", "cells", "choices", "initial_runs", "run_cell", "observes",
           "landscape", "extra_files", "checkpoints", "target_column", "LANDSCAPE_POINTS",
           "MAX_INSTANCES", "MAX_SEED", "MAX_STARTS", "MAX_STEPS", "TUNING_DIMS", "analyze", "figures",
           "summarize", "claims", "build", "build_for_tuning", "draw_starts", "start_seed", "evaluation_seeds",
           "tuning_seeds", "role_instances", "leaderboard_scores", "SCORE_DEFINITION"]
