"""The row schema of ``toy-am``: one record per (run, start), with its gap, targets and checkpoints
(the columns are stated in :mod:`.experiment`)."""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from benchmarks.framework import schema
from benchmarks.experiments.toy_am.config import Config, Family

def checkpoints(steps: int) -> list[int]:
    """Log-spaced steps 0, 1, 2, 4, ..., and ``steps`` at which ``best_at_<t>`` is recorded."""
    pts = {0, steps}
    t = 1
    while t < steps:
        pts.add(t)
        t *= 2
    return sorted(pts)


def target_column(tau: float) -> str:
    """Record column of a target, e.g. ``steps_to_0.001``."""
    return f"steps_to_{tau:g}"


def make_row(cfg: Config, fam: Family, dim: int, seed: int, forward_slope: float, method: Any, rcfg: dict,
             optimizer: str, run: dict[str, Any], j: int, trace: np.ndarray, best: np.ndarray, f_star: float,
             ckpts: list[int], grad_evals: int, seconds: float, start_grad_zero: bool) -> dict[str, Any]:
    """The record of start ``j`` of one run: ``trace`` its original-function values ``[T+1]``, ``best``
    their running maximum, ``run`` the run's role, lr and array columns, ``method`` its method (or
    baseline), ``rcfg`` the rule configuration that ``run_am`` reported."""
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
        row[schema.budget_column(t)] = float(best[t])
    row["grad_evals"] = grad_evals
    row["seconds"] = seconds
    return row
