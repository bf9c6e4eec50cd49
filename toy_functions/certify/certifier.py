"""`exact_maximum`: the exact global maximum of a ReLU / LeakyReLU network over a box, by MILP.

max_{x in [lo, hi]^n} f(x) for f a composition of affine layers and rectifiers act(z) = max(z, s z)
(0 <= s < 1) is the mixed-integer program of `formulation.Formulation` (one binary per unit whose
pre-activation bounds straddle 0; stable units need none; MaxPool2d is rewritten into rectifiers by
`network.linearize`), solved by HiGHS through `scipy.optimize.milp` (default), SCIP through
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

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import scipy

from . import bab, cache, optimized_bounds
from .bounds import check_box, interval_affine, leaky_relu
from .formulation import NO_HEURISTICS, SOLVER_OPTIONS, build
from .network import PiecewiseLinearNet, linearize
from .solvers import BACKENDS
from .solvers import GUROBI_PARAMS, SCIP_PARAMS, check_threads
from .regions import ascent_incumbent, pattern_of, region_lp
from .rounding import rounding_margin


#: Bumped whenever a change to the certifier can change a certificate; part of every cache key.
CERTIFIER_VERSION = "6"
#: the exact maximisers: the MILP backends (`solvers.BACKENDS`) and branch and bound (`bab`)
SOLVERS = (*BACKENDS, "bab")
#: the settings of solver="bab" that can change its certificate (part of its cache key only)
BAB_SETTINGS = {"bab": bab.VERSION, "gap": bab.GAP, "finish": bab.FINISH, "batch": bab.BATCH,
                "steps": optimized_bounds.STEPS, "lr": optimized_bounds.LR,
                "adam": [*optimized_bounds.BETAS, optimized_bounds.EPS]}


@dataclass(frozen=True)
class Certificate:
    """The result of `exact_maximum`.

    value: f(argmax) by a forward pass of the model; argmax: a maximiser of shape input_shape
    (float64); status: "optimal" (value is the maximum up to the 1e-9 solver gap), "time_limit" or
    "node_limit"
    (value is only the incumbent); upper_bound: a proven bound on the model's own forward pass in
    its dtype, fl(f)(x) <= upper_bound for every x in the box: exact_bound (the MILP's bound on f in
    exact arithmetic, max f <= exact_bound) plus rounding_margin (`rounding.rounding_margin`, a
    rigorous bound on |fl(f) - f| over the box; about 1e-13 relative for float64 models, 1e-4 for
    float32); mip_gap: (exact_bound - value) / max(1, |value|); solve_seconds: bounds + MILP time of the solve
    that produced it; n_binaries: unstable units; n_nodes: branch-and-bound nodes; n_units: hidden
    units; cached: read from the disk cache; kind: "milp", or "bab" for solver="bab"; key: the cache key, a hash of the linearized network,
    the box and every setting that can change the answer (`solve_settings`), so a cache hit is the
    certificate a fresh solve would give. `bound` and `incumbent` name upper_bound and value.
    """

    value: float
    argmax: torch.Tensor
    status: str
    upper_bound: float
    mip_gap: float
    solve_seconds: float
    n_binaries: int
    n_nodes: int
    n_units: int
    cached: bool
    key: str
    kind: str = "milp"
    exact_bound: float = math.nan
    rounding_margin: float = 0.0

    @property
    def bound(self) -> float:
        """The proven upper bound (alias of upper_bound)."""
        return self.upper_bound

    @property
    def incumbent(self) -> float:
        """The best value found, f(argmax) (alias of value)."""
        return self.value

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (argmax as a nested list)."""
        return {"kind": self.kind, "value": self.value, "status": self.status,
                "upper_bound": self.upper_bound, "exact_bound": self.exact_bound,
                "rounding_margin": self.rounding_margin, "mip_gap": self.mip_gap,
                "solve_seconds": self.solve_seconds, "n_binaries": self.n_binaries,
                "n_nodes": self.n_nodes, "n_units": self.n_units, "key": self.key,
                "argmax": self.argmax.tolist()}


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
    solver: str = "highs",
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
    limit no step of the solve depends on the clock. `solver`: "highs" (default), "scip"
    (pyscipopt) or "gurobi" (gurobipy, optional) for the MILP; LP relaxations always use HiGHS;
    "bab": branch and bound over unstable units instead of a MILP (`bab`; nodes are its node
    LPs; `cut_rounds` must then be 0). `threads` (>= 1, default 1): Gurobi's thread count (its parallel search is deterministic: a
    function of the model and the count); HiGHS and SCIP take 1 only. `tighten_nodes` (>= 0):
    from the second hidden layer on, bound each unstable unit by a MILP limited to this many
    nodes (0: off). Ideal-formulation cuts (`cuts`, Anderson et al. 2020): `bound_cut_rounds`
    (>= 0, default 1) rounds of them strengthen each LP of the bound tightening (the MILP then
    gets the plain big-M rows with the tighter bounds); `cut_rounds` (>= 0, default 0) rounds of
    a root cutting-plane loop on the MILP's objective, the cuts kept in the MILP. Both are
    counts, never clocks.
    """
    for name, count in (("tighten_nodes", tighten_nodes), ("cut_rounds", cut_rounds),
                        ("bound_cut_rounds", bound_cut_rounds)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be an int >= 0, got {count!r}")
    shape = _check_shape(input_shape)
    lo, hi = check_box(bounds)
    if time_limit is not None and (isinstance(time_limit, bool) or
                                   not isinstance(time_limit, (int, float)) or
                                   not math.isfinite(time_limit) or time_limit <= 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if node_limit is not None and (isinstance(node_limit, bool) or not isinstance(node_limit, int)
                                   or node_limit <= 0):
        raise ValueError(f"node_limit must be a positive int, got {node_limit!r}")
    if not (cache_dir is None or cache_dir is False or isinstance(cache_dir, (str, Path))):
        raise ValueError(f"cache_dir must be a path, None or False, got {cache_dir!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    if solver == "bab" and cut_rounds:
        raise ValueError(f"cut_rounds={cut_rounds!r} needs a MILP solver; solver='bab' has no MILP")
    check_threads(solver, threads)
    net = linearize(model, shape, output_index, box=(lo, hi))
    index = 0 if output_index is None else output_index
    k = cache.key(net, shape, lo, hi, solve_settings(time_limit=time_limit, node_limit=node_limit,
                                                    tighten=tighten, solver=solver,
                                                    tighten_nodes=tighten_nodes,
                                                    cut_rounds=cut_rounds,
                                                    bound_cut_rounds=bound_cut_rounds,
                                                    threads=threads))
    directory = None if cache_dir is False else (cache.default_dir() if cache_dir is None
                                                 else Path(cache_dir))
    if directory is not None:
        record = cache.load(directory, k)
        if record is not None:
            hit = _from_record(record, model, net, shape, index, k)
            if hit is not None:
                return hit
    with _one_thread():
        if solver == "bab":
            cert = _solve_bab(model, net, shape, index, lo, hi, time_limit, tighten, k, node_limit,
                              tighten_nodes, bound_cut_rounds)
        else:
            cert = _solve(model, net, shape, index, lo, hi, time_limit, tighten, k, node_limit,
                          solver, tighten_nodes, cut_rounds, bound_cut_rounds, threads)
    # a time-limited solve depends on the machine's speed: never stored; a truncated one is cheap
    # to repeat (its limit is small): not stored either
    if directory is not None and time_limit is None and cert.status == "optimal":
        rec = cert.as_dict()
        rec.pop("key")
        cache.store(directory, k, rec)
    return cert


def _solve(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int,
           lo: float, hi: float, time_limit: float | None, tighten: bool, k: str,
           node_limit: int | None = None, solver: str = "highs", tighten_nodes: int = 0,
           cut_rounds: int = 0, bound_cut_rounds: int = 1, threads: int = 1) -> Certificate:
    start = time.perf_counter()
    budgeted = time_limit is not None or node_limit is not None
    deadline = None if time_limit is None else start + 0.5 * time_limit
    n_in = net.weights[0].shape[1]
    form, layer_bounds = build(net, lo, hi, tighten=tighten, tighten_nodes=tighten_nodes,
                               deadline=deadline, cut_rounds=bound_cut_rounds)
    if bound_cut_rounds > 0 and tighten and layer_bounds:
        # the cuts served the bounds; the MILP gets the plain rows with the tighter bounds
        form, layer_bounds = build(net, lo, hi, tighten=False, given=layer_bounds)
    w_out, b_out = net.weights[-1][0], float(net.biases[-1][0])
    # a good starting incumbent, passed to HiGHS as a cutoff slightly below its value (in
    # maximisation terms), so the optimum stays feasible and must still be found and proven
    inc_value, inc_x = _incumbent(net, lo, hi, time_limit)
    if layer_bounds:
        s_last = net.slopes[-1]
        y_lo, y_hi = leaky_relu(layer_bounds[-1][0], s_last), leaky_relu(layer_bounds[-1][1], s_last)
    else:  # no hidden layer: the objective is affine in x
        y_lo, y_hi = np.full(n_in, lo), np.full(n_in, hi)
    interval_ub = float(interval_affine(net.weights[-1], net.biases[-1], y_lo, y_hi)[1][0])
    cutoff = -(inc_value - b_out) + 1e-5 * (1.0 + abs(inc_value))
    cost = -form.objective(w_out)
    form.cut_loop(cost, cut_rounds)
    remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - start), 1e-3)
    # HiGHS's primal heuristics mostly re-find the incumbent, so they are off when optimality must
    # be proven anyway; under a time limit they stay on: a run stopped without a solution of its
    # own reports no dual bound through scipy. Gurobi reports its dual bound in every case, so its
    # heuristics are always off
    res = form.solve(cost, integral=True, time_limit=remaining, cutoff=cutoff,
                     heuristics=budgeted and solver != "gurobi", node_limit=node_limit,
                     solver=solver, threads=threads)
    if res.status == 1 and res.x is None and solver == "highs":
        # HiGHS (through scipy) reports neither a dual bound nor a node count when it stops at a
        # limit without a solution of its own, which the cutoff at the incumbent can cause (the
        # incumbent may be optimal): solve again without the cutoff for a real dual bound
        remaining = None if time_limit is None else \
            max(time_limit - (time.perf_counter() - start), 1e-3)
        res = form.solve(cost, integral=True, time_limit=remaining, heuristics=True,
                         node_limit=node_limit, solver=solver, threads=threads)
    if res.status == 2 or (res.status == 0 and -float(res.fun) + b_out
                           < inc_value - 1e-6 * (1.0 + abs(inc_value))):
        # "infeasible", or "optimal" below the incumbent, under the cutoff: numerically possible
        # only, and then the cutoff is not trusted: solve plainly
        remaining = None if time_limit is None else \
            max(time_limit - (time.perf_counter() - start), 1e-3)
        res = form.solve(cost, integral=True, time_limit=remaining, node_limit=node_limit,
                         solver=solver, threads=threads)
    stopped = res.status == 1
    if stopped and res.x is None:  # no dual bound: the root LP relaxation bound instead
        root = form.solve(cost, integral=False)
        if root.status == 0:
            interval_ub = min(interval_ub, -float(root.fun) + b_out)
    seconds = time.perf_counter() - start
    if res.status == 0:
        status = "optimal"
    elif stopped and budgeted:
        elapsed = time.perf_counter() - start
        status = "time_limit" if time_limit is not None and elapsed >= time_limit else "node_limit"
        if node_limit is None:
            status = "time_limit"
    else:
        raise ValueError(f"exact_maximum: solver ended with status {res.status} "
                         f"({res.message}); no certificate")
    # the solver's point, the ascent incumbent, and the LP optimum of each one's region
    candidates = ([np.clip(res.x[:n_in], lo, hi)] if res.x is not None else []) + [inc_x]
    x_best, value = _best_point(model, net, shape, index, lo, hi, candidates)
    tol = _tolerance(model, value)
    dual = getattr(res, "mip_dual_bound", None)
    ub = -float(dual) + b_out if dual is not None and math.isfinite(dual) else interval_ub
    if status == "optimal":
        # optimal means primal and dual agree within the solver gaps (1e-9 relative and absolute)
        milp_value = -float(res.fun) + b_out
        if value < milp_value - tol:
            raise RuntimeError(f"exact_maximum: argmax attains {value!r} by a forward pass, below "
                               f"the solver's optimum {milp_value!r}")
        ub = min(ub, milp_value + 1e-9 * max(1.0, abs(milp_value)))
    return _certificate(model, net, shape, index, lo, hi, x_best, value, status, max(ub, value), seconds,
                        form.n_binaries, int(res.mip_node_count or 0), k, "milp")


def _certificate(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int, lo: float,
                 hi: float, x_best: np.ndarray, value: float, status: str, ub: float, seconds: float,
                 n_binaries: int, n_nodes: int, k: str, kind: str) -> Certificate:
    """The certificate of a fresh solve: ``ub`` (>= value) is the exact-arithmetic bound, to which the
    rigorous rounding margin of the model's own forward pass is added for ``upper_bound``."""
    margin = rounding_margin(model, shape, (lo, hi), index)
    return Certificate(
        value=value,
        argmax=torch.as_tensor(x_best, dtype=torch.float64).reshape(shape),
        status=status,
        upper_bound=ub + margin,
        exact_bound=ub,
        rounding_margin=margin,
        mip_gap=(ub - value) / max(1.0, abs(value)),
        solve_seconds=seconds,
        n_binaries=n_binaries,
        n_nodes=n_nodes,
        n_units=sum(net.widths),
        cached=False,
        key=k,
        kind=kind,
    )


