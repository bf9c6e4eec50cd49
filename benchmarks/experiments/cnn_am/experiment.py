"""Experiment ``cnn-am``: activation maximization on real CNNs, plain against proxy, paired unit by unit.

For each configured model (``benchmarks.domain.zoo``), optimizer and unit ``u`` (a class logit, or the mean
activation of a channel sampled from a configured layer), every method ``m`` runs
``proxygrad.maximize(f_u, starts=S, seed=s_u, ...)`` from the same ``S`` starts (drawn uniformly in
``[-1, 1]^shape`` from the cell's seed ``s_u``), with
``f_u(x) = unit(model(preprocess(x)))``.  One record per (model, optimizer, unit, method, start):

- ``f_start``, ``f_best``: the ORIGINAL network's ``f_u`` at the start and at the best input found
  (``f_best`` is re-evaluated here as ``f_u(best_input)`` with the plain network);
- ``dataset_max``: ``max_{x in test set} f_u(x)`` (through the same ``f_u``); ``beats_dataset``:
  ``f_best > dataset_max``; NaN / empty when the data set is not on this machine or the model has no
  data set in the suite (torchvision models: ImageNet is not shipped); ``dataset_max_source`` says which;
- for models with ``certify = true`` (the tiny network on 8x8 inputs): the certifier's
  ``upper_bound`` ``U >= max f_u`` and ``optimum`` (when proven), so ``f_best <= U`` and the gap
  ``optimum - f_best`` lies in ``[gap_lower, gap_upper] = [max(0, incumbent - f_best), U - f_best]``.

Analysis, figures and claims live in :mod:`.analysis` and :mod:`.figures`.
"""
from __future__ import annotations

import copy
import functools
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from proxygrad.engine import OPTIMIZERS

from benchmarks.domain import data as _data
from benchmarks.framework import methods as _methods
from benchmarks.framework import plugins as _plugins
from benchmarks.domain import zoo
from benchmarks.framework.config import ConfigError, Reader
from benchmarks.experiments.cnn_am.analysis import analyze, claims, summarize
from benchmarks.experiments.cnn_am.figures import figures

NAME = "cnn-am"
#: Points of the activation-against-step trace kept per record (evenly spaced, first and last included).
TRACE_POINTS = 17
#: Largest side of the stimulus kept (start 0 only) for the stimulus grid; larger inputs are average-pooled.
STIMULUS_SIDE = 32
#: Tolerance of the check ``f_best <= upper_bound`` (float32 network against the certifier's arithmetic).
BOUND_TOL = 1e-4
#: Certified bounds (benchmarks.framework.bounds): f_best <= upper_bound exactly where the unit is certified.
BOUNDS = {"f_best": ("upper_bound", ("model", "unit", "optimizer", "method", "start"))}
#: No column is a wall time: every one is a pure function of the config.
TIMING_COLUMNS: tuple[str, ...] = ()
#: Upper limits (documented in benchmarks/configs/cnn-am.toml), validated before anything is written.
MAX_STARTS = 1024
MAX_STEPS = 100_000
MAX_LR = 10.0
MAX_SEED = 2**31 - 1
MAX_DATASET_LIMIT = 10_000_000
MAX_CHANNELS_PER_LAYER = 4096
MAX_NODE_LIMIT = 10_000_000
MAX_TIME_LIMIT = 7 * 24 * 3600.0


@dataclass(frozen=True)
class ModelCfg:
    """One model of the run and its units.

    weights: ``"suite"`` (committed checkpoint), ``"imagenet"``, ``"random-init"`` or a state_dict path.
    logits: class indices used as units; layers: layers whose channels are sampled,
    ``channels_per_layer`` of each (without replacement, seeded); certify: bound every unit exactly.
    """

    name: str
    weights: str
    input_size: int | None
    logits: tuple[int, ...]
    layers: tuple[str, ...]
    channels_per_layer: int
    certify: bool

    @property
    def label(self) -> str:
        """Model identifier in keys and records."""
        return self.name


@dataclass(frozen=True)
class Config:
    """A resolved ``cnn-am`` profile."""

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
    per_layer = r.int("channels_per_layer", 0 if not layers else 2, min=0, max=MAX_CHANNELS_PER_LAYER)
    certify = r.bool("certify", False)
    r.done()
    if not logits and not (layers and per_layer):
        raise ConfigError(f"{r.where}: model {name!r} has no units (set logits and/or layers)")
    return ModelCfg(name, weights, input_size, logits, layers, per_layer, certify)


