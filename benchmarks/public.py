"""The benchmark instances as plain Python values, to run any method outside the harness, and their scoring.

    insts = benchmarks.instances("toy-am", "smoke")           # or "cnn-am" (needs data_dir for its data set)
    tune = benchmarks.instances("toy-am", "smoke", role="tuning")   # the disjoint tuning set
    # tune my step size on `tune` with benchmarks.public.choose_lr (the suite's rule), then:
    for inst in insts:
        x = my_method(inst.f, inst.x0, steps=inst.steps)       # inputs [N, *shape] in inst.bounds
        results[inst.key] = x                                   # or the attained values f(x), shape [N]
    rows, table = benchmarks.score("toy-am", "smoke", results)  # per-start rows and the leaderboard table

Each experiment with public instances says how it builds and scores them (``public_api()`` of its manifest, a
:class:`benchmarks.framework.instances.PublicAPI`); :func:`experiments` lists them.
An :class:`Instance` is one instance (toy-am: a family at ``(dim, seed)``) or unit (cnn-am: one unit of one
model) of the profile, with its ``role``: ``"evaluation"`` (what the suite's tables and verdicts rest on)
or ``"tuning"`` (disjoint from the evaluation ones; the suite selects every (method, optimizer) pair's step
size on them).  It holds the ORIGINAL objective ``f`` (``[N, *shape] -> [N]``), the standardized starts
``x0`` (exactly those the suite's cells of that role start from), the budget ``steps`` (gradient
evaluations per start), the box ``bounds``, the references (toy-am: ``optimum``, the closed-form or
certified maximum, NaN on uncertified tuning instances; cnn-am: ``dataset_max`` where the data set is
found, and ``upper_bound``, ``incumbent`` and ``optimum`` (NaN unless proven) on certified units), the
fixed step sizes of the untuned comparison ``lr`` (optimizer -> lr) and the step-size protocol
``tuning`` (:class:`Tuning`).

:func:`score` evaluates inputs on ``f`` itself (values are taken as given and marked so), refuses any
value above the instance's certified optimum or bound, and returns the per-start rows and the table of
:mod:`benchmarks.framework.leaderboard` (same definitions).  :func:`choose_lr` applies the suite's
step-size rule to a method's results on the tuning instances.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.framework import leaderboard, stats, tuning
from benchmarks.framework.config import ConfigError, load_profile
from benchmarks.framework.instances import Instance, PublicAPI, Tuning
from benchmarks.framework.registry import EXPERIMENTS, load, manifest
from benchmarks.framework.runner import DEFAULT_CACHE

ROLES: tuple[str, ...] = ("evaluation", "tuning")


def _provider(experiment: str) -> PublicAPI | None:
    """The experiment's :class:`PublicAPI` (``public_api()`` of its manifest), or None when it has none."""
    found = getattr(manifest(experiment), "public_api", None)
    return found() if callable(found) else None


def experiments() -> list[str]:
    """The registered experiments that give out public instances, in registry order."""
    return [name for name in EXPERIMENTS if _provider(name) is not None]


def _api(experiment: str) -> PublicAPI:
    """The experiment's :class:`PublicAPI`; ConfigError naming those that have one when it has none."""
    api = _provider(experiment) if experiment in EXPERIMENTS else None
    if api is None:
        raise ConfigError(f"no public instances for {experiment!r}; choose from {', '.join(experiments())}")
    return api


def instances(experiment: str, profile: str, *, role: str = "evaluation", config_file: Path | None = None,
              data_dir: Path | None = None, cache_dir: Path | None = None) -> list[Instance]:
    """The instances of ``role`` (``"evaluation"`` or ``"tuning"``) of ``experiment`` at ``profile`` (of
    ``config_file``, default the suite's profiles), in the suite's cell order.

    ``cache_dir`` (default the suite's ``.cache``) holds certificates, shared with the suite's runs.
    Nothing is tuned here: the chosen step sizes of the suite's own methods are in its records.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    api = _api(experiment)
    module = load(experiment)
    cfg = module.parse_config(load_profile(experiment, profile, config_file=config_file), data_dir=data_dir)
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    return api.instances(module, cfg, role, cache, data_dir)


def _attained(inst: Instance, f_best: np.ndarray, f_start: np.ndarray) -> tuple[np.ndarray, str]:
    """The attained fraction of the reference per start, ``(f_best - f_start) / (ref - f_start)`` (1 where
    the start reaches the reference), and the reference's name ("" when there is none)."""
    ref, kind = _api(inst.experiment).reference(inst, f_best)
    if not kind:
        return np.full(len(f_best), math.nan), ""
    scale = ref - f_start
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, (f_best - f_start) / safe, 1.0), kind


