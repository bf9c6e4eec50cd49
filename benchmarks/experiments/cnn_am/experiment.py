"""Experiment ``cnn-am``: activation maximization on real CNNs, each method at its own tuned step size,
paired unit by unit.

Units (:mod:`.units`): per model a pool of logits and channel means of rectified layers; a seeded
draw spanning the logits and every layer gives disjoint *tuning* and *evaluation* units, after the
profile's dead-unit rule (dataset maximum ``<= dead_epsilon``) has excluded units dead on the data.
With ``f_u(x) = unit(model(preprocess(x)))`` and the same ``S`` starts per unit for every method and
step size (drawn uniformly in ``[-1, 1]^shape`` from ``seed_of(seed, model, unit)``), the run is staged
(``cells(cfg, done)``):

1. ``survey`` cells, one per model: every pool unit's dataset maximum, the dead-unit rule and the draw
   (one row per pool unit with its ``role``: tuning / evaluation / excluded / unused);
2. ``certificate`` cells (models with ``certify = true``): the exact bound of each of the
   ``certify_units`` first evaluation units; ``tuning`` cells, one per (model, optimizer, method, grid
   index ``k``), all tuning units batched; ``fixed`` cells, one per (model, optimizer, method of
   ``fixed_methods``) at the profile's ``lr``, on the evaluation units (the untuned comparison);
3. more ``tuning`` cells where :func:`benchmarks.framework.tuning.choose` extends the grid past an edge
   for some unit group; once every group's choice is final, one ``evaluation`` cell per (model, optimizer,
   method, chosen index) holding the evaluation units of the groups that chose it (each record names the
   group that decided its lr, ``lr_group``), and with ``sweep = true`` one ``sweep`` cell per tried index
   on every evaluation unit (``sweep_starts`` starts; the lr-regret diagnostic, never read by a choice).

The choice is a pure function of the tuning records, made per unit group (the logits; the channels of each
layer), since units of different gradient scales do not share one lr (:func:`.analysis.group_choices`):
per tuning unit the best value over starts at the full budget, ranked across step sizes
(:func:`benchmarks.framework.tuning.mean_rank_scores`) and averaged over the group's units.  Every AM
cell runs one ``methods.run_am`` call on all its units at once (:class:`.units.UnitBatch`).  One record
per (cell, unit, start) for AM cells:

- ``f_start``, ``best_at_<t>`` (best original value within the first ``t`` steps, for every checkpoint
  ``t``; from the trace, which holds the ORIGINAL network's value), and ``f_best``: ``f_u(best input)``
  re-evaluated with the single-unit objective on the plain network;
- ``dataset_max``, ``beats_dataset`` (NaN / empty without data), ``dataset_max_source``;
- certified units: ``upper_bound`` (a proven bound on the float32 forward pass: every value of ``f_u`` that
  any record holds is at most ``upper_bound``, exactly, with no tolerance), ``incumbent`` (the certifier's
  best value, attained at its argmax), ``optimum`` (proven units only: the maximum of ``f_u``, stated by its
  proven upper end ``upper_bound``; it lies in ``[incumbent, upper_bound]``, an interval of relative width at
  most about 1e-4, the rigorous float32 rounding margin, so no attained value can exceed it), gaps
  ``[gap_lower, gap_upper]``; the certificate cell keeps the argmax in its array file (``stimulus``);
- ``arrays`` / ``array_row``: the cell's ``.npz`` file of traces and stimuli (:mod:`.arrays`).
- recipe methods (``lucent``, ``horama`` and their ``-proxy-<s>`` variants, :mod:`benchmarks.framework.recipes`):
  the run's records carry ``method_adapter`` (how the recipe's image space is mapped into the box; empty for
  the other methods, absent from runs without recipes). A recipe starts from its own published initial
  distribution, with its noise taken from the unit's shared start (so its ``f_start`` is its own start's
  value, the same for the recipe's plain and ProxyGrad variants); ``start_grad_zero`` is still the plain
  gradient at the shared start. Its values, like every method's, are the original network's at images in
  the box, never at a transformed copy.

Analysis, figures and claims live in :mod:`.analysis` and :mod:`.figures`.
"""
from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from proxygrad.engine import OPTIMIZERS

from benchmarks.domain import data as _data
from benchmarks.framework import methods as _methods
from benchmarks.framework import plugins as _plugins
from benchmarks.domain import zoo
from benchmarks.framework import tuning
from benchmarks.framework.config import ConfigError, Reader
from benchmarks.experiments.cnn_am import arrays as _arrays
from benchmarks.framework import arrays as _framework_arrays
from benchmarks.framework.stuck import start_gradient_is_zero
from benchmarks.experiments.cnn_am.analysis import (POOLED, SCORE_DEFINITION, analyze, claims, group_choices,
                                                   leaderboard_scores, summarize, tuning_choices)
