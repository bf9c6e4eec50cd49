"""The certificate of an exact solve (:class:`Certificate`): built from a fresh solve
(:func:`fresh_certificate`, which adds the rigorous float rounding margin to the exact bound) or read back from
the disk cache (:func:`from_record`, re-verified by a forward pass), and the model's own forward value on one
torch thread (:func:`model_value`, :func:`one_thread`) that every certificate is checked against.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .network import PiecewiseLinearNet
from .rounding import rounding_margin


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
    units; cached: read from the disk cache; solver: the solver that made it ("highs", "scip", "gurobi" or
    "bab"; "auto" resolved), and kind its family ("bab", else "milp"); key: the cache key, a hash of the linearized network,
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
    solver: str = "highs"
    exact_bound: float = math.nan
    rounding_margin: float = 0.0

    @property
    def kind(self) -> str:
        """"bab" for branch and bound, "milp" for the MILP solvers."""
        return "bab" if self.solver == "bab" else "milp"

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
        return {"kind": self.kind, "solver": self.solver, "value": self.value, "status": self.status,
                "upper_bound": self.upper_bound, "exact_bound": self.exact_bound,
                "rounding_margin": self.rounding_margin, "mip_gap": self.mip_gap,
                "solve_seconds": self.solve_seconds, "n_binaries": self.n_binaries,
                "n_nodes": self.n_nodes, "n_units": self.n_units, "key": self.key,
                "argmax": self.argmax.tolist()}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread: forward passes then sum in one order on every run."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def model_value(model: nn.Module, x: np.ndarray, shape: tuple[int, ...], index: int) -> float:
    """The model's own forward value at x (cast to its parameter dtype)."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float64
    with torch.no_grad():
        out = model(torch.as_tensor(x, dtype=torch.float64).reshape(1, *shape).to(dtype))
    return float(out.reshape(1, -1)[0, index])


def tolerance(model: nn.Module, value: float) -> float:
    """Agreement tolerance between solver and forward values: 1e-6 (float64) or 1e-3 (lower)."""
    param = next(model.parameters(), None)
    wide = param is None or param.dtype == torch.float64
    return (1e-6 if wide else 1e-3) * (1.0 + abs(value))


def fresh_certificate(model: nn.Module, net: PiecewiseLinearNet, shape: tuple[int, ...], index: int, lo: float,
                 hi: float, x_best: np.ndarray, value: float, status: str, ub: float, seconds: float,
                 n_binaries: int, n_nodes: int, k: str, solver: str) -> Certificate:
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
        solver=solver,
    )


def from_record(record: dict[str, Any], model: nn.Module, net: PiecewiseLinearNet,
                 shape: tuple[int, ...], index: int, k: str, solver: str) -> Certificate | None:
    """A cached certificate of ``solver`` (the cache key ``k`` covers it), re-verified by a forward pass; None
    if it does not check out."""
    try:
        x = np.asarray(record["argmax"], dtype=np.float64).reshape(-1)
        value = float(record["value"])
        status = str(record["status"])
        if status != "optimal":
            return None
        with one_thread():
            value_now = model_value(model, x, shape, index)
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
            solver=solver)
    except (KeyError, TypeError, ValueError):
        return None
