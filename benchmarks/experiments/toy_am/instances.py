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
