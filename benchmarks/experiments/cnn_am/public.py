"""cnn-am's public instances and their scoring (:class:`benchmarks.framework.instances.PublicAPI`).

An instance is one unit of one model; its references are ``dataset_max`` where the data set is found and,
on certified evaluation units, ``upper_bound``, ``incumbent`` and ``optimum`` (NaN unless proven). The
reference of a score is the certified upper bound (which no value may exceed), else the best value reached
on the unit; a unit of replication is a unit of a trained model, its value the best over its starts.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.experiments.cnn_am.units import seed_of, unit_of
from benchmarks.framework.instances import Instance, PublicAPI, Tuning
from benchmarks.framework.runner import RunContext


def _certificates(module: ModuleType, cfg: Any, survey: pd.DataFrame, ctx: RunContext) -> dict[tuple[str, str], dict]:
    """``(model, unit) -> certificate row`` of the certified evaluation units, run as the suite runs them."""
    certs: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in module.cells(cfg, survey):
        if cell.params["cell_kind"] == "certificate":
            row = module.run_cell(cfg, cell, ctx)[0]
            certs[(row["model"], row["unit"])] = row
    return certs


def instances(module: ModuleType, cfg: Any, role: str, cache_dir: Path, data_dir: Path | None = None) -> list[Instance]:
    """The units of ``role`` as the suite's cells draw them: the survey cells (dataset maxima, dead-unit
    rule, seeded draw) and, for certified evaluation units, the certificate cells, run as the suite runs them."""
    ctx = RunContext(data_dir=None if data_dir is None else Path(data_dir), cache_dir=cache_dir)
    survey = pd.DataFrame([r for c in module.cells(cfg) for r in module.run_cell(cfg, c, ctx)])
    certs = _certificates(module, cfg, survey, ctx) if role == "evaluation" else {}
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
            out.append(Instance(module.NAME, f"{m.label}:{u.label}", role, f"{m.label} ({zm.weights_label})",
                                {"model": m.label, "model_index": mi, "unit": u.label, "unit_kind": u.kind,
                                 "layer": u.layer_label, "index": u.index, "draw": int(r.draw), "seed": seed,
                                 "trained": bool(zm.trained), "forward_slope": float(zm.forward_slope)},
                                module.objective(zm, u.kind, u.layer, u.index), x0, cfg.steps, dict(fixed),
                                (-1.0, 1.0), protocol, ref))
    return out


def reference(inst: Instance, f_best: np.ndarray) -> tuple[float, str]:
    """The certified upper bound, else the best value reached on the unit (by ``f_best`` or the test set)."""
    ub = inst.reference.get("upper_bound", math.nan)
    if math.isfinite(ub):
        return ub, "certified bound"
    dmax = inst.reference.get("dataset_max", math.nan)
    return float(np.fmax(np.max(f_best), dmax)), "best found"


def unit_scores(rows: pd.DataFrame, insts: Sequence[Instance]) -> pd.DataFrame:
    """One row per unit of a trained model (as the leaderboard): the best value over its starts as the
    attained fraction of the unit's reference."""
    untrained = {i.key for i in insts if i.params.get("trained") is False}
    by_inst = {i.key: i for i in insts}
    per = rows[~rows["instance"].isin(untrained)].groupby(["benchmark", "instance", "reference"], sort=False).agg(
        F=("f_best", "max"), F0=("f_start", "max")).reset_index()
    vals = []
    for r in per.itertuples():
        ref, _ = reference(by_inst[r.instance], np.array([r.F]))
        vals.append(1.0 if not ref - r.F0 > 0 else (r.F - r.F0) / (ref - r.F0))
    return per.assign(attained=vals)


PUBLIC = PublicAPI(instances, reference, cap="upper_bound", cap_name="bound", sampling_unit="unit",
                   unit_scores=unit_scores)
