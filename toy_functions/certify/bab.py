"""Branch and bound over unstable rectifier units: the exact maximum of a piecewise-linear network
over a box without a MILP solver.

A node is a set of pre-activation bounds [l_k, u_k] per hidden layer (`linear_bounds`); splitting
unit j of layer k makes two children, l_kj = 0 (active) and u_kj = 0 (inactive), which cover the
node (every input has z_kj >= 0 or z_kj <= 0). Each child's later layers are re-bounded under the
split (`linear_bounds.tighten_from`: intervals and CROWN, intersected with the parent's bounds),
and its bound is the safe bound of its LP relaxation (`node_lp.solve`). A node whose every unstable
unit is split has an exact LP, so the tree is finite.

Search: best first (largest bound; ties by creation order), so the global bound, the largest
bound of an open node, only decreases. Incumbent: the starting point given (gradient ascent,
`regions.ascent_incumbent`) and the input point of every node's LP, evaluated by `net.forward`;
when it improves on the incumbent it is polished by the LP of its activation region
(`regions.region_lp`). A node is closed when its bound is within the gap GAP max(1, |incumbent|) of
the incumbent (the MILP path's relative and absolute gap of 1e-9). Branching: the candidate
(unstable unit, not a last-layer unit with output weight <= 0) with the largest LP score
(`node_lp`), else the largest violation y* - act(z*) of the LP point.

The maximum is proven when no open node is left; the bound returned is then the largest bound of
any closed node and the incumbent, so the gap is at most GAP max(1, |incumbent|). With a node
limit and no deadline the search never reads the clock, so the result repeats exactly.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from . import node_lp
from .linear_bounds import Bounds, tighten_from
from .network import PiecewiseLinearNet
from .regions import pattern_of, region_lp

#: the relative and absolute gap at which the maximum counts as proven (the MILP path's 1e-9)
GAP = 1e-9


@dataclass(frozen=True)
class BabResult:
    """value = f(x) (`net.forward`); bound: an upper bound on max f over the box (exact
    arithmetic); status "optimal" (bound - value <= GAP max(1, |value|)), "node_limit" or
    "time_limit"; n_nodes: the node LPs solved."""

    value: float
    x: np.ndarray
    bound: float
    status: str
    n_nodes: int


def candidates(net: PiecewiseLinearNet, bounds: Bounds) -> list[np.ndarray]:
    """Per hidden layer, the units a split can help: l < 0 < u, and in the last layer only units
    with a positive output weight (`node_lp` models the others exactly)."""
    out = [(l < 0.0) & (u > 0.0) for l, u in bounds]
    if out:
        out[-1] = out[-1] & (net.weights[-1][0] > 0.0)
    return out


def maximize(net: PiecewiseLinearNet, lo: float, hi: float, root: Bounds,
             incumbent: tuple[float, np.ndarray], *, node_limit: int | None = None,
             deadline: float | None = None) -> BabResult:
    """The maximum of `net` over [lo, hi]^n by branch and bound (module docstring), from the valid
    pre-activation bounds `root` and a starting point (f(x), x); stops at `node_limit` node LPs or
    at `deadline` (time.perf_counter())."""
    best_v, best_x = float(incumbent[0]), np.asarray(incumbent[1], dtype=np.float64)
    heap: list[tuple[float, int, Bounds, tuple[int, int]]] = []
    closed = -math.inf  # the largest bound of a node closed or cut off
    n_nodes = 0

    def gap() -> float:
        return GAP * max(1.0, abs(best_v))

    def evaluate(bounds: Bounds) -> None:
        nonlocal best_v, best_x, closed, n_nodes
        lp = node_lp.solve(net, lo, hi, bounds)
        n_nodes += 1
        if lp is None:
            return
        value = float(net.forward(lp.x[None])[0])
        if value > best_v:
            best_v, best_x = value, lp.x
            polished = region_lp(net, pattern_of(net, lp.x), lo, hi)
            if polished is not None:
                v = float(net.forward(polished[1][None])[0])
                if v > best_v:
                    best_v, best_x = v, polished[1]
        unit = _branch_unit(net, bounds, lp)
        if lp.bound <= best_v + gap() or unit is None:
            closed = max(closed, lp.bound)
            return
        heapq.heappush(heap, (-lp.bound, n_nodes, bounds, unit))

    start = tighten_from(net, lo, hi, root, 0)
    if start is not None:
        evaluate(start)
    status = "optimal"
    while heap:
        if -heap[0][0] <= best_v + gap():
            closed = max(closed, -heap[0][0])
            heap.clear()
            break
        if node_limit is not None and n_nodes >= node_limit:
            status = "node_limit"
            break
        if deadline is not None and time.perf_counter() > deadline:
            status = "time_limit"
            break
        _, _, bounds, (k, j) = heapq.heappop(heap)
        for side in (0, 1):  # active (l = 0), inactive (u = 0)
            l, u = bounds[k][0].copy(), bounds[k][1].copy()
            if side == 0:
                l[j] = 0.0
            else:
                u[j] = 0.0
            child = tighten_from(net, lo, hi, [*bounds[:k], (l, u), *bounds[k + 1:]], k)
            if child is not None:
                evaluate(child)
    bound = max([closed, best_v] + [-b for b, *_ in heap])
    if status == "optimal" and bound - best_v > gap():
        status = "unproven"
    return BabResult(value=best_v, x=best_x, bound=bound, status=status, n_nodes=n_nodes)


def _branch_unit(net: PiecewiseLinearNet, bounds: Bounds, lp: node_lp.NodeLP
                 ) -> tuple[int, int] | None:
    """(layer, unit) to split: the candidate with the largest LP score, else the largest
    violation; None when no candidate has either (the LP is exact at its point)."""
    for per_layer in (lp.scores, lp.violation):
        best, where = 0.0, None
        for k, (mask, score) in enumerate(zip(candidates(net, bounds), per_layer)):
            if mask.any():
                j = int(np.argmax(np.where(mask, score, -np.inf)))
                if score[j] > best:
                    best, where = float(score[j]), (k, j)
        if where is not None:
            return where
    return None