def parse_config(raw: dict, *, data_dir: str | Path | None = None) -> Config:
    """Validate a raw profile table into a ``Config`` (``ConfigError`` naming the key and value).

    The test set of every suite model's data set must be found (in ``data_dir`` or the data module's
    default places): ``dataset_max`` is part of the records, so a missing data set stops the run
    before anything is written. (torchvision models have no suite data set; their records say so.)
    """
    r = Reader(raw, NAME)
    models = tuple(_parse_model(m) for m in r.tables("models"))
    for i, m in enumerate(models):
        dataset = zoo.SUITE[m.name].dataset if m.name in zoo.SUITE else None
        if dataset is not None:
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
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
    if _methods.Method("plain") not in names:
        raise ConfigError(f"{NAME}.methods must include 'plain' (the reference), got {[m.label for m in names]}")
    cfg = Config(
        models=models, methods=names,
        optimizers=r.list("optimizers", str, ["adam"], choices=OPTIMIZERS),
        starts=r.int("starts", min=1, max=MAX_STARTS), steps=r.int("steps", min=1, max=MAX_STEPS),
        lr=r.float("lr", min=0.0, min_exclusive=True, max=MAX_LR), seed=r.int("seed", 0, min=0, max=MAX_SEED),
        dataset_limit=r.int("dataset_limit", None, min=1, max=MAX_DATASET_LIMIT),
        certify_time_limit=r.float("certify_time_limit", 60.0, min=0.0, min_exclusive=True, max=MAX_TIME_LIMIT),
        certify_node_limit=r.int("certify_node_limit", None, min=1, max=MAX_NODE_LIMIT),
    )
    r.done()
    return cfg


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


def _layer_depths(model: nn.Module) -> dict[str, float]:
    names = [n for n, _ in model.named_modules() if n]
    return {n: (i + 1) / len(names) for i, n in enumerate(names)}


def _seed_of(*parts: Any) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def cells(cfg: Config) -> list:
    """One cell per (model, optimizer, unit), in config order; channels are sampled with ``cfg.seed``."""
    from benchmarks.framework.runner import Cell

    out = []
    for mi, m in enumerate(cfg.models):
        try:
            zm = load_model(m, cfg.seed)
        except zoo.WeightsError as exc:
            raise ConfigError(f"{NAME}.models[{mi}] = {m.name!r} (weights {m.weights!r}): {exc}") from exc
        depths = _layer_depths(zm.model)
        if m.certify and (zm.preprocess is not None or not isinstance(zm.model, nn.Sequential)):
            raise ConfigError(f"{NAME}: model {m.name!r} cannot be certified (certify = true needs a plain "
                              "nn.Sequential suite model such as fmnist-tiny8)")
        with torch.no_grad():
            x0 = torch.zeros(1, *zm.input_shape, device=next(zm.model.parameters()).device)
            n_out = int(zm.model(zm.preprocess(x0) if zm.preprocess is not None else x0).shape[1])
        bad = [k for k in m.logits if k >= n_out]
        if bad:
            raise ConfigError(f"{NAME}: logits {bad} of {m.name!r} are out of range (it has {n_out} outputs)")
        units: list[tuple[str, str | None, int, float]] = [("logit", None, k, 1.0) for k in m.logits]
        for layer in m.layers:
            try:
                n_ch = zoo.layer_channels(zm, layer)
            except ValueError as exc:
                raise ConfigError(f"{NAME}: model {m.name!r}: {exc}") from exc
            if m.channels_per_layer > n_ch:
                raise ConfigError(f"{NAME}: layer {layer!r} of {m.name!r} has {n_ch} channels, "
                                  f"channels_per_layer={m.channels_per_layer}")
            rng = np.random.default_rng(_seed_of(cfg.seed, m.label, layer))
            chosen = sorted(int(c) for c in rng.choice(n_ch, size=m.channels_per_layer, replace=False))
            units += [("channel", layer, c, depths[layer]) for c in chosen]
        for opt in cfg.optimizers:
            for kind, layer, idx, depth in units:
                unit = f"logit={idx}" if kind == "logit" else f"{layer}={idx}"
                key = _sanitize(f"{m.label},{opt},{unit}")
                out.append(Cell(key, {"model": mi, "optimizer": opt, "kind": kind, "layer": layer,
                                      "index": idx, "depth": depth, "unit": unit}))
        if m.certify:
            for kind, layer, idx, _ in units:
                _check_certifier_takes(zm, kind, layer, idx, f"{NAME}.models[{mi}]")
    return out


