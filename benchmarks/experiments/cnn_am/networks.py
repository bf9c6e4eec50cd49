"""The networks of a ``cnn-am`` run and what is measured on them before any AM: loading a model
(cached per process), a unit's objective ``f_u``, a model's pool of unit groups and every pool unit's
maximum over the test set (the dataset maxima, cached per process).
"""
from __future__ import annotations

import functools
import torch
from torch import nn

from benchmarks.domain import zoo
from benchmarks.framework.config import ConfigError
from benchmarks.experiments.cnn_am.certificates import check_certifier_takes
from benchmarks.experiments.cnn_am.config import NAME, Config, ModelCfg
from benchmarks.experiments.cnn_am.units import Unit


@functools.lru_cache(maxsize=8)
def load_cached(name: str, weights: str, input_size: int | None, seed: int) -> zoo.ZooModel:
    """``zoo.load`` of a model, cached per process (``weights == "suite"``: the committed checkpoint)."""
    w = None if weights == "suite" else weights
    return zoo.load(name, w, input_size=input_size, seed=seed)


def load_model(m: ModelCfg, seed: int) -> zoo.ZooModel:
    """The loaded model of ``m`` (cached per process; random init is seeded by ``seed``)."""
    return load_cached(m.name, m.weights, m.input_size, seed)


def layer_depths(model: nn.Module) -> dict[str, float]:
    """Each named submodule -> its relative depth (i + 1) / n in the order of ``named_modules``."""
    names = [n for n, _ in model.named_modules() if n]
    return {n: (i + 1) / len(names) for i, n in enumerate(names)}


def objective(zm: zoo.ZooModel, kind: str, layer: str | None, index: int) -> nn.Module:
    """``f_u``: the logit ``index`` or the mean of channel ``index`` of ``layer`` (with preprocessing)."""
    from proxygrad import objectives

    if kind == "logit":
        return objectives.logit(zm.model, index, preprocess=zm.preprocess)
    zoo.resolve_layer(zm.model, layer or "")
    return objectives.channel(zm.model, layer, index, preprocess=zm.preprocess)


def pool(zm: zoo.ZooModel, m: ModelCfg, where: str) -> list[list[Unit]]:
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
                check_certifier_takes(zm, u.kind, u.layer, u.index, where)
    return groups


@functools.lru_cache(maxsize=8)
def dataset_maxima(name: str, weights: str, input_size: int | None, seed: int, layers: tuple[str, ...],
                   limit: int | None, data_dir: str | None) -> tuple[dict[str, float], int, str]:
    """``max_{x in test set} f_u(x)`` of every pool unit, in one pass over the test set.

    Logits ``model(x)[:, k]``; channels ``a[:, c].flatten(1).mean(1)`` of the layer output ``a`` (hooks).
    Returns (unit label -> maximum, number of images, source); ({}, 0, reason) when the data is missing.
    """
    from benchmarks.domain import data

    zm = load_cached(name, weights, input_size, seed)
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


def model_of(cfg: Config, mi: int) -> zoo.ZooModel:
    """The loaded model ``mi`` of ``cfg``; weights that cannot be loaded are a ConfigError naming them."""
    m = cfg.models[mi]
    try:
        return load_model(m, cfg.seed)
    except zoo.WeightsError as exc:
        raise ConfigError(f"{NAME}.models[{mi}] = {m.name!r} (weights {m.weights!r}): {exc}") from exc
