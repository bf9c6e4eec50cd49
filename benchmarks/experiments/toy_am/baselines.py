"""Gradient-free baselines of toy-am at the AM runs' forward-evaluation budget, and the stuck test.

AM with ``T`` steps evaluates the original function at ``x_0 .. x_T``: ``T + 1`` forward passes per start.
Each baseline gets the same ``T + 1`` evaluations per start, the first being the start ``x_0`` itself, and
its trace holds the value of evaluation ``t`` (so ``best_at_<t>`` is the best of the first ``t + 1``):

- ``random-uniform``: ``x_1 .. x_T`` drawn uniformly from the box;
- ``random-corners``: ``x_1 .. x_T`` drawn uniformly from the box's ``2^d`` corners;
- ``linear-corner``: ``x_1`` is the corner that the linearized network's gradient points to from
  ``x_0`` (the straight-through gradient ``g``, every rectifier passing slope 1: ``x_1 = clip(x_0 +
  L g)`` with ``L = LINEAR_CORNER_LR``, i.e. ``sign(g)`` in every coordinate where ``g != 0``), then
  ``x_1`` again: two distinct evaluations, the rest repeats (``grad_evals = 1``).

A method whose records do not beat these at equal budget wins by the box's geometry, not by its
gradient. Draws are seeded by ``(start_seed(label, dim, seed), baseline, start)``: a pure function of the
instance.

:func:`start_gradient_is_zero` decides whether a start is *stuck* before any method runs: the plain
(autograd) gradient of the original function, projected onto the box (components that point out of the
box at an active bound removed), is exactly zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The step length that takes one straight-through ascent step to the corner of the box.
LINEAR_CORNER_LR = 1e30
BASELINES: tuple[str, ...] = ("random-uniform", "random-corners", "linear-corner")


@dataclass(frozen=True)
class Baseline:
    """A gradient-free baseline: its label is its name; its record columns say kind ``baseline``."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.name!r}")

    @property
    def label(self) -> str:
        return self.name

    def columns(self) -> dict[str, Any]:
        return {"method": self.name, "method_kind": "baseline", "method_slope": None}

    def constant_backward_slope(self, forward_slope: float) -> float:
        return float("nan")


def _evaluate(f: Any, x: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        return f(x).detach().cpu().double().numpy().reshape(-1)


def trace(f: Any, x0: Any, name: str, *, steps: int, seed: int) -> tuple[np.ndarray, int]:
    """``(values [T + 1, N], grad_evals)`` of baseline ``name`` from the starts ``x0`` ``[N, *shape]``."""
    import torch

    Baseline(name)
    lo, hi = f.bounds
    n = x0.shape[0]
    out = np.empty((steps + 1, n))
    out[0] = _evaluate(f, x0)
    if name == "linear-corner":
        from benchmarks.framework.methods import Method, run_am

        res = run_am(Method("proxy", 1.0), f, x0, steps=1, lr=LINEAR_CORNER_LR, optimizer="ascent", seed=seed,
                     forward_slope=float(f.forward_slope))
        corner = res.trace.detach().cpu().double().numpy()[1]
        out[1:] = corner[None, :]
        return out, int(res.grad_evals)
    if steps == 0:
        return out, 0
    tag = BASELINES.index(name)
    for j in range(n):
        rng = np.random.default_rng([seed, tag, j])
        shape = (steps, *x0.shape[1:])
        if name == "random-uniform":
            pts = lo + (hi - lo) * rng.random(shape)
        else:
            pts = np.where(rng.random(shape) < 0.5, lo, hi)
        out[1:, j] = _evaluate(f, torch.from_numpy(pts).to(dtype=x0.dtype, device=x0.device))
    return out, 0


def start_gradient_is_zero(f: Any, x0: Any) -> np.ndarray:
    """Per start: whether the box-projected plain gradient of ``f`` at ``x0`` is exactly zero
    (:func:`benchmarks.framework.stuck.start_gradient_is_zero` on the instance's box)."""
    from benchmarks.framework.stuck import start_gradient_is_zero as zero

    return zero(f, x0, tuple(f.bounds))
