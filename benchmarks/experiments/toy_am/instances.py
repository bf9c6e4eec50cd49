"""The instances of ``toy-am``: a family's function at (dim, seed), and the starts every method shares."""
from __future__ import annotations

import hashlib
from typing import Any


def build(name: str, dim: int, seed: int, params: dict[str, Any], cache_dir: Any = None):
    """``toy_functions.get(name, dim=dim, seed=seed, **params)``, or a plug-in family's factory when ``name`` is
    ``package.module:name`` (:func:`benchmarks.framework.plugins.build_family`); families with a certified optimum
    cache their certificates under ``cache_dir`` (None: toy_functions' default directory)."""
    import toy_functions

    from benchmarks.framework import plugins

    if plugins.is_spec(name):  # a family defined outside the suite (certified there when it states no optimum)
        return plugins.build_family(name, dim, seed, params, cache_dir)
    if toy_functions.optimum_kind(name) == toy_functions.CERTIFIED and cache_dir is not None:
        return toy_functions.get(name, dim=dim, seed=seed, cache_dir=cache_dir, **params)
    return toy_functions.get(name, dim=dim, seed=seed, **params)


def start_seed(label: str, dim: int, seed: int) -> int:
    """Seed of an instance's starts: the first 60 bits of sha256("toy-am|label|dim|seed")."""
    return int(hashlib.sha256(f"toy-am|{label}|{dim}|{seed}".encode()).hexdigest()[:15], 16)


def draw_starts(f: Any, label: str, dim: int, seed: int, n: int):
    """The ``n`` starts of an instance, uniform in ``f.bounds`` (float64), shared by every method."""
    import torch

    g = torch.Generator(device="cpu").manual_seed(start_seed(label, dim, seed))
    lo, hi = f.bounds
    return lo + (hi - lo) * torch.rand((n, *f.input_shape), generator=g, dtype=torch.float64)


def build_for_tuning(name: str, dim: int, seed: int, params: dict[str, Any]):
    """The instance as :func:`build` makes it, except that a random MLP is not certified (tuning scores
    rank ``f_best`` and need no optimum): the same network (``random_nets.mlp_net``), with
    ``certificate = None`` and no optimum.  Other families are built by :func:`build` (a random_cnn
    is certified: it has no uncertified builder)."""
    import math

    import torch
    import toy_functions
    from toy_functions import random_nets

    if name != "random_mlp":
        return build(name, dim, seed, params)
    random_nets.check_params(name, dim, **params)
    p = {**random_nets.MLP_DEFAULTS, **params}
    widths, slope = tuple(int(w) for w in p["widths"]), float(p["negative_slope"])
    net = random_nets.mlp_net(dim, widths, seed, slope)
    return toy_functions.ToyFunction(
        net, name=name, params={"dim": dim, "seed": seed, "widths": list(widths), "negative_slope": slope},
        input_shape=(dim,), optimum=math.nan, argmax=torch.zeros(dim, dtype=torch.float64), certificate=None,
        forward_slope=slope)