from benchmarks.experiments.cnn_am.figures import figures
from benchmarks.experiments.cnn_am.units import Unit, UnitBatch, draw, seed_of, unit_of

NAME = "cnn-am"
#: Points of the activation-against-step trace kept per element (evenly spaced, first and last included).
TRACE_POINTS = 33
#: Largest side of the stimulus kept for the stimulus grid; larger inputs are average-pooled.
STIMULUS_SIDE = 32
#: Certified bounds (benchmarks.framework.bounds): f_best <= upper_bound exactly where the unit is certified
#: (``upper_bound`` carries the rigorous float32 rounding margin, so no tolerance is needed or allowed).
BOUNDS = {"f_best": ("upper_bound", ("model", "unit", "optimizer", "method", "start"))}
#: No column is a wall time: every one is a pure function of the config (and the data set).
TIMING_COLUMNS: tuple[str, ...] = ()
#: The columns that say what a row is (not what it measured): rows of two runs of one config are compared
#: on them (benchmarks.framework.spread).
ROW_KEY: tuple[str, ...] = ("cell", "role", "model", "method", "optimizer", "unit", "start", "lr_index", "steps",
                            "draw")
#: The outcome columns whose spread the report's reproducibility statement shows first.
OUTCOME_COLUMNS: tuple[str, ...] = ("f_start", "f_best", "upper_bound")
#: What repeats bit for bit where (the report's reproducibility statement quotes it).
CROSS_MACHINE = ("records repeat bit for bit only on the same CPU and library build: every float32 forward value "
                 "(`f_start`, `dataset_max`), all that AM makes of it (`f_best`, the checkpoints, the lr choices) "
                 "and the certificates' numbers (`upper_bound`, `incumbent`, `mip_gap`) round by the CPU's "
                 "kernels; `cert_status` did not change anywhere it was measured. On a second machine (0.2.0 "
                 "quick records) `f_start` differed in 2,445 of 5,069 rows by about 1e-7 relative (at most 2e-5), "
                 "`dataset_max` in 2,433 rows; AM amplified it to `f_best` differing in 2,099 rows, by more than "
                 "1e-3 relative in 568 and by up to 39%; the certificates and every verdict and its counts were "
                 "the same there. Under the avx2 and sse41 kernels of this machine (smoke profile) `upper_bound` "
                 "moves by up to 3e-8 relative.")
#: Regression tolerances of ``check`` per summary statistic (:func:`.analysis.summarize`), written into the
#: baseline file: ``max(abs, rel * |baseline|)``.
BASELINE_TOLERANCES: dict[str, dict[str, float]] = {"median_F": {"rel": 0.05}, "median_ratio": {"abs": 0.05}}
#: Upper limits (documented in benchmarks/configs/cnn-am.toml), validated before anything is written.
MAX_STARTS = 1024
MAX_STEPS = 100_000
MAX_LR = 10.0
MAX_SEED = 2**31 - 1
MAX_DATASET_LIMIT = 10_000_000
MAX_UNITS = 4096
MAX_NODE_LIMIT = 10_000_000
MAX_TIME_LIMIT = 7 * 24 * 3600.0
#: Hard limits of every tuning grid (step sizes 1e-6 .. 1e6).
GRID_LR_MIN, GRID_LR_MAX = 1e-6, 1e6


@dataclass(frozen=True)
class ModelCfg:
    """One model of the run and how its units are drawn.

    weights: ``"suite"`` (committed checkpoint), ``"imagenet"``, ``"random-init"`` or a state_dict path.
    logits / layers: the pool (class indices; every channel of each layer); ``tune_units`` /
    ``eval_units``: how many live units the draw takes for tuning and for evaluation;
    certify: bound units exactly (the first ``certify_units`` evaluation units; None = all).
    """

    name: str
    weights: str
    input_size: int | None
    logits: tuple[int, ...]
    layers: tuple[str, ...]
    tune_units: int
    eval_units: int
    certify: bool
    certify_units: int | None

    @property
    def label(self) -> str:
        """Model identifier in keys and records."""
        return self.name


