"""The big-M mixed-integer formulation of a piecewise-linear network over a box.

Variables: the input x, one variable y_j per hidden unit, one binary d_j per unstable unit.
For a unit with pre-activation z = w . y_prev + b in [l, u] and act(z) = max(z, s z), 0 <= s < 1:
* stable active (l >= 0):    y = z;
* stable inactive (u <= 0):  y = s z;
* unstable (l < 0 < u):      y >= z,  y >= s z,
                             y <= z - (1 - s) l (1 - d),   y <= s z + (1 - s) u d,   d in {0, 1}.
With d = 1 the first and third rows give y = z and then y >= s z forces z >= 0; with d = 0 the second
and fourth give y = s z and y >= z forces z <= 0, so the rows describe y = act(z) exactly. Relaxing
d to [0, 1] gives the convex hull of the graph of act on [l, u] (the triangle relaxation).
That hull is in z only; the ideal-formulation cuts of `cuts` (added by `Formulation.add_cuts`)
describe the hull in the unit's inputs y_prev over their box, which is much tighter.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.sparse import coo_matrix

from .bounds import interval_affine, leaky_relu
from .cuts import UnitRows, separate

from .solvers import BACKENDS, HIGHS_NO_HEURISTICS, HIGHS_OPTIONS

# names kept for callers of this module
SOLVER_OPTIONS = HIGHS_OPTIONS
NO_HEURISTICS = HIGHS_NO_HEURISTICS


class Formulation:
    """Incrementally built constraint system; layers are added in order."""

    def __init__(self, n_in: int, lo: float, hi: float) -> None:
        self.var_lb: list[float] = [lo] * n_in
        self.var_ub: list[float] = [hi] * n_in
        self.integral: list[int] = [0] * n_in
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.row_lb: list[float] = []
        self.row_ub: list[float] = []
        self.layer_vars: list[np.ndarray] = [np.arange(n_in)]
        self.n_binaries = 0
        self.units: list[UnitRows] = []  # the unstable units, for `cuts.separate`
        self.cut_keys: set[tuple[int, bytes]] = set()
        self.n_cuts = 0

    @property
    def n_vars(self) -> int:
        return len(self.var_lb)

    def _row(self, coefs: tuple[np.ndarray, np.ndarray], lb: float, ub: float) -> None:
        """Append the row lb <= sum_k val_k var_{idx_k} <= ub, coefs = (idx, val)."""
        r = len(self.row_lb)
        idx, val = coefs
        self.rows.extend([r] * len(idx))
        self.cols.extend(int(i) for i in idx)
        self.vals.extend(float(v) for v in val)
        self.row_lb.append(lb)
        self.row_ub.append(ub)

    def _var(self, lb: float, ub: float, integral: int = 0) -> int:
        self.var_lb.append(lb)
        self.var_ub.append(ub)
        self.integral.append(integral)
        return self.n_vars - 1

    def add_layer(self, w: np.ndarray, b: np.ndarray, l: np.ndarray, u: np.ndarray, s: float,
                  objective: np.ndarray | None = None) -> None:
        """Add hidden units y = act(W y_prev + b) with pre-activation bounds [l, u].

        `objective`: for the last hidden layer, the output weights c. A unit with c_j <= 0 is
        needed only through c_j y_j, which the maximisation pushes down onto the convex lower
        envelope y = max(z, s z), so its rows y >= z, y >= s z are exact without a binary.
        """
        prev = self.layer_vars[-1]
        ylo, yhi = leaky_relu(l, s), leaky_relu(u, s)
        in_lo, in_hi = np.array(self.var_lb), np.array(self.var_ub)
        new = []
        for j in range(w.shape[0]):
            nz = np.nonzero(w[j])[0]
            idx, wj = prev[nz], w[j, nz]
            y = self._var(float(ylo[j]), float(yhi[j]))
            new.append(y)
            if l[j] >= 0.0:       # y - w.y_prev = b
                self._row((np.append(idx, y), np.append(-wj, 1.0)), b[j], b[j])
            elif u[j] <= 0.0:     # y - s w.y_prev = s b
                if s == 0.0:
                    self.var_lb[y] = self.var_ub[y] = 0.0
                else:
                    self._row((np.append(idx, y), np.append(-s * wj, 1.0)), s * b[j], s * b[j])
            elif objective is not None and objective[j] <= 0.0:
                self._row((np.append(idx, y), np.append(wj, -1.0)), -np.inf, -b[j])
                if s > 0.0:
                    self._row((np.append(idx, y), np.append(s * wj, -1.0)), -np.inf, -s * b[j])
            else:
                d = self._var(0.0, 1.0, 1)
                self.n_binaries += 1
                self.units.append(UnitRows(inputs=idx, w=wj, lo=in_lo[idx], hi=in_hi[idx],
                                           b=float(b[j]), s=float(s), y=y, d=d))
                lj, uj = float(l[j]), float(u[j])
                # w.y_prev - y <= -b            (y >= z)
                self._row((np.append(idx, y), np.append(wj, -1.0)), -np.inf, -b[j])
                # s w.y_prev - y <= -s b        (y >= s z)
                if s > 0.0:
                    self._row((np.append(idx, y), np.append(s * wj, -1.0)), -np.inf, -s * b[j])
                # y - w.y_prev - (1-s) l d <= b - (1-s) l
                self._row((np.append(idx, [y, d]), np.concatenate([-wj, [1.0, -(1 - s) * lj]])),
                          -np.inf, b[j] - (1 - s) * lj)
                # y - s w.y_prev - (1-s) u d <= s b
                self._row((np.append(idx, [y, d]), np.concatenate([-s * wj, [1.0, -(1 - s) * uj]])),
                          -np.inf, s * b[j])
        self.layer_vars.append(np.array(new, dtype=np.int64))

    def add_cuts(self, point: np.ndarray) -> int:
        """Add the most violated ideal-formulation cut of every unstable unit at `point` (a
        solution of the relaxation; `cuts.separate`); returns how many were added."""
        rows = separate(self.units, point, self.cut_keys)
        for idx, val, rhs in rows:
            self._row((idx, val), -np.inf, rhs)
        self.n_cuts += len(rows)
        return len(rows)

    def cut_loop(self, cost: np.ndarray, rounds: int):
        """Up to `rounds` rounds of: solve the LP relaxation of min cost . vars, add the violated
        cuts at its solution (`add_cuts`); stops early when none is violated. Returns the last LP
        result (None if rounds == 0)."""
        res = None
        for _ in range(rounds):
            res = self.solve(cost, integral=False)
            if res.status != 0 or self.add_cuts(res.x) == 0:
                break
        return res

    def objective(self, w_row: np.ndarray) -> np.ndarray:
        """Cost vector c with c . vars = w_row . y_last (the constant is added by the caller)."""
        c = np.zeros(self.n_vars)
        c[self.layer_vars[-1]] = w_row
        return c

    def solve(self, cost: np.ndarray, *, integral: bool, time_limit: float | None = None,
              cutoff: float | None = None, heuristics: bool = True, node_limit: int | None = None,
              solver: str = "highs", threads: int = 1):
        """Minimise cost . vars with `solver` (`solvers.BACKENDS`; binaries relaxed unless
        `integral`, and relaxations always go to HiGHS). `cutoff`, `heuristics`, `threads`: see
        `solvers`."""
        a = coo_matrix((self.vals, (self.rows, self.cols)),
                       shape=(len(self.row_lb), self.n_vars)).tocsr()
        backend = BACKENDS[solver] if integral else BACKENDS["highs"]
        return backend(a, np.array(self.row_lb), np.array(self.row_ub), np.array(self.var_lb),
                       np.array(self.var_ub), np.array(self.integral) if integral else None, cost,
                       time_limit=time_limit, node_limit=node_limit, cutoff=cutoff,
                       heuristics=heuristics, threads=threads if integral else 1)


def _unstable(l: np.ndarray, u: np.ndarray, objective: np.ndarray | None) -> np.ndarray:
    """Indices of the units whose bounds straddle 0 (l < 0 < u), restricted to units with a positive
    output weight when ``objective`` is given (the others are modelled exactly whatever their bounds)."""
    todo = (l < 0.0) & (u > 0.0)
    if objective is not None:
        todo &= objective > 0.0
    return np.nonzero(todo)[0]


def _lower_bound_matters(upper: float, slope: float) -> bool:
    """Whether a unit with pre-activation upper bound `upper` needs its lower bound l tightened: a
    unit with upper <= 0 is stably inactive, y = s z, and then l matters only through y >= s l,
    i.e. when s > 0 (for s = 0, y = 0 whatever l is)."""
    return upper > 0.0 or slope != 0.0


def lp_tighten(form: Formulation, w: np.ndarray, b: np.ndarray, l: np.ndarray, u: np.ndarray,
               deadline: float | None, objective: np.ndarray | None = None, cut_rounds: int = 0,
               slope: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Tighten [l, u] of z = W y_last + b for the unstable units by LP over the relaxation in `form`.

    Stops early (keeping the interval bounds) once `deadline` (time.perf_counter()) has passed.
    `objective`: for the last hidden layer, the output weights c; units with c_j <= 0 are skipped,
    since `Formulation.add_layer` models them exactly by y >= z, y >= s z whatever their bounds.
    `cut_rounds`: each LP is re-solved after adding the violated cuts at its solution
    (`Formulation.add_cuts`), up to this many times; the cuts stay in `form`.
    `slope`: the layer's s; the lower-bound LP is skipped when `_lower_bound_matters` says it
    cannot matter (an inactive ReLU unit).
    """
    l, u = l.copy(), u.copy()
    prev = form.layer_vars[-1]
    for j in _unstable(l, u, objective):
        if deadline is not None and time.perf_counter() > deadline:
            break
        cost = np.zeros(form.n_vars)
        cost[prev] = w[j]
        hi = _lp_with_cuts(form, -cost, cut_rounds)
        if hi.status == 0:
            u[j] = min(u[j], -hi.fun + b[j] + 1e-6 * (1.0 + abs(hi.fun)))
        if not _lower_bound_matters(u[j], slope):
            continue
        lo = _lp_with_cuts(form, cost, cut_rounds)
        if lo.status == 0:
            l[j] = max(l[j], lo.fun + b[j] - 1e-6 * (1.0 + abs(lo.fun)))
    return l, u


