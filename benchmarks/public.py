"""The benchmark instances as plain Python values, to run any method outside the harness, and their scoring.

    insts = benchmarks.instances("toy-am", "smoke")           # or "cnn-am" (needs data_dir for its data set)
    tune = benchmarks.instances("toy-am", "smoke", role="tuning")   # the disjoint tuning set
    # tune my step size on `tune` with benchmarks.public.choose_lr (the suite's rule), then:
    for inst in insts:
        x = my_method(inst.f, inst.x0, steps=inst.steps)       # inputs [N, *shape] in inst.bounds
        results[inst.key] = x                                   # or the attained values f(x), shape [N]
    rows, table = benchmarks.score("toy-am", "smoke", results)  # per-start rows and the leaderboard table

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.framework import leaderboard, replication, stats, tuning
from benchmarks.framework.config import ConfigError, load_profile
from benchmarks.framework.registry import load
from benchmarks.framework.runner import DEFAULT_CACHE, RunContext

EXPERIMENTS: tuple[str, ...] = ("toy-am", "cnn-am")
ROLES: tuple[str, ...] = ("evaluation", "tuning")


@dataclass(frozen=True)
class Tuning:
    """The suite's step-size protocol of a profile.

    Every pair in ``pairs`` (method label, optimizer) gets its own lr from ``grids[optimizer]``
    (``lr(k) = 10 ** (k / per_decade)``, initial indices ``k_lo..k_hi``, hard limits ``k_min..k_max``),
    selected on the tuning instances only with ``starts`` starts each (cnn-am: the first of the unit's
    starts) and the same ``steps``: the score of an index is the mean over tuning instances of its rank
    (:func:`tuning.mean_rank_scores`) by ``per_instance`` of ``f_best`` over starts (toy-am: mean, cnn-am:
    max), and :func:`tuning.choose` picks the lower middle of the best block, or asks for the indices
    past an edge (``Choice.extend``) that must be run before the choice is final.
    """

    grids: dict[str, tuning.Grid]
    pairs: tuple[tuple[str, str], ...]
    starts: int
    per_instance: str


@dataclass
class Instance:
    """One benchmark instance or unit (see the module doc); ``key`` names it in ``results``."""

    experiment: str
    key: str
    role: str
    benchmark: str
    params: dict[str, Any]
    f: Any
    x0: torch.Tensor
    steps: int
    lr: dict[str, float]
    bounds: tuple[float, float]
    tuning: Tuning
    reference: dict[str, float] = field(default_factory=dict)


def _config(experiment: str, profile: str, config_file: Path | None, data_dir: Path | None) -> tuple[Any, Any]:
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"no public instances for {experiment!r}; choose from {', '.join(EXPERIMENTS)}")
    module = load(experiment)
    return module, module.parse_config(load_profile(experiment, profile, config_file=config_file), data_dir=data_dir)


def _toy_instances(module: Any, cfg: Any, role: str, cache_dir: Path) -> list[Instance]:
    from benchmarks.experiments.toy_am import instances as toy

    grids = {o.name: o.grid for o in cfg.optimizers if o.grid is not None}
    protocol = Tuning(grids, tuple((m.label, o) for o in grids for m in cfg.methods), cfg.starts, "mean")
    fixed = {o.name: o.lr for o in cfg.optimizers if o.lr is not None}
    out = []
    for fam, dim, seed in module.role_instances(cfg, role):
        if role == "tuning":  # as the suite's tuning cells build it (random MLPs are not certified)
            f = toy.build_for_tuning(fam.name, dim, seed, fam.params)
            key = f"tune.{fam.label}.d{dim}.s{seed}"
        else:
            f = toy.build(fam.name, dim, seed, fam.params, cache_dir / "certificates")
            key = f"{fam.label}.d{dim}.s{seed}"
        certified = getattr(f, "certificate", None) is not None
        out.append(Instance("toy-am", key, role, fam.label,
                            {"family": fam.label, "family_name": fam.name, "dim": dim, "seed": seed,
                             "forward_slope": float(f.forward_slope)},
                            f, toy.draw_starts(f, fam.label, dim, seed, cfg.starts), cfg.steps, dict(fixed),
                            tuple(f.bounds), protocol, {"optimum": float(f.optimum) if certified else math.nan}))
    return out


def _cnn_instances(module: Any, cfg: Any, role: str, cache_dir: Path, data_dir: Path | None) -> list[Instance]:
    """The units of ``role`` as the suite's cells draw them: the survey cells (dataset maxima, dead-unit
    rule, seeded draw) and, for certified evaluation units, the certificate cells, run as the suite runs them."""
    from benchmarks.experiments.cnn_am.units import seed_of, unit_of

    ctx = RunContext(data_dir=None if data_dir is None else Path(data_dir), cache_dir=cache_dir)
    survey = pd.DataFrame([r for c in module.cells(cfg) for r in module.run_cell(cfg, c, ctx)])
    certs: dict[tuple[str, str], dict[str, Any]] = {}
    if role == "evaluation":
        for cell in module.cells(cfg, survey):
            if cell.params["cell_kind"] == "certificate":
                row = module.run_cell(cfg, cell, ctx)[0]
                certs[(row["model"], row["unit"])] = row
    protocol = Tuning(dict(cfg.grids), tuple((m.label, o) for o in cfg.optimizers for m in cfg.methods),
                      cfg.tuning_starts, "max")
    n_starts = cfg.starts if role == "evaluation" else cfg.tuning_starts
    fixed = {o: cfg.lr for o in cfg.fixed_optimizers}
    out = []
    for mi, m in enumerate(cfg.models):
        zm = module.load_model(m, cfg.seed)
        rows = survey[(survey["model"] == m.label) & (survey["role"] == role)].sort_values("draw")
        for r in rows.itertuples():
            u = unit_of([r.unit_kind, None if r.unit_kind == "logit" else str(r.layer), int(r.index),
                         float(r.layer_depth)])
            seed = seed_of(cfg.seed, m.label, u.label)
            x0 = torch.rand((n_starts, *zm.input_shape), generator=torch.Generator().manual_seed(seed)) * 2.0 - 1.0
            ref: dict[str, float] = {}
            if int(r.dataset_max_n or 0) > 0:
                ref["dataset_max"] = float(r.dataset_max)
            cert = certs.get((m.label, u.label))
            if cert is not None:
                ref.update({c: math.nan if cert[c] is None else float(cert[c])
                            for c in ("upper_bound", "incumbent", "optimum")})
            out.append(Instance("cnn-am", f"{m.label}:{u.label}", role, f"{m.label} ({zm.weights_label})",
                                {"model": m.label, "model_index": mi, "unit": u.label, "unit_kind": u.kind,
                                 "layer": u.layer_label, "index": u.index, "draw": int(r.draw), "seed": seed,
                                 "trained": bool(zm.trained), "forward_slope": float(zm.forward_slope)},
                                module.objective(zm, u.kind, u.layer, u.index), x0, cfg.steps, dict(fixed),
                                (-1.0, 1.0), protocol, ref))
    return out


def instances(experiment: str, profile: str, *, role: str = "evaluation", config_file: Path | None = None,
              data_dir: Path | None = None, cache_dir: Path | None = None) -> list[Instance]:
    """The instances of ``role`` (``"evaluation"`` or ``"tuning"``) of ``experiment`` at ``profile`` (of
    ``config_file``, default the suite's profiles), in the suite's cell order.

    ``cache_dir`` (default the suite's ``.cache``) holds certificates, shared with the suite's runs.
    Nothing is tuned here: the chosen step sizes of the suite's own methods are in its records.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    module, cfg = _config(experiment, profile, config_file, data_dir)
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    if experiment == "toy-am":
        return _toy_instances(module, cfg, role, cache)
    return _cnn_instances(module, cfg, role, cache, data_dir)


def _reference(inst: Instance, f_best: np.ndarray) -> tuple[float, str]:
    """The unit's reference as the leaderboard defines it: toy-am the certified optimum; cnn-am the certified
    upper bound, else the best value reached on the unit (here: by these results or the test set)."""
    if inst.experiment == "toy-am":
        star = inst.reference["optimum"]
        return (star, "optimum") if math.isfinite(star) else (math.nan, "")
    ub = inst.reference.get("upper_bound", math.nan)
    if math.isfinite(ub):
        return ub, "certified bound"
    dmax = inst.reference.get("dataset_max", math.nan)
    return float(np.fmax(np.max(f_best), dmax)), "best found"


def _attained(inst: Instance, f_best: np.ndarray, f_start: np.ndarray) -> tuple[np.ndarray, str]:
    """The attained fraction of the reference per start, ``(f_best - f_start) / (ref - f_start)`` (1 where
    the start reaches the reference), and the reference's name ("" when there is none)."""
    ref, kind = _reference(inst, f_best)
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
    name = "optimum" if inst.experiment == "toy-am" else "upper_bound"
    cap = inst.reference.get(name, math.nan)
    # toy-am's optimum is exact (float64) and cnn-am's upper_bound carries the rigorous float32 rounding
    # margin, so no value may exceed either, not even by one ulp
    if math.isfinite(cap) and bool((f_best > cap).any()):
        what = "optimum" if inst.experiment == "toy-am" else "bound"
        raise ValueError(f"instance {inst.key!r}: a value {float(f_best.max())!r} exceeds the certified "
                         f"{what} {cap!r}")
    return f_start, f_best, evaluated


def score(experiment: str, profile: str, results: dict[str, Any], *, method: str = "external",
          role: str = "evaluation", config_file: Path | None = None, data_dir: Path | None = None,
          cache_dir: Path | None = None, insts: list[Instance] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows, table)`` for ``results``: instance key -> the inputs found (``[N, *shape]``, evaluated here on
    the original ``f``) or their values (``[N]``, taken as given: ``evaluated = False``).

    ``rows``: one per (instance, start): ``role``, ``f_start``, ``f_best`` (the larger of the start's and
    the result's value, as the suite's records), the references and ``attained`` (the fraction of the gap
    from the start to the reference closed: toy-am's certified optimum; cnn-am's certified bound, else the
    best value these results or the test set reached on the unit).  ``table``: per benchmark, the median
    over units of replication with its 95% CI and n (toy-am per instance, the mean over its starts;
    cnn-am per unit of a trained model, the best over its starts), as the leaderboard.  ValueError naming the instance for a missing key, a wrong shape, inputs outside the box, or
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
    table = []
    unit = "instance" if experiment == "toy-am" else "unit"
    untrained = {i.key for i in insts if i.params.get("trained") is False}  # as the leaderboard: trained models only
    if experiment == "toy-am":  # the unit of replication: the instance, the mean over its starts
        scored = df.groupby(["benchmark", "instance", "reference"], sort=False).agg(
            attained=("attained", replication.exact_mean)).reset_index()
    else:  # the unit: the best value over its starts, normalized by the unit's reference
        by_inst = {i.key: i for i in insts}
        per = df[~df["instance"].isin(untrained)].groupby(["benchmark", "instance", "reference"], sort=False).agg(
            F=("f_best", "max"), F0=("f_start", "max")).reset_index()
        vals = []
        for r in per.itertuples():
            ref, _ = _reference(by_inst[r.instance], np.array([r.F]))
            vals.append(1.0 if not ref - r.F0 > 0 else (r.F - r.F0) / (ref - r.F0))
        scored = per.assign(attained=vals)
    for (bench, kind), g in scored.groupby(["benchmark", "reference"], sort=False):
        if not kind:
            continue
        v = g["attained"].dropna().to_numpy(float)
        iv = stats.bootstrap_ci(v) if v.size else stats.Interval(math.nan, math.nan, math.nan)
        table.append({"experiment": experiment, "benchmark": bench, "reference": kind, "method": method,
                      "sampling_unit": unit, "n": int(v.size), "median": iv.estimate, "ci_low": iv.low,
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
    scores = tuning.mean_rank_scores(pd.DataFrame(per), index="lr_index", units=["instance"], value="f_best")
    return tuning.choose(scores, protocol.grids[optimizer])


__all__ = ["Instance", "Tuning", "instances", "score", "choose_lr", "leaderboard"]
