"""The staged cells of ``training``: tuning rounds per group, then its final, matched and reference runs.

The lr choice of a group reads the tuning runs' validation accuracy only (:func:`tuning_scores`); the
extension rounds and the runs at the chosen lr follow from the stored records, so the cell list is a pure
function of the config and the records.
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.framework import methods as _methods
from benchmarks.framework import tuning
from benchmarks.framework.runner import Cell
from benchmarks.experiments.training.config import BASELINE_ACTIVATION, BASELINE_METHOD, Config
from benchmarks.experiments.training.selection import TUNING_SCORE
from benchmarks.experiments.training.variants import variants

#: A group: ``(dataset, arch, activation, method)``; its lr is chosen once, for all its seeds.
Group = tuple[str, str, str, _methods.Method]


def _groups(cfg: Config) -> list[Group]:
    return [(ds, arch, a, m) for ds in cfg.datasets for arch in cfg.archs for a, m in variants(cfg)]


def cell(cfg: Config, g: Group, role: str, k: int, seed: int) -> Cell:
    """The cell of group ``g``'s run of ``role`` at lr index ``k`` and ``seed`` (its key names all five)."""
    ds, arch, activation, method = g
    tail = {"tune": f"tune.k{k}.seed{seed}", "final": f"seed{seed}", "matched": f"matched.k{k}.seed{seed}",
            "reference": f"reference.k{k}.seed{seed}"}[role]
    key = f"{ds}.{arch}.{activation}.{method.label}.{tail}"
    return Cell(key, {"dataset": ds, "arch": arch, "activation": activation, "method": method, "role": role,
                      "lr_k": k, "lr": cfg.lr_grid.lr(k), "seed": seed})


def _done_index(done: pd.DataFrame | None) -> dict[tuple, tuple[float, bool]]:
    """(dataset, arch, activation, method, role, lr_k, seed) -> (last-epoch val_acc, diverged) of done cells."""
    if done is None or done.empty:
        return {}
    out = {}
    keys = ["dataset", "arch", "activation", "method", "role", "lr_k", "seed"]
    for key, g in done.groupby(keys, sort=False):
        last = g.loc[g["epoch"].idxmax()]
        out[tuple(key)] = (float(last["val_acc"]), bool(g["diverged"].any()))
    return out


def _ident(g: Group, role: str, k: int, seed: int) -> tuple:
    ds, arch, activation, method = g
    return (ds, arch, activation, method.label, role, k, seed)


def _is_baseline(g: Group) -> bool:
    return g[2] == BASELINE_ACTIVATION and g[3] == BASELINE_METHOD


def tuning_scores(cfg: Config, index: dict[tuple, tuple[float, bool]], g: Group,
                  ks: list[int]) -> dict[int, float] | None:
    """Score per lr index (:data:`.selection.TUNING_SCORE`: mean last-epoch validation accuracy over the
    tuning seeds, NaN when any of them diverged); None while a tuning cell of ``ks`` has not finished.
    Reads validation data only."""
    rows = []
    for k in ks:
        for s in cfg.tune_seeds:
            got = index.get(_ident(g, "tune", k, s))
            if got is None:
                return None
            rows.append({"lr_k": k, "seed": s, "val_acc": got[0], "diverged": got[1]})
    return tuning.scores(pd.DataFrame(rows), TUNING_SCORE)


def cells(cfg: Config, done: pd.DataFrame | None = None) -> list[Cell]:
    """The cell list: initial tuning cells, then round by round the extensions and final cells that the
    stored records ``done`` call for (see the module docstring).  A pure function of ``cfg`` and ``done``."""
    groups = _groups(cfg)
    tried = {g: list(cfg.lr_grid.initial()) for g in groups}
    listed = [cell(cfg, g, "tune", k, s) for g in groups for k in tried[g] for s in cfg.tune_seeds]
    if done is None:
        return listed
    index = _done_index(done)
    closed: set[Group] = set()
    while True:
        new: list[tuple[Cell, tuple]] = []
        for g in groups:
            if g in closed:
                continue
            scores = tuning_scores(cfg, index, g, tried[g])
            if scores is None:
                continue
            choice = tuning.choose(scores, cfg.lr_grid)
            if choice.extend:
                tried[g] += list(choice.extend)
                new += [(cell(cfg, g, "tune", k, s), _ident(g, "tune", k, s))
                        for k in choice.extend for s in cfg.tune_seeds]
                continue
            closed.add(g)
            failed = all(math.isnan(v) for v in scores.values())  # every lr diverged down to the grid's limit
            if not failed:
                new += [(cell(cfg, g, "final", choice.k, s), _ident(g, "final", choice.k, s)) for s in cfg.seeds]
                if cfg.reference_epochs is not None and _is_baseline(g):
                    new += [(cell(cfg, g, "reference", choice.k, s), _ident(g, "reference", choice.k, s))
                            for s in cfg.tune_seeds]
            km = cfg.matched_lr_k
            if km is not None and (failed or choice.k != km):
                new += [(cell(cfg, g, "matched", km, s), _ident(g, "matched", km, s)) for s in cfg.seeds]
        if not new:
            return listed
        listed += [c for c, _ in new]
        if any(ident not in index for _, ident in new):
            return listed
