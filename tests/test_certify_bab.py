"""Tests of `exact_maximum(..., solver="bab")`, branch and bound over unstable units: cross-checks
against the HiGHS MILP path, brute force over activation regions and dense grids; its bound is never
exceeded by sampled or ascended values; it repeats bit for bit; bad input; cache keys."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from toy_functions import exact_maximum
from toy_functions.certify import bab, solve_settings
from toy_functions.certify.linear_bounds import tighten
from toy_functions.certify.node_lp import solve as node_lp_solve
from toy_functions.certify.network import linearize
from toy_functions.certify.regions import ascent_incumbent, brute_force_maximum


def _mlp(d: int, widths: tuple[int, ...], seed: int, slope: float = 0.0, n_out: int = 1,
         dtype: torch.dtype = torch.float64) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan = d
    for w in widths:
        layers += [nn.Linear(fan, w), nn.ReLU() if slope == 0 else nn.LeakyReLU(slope)]
        fan = w
    layers.append(nn.Linear(fan, n_out))
    return nn.Sequential(*layers).to(dtype).requires_grad_(False)


def _fields(cert) -> tuple:
    return (cert.status, cert.upper_bound.hex(), cert.exact_bound.hex(), cert.value.hex(),
            cert.mip_gap.hex(), cert.argmax.numpy().tobytes(), cert.n_nodes, cert.n_binaries,
            cert.key, cert.kind)


def _sampled_max(model: nn.Module, d: int, seed: int, n: int = 4000) -> float:
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        return float(model(x.to(next(model.parameters()).dtype)).max())


@pytest.mark.parametrize("d, widths, slope, seed", [
    (2, (4, 3), 0.0, 0), (2, (4, 3), 0.0, 1), (3, (5,), 0.0, 2), (3, (4, 3), 0.1, 3),
    (2, (3, 3, 2), 0.0, 4), (3, (4, 3), 0.3, 5),
])
def test_matches_brute_force_and_highs(d, widths, slope, seed):
    model = _mlp(d, widths, seed, slope)
    best, _ = brute_force_maximum(linearize(model, (d,)), -1.0, 1.0)
    milp = exact_maximum(model, (d,), cache_dir=False, solver="highs")
    cert = exact_maximum(model, (d,), cache_dir=False, solver="bab")
    assert cert.status == "optimal" and cert.kind == "bab" and milp.kind == "milp"
    assert abs(cert.value - best) <= 1e-9 * max(1.0, abs(best))
    assert abs(cert.value - milp.value) <= 1e-9 * max(1.0, abs(best))
    assert cert.value <= cert.exact_bound <= cert.value + 1e-9 * max(1.0, abs(cert.value))
    assert cert.upper_bound == cert.exact_bound + cert.rounding_margin
    assert cert.mip_gap == (cert.exact_bound - cert.value) / max(1.0, abs(cert.value))
    assert cert.n_binaries == milp.n_binaries and cert.n_nodes >= 1


@pytest.mark.parametrize("d, slope, seed", [(2, 0.0, 7), (2, 0.2, 8)])
def test_matches_a_dense_grid(d, slope, seed):
    """d = 2: the maximum lies within a grid step's Lipschitz slack above the grid's maximum."""
    model = _mlp(d, (8, 6), seed, slope)
    cert = exact_maximum(model, (d,), cache_dir=False, solver="bab")
    t = torch.linspace(-1.0, 1.0, 401, dtype=torch.float64)
    grid = torch.cartesian_prod(t, t)
    with torch.no_grad():
        grid_max = float(model(grid).max())
    lipschitz = float(np.prod([w.abs().sum(1).max() for w in (model[0].weight, model[2].weight,
                                                                 model[4].weight)]))
    assert grid_max <= cert.upper_bound
    assert cert.value <= grid_max + lipschitz * 2.0 / 400


@pytest.mark.parametrize("d, widths, slope, seed", [(5, (10, 8), 0.0, 0), (8, (12, 10), 0.0, 1),
                                                    (6, (10, 8), 0.05, 2), (7, (12, 10), 0.0, 3)])
def test_agrees_with_highs_on_larger_nets(d, widths, slope, seed):
    model = _mlp(d, widths, seed, slope)
    milp = exact_maximum(model, (d,), cache_dir=False)
    cert = exact_maximum(model, (d,), cache_dir=False, solver="bab")
    assert cert.status == milp.status == "optimal"
    assert abs(cert.value - milp.value) <= 1e-9 * max(1.0, abs(milp.value))
    assert _sampled_max(model, d, seed) <= cert.upper_bound
    net = linearize(model, (d,))
    ascent, _ = ascent_incumbent(net, -1.0, 1.0, n_starts=64, seed=seed + 1)
    assert ascent <= cert.exact_bound


def test_truncated_bounds_hold_and_repeat():
    """A node limit: status node_limit, never optimal, a bound above every sampled value, and
    the same certificate twice (no clock involved)."""
    model = _mlp(12, (24, 24), 0)
    a = exact_maximum(model, (12,), cache_dir=False, solver="bab", node_limit=40)
    b = exact_maximum(model, (12,), cache_dir=False, solver="bab", node_limit=40)
    assert a.status == "node_limit" and a.upper_bound > a.value and a.mip_gap > 0
    assert _fields(a) == _fields(b)
    assert _sampled_max(model, 12, 5) <= a.upper_bound


def test_time_limited_bounds_hold():
    """A time limit that cuts the search: status time_limit (or optimal, on a fast machine), and
    the bound still above every sampled value."""
    model = _mlp(16, (32, 32), 2)
    cert = exact_maximum(model, (16,), cache_dir=False, solver="bab", time_limit=1.0)
    assert cert.status in ("time_limit", "optimal") and cert.upper_bound >= cert.value
    assert _sampled_max(model, 16, 3) <= cert.upper_bound


def test_optimal_solves_repeat_bit_for_bit():
    model = _mlp(6, (10, 8), 11, 0.1)
    a = exact_maximum(model, (6,), cache_dir=False, solver="bab")
    b = exact_maximum(model, (6,), cache_dir=False, solver="bab")
    assert a.status == "optimal" and _fields(a) == _fields(b)


def test_float32_model_gets_the_rounding_margin():
    model = _mlp(4, (8, 6), 3, dtype=torch.float32)
    cert = exact_maximum(model, (4,), cache_dir=False, solver="bab")
    milp = exact_maximum(model, (4,), cache_dir=False)
    assert cert.status == "optimal" and cert.rounding_margin == milp.rounding_margin > 0
    assert cert.upper_bound == cert.exact_bound + cert.rounding_margin
    assert _sampled_max(model, 4, 0) <= cert.upper_bound


def test_other_box_output_index_and_no_hidden_layer():
    model = _mlp(3, (6, 5), 4, n_out=3)
    for index in (0, 2):
        cert = exact_maximum(model, (3,), bounds=(-0.5, 2.0), output_index=index, cache_dir=False,
                             solver="bab")
        best, _ = brute_force_maximum(linearize(model, (3,), index), -0.5, 2.0)
        assert cert.status == "optimal" and abs(cert.value - best) <= 1e-9 * max(1.0, abs(best))
    lin = nn.Sequential(nn.Linear(3, 1)).double().requires_grad_(False)
    cert = exact_maximum(lin, (3,), cache_dir=False, solver="bab")
    w, b = lin[0].weight[0], float(lin[0].bias[0])
    assert cert.status == "optimal" and abs(cert.value - (float(w.abs().sum()) + b)) <= 1e-12


def test_cache_keys_and_hits(tmp_path):
    """solver="bab" has its own key; a cache hit gives the same certificate, kind included; the
    other solvers' settings do not mention it."""
    model = _mlp(3, (5, 4), 0)
    first = exact_maximum(model, (3,), cache_dir=tmp_path, solver="bab")
    hit = exact_maximum(model, (3,), cache_dir=tmp_path, solver="bab")
    milp = exact_maximum(model, (3,), cache_dir=tmp_path, solver="highs")
    assert hit.cached and not first.cached and _fields(hit) == _fields(first)
    assert milp.key != first.key and len(list(tmp_path.glob("*.json"))) == 2
    plain = solve_settings(time_limit=None, node_limit=None, tighten=True)
    assert "bab" not in plain
    ours = solve_settings(time_limit=None, node_limit=None, tighten=True, solver="bab")
    assert ours["bab"]["gap"] == bab.GAP == 1e-9 and ours["solver"] == "bab"