@dataclass(frozen=True)
class Config:
    """A resolved ``cnn-am`` profile.

    ``grids``: optimizer -> its tuning grid; ``fixed_methods`` x ``fixed_optimizers``: the untuned
    comparison at ``lr`` (no fixed-lr cells when ``fixed_optimizers`` is empty); ``tune_starts``: starts per
    tuning unit; ``checkpoints``: budgets ``t`` whose best-so-far value every record carries (ends at
    ``steps``); ``sweep``: also run every tried step size on the evaluation units (``sweep_starts`` starts
    each), the diagnostic behind the lr-regret table, which never feeds a choice.
    """

    models: tuple[ModelCfg, ...]
    methods: tuple[_methods.Method, ...]
    optimizers: tuple[str, ...]
    starts: int
    steps: int
    lr: float
    seed: int
    dataset_limit: int | None
    certify_time_limit: float
    certify_node_limit: int | None
    dead_epsilon: float
    checkpoints: tuple[int, ...]
    grids: tuple[tuple[str, tuning.Grid], ...]
    fixed_methods: tuple[_methods.Method, ...]
    fixed_optimizers: tuple[str, ...] = ()
    tune_starts: int | None = None
    claim_method: str = ""
    sweep: bool = False
    sweep_starts: int = 1

    @property
    def tuning_starts(self) -> int:
        """Starts per tuning unit (the first ``tune_starts`` of the unit's starts; default all)."""
        return self.starts if self.tune_starts is None else self.tune_starts

    def grid(self, optimizer: str) -> tuning.Grid:
        return dict(self.grids)[optimizer]


def _parse_model(r: Reader) -> ModelCfg:
    name = r.str("name")
    if _plugins.is_spec(name):  # a model defined outside the suite (benchmarks.domain.plugin_models)
        _plugins.model_factory(name)
    elif name not in zoo.SUITE and name not in zoo.torchvision_names():
        raise ConfigError(f"{r.where}.name: unknown model {name!r}; suite models {sorted(zoo.SUITE)}, "
                          f"a torchvision classifier or a plug-in package.module:factory")
    weights = r.str("weights", "suite" if name in zoo.SUITE else "factory" if _plugins.is_spec(name)
                    else zoo.RANDOM_INIT)
    if name in zoo.SUITE and weights == zoo.IMAGENET:
        raise ConfigError(f"{r.where}.weights: suite model {name!r} has no ImageNet weights")
    if name not in zoo.SUITE and weights == "suite":
        raise ConfigError(f"{r.where}.weights: 'suite' is only for suite models, not {name!r}")
    input_size = r.int("input_size", None, min=4)
    logits = r.list("logits", int, [], min_len=0, min=0)
    layers = r.list("layers", str, [], min_len=0)
    tune = r.int("tune_units", min=1, max=MAX_UNITS)
    evaluate = r.int("eval_units", min=1, max=MAX_UNITS)
    certify = r.bool("certify", False)
    cert_units = r.int("certify_units", None, min=0, max=MAX_UNITS)
    r.done()
    if not logits and not layers:
        raise ConfigError(f"{r.where}: model {name!r} has no units (set logits and/or layers)")
    return ModelCfg(name, weights, input_size, logits, layers, tune, evaluate, certify, cert_units)


def _parse_grids(r: Reader, optimizers: tuple[str, ...]) -> tuple[tuple[str, tuning.Grid], ...]:
    per_decade = r.int("per_decade", 2, min=1, max=12)
    out = []
    for opt in optimizers:
        if opt not in r.raw:
            raise ConfigError(f"{r.where}.{opt}: the tuning grid of optimizer {opt!r} is missing "
                              f"(give [low, high] or [low, high, lr_min, lr_max] step sizes)")
        values = r.list(opt, float, min_len=2, unique=False, min=GRID_LR_MIN, max=GRID_LR_MAX)
        if len(values) not in (2, 4):
            raise ConfigError(f"{r.where}.{opt} must be [low, high] or [low, high, lr_min, lr_max], got {list(values)}")
        lo, hi = values[:2]
        lr_min, lr_max = values[2:] if len(values) == 4 else (GRID_LR_MIN, GRID_LR_MAX)
        if not lr_min <= lo <= hi <= lr_max:
            raise ConfigError(f"{r.where}.{opt}: need lr_min <= low <= high <= lr_max, got {list(values)}")
        out.append((opt, tuning.Grid.from_lrs(lo, hi, per_decade, lr_min=lr_min, lr_max=lr_max)))
    r.done()
    return tuple(out)


