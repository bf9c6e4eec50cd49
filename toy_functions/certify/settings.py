"""The settings of one exact solve (:class:`SolveSettings`), validated once, and the part of them that can
change a certificate (:meth:`SolveSettings.key_settings`, hashed into the cache key with the network and the box).

A solve is a pure function of the linearized network, the box and these settings when no ``time_limit``
is set; a ``node_limit`` is a count, never a clock, so a truncated certificate repeats exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy
import torch
from torch import nn

from . import bab, optimized_bounds
from .formulation import NO_HEURISTICS, SOLVER_OPTIONS
from .network import leaves
from .solvers import BACKENDS, GUROBI_PARAMS, SCIP_PARAMS, check_threads

#: Bumped whenever a change to the certifier can change a certificate; part of every cache key.
CERTIFIER_VERSION = "6"
#: the exact maximisers: the MILP backends (`solvers.BACKENDS`) and branch and bound (`bab`)
SOLVERS = (*BACKENDS, "bab")
#: `exact_maximum`'s default: the faster open-source solver for the network (:func:`resolve_solver`)
AUTO = "auto"
#: the solver of every certificate in the suite's records (random and plug-in toy families, cnn-am units):
#: the committed records were made with it, and a certificate's last bits depend on the solver that found it
SUITE_SOLVER = "highs"
#: layers after which `auto` takes HiGHS: the benchmark (`benchmarks/perf/bench_certifier.py`) measured the
#: MILP faster on every convolutional network it certifies and branch and bound faster on the fully connected ones
_MILP_LAYERS = (nn.Conv1d, nn.Conv2d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                nn.AdaptiveAvgPool2d)
#: the settings of solver="bab" that can change its certificate (part of its cache key only)
BAB_SETTINGS = {"bab": bab.VERSION, "gap": bab.GAP, "finish": bab.FINISH, "batch": bab.BATCH,
                "steps": optimized_bounds.STEPS, "lr": optimized_bounds.LR,
                "adam": [*optimized_bounds.BETAS, optimized_bounds.EPS]}


@dataclass(frozen=True)
class SolveSettings:
    """How ``exact_maximum`` solves (see its docstring for each field's meaning). Every field is checked
    here, once, with a ValueError naming the bad value:

    - ``time_limit``: ``None`` or seconds ``> 0`` (finite); ``node_limit``: ``None`` or an int ``> 0``;
    - ``solver``: one of :data:`SOLVERS` (``"auto"`` is resolved before, :func:`resolve_solver`); ``threads``:
      ``>= 1``, more than 1 for Gurobi only
      (``solvers.check_threads``);
    - ``tighten_nodes``, ``cut_rounds``, ``bound_cut_rounds``: ints ``>= 0``; ``cut_rounds`` needs a MILP
      (``0`` for ``solver="bab"``).
    """

    time_limit: float | None = None
    node_limit: int | None = None
    tighten: bool = True
    solver: str = "highs"
    tighten_nodes: int = 0
    cut_rounds: int = 0
    bound_cut_rounds: int = 1
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("tighten_nodes", "cut_rounds", "bound_cut_rounds"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"{name} must be an int >= 0, got {count!r}")
        t = self.time_limit
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t)
                              or t <= 0):
            raise ValueError(f"time_limit must be a positive number of seconds, got {t!r}")
        n = self.node_limit
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            raise ValueError(f"node_limit must be a positive int, got {n!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        if self.solver == "bab" and self.cut_rounds:
            raise ValueError(f"cut_rounds={self.cut_rounds!r} needs a MILP solver; solver='bab' has no MILP")
        check_threads(self.solver, self.threads)

    @property
    def budgeted(self) -> bool:
        """A time or node limit may stop the solve before its proof."""
        return self.time_limit is not None or self.node_limit is not None

    def key_settings(self) -> dict[str, Any]:
        """Everything besides the network and the box that can change a certificate (the cache key).
        Gurobi's parameters and thread count enter only for solver="gurobi", and bab's settings only for
        solver="bab", so the keys of the other solvers stay what they were."""
        settings = {"certifier": CERTIFIER_VERSION, "solver": self.solver, "solver_version": solver_version(self.solver),
                    "scipy": scipy.__version__, "options": SOLVER_OPTIONS, "no_heuristics": NO_HEURISTICS,
                    "scip_params": SCIP_PARAMS if self.solver == "scip" else None, "tighten": bool(self.tighten),
                    "tighten_nodes": int(self.tighten_nodes), "cut_rounds": int(self.cut_rounds),
                    "bound_cut_rounds": int(self.bound_cut_rounds),
                    "time_limit": self.time_limit, "node_limit": self.node_limit,
                    "torch": torch.__version__, "numpy": np.__version__}
        if self.solver == "gurobi":
            settings.update(gurobi_params=GUROBI_PARAMS, threads=int(self.threads))
        if self.solver == "bab":
            settings.update(bab=BAB_SETTINGS)
        return settings


def solve_settings(*, time_limit: float | None, node_limit: int | None, tighten: bool,
                   solver: str = "highs", tighten_nodes: int = 0, cut_rounds: int = 0,
                   bound_cut_rounds: int = 1, threads: int = 1) -> dict[str, Any]:
    """:meth:`SolveSettings.key_settings` of these settings (the cache key's settings part)."""
    return SolveSettings(time_limit, node_limit, tighten, solver, tighten_nodes, cut_rounds, bound_cut_rounds,
                         threads).key_settings()


def resolve_solver(solver: str, model: nn.Module, cut_rounds: int = 0) -> str:
    """The solver that ``solver`` names for ``model``: itself, or for ``"auto"`` the open-source solver the
    benchmark measured faster on networks like it (``benchmarks/perf/bench_certifier.py``; its table is in the
    README): HiGHS's MILP when a layer of the model is a convolution or a pooling layer, or when ``cut_rounds``
    asks for the MILP's cutting planes; branch and bound (``"bab"``) for fully connected networks (affine
    layers and rectifiers only). The layers are those the certifier reads (``network.leaves``). ValueError naming
    any other ``solver``."""
    if solver not in (AUTO, *SOLVERS):
        raise ValueError(f"solver must be one of {sorted((AUTO, *SOLVERS))}, got {solver!r}")
    if solver != AUTO:
        return solver
    if cut_rounds or any(isinstance(layer, _MILP_LAYERS) for layer in leaves(model)):
        return "highs"
    return "bab"


def solver_version(solver: str) -> str:
    """The version of ``solver``'s library (``"absent"`` when it is not installed)."""
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