@pytest.mark.parametrize("kwargs, needle", [
    ({"cut_rounds": 1}, "cut_rounds=1 needs a MILP solver"),
    ({"threads": 2}, "threads=2 needs solver='gurobi'"),
    ({"node_limit": 0}, "node_limit must be a positive int, got 0"),
    ({"time_limit": -1.0}, "time_limit must be a positive number of seconds, got -1.0"),
])
def test_bad_input_is_an_error_naming_it(kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        exact_maximum(_mlp(3, (4,), 0), (3,), cache_dir=False, solver="bab", **kwargs)


def test_unknown_solver_lists_bab():
    with pytest.raises(ValueError, match=r"'bab'.*'cplex'"):
        exact_maximum(_mlp(3, (4,), 0), (3,), cache_dir=False, solver="cplex")


def test_node_bounds_are_valid_on_random_splits():
    """Every node's safe LP bound and tightened pre-activation bounds hold at the sampled inputs
    that the node contains."""
    model = _mlp(4, (8, 8), 9)
    net = linearize(model, (4,))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(3000, 4))
    z1 = x @ net.weights[0].T + net.biases[0]
    z2 = np.maximum(z1, 0.0) @ net.weights[1].T + net.biases[1]
    f = net.forward(x)
    lower = [z1.min(0) - 2.0, z2.min(0) - 2.0]
    upper = [z1.max(0) + 2.0, z2.max(0) + 2.0]
    for _ in range(10):
        lo_, up_ = [a.copy() for a in lower], [a.copy() for a in upper]
        inside = np.ones(len(x), dtype=bool)
        for j in rng.choice(8, size=3, replace=False):
            if rng.random() < 0.5:
                lo_[0][j] = 0.0
                inside &= z1[:, j] >= 0.0
            else:
                up_[0][j] = 0.0
                inside &= z1[:, j] <= 0.0
        tl, tu, ok = tighten(net, -1.0, 1.0, [lo_[0][None], lo_[1][None]],
                             [up_[0][None], up_[1][None]])
        if not inside.any():
            continue
        assert ok[0]
        assert np.all(z2[inside] >= tl[1][0] - 1e-12) and np.all(z2[inside] <= tu[1][0] + 1e-12)
        lp = node_lp_solve(net, -1.0, 1.0, [(tl[0][0], tu[0][0]), (tl[1][0], tu[1][0])])
        assert lp is not None and f[inside].max() <= lp.bound + 1e-12


