"""`exact_maximum`: the exact global maximum of a ReLU / LeakyReLU network over a box, by MILP.

max_{x in [lo, hi]^n} f(x) for f a composition of affine layers and rectifiers act(z) = max(z, s z)
(0 <= s < 1) is the mixed-integer program of `formulation.Formulation` (one binary per unit whose
pre-activation bounds straddle 0; stable units need none; MaxPool2d is rewritten into rectifiers by
`network.linearize`), solved by HiGHS through `scipy.optimize.milp`, SCIP through
pyscipopt (`solver="scip"`) or Gurobi through gurobipy (`solver="gurobi"`, optional), on one thread
(Gurobi: `threads`, in its deterministic parallel mode) with a fixed seed and relative and absolute
gaps of 1e-9. Bounds come from interval arithmetic (exact for the first layer), tightened by one LP per
bound from the second hidden layer on (not for last-layer units with output weight <= 0, which
need no bounds: see `lp_tighten`), each LP strengthened by a round of ideal-formulation cuts
(`cuts`) on the earlier layers' units (`bound_cut_rounds`). The
solver's point is polished by the LP of its activation region, then re-evaluated by a real forward
pass of `model`, which must attain the solver's value: `value` is always that forward value.
A starting incumbent from multi-start gradient ascent polished by region LPs
(`regions.ascent_incumbent`) is passed to the solver as an objective cutoff just below its value,
with HiGHS's own primal heuristics off unless a time limit is set (Gurobi's always off); the optimum
still has to be found and proven by the MILP. With no time limit the certificate is a pure function of the network, the
box and `solve_settings` (limits, solver options, versions): the cache key hashes all of them.

`solver="bab"` replaces the MILP by branch and bound over unstable units (`bab`: the same root
bounds and ascent incumbent, node bounds from optimized linear bounds and, near the incumbent,
safe LP duals of the triangle relaxation under the node's splits); the same certificate contract (kind "bab"), `optimal` when its global bound meets
the incumbent within the same 1e-9 gap.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from . import bab, cache
from .bounds import check_box, interval_affine, leaky_relu
from .certificate import Certificate, fresh_certificate, from_record, model_value, one_thread, tolerance
from .formulation import build
from .network import PiecewiseLinearNet, linearize
from .regions import ascent_incumbent, pattern_of, region_lp
from .settings import BAB_SETTINGS, CERTIFIER_VERSION, SOLVERS, SolveSettings, resolve_solver, solve_settings

__all__ = ["BAB_SETTINGS", "CERTIFIER_VERSION", "SOLVERS", "Certificate", "SolveSettings", "exact_maximum",
           "solve_settings"]


def exact_maximum(
    model: nn.Module,
    input_shape: tuple[int, ...] | list[int] | int,
    bounds: tuple[float, float] = (-1.0, 1.0),
    output_index: int | None = None,
    time_limit: float | None = None,
    cache_dir: str | Path | None | bool = None,
    *,
    tighten: bool = True,
    node_limit: int | None = None,
    solver: str = "auto",
    tighten_nodes: int = 0,
    cut_rounds: int = 0,
    bound_cut_rounds: int = 1,
    threads: int = 1,
) -> Certificate:
    """The exact maximum of `model`'s output over the box [lo, hi]^input_shape.

    `output_index` selects the output unit (required when there is more than one).
    `time_limit` (seconds, whole solve): when hit, status "time_limit" with the incumbent and the
    upper bound; without it a non-optimal solver status raises ValueError. `cache_dir`: None for
    the default directory (`cache.default_dir()`), a path, or False to disable the cache; optimal
    certificates solved without a time limit are stored, under a key that includes the limits and
    solver settings, so a cache hit equals a fresh solve bit for bit. `tighten`: LP bound tightening (on by default).
    `node_limit` (branch-and-bound nodes): like `time_limit`, but independent of the machine's
    speed, so a truncated certificate (status "node_limit") repeats exactly; with only a node
    limit no step of the solve depends on the clock. `solver`: "auto" (default: `settings.resolve_solver`,
    HiGHS for a network with a convolution or pooling layer, else "bab"), "highs", "scip"
    (pyscipopt) or "gurobi" (gurobipy, optional) for the MILP; LP relaxations always use HiGHS;
    "bab": branch and bound over unstable units instead of a MILP (`bab`; nodes are its node
    LPs; `cut_rounds` must then be 0). The certificate names the solver that made it (`solver`). `threads` (>= 1, default 1): Gurobi's thread count (its parallel search is deterministic: a
    function of the model and the count); HiGHS and SCIP take 1 only. `tighten_nodes` (>= 0):
    from the second hidden layer on, bound each unstable unit by a MILP limited to this many
    nodes (0: off). Ideal-formulation cuts (`cuts`, Anderson et al. 2020): `bound_cut_rounds`
    (>= 0, default 1) rounds of them strengthen each LP of the bound tightening (the MILP then
    gets the plain big-M rows with the tighter bounds); `cut_rounds` (>= 0, default 0) rounds of
    a root cutting-plane loop on the MILP's objective, the cuts kept in the MILP. Both are
    counts, never clocks.
    """
    shape = _check_shape(input_shape)
    lo, hi = check_box(bounds)
    if not (cache_dir is None or cache_dir is False or isinstance(cache_dir, (str, Path))):
        raise ValueError(f"cache_dir must be a path, None or False, got {cache_dir!r}")
    settings = SolveSettings(time_limit, node_limit, tighten, resolve_solver(solver, model, cut_rounds), tighten_nodes,
                             cut_rounds, bound_cut_rounds, threads)
    net = linearize(model, shape, output_index, box=(lo, hi))
    index = 0 if output_index is None else output_index
    k = cache.key(net, shape, lo, hi, settings.key_settings())
    directory = None if cache_dir is False else (cache.default_dir() if cache_dir is None
                                                 else Path(cache_dir))
    if directory is not None:
        record = cache.load(directory, k)
        if record is not None:
            hit = from_record(record, model, net, shape, index, k, settings.solver)
            if hit is not None:
                return hit
    solve = _solve_bab if settings.solver == "bab" else _solve_milp
    with one_thread():
        cert = solve(model, net, shape, index, (lo, hi), settings, k)
    # a time-limited solve depends on the machine's speed: never stored; a truncated one is cheap
    # to repeat (its limit is small): not stored either
    if directory is not None and time_limit is None and cert.status == "optimal":
        rec = cert.as_dict()
        rec.pop("key")
        cache.store(directory, k, rec)
    return cert


def _remaining(settings: SolveSettings, start: float) -> float | None:
    """Seconds left of the time limit (at least 1 ms), or None without one."""
    if settings.time_limit is None:
        return None
    return max(settings.time_limit - (time.perf_counter() - start), 1e-3)


def _root_bounds(net: PiecewiseLinearNet, box: tuple[float, float], settings: SolveSettings, start: float) -> tuple:
    """The formulation and the layer bounds of the root (`formulation.build`), tightened within half the time limit."""
    lo, hi = box
    deadline = None if settings.time_limit is None else start + 0.5 * settings.time_limit
    return build(net, lo, hi, tighten=settings.tighten, tighten_nodes=settings.tighten_nodes,
                 deadline=deadline, cut_rounds=settings.bound_cut_rounds)


def _interval_bound(net: PiecewiseLinearNet, box: tuple[float, float], layer_bounds: list) -> float:
    """The output's upper bound by interval arithmetic from the last hidden layer's bounds (the box without one)."""
    lo, hi = box
    if layer_bounds:
        s_last = net.slopes[-1]
        y_lo, y_hi = leaky_relu(layer_bounds[-1][0], s_last), leaky_relu(layer_bounds[-1][1], s_last)
    else:  # no hidden layer: the objective is affine in x
        n_in = net.weights[0].shape[1]
        y_lo, y_hi = np.full(n_in, lo), np.full(n_in, hi)
    return float(interval_affine(net.weights[-1], net.biases[-1], y_lo, y_hi)[1][0])


def _milp(form: Any, cost: np.ndarray, cutoff: float, inc_value: float, b_out: float, settings: SolveSettings,
          start: float) -> Any:
    """The MILP's result: solved under the incumbent's cutoff, again without it when the cutoff leaves no
    dual bound (HiGHS) or is not trusted (infeasible, or optimal below the incumbent)."""
    limits = {"node_limit": settings.node_limit, "solver": settings.solver, "threads": settings.threads}
    # HiGHS's primal heuristics mostly re-find the incumbent, so they are off when optimality must
    # be proven anyway; under a time limit they stay on: a run stopped without a solution of its
    # own reports no dual bound through scipy. Gurobi reports its dual bound in every case, so its
    # heuristics are always off
    res = form.solve(cost, integral=True, time_limit=_remaining(settings, start), cutoff=cutoff,
                     heuristics=settings.budgeted and settings.solver != "gurobi", **limits)
    if res.status == 1 and res.x is None and settings.solver == "highs":
        # HiGHS (through scipy) reports neither a dual bound nor a node count when it stops at a
        # limit without a solution of its own, which the cutoff at the incumbent can cause (the
        # incumbent may be optimal): solve again without the cutoff for a real dual bound
        res = form.solve(cost, integral=True, time_limit=_remaining(settings, start), heuristics=True, **limits)
    if res.status == 2 or (res.status == 0 and -float(res.fun) + b_out
                           < inc_value - 1e-6 * (1.0 + abs(inc_value))):
        # "infeasible", or "optimal" below the incumbent, under the cutoff: numerically possible
        # only, and then the cutoff is not trusted: solve plainly
        res = form.solve(cost, integral=True, time_limit=_remaining(settings, start), **limits)
    return res


def _milp_status(res: Any, settings: SolveSettings, start: float) -> str:
    """"optimal", or the limit that stopped a budgeted solve; ValueError for any other solver end."""
    if res.status == 0:
        return "optimal"
    if res.status == 1 and settings.budgeted:
        elapsed = time.perf_counter() - start
        if settings.node_limit is None or (settings.time_limit is not None and elapsed >= settings.time_limit):
            return "time_limit"
        return "node_limit"
    raise ValueError(f"exact_maximum: solver ended with status {res.status} "
                     f"({res.message}); no certificate")


def _solve_milp(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int,
                box: tuple[float, float], settings: SolveSettings, k: str) -> Certificate:
    """The MILP path: root bounds, the ascent incumbent as a cutoff, the MILP, then the best point and bound."""
    start = time.perf_counter()
    lo, hi = box
    n_in = net.weights[0].shape[1]
    form, layer_bounds = _root_bounds(net, box, settings, start)
    if settings.bound_cut_rounds > 0 and settings.tighten and layer_bounds:
        # the cuts served the bounds; the MILP gets the plain rows with the tighter bounds
        form, layer_bounds = build(net, lo, hi, tighten=False, given=layer_bounds)
    w_out, b_out = net.weights[-1][0], float(net.biases[-1][0])
    # a good starting incumbent, passed to HiGHS as a cutoff slightly below its value (in
    # maximisation terms), so the optimum stays feasible and must still be found and proven
    inc_value, inc_x = _incumbent(net, lo, hi, settings.time_limit)
    interval_ub = _interval_bound(net, box, layer_bounds)
    cutoff = -(inc_value - b_out) + 1e-5 * (1.0 + abs(inc_value))
    cost = -form.objective(w_out)
    form.cut_loop(cost, settings.cut_rounds)
    res = _milp(form, cost, cutoff, inc_value, b_out, settings, start)
    if res.status == 1 and res.x is None:  # no dual bound: the root LP relaxation bound instead
        root = form.solve(cost, integral=False)
        if root.status == 0:
            interval_ub = min(interval_ub, -float(root.fun) + b_out)
    seconds = time.perf_counter() - start
    status = _milp_status(res, settings, start)
    # the solver's point, the ascent incumbent, and the LP optimum of each one's region
    candidates = ([np.clip(res.x[:n_in], lo, hi)] if res.x is not None else []) + [inc_x]
    x_best, value = _best_point(model, net, shape, index, lo, hi, candidates)
    dual = getattr(res, "mip_dual_bound", None)
    ub = -float(dual) + b_out if dual is not None and math.isfinite(dual) else interval_ub
    if status == "optimal":
        # optimal means primal and dual agree within the solver gaps (1e-9 relative and absolute)
        milp_value = -float(res.fun) + b_out
        if value < milp_value - tolerance(model, value):
            raise RuntimeError(f"exact_maximum: argmax attains {value!r} by a forward pass, below "
                               f"the solver's optimum {milp_value!r}")
        ub = min(ub, milp_value + 1e-9 * max(1.0, abs(milp_value)))
    return fresh_certificate(model, net, shape, index, lo, hi, x_best, value, status, max(ub, value), seconds,
                             form.n_binaries, int(res.mip_node_count or 0), k, settings.solver)


def _solve_bab(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int,
               box: tuple[float, float], settings: SolveSettings, k: str) -> Certificate:
    """solver="bab": the root bounds of the MILP path (`formulation.build`), the same ascent
    incumbent, then `bab.maximize`; its bound is the certificate's exact_bound."""
    start = time.perf_counter()
    lo, hi = box
    form, layer_bounds = _root_bounds(net, box, settings, start)
    incumbent = _incumbent(net, lo, hi, settings.time_limit)
    res = bab.maximize(net, lo, hi, layer_bounds, incumbent, node_limit=settings.node_limit,
                       deadline=None if settings.time_limit is None else start + settings.time_limit)
    if res.status == "unproven":
        raise ValueError(f"exact_maximum: branch and bound closed every node but left the gap "
                         f"{res.bound - res.value!r}; no certificate")
    seconds = time.perf_counter() - start
    x_best, value = _best_point(model, net, shape, index, lo, hi, [res.x, incumbent[1]])
    return fresh_certificate(model, net, shape, index, lo, hi, x_best, value, res.status, max(res.bound, value),
                             seconds, form.n_binaries, res.n_nodes, k, "bab")


