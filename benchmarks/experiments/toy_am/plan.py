"""The staged cells of ``toy-am``: the instances of each role, the tuning rounds and the lr choices.

``cells(cfg, done)`` lists the tuning and fixed (and baseline) cells, then the extension rounds that the
stored tuning records call for, then the evaluation cells at the chosen step sizes, which travel in the
cells' params (so running a cell stays a pure function of ``(cfg, cell)``); a run's method travels as its
:class:`~benchmarks.framework.methods.Method` value, never as a label to look up again.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from benchmarks.framework import tuning
from benchmarks.framework.methods import Method
from benchmarks.framework.runner import Cell
from benchmarks.experiments.toy_am.config import Config, Family, Optimizer

#: The tuning score of a (method, optimizer)'s lr index: the mean over tuning instances of the index's rank
#: by the instance's mean ``f_best`` over starts.  The choices and the tuning table both read it.
TUNING_SCORE = tuning.Score("f_best", units=("family", "dim", "seed"))

def evaluation_seeds(cfg: Config) -> range:
    """Seeds of the evaluation instances (fixed and evaluation rows): ``seed .. seed + instances - 1``."""
    return range(cfg.seed, cfg.seed + cfg.instances)


def tuning_seeds(cfg: Config) -> range:
    """Seeds of the tuning instances, after the evaluation seeds (so the two sets are disjoint)."""
    start = cfg.seed + cfg.instances
    return range(start, start + cfg.tuning_instances)


def _instances(cfg: Config, seeds: range, dims: str = "all") -> Iterator[tuple[Family, int, int]]:
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
    """``[method, optimizer, lr_index]`` of round 0: every tuned pair at every index of its initial grid
    (the method as its :class:`~benchmarks.framework.methods.Method` value, the optimizer by name)."""
    return [[m, o.name, k] for o in _tuned(cfg) for k in o.grid.initial() for m in cfg.methods]


def choices(cfg: Config, tuning_rows: Any) -> dict[tuple[Method, str], tuning.Choice]:
    """``{(method, optimizer name): Choice}`` from tuning records only (rows matched on the method's
    label): the score of an lr index is :data:`TUNING_SCORE` and :func:`tuning.choose_records` selects.
    A pure function of the rows (their order does not matter)."""
    out = {}
    for o in _tuned(cfg):
        for m in cfg.methods:
            sel = tuning_rows[(tuning_rows["method"] == m.label) & (tuning_rows["optimizer"] == o.name)]
            out[(m, o.name)] = tuning.choose_records(sel, o.grid, TUNING_SCORE)
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