def _evaluate(inst: Instance, result: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(f_start, f_best, evaluated)`` of one instance's result (see :func:`score`)."""
    r = torch.as_tensor(result)
    n = inst.x0.shape[0]
    with torch.no_grad():
        f_start = inst.f(inst.x0).double().cpu().numpy()
        if r.dim() == 1:
            if r.shape[0] != n:
                raise ValueError(f"instance {inst.key!r}: {r.shape[0]} values for {n} starts")
            values, evaluated = r.double().cpu().numpy(), False
        else:
            if tuple(r.shape) != tuple(inst.x0.shape):
                raise ValueError(f"instance {inst.key!r}: inputs of shape {tuple(r.shape)}, the starts have "
                                 f"{tuple(inst.x0.shape)}")
            lo, hi = inst.bounds
            if not bool(torch.isfinite(r).all()) or bool((r < lo).any()) or bool((r > hi).any()):
                raise ValueError(f"instance {inst.key!r}: inputs leave the box [{lo}, {hi}]")
            values, evaluated = inst.f(r.to(dtype=inst.x0.dtype)).double().cpu().numpy(), True
    f_best = np.maximum(values, f_start)
    api = _api(inst.experiment)
    cap = inst.reference.get(api.cap, math.nan)
    # a certified optimum is exact and a certified bound carries its rigorous rounding margin, so no value
    # may exceed either, not even by one ulp
    if math.isfinite(cap) and bool((f_best > cap).any()):
        raise ValueError(f"instance {inst.key!r}: a value {float(f_best.max())!r} exceeds the certified "
                         f"{api.cap_name} {cap!r}")
    return f_start, f_best, evaluated


def score(experiment: str, profile: str, results: dict[str, Any], *, method: str = "external",
          role: str = "evaluation", config_file: Path | None = None, data_dir: Path | None = None,
          cache_dir: Path | None = None, insts: list[Instance] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows, table)`` for ``results``: instance key -> the inputs found (``[N, *shape]``, evaluated here on
    the original ``f``) or their values (``[N]``, taken as given: ``evaluated = False``).

    ``rows``: one per (instance, start): ``role``, ``f_start``, ``f_best`` (the larger of the start's and
    the result's value, as the suite's records), the references and ``attained`` (the fraction of the gap
    from the start to the experiment's reference closed, ``PublicAPI.reference``: e.g. toy-am's certified
    optimum; cnn-am's certified bound, else the best value these results or the test set reached on the
    unit).  ``table``: per benchmark, the median over units of replication (``PublicAPI.unit_scores``: e.g.
    toy-am per instance, the mean over its starts; cnn-am per unit of a trained model, the best over its
    starts) with its 95% CI and n, as the leaderboard.  ValueError naming the instance for a missing key, a
    wrong shape, inputs outside the box, or
    a value above a certified optimum or bound.
    """
    insts = insts if insts is not None else instances(experiment, profile, role=role, config_file=config_file,
                                                      data_dir=data_dir, cache_dir=cache_dir)
    rows = []
    for inst in insts:
        if inst.key not in results:
            raise ValueError(f"results have no entry for instance {inst.key!r}")
        f_start, f_best, evaluated = _evaluate(inst, results[inst.key])
        attained, kind = _attained(inst, f_best, f_start)
        for j in range(len(f_start)):
            rows.append({"experiment": experiment, "role": inst.role, "benchmark": inst.benchmark,
                         "instance": inst.key, "method": method, "start": j, "evaluated": evaluated,
                         "f_start": float(f_start[j]), "f_best": float(f_best[j]), **inst.reference,
                         "reference": kind, "attained": float(attained[j])})
    df = pd.DataFrame(rows)
    api = _api(experiment)
    scored = api.unit_scores(df, insts)
    table = []
    for (bench, kind), g in scored.groupby(["benchmark", "reference"], sort=False):
        if not kind:
            continue
        v = g["attained"].dropna().to_numpy(float)
        iv = stats.bootstrap_ci(v) if v.size else stats.Interval(math.nan, math.nan, math.nan)
        table.append({"experiment": experiment, "benchmark": bench, "reference": kind, "method": method,
                      "sampling_unit": api.sampling_unit, "n": int(v.size), "median": iv.estimate, "ci_low": iv.low,
                      "ci_high": iv.high, "excluded": int(g["attained"].isna().sum())})
    return df, pd.DataFrame(table)


def choose_lr(insts: list[Instance], optimizer: str, results: dict[int, dict[str, Any]]) -> tuning.Choice:
    """The suite's step-size choice for one method and ``optimizer`` from its runs on the tuning ``insts``.

    ``results``: grid index ``k`` (lr ``insts[0].tuning.grids[optimizer].lr(k)``) -> {tuning instance key ->
    inputs or values, as in :func:`score`}.  Start with ``grid.initial()``; while the returned
    ``Choice.extend`` is not empty, run those indices too and call again.  A pure function of ``results``.
    ValueError for evaluation instances or an optimizer the profile does not tune.
    """
    if not insts or any(i.role != "tuning" for i in insts):
        raise ValueError("choose_lr takes the tuning instances (instances(..., role='tuning'))")
    protocol = insts[0].tuning
    if optimizer not in protocol.grids:
        raise ValueError(f"optimizer {optimizer!r} is not tuned in this profile; tuned: {sorted(protocol.grids)}")
    per = []
    for k, by_key in results.items():
        for inst in insts:
            if inst.key not in by_key:
                raise ValueError(f"results at lr index {k} have no entry for tuning instance {inst.key!r}")
            _, f_best, _ = _evaluate(inst, by_key[inst.key])
            value = float(f_best.mean() if protocol.per_instance == "mean" else f_best.max())
            per.append({"instance": inst.key, "lr_index": int(k), "f_best": value})
    return tuning.choose_records(pd.DataFrame(per), protocol.grids[optimizer],
                                 tuning.Score("f_best", units=("instance",)))


__all__ = ["Instance", "Tuning", "experiments", "instances", "score", "choose_lr", "leaderboard"]