def _incumbent(net: PiecewiseLinearNet, lo: float, hi: float, time_limit: float | None
               ) -> tuple[float, np.ndarray]:
    """The starting incumbent of every solver: `regions.ascent_incumbent` with a number of starts
    that shrinks with the network (at most a tenth of the time limit)."""
    work = sum(w.size for w in net.weights)
    return ascent_incumbent(
        net, lo, hi, n_starts=int(np.clip(2e6 // work, 8, 256)),
        deadline=None if time_limit is None else time.perf_counter() + 0.1 * time_limit)


def _best_point(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int,
                lo: float, hi: float, candidates: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """The best of `candidates` and the LP optimum of each one's region, by the model's own forward
    value; RuntimeError when the linearized network disagrees with the model there."""
    for point in list(candidates):
        polished = region_lp(net, pattern_of(net, point), lo, hi)
        if polished is not None:
            candidates.append(polished[1])
    values = [model_value(model, x, shape, index) for x in candidates]
    best = int(np.argmax(values))
    x_best, value = candidates[best], float(values[best])
    if abs(float(net.forward(x_best[None])[0]) - value) > tolerance(model, value):
        raise RuntimeError("exact_maximum: the linearized network disagrees with the model's "
                           "forward pass; unsupported layer semantics")
    return x_best, value


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, int) else input_shape
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}") from None
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    return shape
