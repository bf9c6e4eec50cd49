"""The split of each branch-and-bound node: filtered smart branching (De Palma et al. 2021).

Candidates of a node (`candidates`): unstable units (l < 0 < u), in the last hidden layer only
those with a positive output weight (`node_lp` models the others exactly). Filter: the TOP
candidates of largest score (BaBSR from the node's linear bound, or its LP's chord duals; ties
by layer and unit order). Each is split tentatively: both children (l_kj = 0, u_kj = 0) get their
later layers re-bounded (`linear_bounds.tighten`) and one linear bound each
(`optimized_bounds.evaluate`, the parent's multipliers, no steps: a valid bound on the child,
-inf for a child that holds no input). The split kept is the one whose larger child bound is
smallest (ties: smaller sum, then rank), since the search's global bound is the largest open
bound. A node with no positive score falls back to the widest min(-l, u). All nodes of a batch
and their candidates are bounded together, and nothing reads the clock: the choice is
deterministic.
"""

from __future__ import annotations

import numpy as np
import torch

from . import optimized_bounds
from .linear_bounds import Bounds, tighten
from .network import PiecewiseLinearNet
from .optimized_bounds import Multipliers

#: candidates per node whose children are bounded before the split is chosen
TOP = 1


def candidates(net: PiecewiseLinearNet, bounds: Bounds) -> list[np.ndarray]:
    """Per hidden layer, the units a split can help: l < 0 < u, and in the last layer only units
    with a positive output weight (`node_lp` models the others exactly)."""
    out = [(l < 0.0) & (u > 0.0) for l, u in bounds]
    if out:
        out[-1] = out[-1] & (net.weights[-1][0] > 0.0)
    return out


def ranked(net: PiecewiseLinearNet, bounds: Bounds, scores: list[np.ndarray], top: int
           ) -> list[tuple[int, int]]:
    """At most `top` candidates (layer, unit) by decreasing score among those with score > 0;
    else the one widest candidate (largest min(-l, u)); [] when there is no candidate."""
    masks = candidates(net, bounds)
    where = [(k, j) for k, mask in enumerate(masks) for j in np.nonzero(mask)[0]]
    if not where:
        return []
    flat = np.array([scores[k][j] if len(scores) else 0.0 for k, j in where])
    order = np.argsort(-flat, kind="stable")
    best = [where[i] for i in order[:top] if flat[i] > 0.0]
    if best:
        return best
    width = np.array([min(-bounds[k][0][j], bounds[k][1][j]) for k, j in where])
    return [where[int(np.argmax(width))]]


def choose(net: PiecewiseLinearNet, lo: float, hi: float, bounds: list[Bounds],
           scores: list[list[np.ndarray]], start: Multipliers, top: int | None = None
           ) -> list[tuple[int, int] | None]:
    """The split (layer, unit) of each node (module docstring); None for a node without a
    candidate. start: the nodes' multipliers (row i of node i)."""
    top = TOP if top is None else top
    lists = [ranked(net, b, s, top) for b, s in zip(bounds, scores)]
    tried = [(i, unit) for i, units in enumerate(lists) if len(units) > 1 for unit in units]
    if not tried:
        return [units[0] if units else None for units in lists]
    depth = range(len(net.widths))
    lower = [np.stack([bounds[i][k][0] for i, _ in tried for _ in (0, 1)]) for k in depth]
    upper = [np.stack([bounds[i][k][1] for i, _ in tried for _ in (0, 1)]) for k in depth]
    for row, (_, (k, j)) in enumerate(tried):
        lower[k][2 * row, j] = 0.0
        upper[k][2 * row + 1, j] = 0.0
    lower, upper, ok = tighten(net, lo, hi, lower, upper,
                               np.array([k for _, (k, _) in tried for _ in (0, 1)]))
    parents = np.repeat([i for i, _ in tried], 2)
    values = optimized_bounds.evaluate(net, lo, hi, lower, upper,
                                       start.rows(torch.from_numpy(parents)))
    values = np.where(ok, values, -np.inf).reshape(-1, 2)
    worst, total = values.max(1), np.where(np.isfinite(values), values, 0.0).sum(1)
    choice: dict[int, tuple[tuple[float, float, int], tuple[int, int]]] = {}
    for row, (i, unit) in enumerate(tried):
        key = (float(worst[row]), float(total[row]), row)
        if i not in choice or key < choice[i][0]:
            choice[i] = (key, unit)
    return [choice[i][1] if i in choice else (units[0] if units else None)
            for i, units in enumerate(lists)]