def parse_config(raw: dict, *, data_dir: str | Path | None = None, require_data: bool = True) -> Config:
    """Validate a raw profile table into a ``Config`` (``ConfigError`` naming the key and value).

    The test set of every suite model's data set must be found (in ``data_dir`` or the data module's
    default places): ``dataset_max`` (and with it the dead-unit rule) is part of the records, so a
    missing data set stops the run before anything is written. ``require_data=False`` skips that
    check, for callers that read only the models (a certificate needs the weights, not the data).
    """
    r = Reader(raw, NAME)
    models = tuple(_parse_model(m) for m in r.tables("models"))
    for i, m in enumerate(models):
        dataset = zoo.SUITE[m.name].dataset if m.name in zoo.SUITE else None
        if dataset is not None and require_data:
            try:
                _data.require(dataset, data_dir)
            except _data.DataMissingError as exc:
                raise ConfigError(f"{NAME}.models[{i}] = {m.name!r} needs the data set {dataset!r} "
                                  f"(its dataset_max), which is not on this machine: {exc}") from exc
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{NAME}.models lists a model twice: {labels}")
    try:
        names = _methods.parse_all(r.list("methods", str))
        fixed = _methods.parse_all(r.list("fixed_methods", str, ["plain"]), key="fixed_methods")
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
    if _methods.Method("plain") not in names:
        raise ConfigError(f"{NAME}.methods must include 'plain' (the reference), got {[m.label for m in names]}")
    if not set(fixed) <= set(names) or _methods.Method("plain") not in fixed:
        raise ConfigError(f"{NAME}.fixed_methods must include 'plain' and lie in methods, got "
                          f"{[m.label for m in fixed]}")
    optimizers = r.list("optimizers", str, ["adam"], choices=OPTIMIZERS)
    fixed_optimizers = r.list("fixed_optimizers", str, list(optimizers), min_len=0, choices=optimizers)
    starts = r.int("starts", min=1, max=MAX_STARTS)
    steps = r.int("steps", min=1, max=MAX_STEPS)
    checkpoints = r.list("checkpoints", int, [steps], min=1, max=steps)
    cfg = Config(
        models=models, methods=names, optimizers=optimizers,
        starts=starts, steps=steps,
        lr=r.float("lr", min=0.0, min_exclusive=True, max=MAX_LR), seed=r.int("seed", 0, min=0, max=MAX_SEED),
        dataset_limit=r.int("dataset_limit", None, min=1, max=MAX_DATASET_LIMIT),
        certify_time_limit=r.float("certify_time_limit", 60.0, min=0.0, min_exclusive=True, max=MAX_TIME_LIMIT),
        certify_node_limit=r.int("certify_node_limit", None, min=1, max=MAX_NODE_LIMIT),
        dead_epsilon=r.float("dead_epsilon", min=0.0),
        checkpoints=tuple(sorted(set(checkpoints) | {steps})),
        grids=_parse_grids(r.table("tuning"), optimizers), fixed_methods=fixed,
        fixed_optimizers=fixed_optimizers, tune_starts=r.int("tune_starts", starts, min=1, max=starts),
        claim_method=_claim_method(r.str("claim_method", ""), names),
        sweep=r.bool("sweep", False), sweep_starts=r.int("sweep_starts", 1, min=1, max=starts),
    )
    r.done()
    return cfg
def _claim_method(label: str, methods: tuple[_methods.Method, ...]) -> str:
    try:
        return _methods.claim_method(label, methods)
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc


# ------------------------------------------------------------------------------------------ models
@functools.lru_cache(maxsize=8)
def _load(name: str, weights: str, input_size: int | None, seed: int) -> zoo.ZooModel:
    w = None if weights == "suite" else weights
    return zoo.load(name, w, input_size=input_size, seed=seed)


def load_model(m: ModelCfg, seed: int) -> zoo.ZooModel:
    """The loaded model of ``m`` (cached per process; random init is seeded by ``seed``)."""
    return _load(m.name, m.weights, m.input_size, seed)


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+,-]", "-", text)


def layer_depths(model: nn.Module) -> dict[str, float]:
    """Each named submodule -> its relative depth (i + 1) / n in the order of ``named_modules``."""
    names = [n for n, _ in model.named_modules() if n]
    return {n: (i + 1) / len(names) for i, n in enumerate(names)}


def _check_certifier_takes(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, where: str) -> None:
    """ConfigError unless the exact certifier accepts the network of unit ``(kind, layer, index)``:
    its own layer reader (``leaves``, which every solve starts with) decides, without solving."""
    from toy_functions.certify.network import leaves

    try:
        net, _ = certifiable(zm, kind, layer, index)
        leaves(net)
    except ValueError as exc:
        raise ConfigError(f"{where}: certify = true, but the certifier cannot take model {zm.name!r} "
                          f"({'logits' if kind == 'logit' else 'layer ' + repr(layer)}): {exc}") from exc