def _random_node(net, rng, n_splits: int = 3):
    """Root bounds of `net` over [-1, 1]^n with a few random splits, re-bounded (`tighten`)."""
    from toy_functions.certify.formulation import build

    _, root = build(net, -1.0, 1.0, tighten=True)
    lower, upper = [l[None].copy() for l, _ in root], [u[None].copy() for _, u in root]
    for _ in range(n_splits):
        k = int(rng.integers(len(lower)))
        free = np.nonzero((lower[k][0] < 0.0) & (upper[k][0] > 0.0))[0]
        if len(free):
            j = rng.choice(free)
            (lower if rng.random() < 0.5 else upper)[k][0, j] = 0.0
    lower, upper, ok = tighten(net, -1.0, 1.0, lower, upper)
    return lower, upper, ok[0]


def test_optimized_bound_gradient_matches_finite_differences():
    """The written-out gradient of the linear bound in (alpha, beta) is its directional derivative
    (the bound is piecewise linear in them: central differences are exact between kinks)."""
    from toy_functions.certify import optimized_bounds as ob

    net = linearize(_mlp(4, (6, 5), 3, 0.1), (4,))
    rng = np.random.default_rng(0)
    lower, upper, _ = _random_node(net, rng)
    layers = ob._layers(net, lower, upper)
    start = ob.initial(lower, upper, net.slopes)
    params = [p + rng.uniform(0.0, 0.3, p.shape) for p in start.flat()]
    ob._project(params, net.slopes)
    value, tape, g = ob._forward(net, -1.0, 1.0, layers, ob.Multipliers.of(params))
    grads = ob._gradient(net, -1.0, 1.0, layers, tape, g,
                         [np.ascontiguousarray(w.T) for w in net.weights])
    for _ in range(5):
        direction = [rng.normal(size=p.shape) for p in params]
        eps = 1e-7
        plus = ob._forward(net, -1.0, 1.0, layers,
                           ob.Multipliers.of([p + eps * d for p, d in zip(params, direction)]))[0]
        minus = ob._forward(net, -1.0, 1.0, layers,
                            ob.Multipliers.of([p - eps * d for p, d in zip(params, direction)]))[0]
        slope = sum(float((gr * d).sum()) for gr, d in zip(grads, direction))
        assert abs((plus - minus)[0] / (2 * eps) - slope) <= 1e-5 * max(1.0, abs(slope))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimized_bound_is_at_least_the_node_lp(seed):
    """Every optimized linear bound is a dual bound of the node's triangle LP, so never below its
    optimum; more steps never raise it (the smallest iterate is kept)."""
    from toy_functions.certify import optimized_bounds as ob

    net = linearize(_mlp(5, (8, 6), seed, 0.05 * seed), (5,))
    rng = np.random.default_rng(seed)
    for _ in range(4):
        lower, upper, ok = _random_node(net, rng, n_splits=4)
        if not ok:
            continue
        lp = node_lp_solve(net, -1.0, 1.0, [(l[0], u[0]) for l, u in zip(lower, upper)])
        start = ob.initial(lower, upper, net.slopes)
        few, _, _ = ob.bound(net, -1.0, 1.0, lower, upper, start, steps=2)
        many, mults, scores = ob.bound(net, -1.0, 1.0, lower, upper, start, steps=40)
        if lp is not None:
            assert many[0] >= lp.bound - 1e-9
        assert many[0] <= few[0] and all(s.shape == l.shape for s, l in zip(scores, lower))
        again = ob.gather([(mults, 0), (mults, 0)])
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[0])
                   for a, b in zip(again.flat(), mults.flat()))