def _solve_bab(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int,
               lo: float, hi: float, time_limit: float | None, tighten: bool, k: str,
               node_limit: int | None, tighten_nodes: int, bound_cut_rounds: int) -> Certificate:
    """solver="bab": the root bounds of the MILP path (`formulation.build`), the same ascent
    incumbent, then `bab.maximize`; its bound is the certificate's exact_bound."""
    start = time.perf_counter()
    deadline = None if time_limit is None else start + 0.5 * time_limit
    form, layer_bounds = build(net, lo, hi, tighten=tighten, tighten_nodes=tighten_nodes,
                               deadline=deadline, cut_rounds=bound_cut_rounds)
    incumbent = _incumbent(net, lo, hi, time_limit)
    res = bab.maximize(net, lo, hi, layer_bounds, incumbent, node_limit=node_limit,
                       deadline=None if time_limit is None else start + time_limit)
    if res.status == "unproven":
        raise ValueError(f"exact_maximum: branch and bound closed every node but left the gap "
                         f"{res.bound - res.value!r}; no certificate")
    seconds = time.perf_counter() - start
    x_best, value = _best_point(model, net, shape, index, lo, hi, [res.x, incumbent[1]])
    return _certificate(model, net, shape, index, lo, hi, x_best, value, res.status, max(res.bound, value),
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
    values = [_model_value(model, x, shape, index) for x in candidates]
    best = int(np.argmax(values))
    x_best, value = candidates[best], float(values[best])
    if abs(float(net.forward(x_best[None])[0]) - value) > _tolerance(model, value):
        raise RuntimeError("exact_maximum: the linearized network disagrees with the model's "
                           "forward pass; unsupported layer semantics")
    return x_best, value


def _from_record(record: dict[str, Any], model: nn.Module, net: PiecewiseLinearNet,
                 shape: tuple[int, ...], index: int, k: str) -> Certificate | None:
    """A cached certificate, re-verified by a forward pass; None if it does not check out."""
    try:
        x = np.asarray(record["argmax"], dtype=np.float64).reshape(-1)
        value = float(record["value"])
        status = str(record["status"])
        if status != "optimal":
            return None
        with _one_thread():
            value_now = _model_value(model, x, shape, index)
        if value_now != value:  # another machine's arithmetic, or a damaged record: solve afresh
            return None
        ub, margin = float(record["exact_bound"]), float(record["rounding_margin"])
        if not (ub >= value and margin >= 0.0 and float(record["upper_bound"]) == ub + margin):
            return None
        return Certificate(
            value=value, argmax=torch.as_tensor(x).reshape(shape), status=status,
            upper_bound=ub + margin, exact_bound=ub, rounding_margin=margin,
            mip_gap=(ub - value) / max(1.0, abs(value)),
            solve_seconds=float(record["solve_seconds"]),
            n_binaries=int(record["n_binaries"]), n_nodes=int(record["n_nodes"]),
            n_units=int(record["n_units"]), cached=True, key=k,
            kind=str(record.get("kind", "milp")))
    except (KeyError, TypeError, ValueError):
        return None


def solve_settings(*, time_limit: float | None, node_limit: int | None, tighten: bool,
                   solver: str = "highs", tighten_nodes: int = 0, cut_rounds: int = 0,
                   bound_cut_rounds: int = 1, threads: int = 1) -> dict[str, Any]:
    """Everything besides the network and the box that can change a certificate (the cache key).
    Gurobi's parameters and thread count enter only for solver="gurobi", so the keys of the other
    solvers stay what they were."""
    settings = {"certifier": CERTIFIER_VERSION, "solver": solver, "solver_version": _version(solver),
                "scipy": scipy.__version__, "options": SOLVER_OPTIONS, "no_heuristics": NO_HEURISTICS,
                "scip_params": SCIP_PARAMS if solver == "scip" else None, "tighten": bool(tighten),
                "tighten_nodes": int(tighten_nodes), "cut_rounds": int(cut_rounds),
                "bound_cut_rounds": int(bound_cut_rounds),
                "time_limit": time_limit, "node_limit": node_limit,
                "torch": torch.__version__, "numpy": np.__version__}
    if solver == "gurobi":
        settings.update(gurobi_params=GUROBI_PARAMS, threads=int(threads))
    if solver == "bab":
        settings.update(bab=BAB_SETTINGS)
    return settings


def _version(solver: str) -> str:
    if solver == "scip":
        try:
            import pyscipopt
        except ImportError:
            return "absent"
        return f"pyscipopt {pyscipopt.__version__}, SCIP {pyscipopt.Model().version()}"
    if solver == "gurobi":
        try:
            import gurobipy
        except ImportError:
            return "absent"
        return f"gurobipy {gurobipy.__version__}, Gurobi {'.'.join(map(str, gurobipy.gurobi.version()))}"
    return f"scipy {scipy.__version__}"


@contextlib.contextmanager
def _one_thread():
    """torch on one intra-op thread: forward passes then sum in one order on every run."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def _model_value(model: nn.Module, x: np.ndarray, shape: tuple[int, ...], index: int) -> float:
    """The model's own forward value at x (cast to its parameter dtype)."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float64
    with torch.no_grad():
        out = model(torch.as_tensor(x, dtype=torch.float64).reshape(1, *shape).to(dtype))
    return float(out.reshape(1, -1)[0, index])


def _tolerance(model: nn.Module, value: float) -> float:
    """Agreement tolerance between solver and forward values: 1e-6 (float64) or 1e-3 (lower)."""
    param = next(model.parameters(), None)
    wide = param is None or param.dtype == torch.float64
    return (1e-6 if wide else 1e-3) * (1.0 + abs(value))


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, int) else input_shape
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}") from None
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shape):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    return shape
