"""The benchmark instances as plain Python values, to run any method outside the harness, and their scoring.

    insts = benchmarks.instances("toy-am", "smoke")          # or "cnn-am" (needs data_dir for its data set)
    for inst in insts:
        x = my_method(inst.f, inst.x0, steps=inst.steps)      # inputs [N, *shape] in inst.bounds
        results[inst.key] = x                                  # or the attained values f(x), shape [N]
    score = benchmarks.score("toy-am", "smoke", results)      # rows and the leaderboard table

An :class:`Instance` is one cell of the profile: the ORIGINAL objective ``f`` (``[N, *shape] -> [N]``), the
standardized starts ``x0`` (exactly those every method of the suite starts from), the budget (``steps``
gradient evaluations; the profile's step sizes per optimizer in ``lr``), the box ``bounds`` and the
reference values: ``optimum`` (toy-am: the closed-form or certified optimum), ``upper_bound`` and
``optimum`` (cnn-am units the profile certifies) and ``dataset_max`` (cnn-am suite models, when the data
set is found). :func:`score` evaluates inputs on ``f`` itself (values are taken as given and marked so),
refuses any value above the instance's certified optimum or bound, and returns the per-start rows and
the table of :mod:`benchmarks.framework.leaderboard` (same definitions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.framework import leaderboard, stats
from benchmarks.framework.config import ConfigError, load_profile
from benchmarks.framework.registry import load

EXPERIMENTS: tuple[str, ...] = ("toy-am", "cnn-am")
#: A value may exceed a float32 network's certified bound by at most this (relative) rounding, as in cnn-am.
BOUND_RTOL = 1e-4


@dataclass
class Instance:
    """One benchmark instance (see the module doc); ``key`` is the suite's cell key."""

    experiment: str
    key: str
    benchmark: str
    params: dict[str, Any]
    f: Any
    x0: torch.Tensor
    steps: int
    lr: dict[str, float]
    bounds: tuple[float, float]
    reference: dict[str, float] = field(default_factory=dict)


def _config(experiment: str, profile: str, config_file: Path | None, data_dir: Path | None) -> tuple[Any, Any]:
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"no public instances for {experiment!r}; choose from {', '.join(EXPERIMENTS)}")
    module = load(experiment)
    return module, module.parse_config(load_profile(experiment, profile, config_file=config_file), data_dir=data_dir)


def _toy_instances(module: Any, cfg: Any, cache_dir: Path | None) -> list[Instance]:
    from benchmarks.experiments.toy_am import instances as toy

    out = []
    for cell in module.cells(cfg):
        fam = next(fm for fm in cfg.families if fm.label == cell.params["family"])
        dim, seed = cell.params["dim"], cell.params["seed"]
        f = toy.build(fam.name, dim, seed, fam.params, None if cache_dir is None else Path(cache_dir))
        out.append(Instance("toy-am", cell.key, fam.label, dict(cell.params, family_name=fam.name), f,
                            toy.draw_starts(f, fam.label, dim, seed, cfg.starts), cfg.steps,
                            {o.name: o.lr for o in cfg.optimizers}, tuple(f.bounds), {"optimum": float(f.optimum)}))
    return out


def _cnn_instances(module: Any, cfg: Any, cache_dir: Path | None, data_dir: Path | None) -> list[Instance]:
    from benchmarks.framework import am_function

    out = []
    seen: set[tuple] = set()
    for cell in module.cells(cfg):
        p = cell.params
        unit = (p["model"], p["kind"], p["layer"], p["index"])
        if unit in seen:  # one instance per unit: the optimizers share its starts and references
            continue
        seen.add(unit)
        m = cfg.models[p["model"]]
        zm = module.load_model(m, cfg.seed)
        f = module.objective(zm, p["kind"], p["layer"], p["index"])
        seed = module._seed_of(cfg.seed, cell.key)
        ref: dict[str, float] = {}
        maxima, n_data, _ = module._dataset_max(m.name, m.weights, m.input_size, cfg.seed, p["kind"], p["layer"],
                                                cfg.dataset_limit, None if data_dir is None else str(data_dir))
        if n_data:
            ref["dataset_max"] = float(maxima[p["index"]])
        if m.certify:
            cert = module._certificate(zm, p["kind"], p["layer"], p["index"], cfg.certify_time_limit, cache_dir,
                                       cfg.certify_node_limit)
            ref["upper_bound"], ref["optimum"] = cert["upper_bound"], cert["optimum"]
        x0 = am_function.starts(f, cfg.starts, tuple(zm.input_shape), seed, (-1.0, 1.0))
        out.append(Instance("cnn-am", cell.key, f"{m.label} ({zm.weights_label})",
                            {"model": m.label, "unit": p["unit"], "optimizers": list(cfg.optimizers), "seed": seed},
                            f, x0, cfg.steps, {o: cfg.lr for o in cfg.optimizers}, (-1.0, 1.0), ref))
    return out


