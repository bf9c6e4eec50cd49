"""The staged cell list of a ``cnn-am`` run (:func:`cells`): survey cells first, then, round by round, the
cells that follow from the stored records of the cells listed so far (certificates, tuning cells over the
step-size grid and its extensions, fixed-lr cells, and once every unit group's choice is final the
evaluation and sweep cells). See :mod:`benchmarks.experiments.cnn_am.experiment` for the stages.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd
from torch import nn

from benchmarks.framework import methods as _methods
from benchmarks.framework import tuning
from benchmarks.framework.config import ConfigError
from benchmarks.experiments.cnn_am.choices import group_choices
from benchmarks.experiments.cnn_am.config import NAME, Config, ModelCfg
from benchmarks.experiments.cnn_am.networks import model_of, pool
from benchmarks.experiments.cnn_am.unit_values import POOLED
from benchmarks.experiments.cnn_am.units import unit_of


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+,-]", "-", text)


def _am_key(m: ModelCfg, role: str, opt: str, method: _methods.Method, k: int | None) -> str:
    lr = "fixed" if k is None else f"k{k}"
    return _sanitize(f"{m.label},{role},{opt},{method.label},{lr}")


def _units_of(survey: pd.DataFrame, role: str) -> list[list[Any]]:
    rows = survey[survey["role"] == role].sort_values("draw")
    return [[r.unit_kind, None if r.unit_kind == "logit" else str(r.layer), int(r.index), float(r.layer_depth)]
            for r in rows.itertuples()]


def _next_cells(cfg: Config, listed: list[Any], done: pd.DataFrame) -> list[Any]:
    """The cells that follow from the records of the (complete) cells ``listed``."""
    from benchmarks.framework.runner import Cell

    keys = {c.key for c in listed}
    new: list[Any] = []
    for mi, m in enumerate(cfg.models):
        survey = done[(done["cell_kind"] == "survey") & (done["model"] == m.label)]
        if survey.empty:
            continue
        tune_units, eval_units = _units_of(survey, "tuning"), _units_of(survey, "evaluation")
        certs: dict[str, dict[str, Any]] | None = {}
        if m.certify:
            chosen = eval_units if m.certify_units is None else eval_units[: m.certify_units]
            for u in chosen:
                key = _sanitize(f"{m.label},certificate,{unit_of(u).label}")
                if key not in keys:
                    new.append(Cell(key, {"cell_kind": "certificate", "model": mi, "unit": u}))
                    certs = None
                elif certs is not None:
                    row = done[done["cell"] == key].iloc[0]
                    certs[unit_of(u).label] = {c: (None if pd.isna(row[c]) else row[c]) for c in
                                               ("upper_bound", "incumbent", "optimum", "cert_status", "mip_gap")}
        base = {"cell_kind": "am", "model": mi, "certs": certs}
        for opt, method in m.runs(cfg):
            grid = cfg.grid(opt)
            if method in cfg.fixed_methods and opt in cfg.fixed_optimizers and certs is not None:
                key = _am_key(m, "fixed", opt, method, None)
                if key not in keys:
                    new.append(Cell(key, {**base, "role": "fixed", "optimizer": opt, "method": method,
                                          "lr": cfg.lr, "lr_index": None, "units": eval_units}))
            tried = [k for k in range(grid.k_min, grid.k_max + 1)
                     if _am_key(m, "tuning", opt, method, k) in keys]
            tune_cell = {**base, "certs": {}, "role": "tuning", "optimizer": opt, "method": method,
                         "units": tune_units, "starts": cfg.tuning_starts}
            if not tried:
                new += [Cell(_am_key(m, "tuning", opt, method, k), {**tune_cell, "lr": grid.lr(k), "lr_index": k})
                        for k in grid.initial()]
                continue
            rows = done[(done["role"] == "tuning") & (done["model"] == m.label) & (done["optimizer"] == opt)
                        & (done["method"] == method.label)]
            choices = group_choices(rows, grid, [unit_of(u).layer_label for u in eval_units])
            extend = sorted({k for c in choices.values() for k in c.extend})
            if extend:
                new += [Cell(_am_key(m, "tuning", opt, method, k), {**tune_cell, "lr": grid.lr(k), "lr_index": k})
                        for k in extend]
                continue
            if certs is None:
                continue
            new += [c for c in _evaluation_cells(m, base, opt, method, grid, choices, eval_units)
                    if c.key not in keys]
            if cfg.sweep:
                new += [Cell(key, {**base, "role": "sweep", "optimizer": opt, "method": method,
                                   "lr": grid.lr(k), "lr_index": k, "units": eval_units,
                                   "starts": cfg.sweep_starts})
                        for k in tried if (key := _am_key(m, "sweep", opt, method, k)) not in keys]
    return new


def _evaluation_cells(m: ModelCfg, base: dict[str, Any], opt: str, method: _methods.Method, grid: tuning.Grid,
                      choices: dict[str, tuning.Choice], eval_units: list[list[Any]]) -> list[Any]:
    """One evaluation cell per chosen grid index: the evaluation units of every unit group whose choice
    it is, each unit with the group that decided its lr (``lr_groups``)."""
    from benchmarks.framework.runner import Cell

    by_k: dict[int, list[tuple[list[Any], str]]] = {}
    for u in eval_units:
        group = unit_of(u).layer_label
        decided = group if group in choices else POOLED
        by_k.setdefault(choices[decided].k, []).append((u, decided))
    return [Cell(_am_key(m, "evaluation", opt, method, k),
                 {**base, "role": "evaluation", "optimizer": opt, "method": method, "lr": grid.lr(k),
                  "lr_index": k, "units": [u for u, _ in members], "lr_groups": [g for _, g in members]})
            for k, members in sorted(by_k.items())]


def cells(cfg: Config, done: pd.DataFrame | None = None) -> list:
    """The staged cell list (see the module doc): survey cells first, then the cells that follow from
    the stored records ``done`` of the cells listed so far, round by round (append only)."""
    from benchmarks.framework.runner import Cell

    listed = []
    for mi, m in enumerate(cfg.models):
        zm = model_of(cfg, mi)
        if m.certify and (zm.preprocess is not None or not isinstance(zm.model, nn.Sequential)):
            raise ConfigError(f"{NAME}: model {m.name!r} cannot be certified (certify = true needs a plain "
                              "nn.Sequential suite model such as fmnist-tiny8)")
        pool(zm, m, f"{NAME}.models[{mi}]")  # validates logits, layers and certifiability
        listed.append(Cell(_sanitize(f"{m.label},survey"), {"cell_kind": "survey", "model": mi}))
    if done is None or done.empty or "cell" not in done.columns:
        return listed
    have = set(done["cell"].dropna())
    while all(c.key in have for c in listed):
        rows = done[done["cell"].isin({c.key for c in listed})]
        new = _next_cells(cfg, listed, rows)
        if not new:
            break
        listed += new
    return listed