def test_cutoff_retires_closed_nodes_and_leaves_the_others_alone():
    """`bound(..., cutoff=c)`: a node whose bound reaches c stops there (its bound <= c); every
    other node gets the bound, multipliers and scores of the run without a cutoff."""
    from toy_functions.certify import optimized_bounds as ob

    net = linearize(_mlp(5, (8, 6), 7, 0.0), (5,))
    rng = np.random.default_rng(7)
    nodes = [n for n in (_random_node(net, rng, n_splits=3) for _ in range(12)) if n[2]]
    lower = [np.concatenate([n[0][k] for n in nodes]) for k in range(len(net.widths))]
    upper = [np.concatenate([n[1][k] for n in nodes]) for k in range(len(net.widths))]
    start = ob.initial(lower, upper, net.slopes)
    free, m_free, s_free = ob.bound(net, -1.0, 1.0, lower, upper, start)
    cutoff = float(np.median(free))
    cut, m_cut, s_cut = ob.bound(net, -1.0, 1.0, lower, upper, start, cutoff=cutoff)
    closed = cut <= cutoff
    assert closed.any() and (~closed).any()
    assert np.array_equal(cut[~closed], free[~closed]) and (free[closed] <= cutoff).all()
    for a, b in zip(m_cut.flat() + s_cut, m_free.flat() + s_free):
        assert np.array_equal(a[~closed], b[~closed])


@pytest.mark.parametrize("seed", [0, 1])
def test_rebounding_after_the_split_layer_changes_nothing(seed):
    """A child re-bounds only the layers after its split (`tighten(..., after)`): the layers up
    to the split are its parent's, already intersected with the same bounds, so a full re-bound
    gives the same arrays."""
    net = linearize(_mlp(4, (6, 5, 4), seed), (4,))
    rng = np.random.default_rng(seed)
    lower, upper, _ = _random_node(net, rng, n_splits=2)
    for k in range(len(lower)):
        free = np.nonzero((lower[k][0] < 0.0) & (upper[k][0] > 0.0))[0]
        if not len(free):
            continue
        child_lo, child_up = [a.copy() for a in lower], [a.copy() for a in upper]
        child_lo[k][0, free[0]] = 0.0
        full = tighten(net, -1.0, 1.0, child_lo, child_up)
        part = tighten(net, -1.0, 1.0, child_lo, child_up, np.array([k]))
        assert all(np.array_equal(a, b) for a, b in zip(full[0] + full[1], part[0] + part[1]))
        assert np.array_equal(full[2], part[2])


def test_batched_split_choice_matches_one_node_at_a_time():
    from toy_functions.certify import branching

    net = linearize(_mlp(4, (7, 5), 2), (4,))
    rng = np.random.default_rng(3)
    lower = [rng.uniform(-2.0, 0.5, size=(40, n)) for n in net.widths]
    upper = [l + rng.uniform(0.0, 2.0, size=l.shape) for l in lower]
    scores = [np.where(rng.random(l.shape) < 0.5, rng.random(l.shape), 0.0) for l in lower]
    scores[0][:5] = 0.0  # no positive score in some nodes: the widest candidate
    lower[0][5:7], lower[1][5:7] = 0.0, 0.0  # nothing to split in two nodes
    batch = branching.choose_batch(net, lower, upper, scores)
    single = [branching.choose(net, [(l[i], u[i]) for l, u in zip(lower, upper)],
                               [s[i] for s in scores]) for i in range(40)]
    assert batch == single and single[5] is None and single[6] is None
    for i, unit in enumerate(single):
        if unit is not None:
            k, j = unit
            assert lower[k][i, j] < 0.0 < upper[k][i, j]
