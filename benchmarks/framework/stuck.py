"""Whether AM is stuck at a start, decided before any method runs.

A start ``x0`` is *stuck* when the plain (autograd) gradient of the original objective at ``x0``, projected
onto the box ``[lo, hi]`` (the components that point out of the box at an active bound removed), is exactly
zero: plain gradient ascent cannot leave it. A unit is stuck when every one of its starts is. This is a
property of the unit and its starts, recorded as ``start_grad_zero`` beside every run, never an outcome of
plain AM.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def start_gradient_is_zero(f: Any, x0: Any, bounds: tuple[float, float]) -> np.ndarray:
    """Per start (row of ``x0``): whether the box-projected plain gradient of ``f`` at ``x0`` is exactly zero.
    ``f`` maps ``[N, *shape]`` to ``[N]``; nothing accumulates in its parameters' gradients."""
    import torch

    lo, hi = bounds
    x = x0.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    at = x.detach()
    outward = ((at >= hi) & (g > 0)) | ((at <= lo) & (g < 0))
    g = torch.where(outward, torch.zeros_like(g), g)
    return (g.reshape(g.shape[0], -1) == 0).all(dim=1).cpu().numpy()
