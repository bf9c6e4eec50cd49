"""`dead_unit`: one rectified unit that is inactive at usual starts (sparse gradients).

f(x) = act(w . x - theta),  act(z) = max(z, s z)  (s = negative_slope, 0 <= s < 1),
w_i = sigma_i m_i with random signs sigma_i and magnitudes m_i ~ U[0.5, 1.5], and
theta = tau ||w||_1 with tau = `threshold` in (0, 1).

Derivation of the optimum. Over the box [-1, 1]^d, w . x = sum_i w_i x_i <= sum_i |w_i| = ||w||_1,
with equality exactly at x = sign(w) (every w_i != 0). act is nondecreasing (slopes 1 and s >= 0),
so f(x) <= act(||w||_1 - theta) = act((1 - tau) ||w||_1) = (1 - tau) ||w||_1 (positive, so the
slope s plays no role), attained at argmax = sign(w). The optimum is the same for the leaky variant.

Failure mode. With s = 0 the unit is active only where w . x > tau ||w||_1, a corner cap whose
share of the box shrinks fast with tau and d; elsewhere the gradient is exactly zero, so plain
gradient ascent never moves. With s > 0 the gradient is s w: nonzero but small.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (CLOSED_FORM, ClosedForm, ToyFunction, check_float, check_negative_slope,
                   generator, linear, rectifier, signed_weights)

OPTIMUM_KIND = CLOSED_FORM  # derived in the module docstring
DEFAULTS = {"threshold": 0.6, "negative_slope": 0.0}


def build(dim: int, seed: int, *, threshold: float, negative_slope: float, name: str) -> ToyFunction:
    """The dead-unit function described in the module docstring."""
    tau = check_float("threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
    s = check_negative_slope(negative_slope)
    w = signed_weights(dim, generator(seed))
    norm1 = float(w.abs().sum())
    theta = tau * norm1
    net = nn.Sequential(linear(w.reshape(1, dim), torch.tensor([-theta], dtype=torch.float64)), rectifier(s))
    return ToyFunction(
        net,
        name=name,
        params={"dim": dim, "seed": seed, "threshold": tau, "negative_slope": s},
        input_shape=(dim,),
        optimum=(1.0 - tau) * norm1,
        argmax=torch.sign(w),
        certificate=ClosedForm("w.x <= ||w||_1 at x = sign(w); act nondecreasing; "
                               "optimum = (1 - threshold) * ||w||_1"),
        forward_slope=s,
    )

