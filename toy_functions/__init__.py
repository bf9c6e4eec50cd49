"""toy_functions: ReLU functions with known global maxima over a box, and an exact certifier.

    toy_functions.names()                              -> the family names a config can use
    toy_functions.get(name, dim=..., seed=..., **p)    -> ToyFunction (nn.Module, float64)
    toy_functions.exact_maximum(model, input_shape, bounds=(-1, 1), output_index=None,
                                time_limit=None, cache_dir=None, *, tighten=True,
                                node_limit=None, solver="auto") -> Certificate   (toy_functions.certify)
    toy_functions.check_certifiable(model)             -> None, or ValueError naming the layer

Hand-built families (closed-form optimum, derived in each module's docstring): dead_unit,
race_of_patterns, bumps, deep_chain; each accepts `negative_slope`, and "<family>_leaky" is the same
family with negative_slope = 0.01 by default (it must be > 0). Random families (optimum by MILP at
construction, cached on disk): random_mlp, random_cnn. Each family module declares which with
`OPTIMUM_KIND`; `optimum_kind(name)` reads it. `ToyFunction.optimum` is the value the network attains
at its argmax (`stated_optimum` is the closed form or the certificate's value; see base.py).
dim = 2 gives the 2-D instance of every hand-built family. This package imports nothing else of
the project.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from . import bumps, dead_unit, deep_chain, race_of_patterns, random_nets
from .base import CERTIFIED, CLOSED_FORM, ClosedForm, ToyFunction, check_int
from .certify import Certificate, check_certifiable, exact_maximum

LEAKY_SLOPE = 0.01

# name -> (builder, default parameters, default dim)
FAMILIES: dict[str, tuple[Callable[..., ToyFunction], dict[str, Any], int]] = {
    "dead_unit": (dead_unit.build, dead_unit.DEFAULTS, 8),
    "race_of_patterns": (race_of_patterns.build, race_of_patterns.DEFAULTS, 8),
    "bumps": (bumps.build, bumps.DEFAULTS, 8),
    "deep_chain": (deep_chain.build, deep_chain.DEFAULTS, 8),
    "random_mlp": (random_nets.build_mlp, random_nets.MLP_DEFAULTS, 8),
    "random_cnn": (random_nets.build_cnn, random_nets.CNN_DEFAULTS, 8),
}
HAND_BUILT = ("dead_unit", "race_of_patterns", "bumps", "deep_chain")
RANDOM = ("random_mlp", "random_cnn")


def names() -> list[str]:
    """Every family name accepted by `get`: the hand-built ones, their "_leaky" variants, the random ones."""
    return [*HAND_BUILT, *(f"{n}_leaky" for n in HAND_BUILT), *RANDOM]


def optimum_kind(name: str) -> str:
    """`CLOSED_FORM` or `CERTIFIED`: how family `name`'s optimum is known, as its module declares."""
    if name not in names():
        raise ValueError(f"unknown toy function {name!r}; choose one of {names()}")
    base = name[: -len("_leaky")] if name.endswith("_leaky") else name
    return sys.modules[FAMILIES[base][0].__module__].OPTIMUM_KIND


def get(name: str, dim: int | None = None, seed: int = 0, *,
        cache_dir: str | Path | None | bool = None, **params: Any) -> ToyFunction:
    """The toy function `name` with input size `dim` (family default when None) and `seed`.

    Unknown parameters or bad values raise ValueError naming them. `cache_dir` is used by the
    random families only (certificate cache; None = default directory, False = off).
    """
    if name not in names():
        raise ValueError(f"unknown toy function {name!r}; choose one of {names()}")
    leaky = name.endswith("_leaky")
    base = name[: -len("_leaky")] if leaky else name
    builder, defaults, default_dim = FAMILIES[base]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for {name!r}; "
                         f"accepted: {['dim', 'seed', *defaults]}")
    resolved = {**defaults, **({"negative_slope": LEAKY_SLOPE} if leaky else {}), **params}
    if leaky and not (isinstance(resolved["negative_slope"], (int, float))
                      and resolved["negative_slope"] > 0):
        raise ValueError(f"negative_slope must be > 0 for {name!r}, got {resolved['negative_slope']!r}")
    dim = check_int("dim", default_dim if dim is None else dim, 1, 4096)
    seed = check_int("seed", seed, 0)
    if optimum_kind(base) == CERTIFIED:
        return builder(dim, seed, name=name, cache_dir=cache_dir, **resolved)
    return builder(dim, seed, name=name, **resolved)


__all__ = ["CERTIFIED", "CLOSED_FORM", "Certificate", "ClosedForm", "FAMILIES", "ToyFunction", "check_certifiable",
           "exact_maximum", "get", "names", "optimum_kind"]
