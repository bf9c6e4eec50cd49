"""The LP relaxation of one branch-and-bound node, with a bound that holds whatever the LP solver's
tolerances.

Variables v = (x, y_1, ..., y_L), x in [lo, hi]^n, y_k in [act(l_k), act(u_k)]. With
z_k = W_{k-1} y_{k-1} + b_{k-1} and the node's bounds [l_k, u_k] (a split is l = 0 or u = 0):
* l >= 0 (active):   y = z   (the bound y >= l >= 0 then holds z >= 0);
* u <= 0 (inactive): y = s z, and for s = 0 (y fixed at 0) the row z <= u;
* l < 0 < u:         y >= z,  y >= s z,  y <= a_up z + c_up  (the triangle: the convex hull of the
                     graph of act on [l, u]; `linear_bounds.relaxation`); a last-layer unit with
                     output weight c_j <= 0 keeps only the two lower rows (the maximisation pushes
                     c_j y_j onto y = act(z), so they are exact for it).
maximise c . y_L + d. Every x of the node maps to a feasible v with the same objective, so the LP
optimum bounds f on the node.

Safe bound (Neumaier and Shcherbina 2004): for any multipliers mu >= 0 of the rows A v <= b and
nu of the rows E v = e, c . v = r . v + mu . A v + nu . E v <= mu . b + nu . e + sum_i max(r_i lb_i,
r_i ub_i) with r = c - A^T mu - E^T nu, for every v in the variable box. Evaluated at HiGHS's
duals it is the LP optimum up to the duals' own error, and it is a valid bound in any case.

Branching score of an unstable unit: mu_j c_up_j, the part of the bound that the dual of its chord
row y <= a_up z + c_up attributes to the chord's intercept (what a split removes; BaBSR's score,
Bunel et al. 2020, read off the LP instead of a backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from .bounds import leaky_relu
from .linear_bounds import Bounds, relaxation
from .network import PiecewiseLinearNet


@dataclass(frozen=True)
class NodeLP:
    """bound: the safe LP bound on f over the node; x: the LP's input point; scores: per hidden
    layer, the branching score of each unit (0 for units that are not candidates); violation: per
    hidden layer, y* - act(z*) at the LP point (how far the LP is from the network there)."""

    bound: float
    x: np.ndarray
    scores: list[np.ndarray]
    violation: list[np.ndarray]


class _Rows:
    """Rows lb <= sum_k val_k v_k <= ub of the LP, gathered layer by layer as coordinate arrays."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rhs: list[np.ndarray] = []
        self.n = 0

    def add(self, w: np.ndarray, in_cols: np.ndarray, scale: np.ndarray, out_cols: np.ndarray,
            out_coef: float, rhs: np.ndarray) -> np.ndarray:
        """Rows i: scale_i (w_i . v[in_cols]) + out_coef v[out_cols_i] (op) rhs_i; returns their
        indices. Zero `out_coef` adds no output term."""
        r, c = np.nonzero(w)
        first = self.n
        self.rows += [first + r]
        self.cols += [in_cols[c]]
        self.vals += [scale[r] * w[r, c]]
        if out_coef != 0.0:
            self.rows += [first + np.arange(len(out_cols))]
            self.cols += [out_cols]
            self.vals += [np.full(len(out_cols), out_coef)]
        self.rhs += [rhs]
        self.n += w.shape[0]
        return np.arange(first, self.n)

    def matrix(self, n_vars: int):
        if not self.n:
            return None, None
        a = coo_matrix((np.concatenate(self.vals), (np.concatenate(self.rows),
                                                    np.concatenate(self.cols))),
                       shape=(self.n, n_vars)).tocsr()
        return a, np.concatenate(self.rhs)