def _check_certifier_takes(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, where: str) -> None:
    """ConfigError unless the exact certifier accepts the network of unit ``(kind, layer, index)``:
    its own layer reader (``leaves``, which every solve starts with) decides, without solving."""
    try:  # the certifier's package layout: toy_functions/certify/ where present
        from toy_functions.certify.network import leaves
    except ImportError:
        from toy_functions.network import leaves
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


# ------------------------------------------------------------------------------------------ dataset maximum
@functools.lru_cache(maxsize=32)
def _dataset_max(name: str, weights: str, input_size: int | None, seed: int, kind: str, layer: str | None,
                 limit: int | None, data_dir: str | None) -> tuple[np.ndarray, int, str]:
    """Per-channel (or per-logit) max of ``f_u`` over the test set, for all units of one layer at once.

    Each unit's values are computed with the same operations as ``f_u`` on the same batches:
    logits ``model(x)[:, k]``; channels ``a[:, c].flatten(1).mean(1)`` of the layer output ``a``.
    Returns (max per index, number of images, source); (empty, 0, reason) when the data is missing.
    """
    from benchmarks.domain import data

    zm = _load(name, weights, input_size, seed)
    if zm.dataset is None:
        return np.zeros(0), 0, "unavailable: no suite data set for this model's input domain"
    try:
        ds = data.load(zm.dataset, "test", data_dir, size=zm.input_shape[-1], limit=limit)
    except data.DataMissingError:
        return np.zeros(0), 0, f"unavailable: {zm.dataset} not found"
    f = objective(zm, kind, layer, 0)
    x = ds.tensors[0]
    device = next(zm.model.parameters()).device
    best: torch.Tensor | None = None
    with torch.no_grad():
        for i in range(0, len(x), 500):
            xb = x[i:i + 500].to(device)
            if kind == "logit":
                vals = f.model(zm.preprocess(xb) if zm.preprocess is not None else xb)
            else:
                a = f.activation(xb)
                vals = torch.stack([a[:, c].flatten(1).mean(dim=1) if a.dim() > 2 else a[:, c]
                                    for c in range(a.shape[1])], dim=1)
            top = vals.max(dim=0).values
            best = top if best is None else torch.maximum(best, top)
    assert best is not None
    return best.double().cpu().numpy(), int(len(x)), f"{zm.dataset}:test[:{len(x)}]"


# ------------------------------------------------------------------------------------------ certificate
def _only_channel(layers: list[nn.Module], c: int) -> tuple[list[nn.Module], int]:
    """``toy_functions.certify.only_channel``."""
    from toy_functions.certify import only_channel

    return only_channel(layers, c)


def certifiable(zm: zoo.ZooModel, kind: str, layer: str | None, index: int) -> tuple[nn.Sequential, int]:
    """A plain ``nn.Sequential`` computing ``f_u`` as output ``index`` for the exact certifier
    (``toy_functions.certify.unit_network``)."""
    from toy_functions.certify import unit_network

    if zm.preprocess is not None or not isinstance(zm.model, nn.Sequential):
        raise ValueError(f"model {zm.name!r} is not a plain nn.Sequential on [-1, 1] inputs; cannot certify")
    return unit_network(zm.model, zm.input_shape, kind, layer, index)


def _certificate(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, time_limit: float,
                 cache_dir: Path | None, node_limit: int | None = None) -> dict[str, Any]:
    """The certifier's bound for one unit.  With ``node_limit`` the solve is truncated by
    branch-and-bound nodes, not by the clock (``time_limit`` is then unused), so the bound of an
    unproven unit repeats exactly on any machine."""
    from toy_functions import exact_maximum

    net, out_index = certifiable(zm, kind, layer, index)
    net = copy.deepcopy(net).cpu()  # the certifier reads the layers on the CPU
    cert = exact_maximum(net, zm.input_shape, bounds=(-1.0, 1.0), output_index=out_index,
                         time_limit=None if node_limit is not None else time_limit, node_limit=node_limit,
                         cache_dir=None if cache_dir is None else str(cache_dir))
    proven = str(cert.status) == "optimal"
    return {"upper_bound": float(cert.upper_bound), "incumbent": float(cert.value),
            "optimum": float(cert.value) if proven else math.nan, "cert_status": str(cert.status),
            "mip_gap": float(cert.mip_gap) if cert.mip_gap is not None else math.nan}


