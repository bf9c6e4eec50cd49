"""MILP backends for the certifier: HiGHS (scipy.optimize.milp), SCIP (pyscipopt) and Gurobi
(gurobipy, optional: the extra `proxygrad-bench[gurobi]`; its pip wheel carries a size-limited
evaluation licence, enough for the random-MLP instances; a full licence lifts the limit).

Each solves  min c . v  s.t.  row_lb <= A v <= row_ub,  var_lb <= v <= var_ub,  v_i integral where
marked, with a fixed random seed and relative and absolute gaps of 1e-9, so a run stopped by a node
limit repeats exactly. HiGHS and SCIP search on one thread; Gurobi on `threads` (default 1) in its
deterministic parallel mode, whose search is a function of the model and the thread count, not of
the machine's speed. Each returns a `scipy.optimize.OptimizeResult`-like
object: status (0 optimal, 1 time or node limit, 2 infeasible, 4 other), fun, x (None without a
solution), mip_dual_bound, mip_node_count, message.

`cutoff`: an objective value known to be above a feasible solution's cost (a valid incumbent
bound): HiGHS's `objective_bound`, SCIP's objective limit. `heuristics=False` switches the
solver's primal heuristics off (they mostly re-find a good incumbent passed as cutoff).

Solvers print nothing: scipy's HiGHS runs with its log off (`disp` False), but HiGHS 1.x still writes
debug lines such as `HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();` with a
plain C `printf`, so `highs` sends the process's C-level standard output (file descriptor 1) to
/dev/null for the duration of the solve (`c_stdout_silenced`); the solve and its result are unchanged.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_matrix

# HiGHS gaps: the default relative gap (1e-4) is far too loose for a certificate. One thread and a
# fixed random seed: the search (and so every truncated bound) is then a function of the input only
HIGHS_OPTIONS = {"mip_rel_gap": 1e-9, "mip_abs_gap": 1e-9, "threads": 1, "random_seed": 0}
# with a cutoff from a good incumbent, HiGHS's primal heuristics (RENS / RINS sub-MIPs and the
# rest) mostly re-find that incumbent; switching them off more than halves typical solve times
HIGHS_NO_HEURISTICS = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rens": False,
                       "mip_heuristic_run_rins": False, "mip_heuristic_run_feasibility_jump": False,
                       "mip_heuristic_run_root_reduced_cost": False,
                       "mip_heuristic_run_shifting": False, "mip_heuristic_run_zi_round": False}
#: Gurobi's parameters besides Threads (deterministic parallel mode is Gurobi's default)
GUROBI_PARAMS = {"MIPGap": 1e-9, "MIPGapAbs": 1e-9, "Seed": 0}
SCIP_PARAMS = {"limits/gap": 1e-9, "limits/absgap": 1e-9, "parallel/maxnthreads": 1,
               "lp/threads": 1, "randomization/randomseedshift": 0, "timing/clocktype": 1}


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (what a C `printf` has buffered but not yet written)."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def c_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 (C and Python standard output alike) to /dev/null for the body, flushing
    both stdio layers on the way in and out so nothing written before or after is lost or misplaced."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()
    _flush_c_stdio()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (a closed stdout): nothing to silence
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
        finally:
            os.close(devnull)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


def highs(a: csr_matrix, row_lb: np.ndarray, row_ub: np.ndarray, var_lb: np.ndarray,
          var_ub: np.ndarray, integral: np.ndarray | None, cost: np.ndarray, *,
          time_limit: float | None = None, node_limit: int | None = None,
          cutoff: float | None = None, heuristics: bool = True, threads: int = 1) -> Any:
    """HiGHS through scipy.optimize.milp (options passed verbatim); one thread only."""
    check_threads("highs", threads)
    cons = [LinearConstraint(a, row_lb, row_ub)] if a.shape[0] else []
    options: dict[str, Any] = dict(HIGHS_OPTIONS)
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 1e-3)
    if node_limit is not None:
        options["node_limit"] = int(node_limit)
    if cutoff is not None:
        options["objective_bound"] = float(cutoff)
    if not heuristics:
        options.update(HIGHS_NO_HEURISTICS)
    with warnings.catch_warnings(), c_stdout_silenced():
        warnings.simplefilter("ignore", RuntimeWarning)  # the verbatim options
        res = milp(cost, integrality=integral, bounds=(var_lb, var_ub), constraints=cons,
                   options=options)
    if res.status == 4 and node_limit is not None and "limit reached" in str(res.message).lower():
        res.status = 1  # HiGHS reports a reached node limit as "solution limit"
    return res


def scip(a: csr_matrix, row_lb: np.ndarray, row_ub: np.ndarray, var_lb: np.ndarray,
         var_ub: np.ndarray, integral: np.ndarray | None, cost: np.ndarray, *,
         time_limit: float | None = None, node_limit: int | None = None,
         cutoff: float | None = None, heuristics: bool = True, threads: int = 1) -> Any:
    """SCIP through pyscipopt (ImportError naming the package when it is not installed); one
    thread only."""
    check_threads("scip", threads)
    try:
        import pyscipopt
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("solver='scip' needs the package pyscipopt (pip install pyscipopt)") from exc
    m = pyscipopt.Model()
    m.hideOutput()
    for k, v in SCIP_PARAMS.items():
        m.setParam(k, v)
    if time_limit is not None:
        m.setParam("limits/time", max(float(time_limit), 1e-3))
    if node_limit is not None:
        m.setParam("limits/nodes", int(node_limit))
    if not heuristics:
        m.setHeuristics(pyscipopt.SCIP_PARAMSETTING.OFF)
    n = len(cost)
    xs = [m.addVar(lb=float(var_lb[i]), ub=float(var_ub[i]),
                   vtype="B" if integral is not None and integral[i] and var_lb[i] == 0.0
                   and var_ub[i] == 1.0 else ("I" if integral is not None and integral[i] else "C"),
                   obj=float(cost[i])) for i in range(n)]
    for r in range(a.shape[0]):
        lo, hi = a.indptr[r], a.indptr[r + 1]
        expr = pyscipopt.quicksum(float(v) * xs[j] for j, v in zip(a.indices[lo:hi], a.data[lo:hi]))
        lhs = None if not np.isfinite(row_lb[r]) else float(row_lb[r])
        rhs = None if not np.isfinite(row_ub[r]) else float(row_ub[r])
        m.addCons(_ranged(expr, lhs, rhs))
    if cutoff is not None:
        m.setObjlimit(float(cutoff))
    m.optimize()
    status = m.getStatus()
    code = {"optimal": 0, "nodelimit": 1, "timelimit": 1, "totalnodelimit": 1,
            "infeasible": 2}.get(status, 4)
    x = None
    fun = None
    if m.getNSols() > 0 and status != "infeasible":
        sol = m.getBestSol()
        x = np.array([m.getSolVal(sol, v) for v in xs])
        fun = float(m.getSolObjVal(sol))
    return SimpleNamespace(status=code, fun=fun, x=x, mip_dual_bound=float(m.getDualbound()),
                           mip_node_count=int(m.getNNodes()), message=status)


def gurobi(a: csr_matrix, row_lb: np.ndarray, row_ub: np.ndarray, var_lb: np.ndarray,
           var_ub: np.ndarray, integral: np.ndarray | None, cost: np.ndarray, *,
           time_limit: float | None = None, node_limit: int | None = None,
           cutoff: float | None = None, heuristics: bool = True, threads: int = 1) -> Any:
    """Gurobi through gurobipy (ImportError naming the package when it is not installed;
    ValueError quoting Gurobi when the model exceeds the size-limited licence)."""
    check_threads("gurobi", threads)
    try:
        import gurobipy as gp
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("solver='gurobi' needs the package gurobipy "
                          "(pip install 'proxygrad-bench[gurobi]')") from exc
    with gp.Env(empty=True) as env:
        env.setParam("OutputFlag", 0)
        env.start()
        with gp.Model(env=env) as m:
            for k, v in GUROBI_PARAMS.items():
                m.setParam(k, v)
            m.setParam("Threads", int(threads))
            if time_limit is not None:
                m.setParam("TimeLimit", max(float(time_limit), 1e-3))
            if node_limit is not None:
                m.setParam("NodeLimit", float(node_limit))
            if cutoff is not None:
                m.setParam("Cutoff", float(cutoff))
            if not heuristics:
                m.setParam("Heuristics", 0.0)
            kinds = np.full(len(cost), "C")
            if integral is not None:
                kinds[np.asarray(integral) > 0] = "I"
            v = m.addMVar(len(cost), lb=np.asarray(var_lb, float), ub=np.asarray(var_ub, float),
                          vtype=kinds, obj=np.asarray(cost, float))
            finite_lo, finite_hi = np.isfinite(row_lb), np.isfinite(row_ub)
            equal = finite_lo & finite_hi & (row_lb == row_ub)
            for mask, sense, rhs in ((finite_hi & ~equal, "<", row_ub), (finite_lo & ~equal, ">", row_lb),
                                     (equal, "=", row_ub)):
                if mask.any():
                    m.addMConstr(a[mask], v, sense, np.asarray(rhs, float)[mask])
            try:
                m.optimize()
            except gp.GurobiError as exc:
                raise ValueError(f"solver='gurobi': {exc}") from exc
            status = m.Status
            code = {gp.GRB.OPTIMAL: 0, gp.GRB.NODE_LIMIT: 1, gp.GRB.TIME_LIMIT: 1,
                    gp.GRB.INFEASIBLE: 2, gp.GRB.CUTOFF: 2}.get(status, 4)
            x = np.array(v.X) if m.SolCount > 0 and code != 2 else None
            mip = integral is not None
            try:  # not defined for every status (an infeasible or cut-off model)
                dual = float(m.ObjBound) if mip else None
            except (AttributeError, gp.GurobiError):
                dual = None
            return SimpleNamespace(status=code, fun=float(m.ObjVal) if x is not None else None, x=x,
                                   mip_dual_bound=dual,
                                   mip_node_count=int(m.NodeCount) if mip else 0,
                                   message=f"gurobi status {status}")


#: the solvers whose search may use more than one thread
PARALLEL = frozenset({"gurobi"})


def check_threads(solver: str, threads: Any) -> None:
    """ValueError naming the value unless `threads` is an int >= 1, and 1 for a solver not in
    PARALLEL."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    if threads != 1 and solver not in PARALLEL:
        raise ValueError(f"threads={threads!r} needs solver='gurobi'; {solver!r} searches on one thread")


def _ranged(expr: Any, lhs: float | None, rhs: float | None) -> Any:
    if lhs is not None and rhs is not None:
        return expr == lhs if lhs == rhs else ((expr >= lhs) <= rhs)
    return expr <= rhs if rhs is not None else expr >= lhs


BACKENDS: dict[str, Callable[..., Any]] = {"highs": highs, "scip": scip, "gurobi": gurobi}