@dataclass(frozen=True)
class _System:
    """The LP's rows and variable box; offsets[k]: the first variable of y_k (y_0 = x); chords[k]:
    (units, chord row indices, c_up) of hidden layer k + 1."""

    a_ub: Any
    b_ub: np.ndarray | None
    a_eq: Any
    b_eq: np.ndarray | None
    lb: np.ndarray
    ub: np.ndarray
    offsets: np.ndarray
    chords: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _system(net: PiecewiseLinearNet, lo: float, hi: float, bounds: Bounds) -> _System:
    """The node's relaxation (module docstring)."""
    n_in = net.weights[0].shape[1]
    offsets = np.cumsum([0, n_in, *net.widths])
    var_lb, var_ub = [np.full(n_in, lo)], [np.full(n_in, hi)]
    ub_rows, eq_rows = _Rows(), _Rows()
    chords: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k, (w, b, s) in enumerate(zip(net.weights[:-1], net.biases[:-1], net.slopes)):
        l, u = bounds[k]
        prev = np.arange(offsets[k], offsets[k + 1])
        cols = np.arange(offsets[k + 1], offsets[k + 2])
        var_lb.append(leaky_relu(l, s))
        var_ub.append(leaky_relu(u, s))
        active, inactive = l >= 0.0, (u <= 0.0) & (l < 0.0)
        unstable = (l < 0.0) & (u > 0.0)
        ones = np.ones(len(l))
        # active: y - w.y_prev = b;  inactive: y - s w.y_prev = s b
        for mask, slope in ((active, 1.0), (inactive, s)):
            if mask.any() and slope != 0.0:
                eq_rows.add(w[mask], prev, slope * ones[mask], cols[mask], -1.0, -slope * b[mask])
        if s == 0.0 and inactive.any():  # y = 0 by its bounds; z <= u
            ub_rows.add(w[inactive], prev, ones[inactive], cols[inactive], 0.0,
                        u[inactive] - b[inactive])
        if not unstable.any():
            continue
        # y >= z:  w.y_prev - y <= -b;   y >= s z:  s w.y_prev - y <= -s b
        for slope in ((1.0, s) if s > 0.0 else (1.0,)):
            ub_rows.add(w[unstable], prev, slope * ones[unstable], cols[unstable], -1.0,
                        -slope * b[unstable])
        chord = unstable
        if k == len(net.widths) - 1:
            chord = unstable & (net.weights[-1][0] > 0.0)
        if chord.any():
            _, a_up, c_up = relaxation(l[chord], u[chord], s)
            # y <= a_up z + c_up:  y - a_up w.y_prev <= a_up b + c_up
            idx = ub_rows.add(w[chord], prev, -a_up, cols[chord], 1.0, a_up * b[chord] + c_up)
            chords[k] = (np.nonzero(chord)[0], idx, c_up)
    lb, ub = np.concatenate(var_lb), np.concatenate(var_ub)
    a_ub, b_ub = ub_rows.matrix(len(lb))
    a_eq, b_eq = eq_rows.matrix(len(lb))
    return _System(a_ub, b_ub, a_eq, b_eq, lb, ub, offsets, chords)


def _maximize(system: _System, cost: np.ndarray) -> tuple[Any, np.ndarray, float] | None:
    """(HiGHS's result, the row duals mu of the <= rows, the safe bound) of max cost . v over the
    system; None when it is infeasible."""
    res = linprog(-cost, A_ub=system.a_ub, b_ub=system.b_ub, A_eq=system.a_eq, b_eq=system.b_eq,
                  bounds=np.column_stack([system.lb, system.ub]), method="highs")
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(f"branch and bound: node LP ended with status {res.status} ({res.message})")
    mu = np.maximum(-res.ineqlin.marginals, 0.0) if system.a_ub is not None else np.zeros(0)
    nu = -res.eqlin.marginals if system.a_eq is not None else np.zeros(0)
    return res, mu, safe_bound(cost, system.a_ub, system.b_ub, mu, system.a_eq, system.b_eq, nu,
                               system.lb, system.ub)


def solve(net: PiecewiseLinearNet, lo: float, hi: float, bounds: Bounds) -> NodeLP | None:
    """The node's LP (module docstring) solved by HiGHS; None when it is infeasible (the node
    holds no input)."""
    n_in = net.weights[0].shape[1]
    system = _system(net, lo, hi, bounds)
    cost = np.zeros(len(system.lb))
    cost[system.offsets[-2]:system.offsets[-1]] = net.weights[-1][0]
    got = _maximize(system, cost)
    if got is None:
        return None
    res, mu, bound = got
    offsets = system.offsets
    v = np.clip(res.x, system.lb, system.ub)
    scores, violation = [], []
    for k, (w, b, s) in enumerate(zip(net.weights[:-1], net.biases[:-1], net.slopes)):
        z = w @ v[offsets[k]:offsets[k + 1]] + b
        violation.append(np.maximum(v[offsets[k + 1]:offsets[k + 2]] - leaky_relu(z, s), 0.0))
        score = np.zeros(len(z))
        if k in system.chords:
            units, idx, c_up = system.chords[k]
            score[units] = mu[idx] * c_up
        scores.append(score)
    return NodeLP(bound=bound + float(net.biases[-1][0]), x=v[:n_in].copy(), scores=scores,
                  violation=violation)


def safe_bound(cost: np.ndarray, a_ub, b_ub, mu: np.ndarray, a_eq, b_eq, nu: np.ndarray,
               lb: np.ndarray, ub: np.ndarray) -> float:
    """max cost . v over {A_ub v <= b_ub, A_eq v = b_eq, lb <= v <= ub} is at most
    mu . b_ub + nu . b_eq + sum_i max(r_i lb_i, r_i ub_i), r = cost - A_ub^T mu - A_eq^T nu, for
    any mu >= 0 and any nu (weak duality; module docstring)."""
    r, total = cost.copy(), 0.0
    if a_ub is not None:
        r -= a_ub.T @ mu
        total += float(mu @ b_ub)
    if a_eq is not None:
        r -= a_eq.T @ nu
        total += float(nu @ b_eq)
    return total + float(np.maximum(r * lb, r * ub).sum())
