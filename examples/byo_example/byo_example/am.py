"""An AM method outside the suite: projected signed-gradient ascent (the iteration of PGD).

    x_{t+1} = clip(x_t + lr * sign(grad f(x_t)), lo, hi),   t = 0 .. steps - 1,

one gradient of ``f`` per step (the suite's budget). It returns the last iterate and reports every
iterate through ``callback`` (optional), so the suite records its value at every step.
"""
from __future__ import annotations

import torch


def signed_ascent(f, x0: torch.Tensor, *, steps: int, lr: float, seed: int, callback=None) -> torch.Tensor:
    """``steps`` signed-gradient steps of size ``lr`` from ``x0``, inside the box ``f.bounds`` (default [-1, 1])."""
    lo, hi = getattr(f, "bounds", (-1.0, 1.0))
    x = x0.detach().clone()
    for t in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x).sum(), x)
        with torch.no_grad():
            x = (x + lr * grad.sign()).clamp(lo, hi)
        if callback is not None:
            callback(t + 1, x)
    return x.detach()
