"""The exact certifier: global maxima of ReLU / LeakyReLU networks over a box, by MILP or by branch and bound.

    exact_maximum(model, input_shape, bounds=(-1, 1), output_index=None, time_limit=None,
                  cache_dir=None, *, tighten=True, node_limit=None, solver="auto",
                  tighten_nodes=0, cut_rounds=0, bound_cut_rounds=1, threads=1) -> Certificate
    resolve_solver(solver, model, cut_rounds=0) -> str   ("auto": HiGHS with a convolution or pooling layer, else "bab")
    check_certifiable(model) -> None        (ValueError naming the unsupported layer)
    unit_network(model, input_shape, kind, layer, index) -> (nn.Sequential, output index)

Modules: network (layers -> alternating affine maps and rectifiers), bounds (pre-activation
bounds and the box check), formulation (the big-M MILP and the HiGHS call), cuts (the
ideal-formulation cuts of a rectifier unit), solvers (HiGHS, SCIP and the optional Gurobi), regions (activation regions, brute force, the ascent incumbent), cache
(certificates on disk), settings (a solve's settings and its cache-key part), certificate (the certificate,
fresh or from the cache), certifier (the solve), surgery (the unit to certify as a network);
solver="bab": bab (branch and bound over unstable units), linear_bounds (a node's pre-activation
bounds), optimized_bounds (alpha-beta-CROWN bounds of a batch of nodes), branching (the split of
each node), node_lp (a node's LP).
"""

from .bounds import check_box
from .certifier import CERTIFIER_VERSION, Certificate, exact_maximum, solve_settings
from .settings import SUITE_SOLVER, resolve_solver
from .network import PiecewiseLinearNet, linearize
from .regions import brute_force_maximum
from .surgery import check_certifiable, only_channel, unit_network

__all__ = ["CERTIFIER_VERSION", "SUITE_SOLVER", "Certificate", "PiecewiseLinearNet", "brute_force_maximum",
           "check_box", "check_certifiable", "exact_maximum", "linearize", "only_channel", "resolve_solver",
           "solve_settings", "unit_network"]
