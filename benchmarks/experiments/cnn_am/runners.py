"""Running one ``cnn-am`` cell (:func:`run_cell`): a survey (dataset maxima, the dead-unit rule and the
draw), a certificate, or one batched AM run of a method on a cell's units, each as record rows
(:mod:`benchmarks.experiments.cnn_am.records`) with its array file (:mod:`benchmarks.experiments.cnn_am.arrays`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from proxygrad.tracking import best_at

from benchmarks.framework import methods as _methods
from benchmarks.framework import schema, tuning
from benchmarks.framework.stuck import start_gradient_is_zero
from benchmarks.experiments.cnn_am import arrays as _arrays
from benchmarks.experiments.cnn_am.certificates import certificate
from benchmarks.experiments.cnn_am.config import NAME, Config, ModelCfg, has_recipes
from benchmarks.experiments.cnn_am.networks import dataset_maxima, model_of, objective, pool
from benchmarks.experiments.cnn_am.records import model_columns, row, unit_columns
from benchmarks.experiments.cnn_am.units import UnitBatch, draw, seed_of, unit_of


#: Points of the activation-against-step trace kept per element (evenly spaced, first and last included).
TRACE_POINTS = 33
#: Largest side of the stimulus kept for the stimulus grid; larger inputs are average-pooled.
STIMULUS_SIDE = 32


def _maxima(cfg: Config, m: ModelCfg, ctx: Any) -> tuple[dict[str, float], int, str]:
    """The dataset maxima of ``m``'s pool (:func:`.networks.dataset_maxima`) on the run's data (``ctx.data_dir``)."""
    data_dir = None if getattr(ctx, "data_dir", None) is None else str(ctx.data_dir)
    return dataset_maxima(m.name, m.weights, m.input_size, cfg.seed, m.layers, cfg.dataset_limit, data_dir)


def _survey(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    """One row per pool unit of the cell's model: its dataset maximum, the dead-unit rule and its role in the draw."""
    mi = cell.params["model"]
    m, zm = cfg.models[mi], model_of(cfg, mi)
    groups = pool(zm, m, f"{NAME}.models[{mi}]")
    maxima, n_data, source = _maxima(cfg, m, ctx)
    drawn = draw(groups, seed=cfg.seed, model=m.label, dataset_max=maxima, dead_epsilon=cfg.dead_epsilon,
                 tune_units=m.tune_units, eval_units=m.eval_units)
    tuning.disjoint([u.label for u, r, _ in drawn if r == "tuning"], [u.label for u, r, _ in drawn if r == "evaluation"])
    n_cert = sum(r == "evaluation" for _, r, _ in drawn) if m.certify_units is None else m.certify_units
    rows, evaluated = [], 0
    for u, role, pos in sorted(drawn, key=lambda t: t[2]):
        dmax = maxima.get(u.label, math.nan)
        certified = bool(m.certify and role == "evaluation" and evaluated < n_cert)
        evaluated += role == "evaluation"
        rows.append(row(cfg, method="", method_kind="", method_slope=None, seed=cfg.seed, cell=cell.key,
                        cell_kind="survey", role=role, **model_columns(m, zm), **unit_columns(u), draw=pos,
                        dead=(dmax <= cfg.dead_epsilon) if n_data else None, certified=certified,
                        dataset_max=dmax, dataset_max_n=n_data, dataset_max_source=source))
    return rows