# ------------------------------------------------------------------------------------------ run
def _trace_points(trace: torch.Tensor) -> list[int]:
    t = trace.shape[0]
    return sorted({round(i * (t - 1) / (TRACE_POINTS - 1)) for i in range(TRACE_POINTS)})


def _stimulus(x: torch.Tensor) -> dict[str, Any]:
    if x.shape[-1] > STIMULUS_SIDE:
        x = torch.nn.functional.adaptive_avg_pool2d(x[None], STIMULUS_SIDE)[0]
    return {"shape": list(x.shape), "values": [round(float(v), 4) for v in x.flatten()]}


def run_cell(cfg: Config, cell: Any, ctx: Any) -> list[dict[str, Any]]:
    """All methods on one (model, optimizer, unit) from the same starts; one row per (method, start)."""
    p = cell.params
    m = cfg.models[p["model"]]
    zm = load_model(m, cfg.seed)
    zm.model.to(getattr(ctx, "device", "cpu"))
    if zm.preprocess is not None:
        zm.preprocess.to(getattr(ctx, "device", "cpu"))
    kind, layer, index = p["kind"], p["layer"], p["index"]
    f = objective(zm, kind, layer, index)
    seed = _seed_of(cfg.seed, cell.key)
    data_dir = None if getattr(ctx, "data_dir", None) is None else str(ctx.data_dir)
    maxima, n_data, source = _dataset_max(m.name, m.weights, m.input_size, cfg.seed, kind, layer,
                                          cfg.dataset_limit, data_dir)
    dmax = float(maxima[index]) if n_data else math.nan
    cert: dict[str, Any] = {"upper_bound": math.nan, "incumbent": math.nan, "optimum": math.nan,
                            "cert_status": "none", "mip_gap": math.nan}
    if m.certify:
        cert = _certificate(zm, kind, layer, index, cfg.certify_time_limit, getattr(ctx, "cache_dir", None),
                            cfg.certify_node_limit)
    rows: list[dict[str, Any]] = []
    for method in cfg.methods:
        res = _methods.run_am(method, f, None, starts=cfg.starts, seed=seed, steps=cfg.steps, lr=cfg.lr,
                              optimizer=p["optimizer"], bounds=(-1.0, 1.0), shape=zm.input_shape,
                              forward_slope=zm.forward_slope)
        with torch.no_grad():
            f_best = f(res.best_input).double().cpu()
        res.trace, res.value, res.best_step = res.trace.cpu(), res.value.cpu(), res.best_step.cpu()
        points = _trace_points(res.trace)
        for s in range(cfg.starts):
            fb = float(f_best[s])
            ub = cert["upper_bound"]
            rows.append({
                "model": m.label, "source": zm.source, "weights": zm.weights_label,
                "trained": zm.trained, "model_sha256": zm.sha256 or "", "forward_slope": zm.forward_slope,
                "optimizer": p["optimizer"], "unit": p["unit"], "unit_kind": kind,
                "layer": "logits" if kind == "logit" else layer, "layer_depth": p["depth"], "index": index,
                **method.columns(), "start": s, "steps": cfg.steps, "lr": cfg.lr, "seed": seed,
                "f_start": float(res.trace[0, s]), "f_best": fb, "f_final": float(res.value[s]),
                "best_step": int(res.best_step[s]), "grad_evals": int(res.grad_evals),
                "dataset_max": dmax, "dataset_max_n": n_data, "dataset_max_source": source,
                "beats_dataset": (fb > dmax) if n_data else None,
                "upper_bound": ub, "incumbent": cert["incumbent"], "optimum": cert["optimum"],
                "cert_status": cert["cert_status"],
                "mip_gap": cert["mip_gap"],
                "gap_lower": max(0.0, cert["incumbent"] - fb) if m.certify else math.nan,
                "gap_upper": ub - fb if m.certify else math.nan,
                "bound_ok": (fb <= ub + BOUND_TOL * max(1.0, abs(ub))) if m.certify else None,
                "trace_steps": points, "trace": [float(res.trace[t, s]) for t in points],
                "stimulus": _stimulus(res.best_input[s].cpu()) if s == 0 else "",
            })
    return rows


__all__ = ["NAME", "TIMING_COLUMNS", "BOUNDS", "Config", "parse_config", "cells", "run_cell", "analyze", "figures",
           "summarize", "claims"]