def objective(zm: zoo.ZooModel, kind: str, layer: str | None, index: int) -> nn.Module:
    """``f_u``: the logit ``index`` or the mean of channel ``index`` of ``layer`` (with preprocessing)."""
    from proxygrad import objectives

    if kind == "logit":
        return objectives.logit(zm.model, index, preprocess=zm.preprocess)
    zoo.resolve_layer(zm.model, layer or "")
    return objectives.channel(zm.model, layer, index, preprocess=zm.preprocess)


# ------------------------------------------------------------------------------------------ certificate
def certifiable(zm: zoo.ZooModel, kind: str, layer: str | None, index: int) -> tuple[nn.Sequential, int]:
    """A plain ``nn.Sequential`` computing ``f_u`` as output ``index`` for the exact certifier
    (``toy_functions.certify.unit_network``)."""
    from toy_functions.certify import unit_network

    if zm.preprocess is not None or not isinstance(zm.model, nn.Sequential):
        raise ValueError(f"model {zm.name!r} is not a plain nn.Sequential on [-1, 1] inputs; cannot certify")
    return unit_network(zm.model, zm.input_shape, kind, layer, index)


def _certificate(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, time_limit: float,
                 cache_dir: Path | None, node_limit: int | None = None) -> tuple[dict[str, Any], torch.Tensor]:
    """The certifier's record columns for one unit and its argmax (the input of shape ``input_shape`` that
    attains ``incumbent``).  With ``node_limit`` the solve is truncated by branch-and-bound nodes, not by
    the clock (``time_limit`` is then unused), so the bound of an unproven unit repeats exactly on any
    machine.  ``optimum`` (proven units) is ``upper_bound``: the maximum of the float32 forward pass lies in
    ``[incumbent, upper_bound]`` and is known no closer than that, so the optimum is stated by the end that
    no attained value can exceed."""
    from toy_functions import exact_maximum

    net, out_index = certifiable(zm, kind, layer, index)
    net = copy.deepcopy(net).cpu()  # the certifier reads the layers on the CPU
    cert = exact_maximum(net, zm.input_shape, bounds=(-1.0, 1.0), output_index=out_index,
                         time_limit=None if node_limit is not None else time_limit, node_limit=node_limit,
                         cache_dir=None if cache_dir is None else str(cache_dir))
    proven = str(cert.status) == "optimal"
    return {"upper_bound": float(cert.upper_bound), "incumbent": float(cert.value),
            "optimum": float(cert.upper_bound) if proven else math.nan, "cert_status": str(cert.status),
            "mip_gap": float(cert.mip_gap) if cert.mip_gap is not None else math.nan}, cert.argmax




# ------------------------------------------------------------------------------------------ units and data
def _pool(zm: zoo.ZooModel, m: ModelCfg, where: str) -> list[list[Unit]]:
    """The unit groups of ``m``: its logits, then every channel of each configured layer."""
    depths = layer_depths(zm.model)
    with torch.no_grad():
        x0 = torch.zeros(1, *zm.input_shape, device=next(zm.model.parameters()).device)
        n_out = int(zm.model(zm.preprocess(x0) if zm.preprocess is not None else x0).shape[1])
    bad = [k for k in m.logits if k >= n_out]
    if bad:
        raise ConfigError(f"{NAME}: logits {bad} of {m.name!r} are out of range (it has {n_out} outputs)")
    groups = [[Unit("logit", None, k, 1.0) for k in m.logits]] if m.logits else []
    for layer in m.layers:
        try:
            n_ch = zoo.layer_channels(zm, layer)
        except ValueError as exc:
            raise ConfigError(f"{NAME}: model {m.name!r}: {exc}") from exc
        groups.append([Unit("channel", layer, c, depths[layer]) for c in range(n_ch)])
    if m.certify:
        for g in groups:
            for u in g[:1]:
                _check_certifier_takes(zm, u.kind, u.layer, u.index, where)
    return groups


