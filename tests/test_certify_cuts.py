"""Ideal-formulation cuts of the certifier (`toy_functions.certify.cuts`): every inequality of the
family is valid at feasible points of tiny nets (brute force over all subsets), separation finds
the most violated one, the cut-strengthened bounds contain the true pre-activation ranges, and
exact_maximum with cuts matches brute-force region enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from toy_functions.certify import exact_maximum, linearize
from toy_functions.certify.cuts import cut_row, most_violated
from toy_functions.certify.formulation import build
from toy_functions.certify.network import PiecewiseLinearNet
from toy_functions.certify.regions import brute_force_maximum
from toy_functions.random_nets import mlp_net


def _exact_point(net: PiecewiseLinearNet, form, x: np.ndarray) -> np.ndarray:
    """All formulation variables at input x: the network's values and each binary's true phase."""
    v = np.zeros(form.n_vars)
    v[form.layer_vars[0]] = x
    y = x
    for layer, (w, b, s) in enumerate(zip(net.weights[:-1], net.biases[:-1], net.slopes)):
        z = w @ y + b
        y = np.where(z >= 0.0, z, s * z)
        v[form.layer_vars[layer + 1]] = y
    for unit in form.units:
        v[unit.d] = 1.0 if unit.w @ v[unit.inputs] + unit.b >= 0.0 else 0.0
    return v


def _points(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    return np.vstack([rng.uniform(-1.0, 1.0, (1500, d)), corners])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("slope", [0.0, 0.1, 0.4])
def test_every_cut_holds_at_feasible_points_and_some_are_tight(seed, slope):
    net = linearize(mlp_net(3, (4, 4), seed, slope), (3,))
    form, _ = build(net, -1.0, 1.0, tighten=True, cut_rounds=2)
    assert form.units
    pts = np.array([_exact_point(net, form, x) for x in _points(3, seed)])
    tightest = -np.inf
    for unit in form.units:
        for mask in itertools.product([False, True], repeat=len(unit.inputs)):
            idx, val, rhs = cut_row(unit, np.array(mask))
            lhs = pts[:, idx] @ val
            assert np.all(lhs <= rhs), (unit, mask, float(np.max(lhs - rhs)))
            tightest = max(tightest, float(np.max(lhs - rhs)))
    # not vacuous: the family touches the graph (I = {} and I = all are tight at some vertex)
    assert tightest > -1e-6


@pytest.mark.parametrize("slope", [0.0, 0.25])
def test_separation_returns_the_most_violated_subset(slope):
    net = linearize(mlp_net(3, (5, 4), 7, slope), (3,))
    form, _ = build(net, -1.0, 1.0, tighten=True)
    cost = -form.objective(net.weights[-1][0])
    point = form.solve(cost, integral=False).x
    found = 0
    for unit in form.units:
        got = most_violated(unit, point, tol=0.0)
        excess = {}
        for mask in itertools.product([False, True], repeat=len(unit.inputs)):
            idx, val, rhs = cut_row(unit, np.array(mask))
            excess[mask] = float(point[idx] @ val - rhs)
        best = max(excess.values())
        if got is None:
            assert best <= 1e-9 * (1 + abs(point[unit.y]))
            continue
        idx, val, rhs = got[1]
        assert float(point[idx] @ val - rhs) >= best - 1e-12  # no subset is violated more
        found += best > 1e-6
    assert found > 0  # the triangle relaxation's LP optimum violates some cut


def _check_cut_bounds(seed: int, slope: float) -> int:
    """Both builds' bounds contain the true ranges (brute force); on layer 1 the cut build's are no
    looser than the plain build's. Returns how many layer-1 bounds the cuts made tighter."""
    net = linearize(mlp_net(2, (4, 4, 3), seed, slope), (2,))
    _, plain = build(net, -1.0, 1.0, tighten=True)
    _, cut = build(net, -1.0, 1.0, tighten=True, cut_rounds=2)
    tighter = 0
    for layer in range(len(net.widths)):
        w, b = net.weights[layer], net.biases[layer]
        for j in range(net.widths[layer]):
            up = PiecewiseLinearNet(net.weights[:layer] + (w[j:j + 1],),
                                    net.biases[:layer] + (b[j:j + 1],), net.slopes[:layer])
            down = PiecewiseLinearNet(net.weights[:layer] + (-w[j:j + 1],),
                                      net.biases[:layer] + (-b[j:j + 1],), net.slopes[:layer])
            t_hi, t_lo = brute_force_maximum(up, -1.0, 1.0)[0], -brute_force_maximum(down, -1.0, 1.0)[0]
            tol = 1e-9 * (1 + abs(t_lo) + abs(t_hi))
            cl, cu = cut[layer][0][j], cut[layer][1][j]
            pl, pu = plain[layer][0][j], plain[layer][1][j]
            assert cl <= t_lo + tol and t_hi <= cu + tol  # valid
            assert pl <= t_lo + tol and t_hi <= pu + tol
            if layer != 1:
                continue
            # the first LP-tightened layer sees the same relaxation of layer 0 in both builds,
            # plus cuts in one: each LP optimum there is over a subset, so no bound is looser
            # (except the lower bound of a ReLU unit the cuts prove inactive: y = 0 whatever it
            # is). Deeper layers get no such theorem: a unit stable by interval arithmetic keeps
            # its interval bounds, which the other build may have LP-tightened.
            assert cu <= pu + 1e-6 * (1 + abs(pu))
            if not (slope == 0.0 and cu <= 0.0):
                assert cl >= pl - 1e-6 * (1 + abs(pl)), (j, cl, pl)
            tighter += (cu < pu - 1e-6) + (cl > pl + 1e-6)
    return tighter


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_cut_bounds_contain_the_true_range_and_are_tighter(slope):
    # not vacuous: on some instance the cuts tighten a bound of the first LP-tightened layer
    assert sum(_check_cut_bounds(seed, slope) for seed in range(6)) > 0


def _solvers() -> list[str]:
    try:
        import pyscipopt  # noqa: F401
    except ImportError:
        return ["highs"]
    return ["highs", "scip"]


@pytest.mark.parametrize("solver", _solvers())
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("slope", [0.0, 0.3])
def test_optimum_with_cuts_matches_region_enumeration(solver, seed, slope):
    model = mlp_net(3, (5, 4), seed, slope)
    best, _ = brute_force_maximum(linearize(model, (3,)), -1.0, 1.0)
    options = [{"bound_cut_rounds": 0}, {"bound_cut_rounds": 3, "cut_rounds": 5}]
    keys = set()
    for kw in options:
        cert = exact_maximum(model, (3,), cache_dir=False, solver=solver, **kw)
        assert cert.status == "optimal", kw
        assert abs(cert.value - best) <= 1e-7 * (1 + abs(best)), kw
        assert cert.value <= cert.upper_bound <= best + 1e-6 * (1 + abs(best)), kw
        with torch.no_grad():
            assert float(model(cert.argmax[None])[0, 0]) == cert.value
        keys.add(cert.key)
    assert len(keys) == len(options)  # every cut setting is in the cache key


def test_cut_options_are_checked():
    model = mlp_net(2, (3,), 0, 0.0)
    for kw, name in (({"cut_rounds": -1}, "cut_rounds"), ({"bound_cut_rounds": 1.5}, "bound_cut_rounds"),
                     ({"cut_rounds": True}, "cut_rounds")):
        with pytest.raises(ValueError, match=name):
            exact_maximum(model, (2,), cache_dir=False, **kw)
