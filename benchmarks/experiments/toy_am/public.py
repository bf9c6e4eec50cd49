"""toy-am's public instances and their scoring (:class:`benchmarks.framework.instances.PublicAPI`).

An instance is a family at ``(dim, seed)``; its reference is the closed-form or certified ``optimum`` (NaN
on uncertified tuning instances), which no value may exceed; a unit of replication is the instance, its
value the mean attained fraction over its starts.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.experiments.toy_am import instances as toy
from benchmarks.framework import replication
from benchmarks.framework.instances import Instance, PublicAPI, Tuning


def instances(module: ModuleType, cfg: Any, role: str, cache_dir: Path, data_dir: Path | None = None) -> list[Instance]:
    """The instances of ``role`` of the parsed config ``cfg``, in the suite's cell order, built as its cells
    build them (tuning instances as the tuning cells: random MLPs are not certified there)."""
    grids = {o.name: o.grid for o in cfg.optimizers if o.grid is not None}
    protocol = Tuning(grids, tuple((m.label, o) for o in grids for m in cfg.methods), cfg.starts, "mean")
    fixed = {o.name: o.lr for o in cfg.optimizers if o.lr is not None}
    out = []
    for fam, dim, seed in module.role_instances(cfg, role):
        if role == "tuning":
            f = toy.build_for_tuning(fam.name, dim, seed, fam.params)
            key = f"tune.{fam.label}.d{dim}.s{seed}"
        else:
            f = toy.build(fam.name, dim, seed, fam.params, cache_dir / "certificates")
            key = f"{fam.label}.d{dim}.s{seed}"
        certified = getattr(f, "certificate", None) is not None
        out.append(Instance(module.NAME, key, role, fam.label,
                            {"family": fam.label, "family_name": fam.name, "dim": dim, "seed": seed,
                             "forward_slope": float(f.forward_slope)},
                            f, toy.draw_starts(f, fam.label, dim, seed, cfg.starts), cfg.steps, dict(fixed),
                            tuple(f.bounds), protocol, {"optimum": float(f.optimum) if certified else math.nan}))
    return out


def reference(inst: Instance, f_best: np.ndarray) -> tuple[float, str]:
    """The certified optimum, ``(nan, "")`` where the instance has none."""
    star = inst.reference["optimum"]
    return (star, "optimum") if math.isfinite(star) else (math.nan, "")


def unit_scores(rows: pd.DataFrame, insts: Sequence[Instance]) -> pd.DataFrame:
    """One row per instance: the exact mean of its starts' attained fractions."""
    return rows.groupby(["benchmark", "instance", "reference"], sort=False).agg(
        attained=("attained", replication.exact_mean)).reset_index()


PUBLIC = PublicAPI(instances, reference, cap="optimum", cap_name="optimum", sampling_unit="instance",
                   unit_scores=unit_scores)