@functools.lru_cache(maxsize=8)
def _dataset_maxima(name: str, weights: str, input_size: int | None, seed: int, layers: tuple[str, ...],
                    limit: int | None, data_dir: str | None) -> tuple[dict[str, float], int, str]:
    """``max_{x in test set} f_u(x)`` of every pool unit, in one pass over the test set.

    Logits ``model(x)[:, k]``; channels ``a[:, c].flatten(1).mean(1)`` of the layer output ``a`` (hooks).
    Returns (unit label -> maximum, number of images, source); ({}, 0, reason) when the data is missing.
    """
    from benchmarks.domain import data

    zm = _load(name, weights, input_size, seed)
    if zm.dataset is None:
        return {}, 0, "unavailable: no suite data set for this model's input domain"
    try:
        ds = data.load(zm.dataset, "test", data_dir, size=zm.input_shape[-1], limit=limit)
    except data.DataMissingError:
        return {}, 0, f"unavailable: {zm.dataset} not found"
    x = ds.tensors[0]
    device = next(zm.model.parameters()).device
    best: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}
    handles = [zoo.resolve_layer(zm.model, layer).register_forward_hook(
        lambda mod, args, out, layer=layer: outputs.__setitem__(layer, out)) for layer in layers]
    try:
        with torch.no_grad():
            for i in range(0, len(x), 500):
                xb = x[i:i + 500].to(device)
                y = zm.model(zm.preprocess(xb) if zm.preprocess is not None else xb)
                tops = {"logits": y.max(dim=0).values}
                for layer in layers:
                    a = outputs[layer]
                    tops[layer] = (a.flatten(2).mean(dim=2) if a.dim() > 2 else a).max(dim=0).values
                for k, v in tops.items():
                    best[k] = v if k not in best else torch.maximum(best[k], v)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, float] = {}
    for k, v in best.items():
        for c, value in enumerate(v.double().cpu().tolist()):
            out[f"logit={c}" if k == "logits" else f"{k}={c}"] = float(value)
    return out, int(len(x)), f"{zm.dataset}:test[:{len(x)}]"