def _write_arrays(ctx: Any, key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """The cell's array file (:mod:`.arrays`) when the run keeps files (``ctx.out_dir``), else None."""
    out = getattr(ctx, "out_dir", None)
    return None if out is None else _arrays.write(out, key, arrays)


def _certificate_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    """The one row of a unit's certificate (its argmax goes to the cell's array file)."""
    mi = cell.params["model"]
    m, zm = cfg.models[mi], model_of(cfg, mi)
    u = unit_of(cell.params["unit"])
    cert, argmax = certificate(zm, u.kind, u.layer, u.index, cfg.certify_time_limit,
                               getattr(ctx, "cache_dir", None), cfg.certify_node_limit)
    npz = _write_arrays(ctx, cell.key, {
        "trace_steps": np.zeros(0, dtype=np.int64), "trace": np.zeros((1, 0)),
        "stimulus": _stimulus(argmax.to(torch.float32)[None]).numpy().astype(np.float16)})
    maxima, n_data, source = _maxima(cfg, m, ctx)
    # f_best of a certificate row is the certifier's incumbent (a value it attained), checked against its bound
    return [row(cfg, method="", method_kind="", method_slope=None, seed=cfg.seed, cell=cell.key,
                cell_kind="certificate", role="evaluation", **model_columns(m, zm), **unit_columns(u),
                certified=True, f_best=cert["incumbent"], dataset_max=maxima.get(u.label, math.nan),
                dataset_max_n=n_data, dataset_max_source=source, **cert,
                arrays="" if npz is None else npz.name, array_row=0 if npz is not None else None)]


def _stimulus(x: torch.Tensor) -> torch.Tensor:
    """``x`` average-pooled to at most :data:`STIMULUS_SIDE` pixels a side (the stimulus grid's images)."""
    if x.shape[-1] > STIMULUS_SIDE:
        x = torch.nn.functional.adaptive_avg_pool2d(x, STIMULUS_SIDE)
    return x


def _trace_points(steps: int) -> list[int]:
    """The :data:`TRACE_POINTS` steps (evenly spaced, 0 and ``steps`` included) whose trace a cell keeps."""
    return sorted({round(i * steps / (TRACE_POINTS - 1)) for i in range(TRACE_POINTS)})


def _certificate_columns(cert: dict[str, Any] | None, fb: float) -> dict[str, Any]:
    """The certificate columns of an AM record whose unit has the certificate ``cert`` (None: uncertified)
    and whose best value is ``fb``: the bound, the certifier's incumbent and the gaps to them."""
    if cert is None:
        return {"upper_bound": math.nan, "incumbent": math.nan, "optimum": math.nan, "cert_status": "none",
                "mip_gap": math.nan, "gap_lower": math.nan, "gap_upper": math.nan, "bound_ok": None}
    ub, inc = float(cert["upper_bound"]), float(cert["incumbent"])
    return {"upper_bound": ub, "incumbent": inc,
            "optimum": math.nan if cert["optimum"] is None else float(cert["optimum"]),
            "cert_status": cert["cert_status"],
            "mip_gap": math.nan if cert["mip_gap"] is None else float(cert["mip_gap"]),
            "gap_lower": max(0.0, inc - fb), "gap_upper": ub - fb, "bound_ok": fb <= ub}


def _am_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    """One batched AM run of the cell's method on all its units; one row per (unit, start)."""
    p = cell.params
    mi = p["model"]
    m, zm = cfg.models[mi], model_of(cfg, mi)
    device = getattr(ctx, "device", "cpu")
    zm.model.to(device)
    if zm.preprocess is not None:
        zm.preprocess.to(device)
    units = [unit_of(u) for u in p["units"]]
    method: _methods.Method = p["method"]
    S = int(p.get("starts", cfg.starts))
    per_element = [u for u in units for _ in range(S)]
    x0 = torch.cat([torch.rand((S, *zm.input_shape), generator=torch.Generator().manual_seed(
        seed_of(cfg.seed, m.label, u.label))) * 2.0 - 1.0 for u in units]).to(device)
    f = UnitBatch(zm.model, per_element, zm.preprocess)
    stuck = start_gradient_is_zero(f, x0, (-1.0, 1.0))
    res = _methods.run_am(method, f, x0, steps=cfg.steps, lr=float(p["lr"]), optimizer=p["optimizer"],
                          seed=cfg.seed, forward_slope=zm.forward_slope, bounds=(-1.0, 1.0))
    trace = res.trace.double().cpu()
    checkpoints = {t: best_at(trace, t) for t in cfg.checkpoints}
    maxima, n_data, source = _maxima(cfg, m, ctx)
    points = _trace_points(cfg.steps)
    npz = _write_arrays(ctx, cell.key, {
        "trace_steps": np.asarray(points, dtype=np.int64), "trace": trace[points].T.numpy(),
        "stimulus": (_stimulus(res.best_input.detach().cpu()).numpy() if p["role"] in ("evaluation", "fixed")
                     else np.zeros((0, *zm.input_shape), dtype=np.float32)).astype(np.float16)})
    certs = p.get("certs") or {}
    lr_groups = p.get("lr_groups") or [""] * len(units)
    rows: list[dict[str, Any]] = []
    for ui, u in enumerate(units):
        f_u = objective(zm, u.kind, u.layer, u.index)
        with torch.no_grad():
            f_best = f_u(res.best_input[ui * S:(ui + 1) * S]).double().cpu()
        dmax = maxima.get(u.label, math.nan) if n_data else math.nan
        cert = certs.get(u.label)
        for s in range(S):
            e = ui * S + s
            fb = float(f_best[s])
            rows.append(row(
                cfg, **method.columns(), seed=seed_of(cfg.seed, m.label, u.label), cell=cell.key, cell_kind="am",
                role=p["role"], **model_columns(m, zm), optimizer=p["optimizer"], **unit_columns(u),
                **({"method_adapter": res.config.get("adapter", "")} if has_recipes(cfg) else {}),
                certified=cert is not None, claim_method=cfg.claim_method, start=s,
                start_grad_zero=bool(stuck[e]), steps=cfg.steps, lr=float(p["lr"]), lr_index=p["lr_index"],
                lr_group=lr_groups[ui], f_start=float(trace[0, e]), f_best=fb,
                **{schema.budget_column(t): float(v[e]) for t, v in checkpoints.items()},
                f_final=float(trace[-1, e]), best_step=int(res.best_step[e]), grad_evals=int(res.grad_evals),
                dataset_max=dmax, dataset_max_n=n_data, dataset_max_source=source,
                beats_dataset=(fb > dmax) if n_data else None, **_certificate_columns(cert, fb),
                arrays="" if npz is None else npz.name, array_row=e if npz is not None else None))
    return rows


def run_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    """The rows of one cell: a survey, a certificate, or one batched AM run (see the module doc)."""
    kind = cell.params["cell_kind"]
    if kind == "survey":
        return _survey(cfg, cell, ctx)
    if kind == "certificate":
        return _certificate_cell(cfg, cell, ctx)
    return _am_cell(cfg, cell, ctx)
