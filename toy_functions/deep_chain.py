"""`deep_chain`: a chain of gated units where the dead-gradient failure compounds over layers.

z_1 = w . x - theta_1,  h_1 = act(z_1);   z_l = h_{l-1} - theta_l,  h_l = act(z_l)  (l = 2..L);
f(x) = h_L,  act(z) = max(z, s z)  (s = negative_slope, 0 <= s < 1).
w_i = sigma_i m_i (random signs, magnitudes ~ U[0.5, 1.5]); with M_0 = ||w||_1 every layer removes
the share tau = `threshold` of what is left: theta_l = tau M_{l-1}, M_l = M_{l-1} - theta_l, so
M_L = (1 - tau)^L ||w||_1.

Derivation of the optimum. Each layer map z -> act(z) - theta is nondecreasing, so f = F(w . x) with
F nondecreasing; w . x <= ||w||_1 on the box with equality at x = sign(w). Hence
f <= F(||w||_1). At x = sign(w): z_1 = M_0 - theta_1 = M_1 > 0, so h_1 = M_1; inductively
z_l = M_{l-1} - theta_l = M_l > 0 and h_l = M_l. So optimum = M_L = (1 - tau)^L ||w||_1,
argmax = sign(w), for any slope s (all units are on their positive side there).

Failure mode. With s = 0 the output is active only where w . x > (1 - (1 - tau)^L) ||w||_1; the
deeper the chain the smaller that cap, and elsewhere the gradient is exactly zero. With s > 0 a
start where all L units are negative gets the gradient s^L w: it vanishes geometrically in L.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (CLOSED_FORM, ClosedForm, ToyFunction, check_float, check_int, check_negative_slope,
                   generator, linear, rectifier, signed_weights)

OPTIMUM_KIND = CLOSED_FORM  # derived in the module docstring
DEFAULTS = {"depth": 4, "threshold": 0.25, "negative_slope": 0.0}


def build(dim: int, seed: int, *, depth: int, threshold: float, negative_slope: float,
          name: str) -> ToyFunction:
    """The deep-chain function described in the module docstring."""
    depth = check_int("depth", depth, 1, 64)
    tau = check_float("threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
    s = check_negative_slope(negative_slope)
    w = signed_weights(dim, generator(seed))
    m = float(w.abs().sum())
    layers: list[nn.Module] = []
    weight = w.reshape(1, dim)
    for _ in range(depth):
        theta = tau * m
        m = m - theta
        layers += [linear(weight, torch.tensor([-theta], dtype=torch.float64)), rectifier(s)]
        weight = torch.ones(1, 1, dtype=torch.float64)
    return ToyFunction(
        nn.Sequential(*layers),
        name=name,
        params={"dim": dim, "seed": seed, "depth": depth, "threshold": tau, "negative_slope": s},
        input_shape=(dim,),
        optimum=m,
        argmax=torch.sign(w),
        certificate=ClosedForm("f = F(w.x) with F nondecreasing; w.x <= ||w||_1 at x = sign(w); "
                               "optimum = (1 - threshold)^depth * ||w||_1"),
        forward_slope=s,
    )