def instances(experiment: str, profile: str, *, config_file: Path | None = None, data_dir: Path | None = None,
              cache_dir: Path | None = None) -> list[Instance]:
    """The instances of ``experiment`` at ``profile`` (of ``config_file``, default the suite's profiles).

    cnn-am: one instance per unit (its cell key is the first optimizer's); the seed of its starts is that
    cell's, which is what the suite uses for that optimizer (other optimizers' cells draw from their own key).
    """
    module, cfg = _config(experiment, profile, config_file, data_dir)
    if experiment == "toy-am":
        return _toy_instances(module, cfg, cache_dir)
    return _cnn_instances(module, cfg, cache_dir, data_dir)


def _attained(inst: Instance, values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, str]:
    if inst.experiment == "toy-am":
        star = inst.reference["optimum"]
        scale = star - starts
        return np.where(scale > 0, (values - starts) / np.where(scale > 0, scale, 1.0), 1.0), "optimum"
    ref = inst.reference.get("upper_bound", math.nan)
    kind = "bound"
    if not math.isfinite(ref):
        ref, kind = inst.reference.get("dataset_max", math.nan), "dataset max"
    if not math.isfinite(ref) or ref <= 0:
        return np.full(len(values), math.nan), kind if math.isfinite(ref) else ""
    return values / ref, kind


def score(experiment: str, profile: str, results: dict[str, Any], *, method: str = "external",
          config_file: Path | None = None, data_dir: Path | None = None, cache_dir: Path | None = None,
          insts: list[Instance] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows, table)`` for ``results``: instance key -> the inputs found (``[N, *shape]``, evaluated here on
    the original ``f``) or their values (``[N]``, taken as given: ``evaluated = False``).

    ``rows``: one per (instance, start): ``f_start``, ``f_best`` (the larger of the start's and the
    result's value, as the suite's records), the references and ``attained`` (the leaderboard's fraction).
    ``table``: per benchmark, the median attained fraction with its 95% CI and n. ValueError naming the
    instance for a missing key, a wrong shape, inputs outside the box, or a value above a certified optimum
    or bound.
    """
    insts = insts if insts is not None else instances(experiment, profile, config_file=config_file,
                                                      data_dir=data_dir, cache_dir=cache_dir)
    rows = []
    for inst in insts:
        if inst.key not in results:
            raise ValueError(f"results have no entry for instance {inst.key!r}")
        r = torch.as_tensor(results[inst.key])
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
                values = inst.f(r.to(dtype=inst.x0.dtype)).double().cpu().numpy()
                evaluated = True
        f_best = np.maximum(values, f_start)
        cap = inst.reference.get("optimum" if experiment == "toy-am" else "upper_bound", math.nan)
        if math.isfinite(cap):
            tol = 0.0 if experiment == "toy-am" else BOUND_RTOL * max(1.0, abs(cap))
            if bool((f_best > cap + tol).any()):
                raise ValueError(f"instance {inst.key!r}: a value {float(f_best.max())!r} exceeds the certified "
                                 f"{'optimum' if experiment == 'toy-am' else 'bound'} {cap!r}")
        attained, kind = _attained(inst, f_best, f_start)
        for j in range(n):
            rows.append({"experiment": experiment, "benchmark": inst.benchmark, "instance": inst.key,
                         "method": method, "start": j, "evaluated": evaluated, "f_start": float(f_start[j]),
                         "f_best": float(f_best[j]), **inst.reference, "reference": kind,
                         "attained": float(attained[j])})
    df = pd.DataFrame(rows)
    table = []
    unit = "start" if experiment == "toy-am" else "unit"
    scored = df if experiment == "toy-am" else df.groupby(
        ["benchmark", "instance", "reference"], sort=False).agg(attained=("attained", "max")).reset_index()
    for (bench, kind), g in scored.groupby(["benchmark", "reference"], sort=False):
        if not kind:
            continue
        v = g["attained"].dropna().to_numpy(float)
        iv = stats.bootstrap_ci(v) if v.size else stats.Interval(math.nan, math.nan, math.nan)
        table.append({"experiment": experiment, "benchmark": bench, "reference": kind, "method": method,
                      "sampling_unit": unit, "n": int(v.size), "median": iv.estimate, "ci_low": iv.low,
                      "ci_high": iv.high, "excluded": int(g["attained"].isna().sum())})
    return df, pd.DataFrame(table)


__all__ = ["Instance", "instances", "score", "leaderboard"]
