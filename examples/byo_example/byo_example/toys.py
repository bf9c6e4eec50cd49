"""A toy family outside the suite: the ramp ``f(x) = relu(w . x - t)`` on the box [-1, 1]^dim.

``w`` has entries drawn uniformly from [0.5, 1.5] with random signs (generator seeded by ``seed``), and
``t = threshold * ||w||_1`` with ``0 <= threshold < 1``. Closed form: ``w . x <= sum_i |w_i| = ||w||_1``
on the box, with equality exactly at ``x = sign(w)``, and ``relu`` is nondecreasing, so

    max f = (1 - threshold) * ||w||_1,   argmax = sign(w).

From a uniform start ``w . x`` has mean 0, so for ``threshold`` near 1 most starts lie where ``f`` and
its gradient vanish (the plain gradient cannot move them; a proxy gradient can).

``random_ramp`` builds the same network but states no optimum (NaN): the suite certifies it with the MILP.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from toy_functions import ClosedForm, ToyFunction


def _net(dim: int, seed: int, threshold: float) -> tuple[nn.Sequential, torch.Tensor]:
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    g = torch.Generator().manual_seed(int(seed))
    w = (0.5 + torch.rand(dim, generator=g, dtype=torch.float64)) * torch.where(
        torch.rand(dim, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
    lin = nn.Linear(dim, 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(w[None])
        lin.bias.fill_(-float(threshold) * float(w.abs().sum()))
    net = nn.Sequential(lin, nn.ReLU())
    net.requires_grad_(False)
    return net, w


def ramp(dim: int, seed: int, *, threshold: float = 0.5) -> ToyFunction:
    """The ramp with its closed-form optimum ``(1 - threshold) * ||w||_1`` at ``sign(w)``."""
    net, w = _net(dim, seed, threshold)
    optimum = (1.0 - float(threshold)) * float(w.abs().sum())
    return ToyFunction(net, name="byo_example.toys:ramp", params={"threshold": float(threshold)},
                       input_shape=(dim,), optimum=optimum, argmax=torch.sign(w),
                       certificate=ClosedForm("w.x <= ||w||_1 on the box, equality at sign(w); relu nondecreasing"),
                       forward_slope=0.0)


def random_ramp(dim: int, seed: int, *, threshold: float = 0.5) -> ToyFunction:
    """The same network without a stated optimum: the suite certifies it (exact MILP)."""
    net, _ = _net(dim, seed, threshold)
    return ToyFunction(net, name="byo_example.toys:random_ramp", params={"threshold": float(threshold)},
                       input_shape=(dim,), optimum=math.nan, argmax=torch.zeros(dim, dtype=torch.float64),
                       certificate=None, forward_slope=0.0)