def _lp_with_cuts(form: Formulation, cost: np.ndarray, rounds: int):
    """The LP relaxation of min cost . vars, re-solved after each of up to `rounds` rounds of
    violated cuts (a cut only shrinks the relaxation, so the last optimum is the tightest)."""
    res = form.solve(cost, integral=False)
    for _ in range(rounds):
        if res.status != 0 or form.add_cuts(res.x) == 0:
            break
        res = form.solve(cost, integral=False)
    return res


def milp_tighten(form: Formulation, w: np.ndarray, b: np.ndarray, l: np.ndarray, u: np.ndarray,
                 node_limit: int, objective: np.ndarray | None = None, slope: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Tighten [l, u] of z = W y_last + b for the unstable units by node-limited MILPs over `form`.

    max z_j over the exact formulation of the earlier layers is at most the solver's dual bound,
    so the bound stays valid when the solve stops at `node_limit`; deterministic (node limits
    only). Units the LP bounds already settle, and (last layer) units with c_j <= 0, are skipped;
    `slope` as in `lp_tighten` (`_lower_bound_matters`).
    """
    l, u = l.copy(), u.copy()
    prev = form.layer_vars[-1]
    for j in _unstable(l, u, objective):
        cost = np.zeros(form.n_vars)
        cost[prev] = w[j]
        for sign in (-1.0, 1.0):  # -1: maximise z_j (upper bound), +1: minimise (lower bound)
            res = form.solve(sign * cost, integral=True, node_limit=node_limit)
            dual = getattr(res, "mip_dual_bound", None)
            if res.status not in (0, 1) or dual is None or not np.isfinite(dual):
                continue
            bound = sign * float(dual) + b[j]
            slack = 1e-6 * (1.0 + abs(bound))
            if sign < 0:
                u[j] = min(u[j], bound + slack)
            else:
                l[j] = max(l[j], bound - slack)
            if not _lower_bound_matters(u[j], slope):
                break
    return l, u


def build(net, lo: float, hi: float, *, tighten: bool = True, tighten_nodes: int = 0,
          deadline: float | None = None, cut_rounds: int = 0,
          given: list[tuple[np.ndarray, np.ndarray]] | None = None
          ) -> tuple[Formulation, list[tuple[np.ndarray, np.ndarray]]]:
    """The formulation of `net` (a `network.PiecewiseLinearNet`) over [lo, hi]^n and the
    pre-activation bounds of each hidden layer: interval arithmetic (exact for the first layer),
    then from the second layer on LP tightening (`tighten`, each LP strengthened by up to
    `cut_rounds` rounds of ideal-formulation cuts on the earlier layers) and node-limited MILP
    tightening (`tighten_nodes` > 0). `given`: valid bounds per hidden layer (from an earlier
    build), intersected with the interval bounds; LP and MILP tightening are then skipped."""
    n_in = net.weights[0].shape[1]
    form = Formulation(n_in, lo, hi)
    y_lo, y_hi = np.full(n_in, lo), np.full(n_in, hi)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for layer, (w, b, s) in enumerate(zip(net.weights[:-1], net.biases[:-1], net.slopes)):
        l, u = interval_affine(w, b, y_lo, y_hi)
        last = layer == len(net.slopes) - 1
        c = net.weights[-1][0] if last else None
        if given is not None:
            l, u = np.maximum(l, given[layer][0]), np.minimum(u, given[layer][1])
        if tighten and layer > 0 and given is None:
            l, u = lp_tighten(form, w, b, l, u, deadline, c, cut_rounds, s)
        if tighten_nodes > 0 and layer > 0 and given is None:
            l, u = milp_tighten(form, w, b, l, u, tighten_nodes, c, s)
        form.add_layer(w, b, l, u, s, objective=c)
        out.append((l, u))
        y_lo, y_hi = leaky_relu(l, s), leaky_relu(u, s)
    return form, out