# ------------------------------------------------------------------------------------------ cells
def _model(cfg: Config, mi: int) -> zoo.ZooModel:
    m = cfg.models[mi]
    try:
        return load_model(m, cfg.seed)
    except zoo.WeightsError as exc:
        raise ConfigError(f"{NAME}.models[{mi}] = {m.name!r} (weights {m.weights!r}): {exc}") from exc


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
        for opt in cfg.optimizers:
            grid = cfg.grid(opt)
            for method in cfg.methods:
                if method in cfg.fixed_methods and opt in cfg.fixed_optimizers and certs is not None:
                    key = _am_key(m, "fixed", opt, method, None)
                    if key not in keys:
                        new.append(Cell(key, {**base, "role": "fixed", "optimizer": opt, "method": method.label,
                                              "lr": cfg.lr, "lr_index": None, "units": eval_units}))
                tried = [k for k in range(grid.k_min, grid.k_max + 1)
                         if _am_key(m, "tuning", opt, method, k) in keys]
                tune_cell = {**base, "certs": {}, "role": "tuning", "optimizer": opt, "method": method.label,
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
                    new += [Cell(key, {**base, "role": "sweep", "optimizer": opt, "method": method.label,
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
                 {**base, "role": "evaluation", "optimizer": opt, "method": method.label, "lr": grid.lr(k),
                  "lr_index": k, "units": [u for u, _ in members], "lr_groups": [g for _, g in members]})
            for k, members in sorted(by_k.items())]


def cells(cfg: Config, done: pd.DataFrame | None = None) -> list:
    """The staged cell list (see the module doc): survey cells first, then the cells that follow from
    the stored records ``done`` of the cells listed so far, round by round (append only)."""
    from benchmarks.framework.runner import Cell

    listed = []
    for mi, m in enumerate(cfg.models):
        zm = _model(cfg, mi)
        if m.certify and (zm.preprocess is not None or not isinstance(zm.model, nn.Sequential)):
            raise ConfigError(f"{NAME}: model {m.name!r} cannot be certified (certify = true needs a plain "
                              "nn.Sequential suite model such as fmnist-tiny8)")
        _pool(zm, m, f"{NAME}.models[{mi}]")  # validates logits, layers and certifiability
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


# ------------------------------------------------------------------------------------------ run
COLUMNS: tuple[str, ...] = (
    "method", "method_kind", "method_slope", "seed", "cell", "cell_kind", "role", "model", "source", "weights",
    "trained", "model_sha256", "forward_slope", "optimizer", "unit", "unit_kind", "layer", "layer_depth", "index",
    "draw", "dead", "certified", "claim_method", "start", "start_grad_zero", "steps", "lr", "lr_index", "lr_group", "f_start", "f_best", "f_final", "best_step",
    "grad_evals", "dataset_max", "dataset_max_n", "dataset_max_source", "beats_dataset", "upper_bound",
    "incumbent", "optimum", "cert_status", "mip_gap", "gap_lower", "gap_upper", "bound_ok", "arrays", "array_row")


def _row(cfg: Config, **values: Any) -> dict[str, Any]:
    """One record with every column of the experiment (the checkpoint columns after ``f_best``)."""
    cols = list(COLUMNS)
    at = cols.index("f_best") + 1
    cols[at:at] = [f"best_at_{t}" for t in cfg.checkpoints]
    if "method_version" in values:  # a plug-in method's version (the runner places it after the header)
        cols.insert(cols.index("method_slope") + 1, "method_version")
    if has_recipes(cfg):  # how a recipe's image space maps into the box (empty for the other methods)
        cols.insert(cols.index("optimizer") + 1, "method_adapter")
    unknown = set(values) - set(cols)
    if unknown:
        raise ValueError(f"unknown record columns {sorted(unknown)}")
    return {c: values.get(c) for c in cols}


def has_recipes(cfg: Config) -> bool:
    """True when ``cfg`` lists a practitioners' recipe method: its records carry ``method_adapter`` (how the
    recipe's image space is mapped into the box, :func:`benchmarks.framework.recipes.adapter_label`; empty
    for the other methods). Runs without recipes keep their columns unchanged."""
    return any(getattr(m, "recipe", None) is not None for m in cfg.methods)


def _model_columns(m: ModelCfg, zm: zoo.ZooModel) -> dict[str, Any]:
    return {"model": m.label, "source": zm.source, "weights": zm.weights_label, "trained": zm.trained,
            "model_sha256": zm.sha256 or "", "forward_slope": zm.forward_slope}


def _unit_columns(u: Unit) -> dict[str, Any]:
    return {"unit": u.label, "unit_kind": u.kind, "layer": u.layer_label, "layer_depth": u.depth, "index": u.index}


def _survey(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    mi = cell.params["model"]
    m, zm = cfg.models[mi], _model(cfg, mi)
    groups = _pool(zm, m, f"{NAME}.models[{mi}]")
    data_dir = None if getattr(ctx, "data_dir", None) is None else str(ctx.data_dir)
    maxima, n_data, source = _dataset_maxima(m.name, m.weights, m.input_size, cfg.seed, m.layers,
                                             cfg.dataset_limit, data_dir)
    drawn = draw(groups, seed=cfg.seed, model=m.label, dataset_max=maxima, dead_epsilon=cfg.dead_epsilon,
                 tune_units=m.tune_units, eval_units=m.eval_units)
    tuning.disjoint([u.label for u, r, _ in drawn if r == "tuning"], [u.label for u, r, _ in drawn if r == "evaluation"])
    n_cert = sum(r == "evaluation" for _, r, _ in drawn) if m.certify_units is None else m.certify_units
    rows, evaluated = [], 0
    for u, role, pos in sorted(drawn, key=lambda t: t[2]):
        dmax = maxima.get(u.label, math.nan)
        certified = bool(m.certify and role == "evaluation" and evaluated < n_cert)
        evaluated += role == "evaluation"
        rows.append(_row(cfg, method="", method_kind="", method_slope=None, seed=cfg.seed, cell=cell.key,
                         cell_kind="survey", role=role, **_model_columns(m, zm), **_unit_columns(u), draw=pos,
                         dead=(dmax <= cfg.dead_epsilon) if n_data else None, certified=certified,
                         dataset_max=dmax, dataset_max_n=n_data, dataset_max_source=source))
    return rows


def _write_arrays(ctx: Any, key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """The cell's array file (:mod:`.arrays`) when the run keeps files (``ctx.out_dir``), else None."""
    out = getattr(ctx, "out_dir", None)
    return None if out is None else _arrays.write(out, key, arrays)


def _certificate_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    mi = cell.params["model"]
    m, zm = cfg.models[mi], _model(cfg, mi)
    u = unit_of(cell.params["unit"])
    cert, argmax = _certificate(zm, u.kind, u.layer, u.index, cfg.certify_time_limit,
                                getattr(ctx, "cache_dir", None), cfg.certify_node_limit)
    npz = _write_arrays(ctx, cell.key, {
        "trace_steps": np.zeros(0, dtype=np.int64), "trace": np.zeros((1, 0)),
        "stimulus": _stimulus(argmax.to(torch.float32)[None]).numpy().astype(np.float16)})
    data_dir = None if getattr(ctx, "data_dir", None) is None else str(ctx.data_dir)
    maxima, n_data, source = _dataset_maxima(m.name, m.weights, m.input_size, cfg.seed, m.layers,
                                             cfg.dataset_limit, data_dir)
    # f_best of a certificate row is the certifier's incumbent (a value it attained), checked against its bound
    return [_row(cfg, method="", method_kind="", method_slope=None, seed=cfg.seed, cell=cell.key,
                 cell_kind="certificate", role="evaluation", **_model_columns(m, zm), **_unit_columns(u),
                 certified=True, f_best=cert["incumbent"], dataset_max=maxima.get(u.label, math.nan),
                 dataset_max_n=n_data, dataset_max_source=source, **cert,
                 arrays="" if npz is None else npz.name, array_row=0 if npz is not None else None)]


def _stimulus(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-1] > STIMULUS_SIDE:
        x = torch.nn.functional.adaptive_avg_pool2d(x, STIMULUS_SIDE)
    return x


def _trace_points(steps: int) -> list[int]:
    return sorted({round(i * steps / (TRACE_POINTS - 1)) for i in range(TRACE_POINTS)})


def _am_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    p = cell.params
    mi = p["model"]
    m, zm = cfg.models[mi], _model(cfg, mi)
    device = getattr(ctx, "device", "cpu")
    zm.model.to(device)
    if zm.preprocess is not None:
        zm.preprocess.to(device)
    units = [unit_of(u) for u in p["units"]]
    method = _methods.parse(p["method"])
    S = int(p.get("starts", cfg.starts))
    per_element = [u for u in units for _ in range(S)]
    x0 = torch.cat([torch.rand((S, *zm.input_shape), generator=torch.Generator().manual_seed(
        seed_of(cfg.seed, m.label, u.label))) * 2.0 - 1.0 for u in units]).to(device)
    f = UnitBatch(zm.model, per_element, zm.preprocess)
    stuck = start_gradient_is_zero(f, x0, (-1.0, 1.0))
    res = _methods.run_am(method, f, x0, steps=cfg.steps, lr=float(p["lr"]), optimizer=p["optimizer"],
                          seed=cfg.seed, forward_slope=zm.forward_slope, bounds=(-1.0, 1.0))
    trace = res.trace.double().cpu()
    best_at = {t: trace[: t + 1].max(dim=0).values for t in cfg.checkpoints}
    data_dir = None if getattr(ctx, "data_dir", None) is None else str(ctx.data_dir)
    maxima, n_data, source = _dataset_maxima(m.name, m.weights, m.input_size, cfg.seed, m.layers,
                                             cfg.dataset_limit, data_dir)
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
        ub = math.nan if cert is None else float(cert["upper_bound"])
        inc = math.nan if cert is None else float(cert["incumbent"])
        for s in range(S):
            e = ui * S + s
            fb = float(f_best[s])
            rows.append(_row(
                cfg, **method.columns(), seed=seed_of(cfg.seed, m.label, u.label), cell=cell.key, cell_kind="am",
                role=p["role"], **_model_columns(m, zm), optimizer=p["optimizer"], **_unit_columns(u),
                **({"method_adapter": res.config.get("adapter", "")} if has_recipes(cfg) else {}),
                certified=cert is not None, claim_method=cfg.claim_method, start=s,
                start_grad_zero=bool(stuck[e]), steps=cfg.steps, lr=float(p["lr"]), lr_index=p["lr_index"],
                lr_group=lr_groups[ui], f_start=float(trace[0, e]), f_best=fb, **{f"best_at_{t}": float(v[e]) for t, v in best_at.items()},
                f_final=float(trace[-1, e]), best_step=int(res.best_step[e]), grad_evals=int(res.grad_evals),
                dataset_max=dmax, dataset_max_n=n_data, dataset_max_source=source,
                beats_dataset=(fb > dmax) if n_data else None,
                upper_bound=ub, incumbent=inc,
                optimum=math.nan if cert is None or cert["optimum"] is None else float(cert["optimum"]),
                cert_status="none" if cert is None else cert["cert_status"],
                mip_gap=math.nan if cert is None or cert["mip_gap"] is None else float(cert["mip_gap"]),
                gap_lower=max(0.0, inc - fb) if cert is not None else math.nan,
                gap_upper=ub - fb if cert is not None else math.nan,
                bound_ok=(fb <= ub) if cert is not None else None,
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


def extra_files(out: Path, key: str) -> list[Path]:
    """The array file of cell ``key`` when it wrote one (the runner's marker covers it)."""
    return _framework_arrays.existing(out, key)


__all__ = ["NAME", "TIMING_COLUMNS", "ROW_KEY", "CROSS_MACHINE", "OUTCOME_COLUMNS", "BASELINE_TOLERANCES", "BOUNDS", "Config", "parse_config", "cells", "run_cell", "analyze", "figures",
           "summarize", "claims", "extra_files", "tuning_choices", "leaderboard_scores", "SCORE_DEFINITION"]
