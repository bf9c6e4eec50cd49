"""Branch and bound over unstable rectifier units: the exact maximum of a piecewise-linear network
over a box without a MILP solver.

A node is a set of pre-activation bounds [l_k, u_k] per hidden layer (`linear_bounds`); splitting
unit j of layer k makes two children, l_kj = 0 (active) and u_kj = 0 (inactive), which cover the
node (every input has z_kj >= 0 or z_kj <= 0). Each child's later layers are re-bounded under the
split (`linear_bounds.tighten`: intervals and CROWN, intersected with the parent's bounds; the
layers up to the split's own are the parent's already).
A node's bound is the smaller of its parent's and its optimized linear bound
(`optimized_bounds`: alpha-beta-CROWN multipliers, started from the parent's, all children of a
batch at once, each leaving the optimization once its bound closes it); a node within
FINISH max(1, |incumbent|) of the incumbent, a node whose linear bound is no better than its
parent's bound, and a node with nothing left to split also get the safe bound of their exact
triangle LP (`node_lp.solve`), whose input point is a candidate incumbent and whose scores choose its split. A node whose every unstable unit is split
has an exact LP, so the tree is finite.

Search: best first in batches (the BATCH open nodes of largest bound, ties by creation order, are
branched, their children bounded together; limits are checked between batches).
Incumbent: the starting point given (gradient ascent, `regions.ascent_incumbent`) and the input
point of every node LP, evaluated by `net.forward`; when it improves on the incumbent it is
polished by the LP of its activation region (`regions.region_lp`). A node is closed when its bound
is within GAP max(1, |incumbent|) of the incumbent (the MILP path's relative and absolute gap of
1e-9). Branching (`branching.choose`): among the candidates (unstable units, not a last-layer
unit with output weight <= 0), the one of largest score (BaBSR from the linear bound, or the node
LP's chord duals, else the largest violation of the node LP's point); else the widest
min(-l, u).

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

from . import branching, node_lp, optimized_bounds
from .linear_bounds import Bounds, tighten
from .network import PiecewiseLinearNet
from .optimized_bounds import Multipliers
from .regions import pattern_of, region_lp

#: bumped whenever a change to the search can change its certificate (part of its cache key)
VERSION = 2
#: the relative and absolute gap at which the maximum counts as proven (the MILP path's 1e-9)
GAP = 1e-9
#: nodes within this relative distance of the incumbent also get their exact node LP (1e-3 gave
#: d=16 (32,32) seed 2 4112 node LPs, half its CPU time; 1e-5: 393 LPs, 4% more nodes)
FINISH = 1e-5
#: open nodes branched per batch
BATCH = 256


@dataclass(frozen=True)
class BabResult:
    """value = f(x) (`net.forward`); bound: an upper bound on max f over the box (exact
    arithmetic); status "optimal" (bound - value <= GAP max(1, |value|)), "node_limit",
    "time_limit", or "unproven" (every node closed, the gap still open: numerical trouble);
    n_nodes: the nodes bounded."""

    value: float
    x: np.ndarray
    bound: float
    status: str
    n_nodes: int


@dataclass
class _Node:
    """bounds: per hidden layer (l, u); multipliers: row `row` of a batch's optimized multipliers
    (a child starts from its parent's); split_layer: the layer of its newest split (-1: the
    root); unit: its split by its scores (`branching`), None when nothing is left to split."""

    bounds: Bounds
    multipliers: Multipliers
    row: int
    split_layer: int
    scores: list[np.ndarray]
    unit: tuple[int, int] | None = None
    lp_done: bool = False
    stalled: bool = False


class _Search:
    """The state of one `maximize` call: incumbent, open nodes, closed bound, node count."""

    def __init__(self, net: PiecewiseLinearNet, lo: float, hi: float,
                 incumbent: tuple[float, np.ndarray]) -> None:
        self.net, self.lo, self.hi = net, lo, hi
        self.best_v, self.best_x = float(incumbent[0]), np.asarray(incumbent[1], dtype=np.float64)
        self.heap: list[tuple[float, int, _Node]] = []
        self.closed = -math.inf  # the largest bound of a node closed or cut off
        self.n_nodes = 0
        self.created = 0

    def gap(self) -> float:
        return GAP * max(1.0, abs(self.best_v))

    def offer(self, x: np.ndarray) -> None:
        """Take x (or the optimum of its activation region) as incumbent if it is better."""
        value = float(self.net.forward(x[None])[0])
        if value <= self.best_v:
            return
        self.best_v, self.best_x = value, x
        polished = region_lp(self.net, pattern_of(self.net, x), self.lo, self.hi)
        if polished is not None:
            v = float(self.net.forward(polished[1][None])[0])
            if v > self.best_v:
                self.best_v, self.best_x = v, polished[1]

    def push(self, bound: float, node: _Node) -> None:
        if bound <= self.best_v + self.gap():
            self.closed = max(self.closed, bound)
            return
        self.created += 1
        heapq.heappush(self.heap, (-bound, self.created, node))

    def bound_batch(self, nodes: list[_Node], parent_bounds: list[float]) -> None:
        """Re-bound the later layers of `nodes` (`linear_bounds.tighten`), drop the empty ones,
        bound the rest together (`optimized_bounds`) and push the open ones."""
        depth = range(len(self.net.widths))
        lower = [np.stack([n.bounds[k][0] for n in nodes]) for k in depth]
        upper = [np.stack([n.bounds[k][1] for n in nodes]) for k in depth]
        lower, upper, ok = tighten(self.net, self.lo, self.hi, lower, upper,
                                   np.array([n.split_layer for n in nodes]))
        keep = np.nonzero(ok)[0]
        self.n_nodes += len(nodes)
        if not len(keep):
            return
        nodes, parent_bounds = [nodes[i] for i in keep], [parent_bounds[i] for i in keep]
        lower, upper = [a[keep] for a in lower], [a[keep] for a in upper]
        for i, node in enumerate(nodes):
            node.bounds = [(lower[k][i], upper[k][i]) for k in depth]
        start = optimized_bounds.gather([(n.multipliers, n.row) for n in nodes])
        values, mults, scores = optimized_bounds.bound(self.net, self.lo, self.hi, lower, upper,
                                                       start, cutoff=self.best_v + self.gap())
        units = branching.choose_batch(self.net, lower, upper, scores)
        for i, node in enumerate(nodes):
            node.multipliers, node.row, node.unit = mults, i, units[i]
            node.scores = [s[i] for s in scores]
            node.stalled = float(values[i]) >= parent_bounds[i]
            self.push(min(float(values[i]), parent_bounds[i]), node)

    def finish(self, node: _Node, bound: float) -> float | None:
        """The node's exact LP: its point offered as incumbent, its scores kept for branching;
        the new bound, or None when the node is empty or closed."""
        lp = node_lp.solve(self.net, self.lo, self.hi, node.bounds)
        node.lp_done = True
        if lp is None:
            return None
        self.offer(lp.x)
        bound = min(bound, lp.bound)
        if bound <= self.best_v + self.gap():
            self.closed = max(self.closed, bound)
            return None
        node.scores = lp.scores if any((s > 0.0).any() for s in lp.scores) else lp.violation
        return bound


def _pop_batch(search: _Search, deadline: float | None = None
               ) -> list[tuple[_Node, float, tuple[int, int]]]:
    """Up to BATCH open nodes of largest bound, each with its bound and split
    (`branching.choose`): a node that is closed by the incumbent is dropped, one that is near
    the incumbent, stalled or without a candidate first gets its exact LP (`_Search.finish`,
    which also gives new scores), and one left without a candidate is a closed leaf. Past the
    `deadline` (time.perf_counter()) no further node LP is started: the batch ends there."""
    popped = []
    while search.heap and len(popped) < BATCH:
        if deadline is not None and not search.heap[0][2].lp_done and time.perf_counter() > deadline:
            break
        negative, _, node = heapq.heappop(search.heap)
        bound = -negative
        if bound <= search.best_v + search.gap():
            search.closed = max(search.closed, bound)
            continue
        unit = node.unit
        near = bound - search.best_v <= FINISH * max(1.0, abs(search.best_v))
        if not node.lp_done and (near or node.stalled or unit is None):
            got = search.finish(node, bound)
            if got is None:
                continue
            bound = got
            if unit is not None:
                unit = branching.choose(search.net, node.bounds, node.scores)
        if unit is None:  # exact LP and nothing to split: a leaf
            search.closed = max(search.closed, bound)
            continue
        popped.append((node, bound, unit))
    return popped


def maximize(net: PiecewiseLinearNet, lo: float, hi: float, root: Bounds,
             incumbent: tuple[float, np.ndarray], *, node_limit: int | None = None,
             deadline: float | None = None) -> BabResult:
    """The maximum of `net` over [lo, hi]^n by branch and bound (module docstring), from the valid
    pre-activation bounds `root` and a starting point (f(x), x); stops once `node_limit` nodes
    are bounded or at `deadline` (time.perf_counter())."""
    search = _Search(net, lo, hi, incumbent)
    lower, upper = [l[None] for l, _ in root], [u[None] for _, u in root]
    search.bound_batch([_Node(list(root), optimized_bounds.initial(lower, upper, net.slopes), 0,
                              -1, [])], [math.inf])
    status = "optimal"
    while search.heap:
        if -search.heap[0][0] <= search.best_v + search.gap():
            search.closed = max(search.closed, -search.heap[0][0])
            search.heap.clear()
            break
        if node_limit is not None and search.n_nodes >= node_limit:
            status = "node_limit"
            break
        if deadline is not None and time.perf_counter() > deadline:
            status = "time_limit"
            break
        popped = _pop_batch(search, deadline)
        if not popped:
            continue
        children, parent_bounds = [], []
        for node, bound, (k, j) in popped:
            for side in (0, 1):  # active (l = 0), inactive (u = 0)
                l, u = node.bounds[k][0].copy(), node.bounds[k][1].copy()
                if side == 0:
                    l[j] = 0.0
                else:
                    u[j] = 0.0
                children.append(_Node([*node.bounds[:k], (l, u), *node.bounds[k + 1:]],
                                      node.multipliers, node.row, k, []))
                parent_bounds.append(bound)
        if children:
            search.bound_batch(children, parent_bounds)
    bound = max([search.closed, search.best_v] + [-b for b, *_ in search.heap])
    if status == "optimal" and bound - search.best_v > search.gap():
        status = "unproven"
    return BabResult(value=search.best_v, x=search.best_x, bound=bound, status=status,
                     n_nodes=search.n_nodes)
