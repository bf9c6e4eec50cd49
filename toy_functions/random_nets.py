"""`random_mlp` and `random_cnn`: randomly initialised ReLU nets whose optimum is certified by MILP.

Weights follow PyTorch's default fan-in rule, W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from
a generator seeded by `seed`, in float64. The optimum and argmax are computed at construction by
`exact_maximum` with the suite's solver (`settings.SUITE_SOLVER`, HiGHS; status "optimal" required), which caches the certificate on disk (`cache_dir`:
None for the default directory, a path, or False), so a net is solved once per machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from .base import (CERTIFIED, DTYPE, ToyFunction, check_int, check_negative_slope, generator,
                   rectifier)
from .certify.certifier import exact_maximum
from .certify.settings import SUITE_SOLVER

OPTIMUM_KIND = CERTIFIED  # by the MILP certifier at construction
MLP_DEFAULTS = {"widths": (16, 16), "negative_slope": 0.0}
CNN_DEFAULTS = {"channels": (2, 4), "negative_slope": 0.0}


def _init_(module: nn.Module, g: torch.Generator) -> None:
    """Fan-in uniform init of every Linear / Conv2d in `module` from generator `g`."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                layer.weight.copy_((torch.rand(layer.weight.shape, generator=g, dtype=DTYPE) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=g, dtype=DTYPE) * 2 - 1) * bound)
    module.requires_grad_(False)


def _sizes(name: str, value: object, n_min: int, n_max: int) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive ints, got {value!r}")
    sizes = tuple(value)
    if not n_min <= len(sizes) <= n_max:
        raise ValueError(f"{name} must have {n_min} to {n_max} entries, got {value!r}")
    return tuple(check_int(f"{name} entry", v, 1, 4096) for v in sizes)


def _certified(net: nn.Sequential, name: str, params: dict, shape: tuple[int, ...], s: float,
               cache_dir: str | Path | None | bool) -> ToyFunction:
    wrapper = ToyFunction(net, name=name, params=params, input_shape=shape, optimum=math.nan,
                          argmax=torch.zeros(shape, dtype=DTYPE), certificate=None, forward_slope=s)
    cert = exact_maximum(wrapper, shape, cache_dir=cache_dir, solver=SUITE_SOLVER)
    wrapper.adopt_certificate(cert)
    return wrapper


def mlp_net(dim: int, widths: tuple[int, ...], seed: int, negative_slope: float = 0.0
            ) -> nn.Sequential:
    """The uncertified random MLP: Linear(dim, w_1), act, ..., Linear(w_L, 1), fan-in init from `seed`."""
    g = generator(seed)
    layers: list[nn.Module] = []
    fan_in = dim
    for width in widths:
        layers += [nn.Linear(fan_in, width, dtype=DTYPE), rectifier(negative_slope)]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1, dtype=DTYPE))
    net = nn.Sequential(*layers)
    _init_(net, g)
    return net


def build_mlp(dim: int, seed: int, *, widths: object, negative_slope: float, name: str,
              cache_dir: str | Path | None | bool = None) -> ToyFunction:
    """f(x) = W_L act(... act(W_1 x + b_1) ...) + b_L with hidden `widths`, scalar output."""
    sizes = _sizes("widths", widths, 1, 8)
    s = check_negative_slope(negative_slope)
    net = mlp_net(dim, sizes, check_int("seed", seed, 0), s)
    params = {"dim": dim, "seed": seed, "widths": list(sizes), "negative_slope": s}
    return _certified(net, name, params, (dim,), s, cache_dir)


def build_cnn(dim: int, seed: int, *, channels: object, negative_slope: float, name: str,
              cache_dir: str | Path | None | bool = None) -> ToyFunction:
    """Input 1 x dim x dim: Conv2d(1, c1, 3, stride 2, pad 1) -> act -> AvgPool2d(2)
    -> Conv2d(c1, c2, 3, pad 1) -> act -> Flatten -> Linear(., 1)."""
    if dim < 4:
        raise ValueError(f"dim must be >= 4 for random_cnn (input 1 x dim x dim), got {dim!r}")
    c1, c2 = _sizes("channels", channels, 2, 2)
    s = check_negative_slope(negative_slope)
    g = generator(seed)
    convs = nn.Sequential(
        nn.Conv2d(1, c1, 3, stride=2, padding=1, dtype=DTYPE), rectifier(s), nn.AvgPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, dtype=DTYPE), rectifier(s), nn.Flatten())
    n_flat = convs(torch.zeros(1, 1, dim, dim, dtype=DTYPE)).shape[1]
    net = nn.Sequential(*convs, nn.Linear(n_flat, 1, dtype=DTYPE))
    _init_(net, g)
    params = {"dim": dim, "seed": seed, "channels": [c1, c2], "negative_slope": s}
    return _certified(net, name, params, (1, dim, dim), s, cache_dir)


def check_params(name: str, dim: int, **params: object) -> None:
    """The checks `build_mlp` / `build_cnn` make before certifying, without solving anything:
    ValueError naming a bad `dim` or parameter of family `name` ("random_mlp" or "random_cnn")."""
    defaults = MLP_DEFAULTS if name == "random_mlp" else CNN_DEFAULTS
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}; accepted: {sorted(defaults)}")
    resolved = {**defaults, **params}
    check_int("dim", dim, 1, 4096)
    check_negative_slope(resolved["negative_slope"])
    if name == "random_mlp":
        _sizes("widths", resolved["widths"], 1, 8)
    else:
        if dim < 4:
            raise ValueError(f"dim must be >= 4 for random_cnn (input 1 x dim x dim), got {dim!r}")
        _sizes("channels", resolved["channels"], 2, 2)
