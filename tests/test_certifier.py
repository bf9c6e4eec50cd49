"""Tests of `exact_maximum`: cross-checks against brute force over activation regions, layer kinds,
the time-limit path, the cache and error cases."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from toy_functions import exact_maximum
from toy_functions.certify.network import linearize
from toy_functions.certify.regions import brute_force_maximum


def _mlp(d: int, widths: tuple[int, ...], seed: int, slope: float = 0.0, n_out: int = 1) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan = d
    for w in widths:
        layers += [nn.Linear(fan, w), nn.ReLU() if slope == 0 else nn.LeakyReLU(slope)]
        fan = w
    layers.append(nn.Linear(fan, n_out))
    return nn.Sequential(*layers).double().requires_grad_(False)


def _value(model: nn.Module, x: torch.Tensor, index: int = 0) -> float:
    with torch.no_grad():
        return float(model(x[None].to(next(model.parameters()).dtype)).reshape(1, -1)[0, index])


def _check_against_brute_force(model, shape, tmp_path, bounds=(-1.0, 1.0), output_index=None, solver="auto"):
    cert = exact_maximum(model, shape, bounds=bounds, output_index=output_index, cache_dir=tmp_path, solver=solver)
    net = linearize(model, shape, output_index)
    best, _ = brute_force_maximum(net, *bounds)
    assert cert.status == "optimal"
    assert abs(cert.value - best) <= 1e-7 * (1 + abs(best))
    assert cert.upper_bound >= cert.value and cert.upper_bound <= best + 1e-6 * (1 + abs(best))
    assert abs(_value(model, cert.argmax, output_index or 0) - cert.value) <= 1e-12 * (1 + abs(best))
    lo, hi = bounds
    assert float(cert.argmax.min()) >= lo and float(cert.argmax.max()) <= hi
    return cert


@pytest.mark.parametrize("solver", ["highs", "bab"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d, widths", [(2, (3, 3)), (3, (5,)), (2, (2, 2, 2))])
def test_relu_mlp_matches_region_enumeration(d, widths, seed, solver, tmp_path):
    cert = _check_against_brute_force(_mlp(d, widths, seed), (d,), tmp_path, solver=solver)
    assert cert.solver == solver


@pytest.mark.parametrize("solver", ["highs", "bab"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("slope", [0.01, 0.3])
def test_leaky_mlp_matches_region_enumeration(slope, seed, solver, tmp_path):
    _check_against_brute_force(_mlp(3, (4, 3), seed, slope), (3,), tmp_path, solver=solver)


def test_auto_takes_branch_and_bound_for_fully_connected_nets_and_highs_otherwise(tmp_path):
    """The default solver "auto" (`resolve_solver`): "bab" for affine layers and rectifiers only; HiGHS with a
    convolution or a pooling layer, or when cut_rounds asks for the MILP's cuts; an explicit solver is kept.
    The certificate names the solver that made it, also when it comes from the cache."""
    from toy_functions.certify import SUITE_SOLVER, resolve_solver

    mlp = _mlp(3, (4, 3), 0)
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 1)).double()
    pool = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 1)).double()
    assert resolve_solver("auto", mlp) == "bab"
    assert resolve_solver("auto", mlp, cut_rounds=1) == "highs"
    assert resolve_solver("auto", conv) == resolve_solver("auto", pool) == "highs"
    assert [resolve_solver(s, conv) for s in ("bab", "scip", "highs")] == ["bab", "scip", "highs"]
    assert SUITE_SOLVER == "highs"
    fresh = exact_maximum(mlp, (3,), cache_dir=tmp_path)
    hit = exact_maximum(mlp, (3,), cache_dir=tmp_path)
    assert (fresh.solver, fresh.kind, hit.solver, hit.cached) == ("bab", "bab", "bab", True)
    assert exact_maximum(mlp, (3,), cache_dir=tmp_path, solver="highs").key != fresh.key
    on_conv = exact_maximum(conv, (1, 3, 3), cache_dir=False)
    assert (on_conv.solver, on_conv.kind) == ("highs", "milp")
    assert on_conv.key == exact_maximum(conv, (1, 3, 3), cache_dir=False, solver="highs").key


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_the_default_proves_the_d16_benchmark_nets(seed):
    """exact_maximum's default proves random_mlp d=16 (32, 32) seeds 0-3 (the benchmark's instances,
    `benchmarks/perf/bench_certifier.py`, which times them) with no limit: a count of nodes, never a clock.
    The value is the network's own at the argmax, the bound is at least the value of 512 random inputs."""
    from toy_functions.random_nets import mlp_net

    net = mlp_net(16, (32, 32), seed)
    cert = exact_maximum(net, (16,), cache_dir=False)
    assert (cert.solver, cert.status) == ("bab", "optimal") and cert.mip_gap <= 1e-9
    assert _value(net, cert.argmax) == cert.value
    probe = torch.rand(512, 16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(net(probe).max()) <= cert.value <= cert.upper_bound


def test_the_suite_certifies_its_records_with_its_own_solver(tmp_path):
    """Random toy families keep HiGHS (`SUITE_SOLVER`), the solver of the committed records, whatever the
    default: a certificate's last bits depend on the solver that found it."""
    import toy_functions

    f = toy_functions.get("random_mlp", dim=4, seed=0, widths=(6, 6), cache_dir=tmp_path)
    assert f.certificate.solver == "highs" and f.certificate.kind == "milp"


def test_other_box_and_output_index(tmp_path):
    model = _mlp(2, (4, 3), 5, n_out=3)
    for k in range(3):
        _check_against_brute_force(model, (2,), tmp_path, bounds=(0.0, 2.5), output_index=k)
    with pytest.raises(ValueError, match="output_index is required"):
        exact_maximum(model, (2,), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="output_index=3"):
        exact_maximum(model, (2,), output_index=3, cache_dir=tmp_path)


def test_conv_net_with_pooling_and_batchnorm(tmp_path):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(1)
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 1.5)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.2, 0.2)
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, padding=1), bn, nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(1, 3), nn.LeakyReLU(0.05), nn.Linear(3, 1),
    ).double().eval().requires_grad_(False)
    cert = _check_against_brute_force(model, (1, 4, 4), tmp_path)
    assert cert.argmax.shape == (1, 4, 4) and cert.n_units == 7
    x = torch.rand(20000, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= cert.value + 1e-12


def test_float32_model_is_certified(tmp_path):
    model = _mlp(3, (4,), 2).float()
    cert = exact_maximum(model, (3,), cache_dir=tmp_path)
    best, _ = brute_force_maximum(linearize(model, (3,)), -1.0, 1.0)
    assert abs(cert.value - best) <= 1e-5


def test_stable_units_need_no_binaries(tmp_path):
    """A unit whose pre-activation keeps one sign over the box gets no binary."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double().requires_grad_(False)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.5], [0.2, 0.1], [0.3, -0.4]]))
        model[0].bias.copy_(torch.tensor([0.0, 1.0, -2.0]))  # unit 1 always on, unit 2 always off
        model[2].weight.copy_(torch.tensor([[1.0, 1.0, 1.0]]))
        model[2].bias.zero_()
    cert = _check_against_brute_force(model, (2,), tmp_path)
    assert cert.n_binaries == 1 and cert.n_units == 3


def test_units_with_negative_output_weight_need_no_binary(tmp_path):
    """In the last hidden layer, maximisation makes y >= z, y >= s z exact for c_j <= 0."""
    for seed in range(2):
        model = _mlp(2, (6,), seed)
        with torch.no_grad():
            model[2].weight[0, :3] = -model[2].weight[0, :3].abs()
            model[2].weight[0, 3:] = model[2].weight[0, 3:].abs()
            model[0].bias.zero_()  # every unit straddles 0 over the box
        cert = _check_against_brute_force(model, (2,), tmp_path)
        assert cert.n_binaries == 3


def test_cache_hit_and_disabled_cache(tmp_path):
    model = _mlp(3, (4, 4), 7)
    first = exact_maximum(model, (3,), cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].stem == first.key and not first.cached
    second = exact_maximum(model, (3,), cache_dir=tmp_path)
    assert second.cached and second.value == first.value and torch.equal(second.argmax, first.argmax)
    # another box or other weights is another key
    other = exact_maximum(model, (3,), bounds=(-0.5, 0.5), cache_dir=tmp_path)
    assert other.key != first.key and len(list(tmp_path.glob("*.json"))) == 2
    # a corrupted record is not trusted: re-solved and rewritten
    record = json.loads(files[0].read_text())
    record["value"] = record["value"] + 1.0
    files[0].write_text(json.dumps(record))
    third = exact_maximum(model, (3,), cache_dir=tmp_path)
    assert not third.cached and third.value == first.value
    off = tmp_path / "off"
    exact_maximum(model, (3,), cache_dir=False)
    assert not off.exists()


def test_default_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXYGRAD_CACHE", str(tmp_path / "env"))
    cert = exact_maximum(_mlp(2, (3,), 0), (2,))
    assert (tmp_path / "env" / f"{cert.key}.json").exists()


def test_solves_repeat_bit_for_bit(tmp_path):
    model = _mlp(4, (8, 6), 3)
    a = exact_maximum(model, (4,), cache_dir=False)
    b = exact_maximum(model, (4,), cache_dir=False)
    assert a.value == b.value and torch.equal(a.argmax, b.argmax) and a.n_nodes == b.n_nodes


def test_time_limit_returns_incumbent_and_bound(tmp_path):
    model = _mlp(16, (48, 48, 48), 0)
    cert = exact_maximum(model, (16,), time_limit=0.3, cache_dir=tmp_path)
    assert cert.status == "time_limit"
    assert cert.upper_bound > cert.value and cert.mip_gap > 0
    assert abs(_value(model, cert.argmax) - cert.value) <= 1e-12 * (1 + abs(cert.value))
    assert list(tmp_path.glob("*.json")) == []  # only optimal certificates are cached
    x = torch.rand(5000, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= cert.upper_bound


def test_node_limit_is_machine_independent_and_never_claims_optimality(tmp_path):
    model = _mlp(16, (48, 48, 48), 0)
    first = exact_maximum(model, (16,), node_limit=3, cache_dir=tmp_path)
    again = exact_maximum(model, (16,), node_limit=3, cache_dir=False)
    assert first.status == "node_limit"
    assert first.upper_bound > first.value and first.mip_gap > 0
    assert (first.value, first.upper_bound) == (again.value, again.upper_bound)  # no clock involved
    assert torch.equal(first.argmax, again.argmax)
    assert list(tmp_path.glob("*.json")) == []
    x = torch.rand(5000, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= first.upper_bound
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ValueError, match=repr(bad)):
            exact_maximum(model, (16,), node_limit=bad, cache_dir=False)


@pytest.mark.parametrize("layer, needle", [
    (nn.Tanh(), "Tanh"), (nn.Sigmoid(), "Sigmoid"), (nn.MaxPool2d(2), "MaxPool2d"),
    (nn.LeakyReLU(1.5), "negative_slope=1.5"), (nn.LeakyReLU(-0.1), "negative_slope=-0.1"),
])
def test_unsupported_layers_are_named(layer, needle, tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), layer, nn.Linear(3, 1)).double()
    with pytest.raises(ValueError, match=needle):
        exact_maximum(model, (2,), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_other_error_cases(tmp_path):
    model = _mlp(2, (3,), 0)
    bn = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1)).double()
    with pytest.raises(ValueError, match="BatchNorm1d in training mode"):
        exact_maximum(bn, (2,), cache_dir=tmp_path)

    class Custom(nn.Module):
        def forward(self, x):
            return x.sum(1)

    with pytest.raises(ValueError, match="Custom"):
        exact_maximum(Custom(), (2,), cache_dir=tmp_path)
    for bad in [(1.0, -1.0), (0.0, float("inf")), (0.0,), "box"]:
        with pytest.raises(ValueError, match="bounds"):
            exact_maximum(model, (2,), bounds=bad, cache_dir=tmp_path)
    for bad in [0, -1.0, float("nan"), "1"]:
        with pytest.raises(ValueError, match="time_limit"):
            exact_maximum(model, (2,), time_limit=bad, cache_dir=tmp_path)
    for bad in [(0,), (2.0,), ()]:
        with pytest.raises(ValueError, match="input_shape"):
            exact_maximum(model, bad, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="shape"):
        exact_maximum(model, (3,), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cache_dir"):
        exact_maximum(model, (2,), cache_dir=3)
    assert list(tmp_path.iterdir()) == []


def test_network_without_hidden_layers(tmp_path):
    """An affine net: max of w.x + b over the box is ||w||_1 + b at x = sign(w)."""
    lin = nn.Linear(3, 1).double().requires_grad_(False)
    cert = exact_maximum(nn.Sequential(lin), (3,), cache_dir=tmp_path)
    w, b = lin.weight[0], float(lin.bias[0])
    assert abs(cert.value - (float(w.abs().sum()) + b)) <= 1e-12
    assert torch.equal(cert.argmax, torch.sign(w)) and cert.n_binaries == 0


def test_numpy_forward_matches_torch():
    model = _mlp(3, (5, 4), 1, slope=0.1)
    net = linearize(model, (3,))
    x = np.random.default_rng(0).uniform(-1, 1, (100, 3))
    with torch.no_grad():
        ref = model(torch.as_tensor(x))[:, 0].numpy()
    assert np.allclose(net.forward(x), ref, rtol=0, atol=1e-12)


def test_ascent_incumbent_is_attained_and_not_above_the_maximum():
    from toy_functions.certify.regions import ascent_incumbent
    net = linearize(_mlp(3, (5, 4), 1), (3,))
    value, x = ascent_incumbent(net, -1.0, 1.0)
    best, _ = brute_force_maximum(net, -1.0, 1.0)
    assert abs(float(net.forward(x[None])[0]) - value) <= 1e-12
    assert value <= best + 1e-9 and x.min() >= -1.0 and x.max() <= 1.0


def _fields(cert) -> tuple:
    """Everything of a certificate that a record may use (not the timing or the cache flag)."""
    return (cert.status, cert.upper_bound.hex(), cert.value.hex(), cert.mip_gap.hex(),
            cert.argmax.numpy().tobytes(), cert.n_nodes, cert.n_binaries, cert.key)


@pytest.mark.parametrize("d, widths, node_limit", [(6, (10, 8), None), (16, (48, 48, 48), 3)])
def test_cold_and_warm_cache_give_identical_certificates(tmp_path, d, widths, node_limit):
    """Two cold solves and a warm cache agree bit for bit (status, bound, incumbent, gap, argmax);
    optimal certificates come from the cache, truncated ones are solved again."""
    model = _mlp(d, widths, 11 if node_limit is None else 0)
    cold_a = exact_maximum(model, (d,), cache_dir=tmp_path / "a", node_limit=node_limit)
    cold_b = exact_maximum(model, (d,), cache_dir=tmp_path / "b", node_limit=node_limit)
    warm = exact_maximum(model, (d,), cache_dir=tmp_path / "a", node_limit=node_limit)
    assert cold_a.status == ("optimal" if node_limit is None else "node_limit")
    assert not cold_a.cached and not cold_b.cached and warm.cached == (node_limit is None)
    assert _fields(cold_a) == _fields(cold_b) == _fields(warm)
    assert (cold_a.bound, cold_a.incumbent) == (cold_a.upper_bound, cold_a.value)


def test_cache_key_covers_the_limits(tmp_path):
    """A certificate cached under one limit is never returned for another (the cached optimum of a
    longer solve must not replace a truncated one)."""
    model = _mlp(8, (16, 16), 1)
    full = exact_maximum(model, (8,), cache_dir=tmp_path)
    assert full.status == "optimal" and full.n_nodes > 2
    short = exact_maximum(model, (8,), cache_dir=tmp_path, node_limit=1)
    fresh = exact_maximum(model, (8,), cache_dir=False, node_limit=1)
    assert short.key != full.key and not short.cached
    assert _fields(short) == _fields(fresh)
    assert exact_maximum(model, (8,), cache_dir=tmp_path, tighten=False).key != full.key


def test_time_limited_certificates_are_not_cached(tmp_path):
    model = _mlp(3, (4, 4), 7)
    exact_maximum(model, (3,), cache_dir=tmp_path, time_limit=30.0)
    assert not list(tmp_path.glob("*.json"))


def test_solve_is_independent_of_torch_threads(tmp_path):
    model = _mlp(16, (48, 48, 48), 0).float()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = exact_maximum(model, (16,), cache_dir=False, node_limit=3)
        torch.set_num_threads(1)
        b = exact_maximum(model, (16,), cache_dir=False, node_limit=3)
    finally:
        torch.set_num_threads(before)
    assert _fields(a) == _fields(b) and torch.get_num_threads() == before


@pytest.mark.parametrize("seed", range(3))
def test_scip_matches_highs_and_brute_force(seed, tmp_path):
    pytest.importorskip("pyscipopt")
    model = _mlp(3, (5, 4), seed, 0.1 if seed == 2 else 0.0)
    best, _ = brute_force_maximum(linearize(model, (3,)), -1.0, 1.0)
    for solver in ("highs", "scip"):
        cert = exact_maximum(model, (3,), cache_dir=tmp_path, solver=solver)
        assert cert.status == "optimal" and abs(cert.value - best) <= 1e-7 * (1 + abs(best))
        assert cert.value <= cert.upper_bound <= best + 1e-6 * (1 + abs(best))
    assert len(list(tmp_path.glob("*.json"))) == 2  # the solver is part of the key


def test_scip_node_limit_repeats_and_bounds(tmp_path):
    pytest.importorskip("pyscipopt")
    model = _mlp(16, (48, 48, 48), 0)
    a = exact_maximum(model, (16,), node_limit=3, cache_dir=False, solver="scip")
    b = exact_maximum(model, (16,), node_limit=3, cache_dir=False, solver="scip")
    assert a.status == "node_limit" and _fields(a) == _fields(b) and a.n_nodes >= 1
    x = torch.rand(5000, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= a.upper_bound
    with pytest.raises(ValueError, match="'cplex'"):
        exact_maximum(model, (16,), cache_dir=False, solver="cplex")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gurobi_matches_highs_and_brute_force(seed, tmp_path):
    """The optional Gurobi backend, on one and on two threads, finds the brute-force maximum."""
    pytest.importorskip("gurobipy")
    model = _mlp(3, (5, 4), seed, 0.1 if seed == 2 else 0.0)
    best, _ = brute_force_maximum(linearize(model, (3,)), -1.0, 1.0)
    for solver, threads in (("highs", 1), ("gurobi", 1), ("gurobi", 2)):
        cert = exact_maximum(model, (3,), cache_dir=tmp_path, solver=solver, threads=threads)
        assert cert.status == "optimal" and abs(cert.value - best) <= 1e-7 * (1 + abs(best))
        assert cert.value <= cert.upper_bound <= best + 1e-6 * (1 + abs(best))
    assert len(list(tmp_path.glob("*.json"))) == 3  # solver and thread count are part of the key


def test_gurobi_parallel_node_limit_repeats_and_bounds():
    """Gurobi on two threads, stopped by a node limit: the same certificate twice (its parallel
    search is deterministic), and a bound above every sampled value."""
    pytest.importorskip("gurobipy")
    model = _mlp(16, (32, 32), 0)
    a = exact_maximum(model, (16,), node_limit=3, cache_dir=False, solver="gurobi", threads=2)
    b = exact_maximum(model, (16,), node_limit=3, cache_dir=False, solver="gurobi", threads=2)
    assert a.status == "node_limit" and _fields(a) == _fields(b)
    x = torch.rand(5000, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= a.upper_bound


def test_gurobi_backend_statuses():
    """The backend's result codes: 0 optimal, 2 for an infeasible model and for one whose every
    solution is worse than the cutoff (the certifier then re-solves without it)."""
    pytest.importorskip("gurobipy")
    from scipy.sparse import csr_matrix

    from toy_functions.certify.solvers import gurobi

    a = csr_matrix(np.array([[1.0, 1.0]]))
    lb, ub, ints, cost = np.zeros(2), np.array([1.0, 3.0]), np.array([1, 0]), np.array([-1.0, -0.5])
    ok = gurobi(a, np.array([-np.inf]), np.array([2.5]), lb, ub, ints, cost)
    assert ok.status == 0 and abs(ok.fun - (-1.75)) < 1e-9 and ok.x[0] == 1.0
    assert abs(ok.mip_dual_bound - ok.fun) < 1e-8
    infeasible = gurobi(a, np.array([5.0]), np.array([np.inf]), lb, ub, ints, cost)
    assert infeasible.status == 2 and infeasible.x is None
    cut_off = gurobi(a, np.array([-np.inf]), np.array([2.5]), lb, ub, ints, cost, cutoff=-2.0)
    assert cut_off.status == 2 and cut_off.x is None


def test_gurobi_time_limit_keeps_a_valid_bound():
    """Stopped by its clock (heuristics off, cutoff at the ascent incumbent), Gurobi's dual bound
    still bounds every sampled value."""
    pytest.importorskip("gurobipy")
    model = _mlp(16, (48, 48), 3)
    cert = exact_maximum(model, (16,), time_limit=1.0, cache_dir=False, solver="gurobi", threads=2)
    assert cert.status in ("time_limit", "optimal") and cert.value <= cert.upper_bound
    x = torch.rand(5000, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(model(x).max()) <= cert.upper_bound


@pytest.mark.parametrize("solver, threads, needle", [
    ("highs", 2, "threads=2 needs solver='gurobi'"),
    ("scip", 4, "threads=4 needs solver='gurobi'"),
    ("gurobi", 0, "threads must be an int >= 1, got 0"),
    ("highs", True, "threads must be an int >= 1, got True"),
])
def test_bad_thread_count_is_an_error_naming_it(solver, threads, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        exact_maximum(_mlp(3, (4,), 0), (3,), cache_dir=False, solver=solver, threads=threads)


def test_gurobi_settings_leave_the_other_solvers_keys_alone():
    """Thread count and Gurobi's parameters enter the cache key of solver='gurobi' only, so the
    keys (and cached certificates) of HiGHS and SCIP are what they were before the backend."""
    from toy_functions.certify import solve_settings

    plain = solve_settings(time_limit=None, node_limit=None, tighten=True)
    assert "threads" not in plain and "gurobi_params" not in plain
    one = solve_settings(time_limit=None, node_limit=None, tighten=True, solver="gurobi")
    two = solve_settings(time_limit=None, node_limit=None, tighten=True, solver="gurobi", threads=2)
    assert one["threads"] == 1 and two["threads"] == 2 and one["gurobi_params"]["MIPGap"] == 1e-9


def test_random_mlp_argmax_repeats_bit_for_bit(tmp_path):
    """random_mlp d=8 seed 1: two cold solves and a warm cache give the same argmax bytes."""
    from toy_functions.random_nets import mlp_net
    net = mlp_net(8, (16, 16), 1)
    a = exact_maximum(net, (8,), cache_dir=tmp_path)
    b = exact_maximum(net, (8,), cache_dir=False)
    c = exact_maximum(net, (8,), cache_dir=tmp_path)
    assert c.cached and _fields(a) == _fields(b) == _fields(c)


def test_cache_key_covers_the_certifier_source(tmp_path, monkeypatch):
    """A certificate that other certifier code cached is never a hit: the key hashes the package's source."""
    from toy_functions.certify import cache

    model = _mlp(6, (10, 8), 11)
    first = exact_maximum(model, (6,), cache_dir=tmp_path)
    assert exact_maximum(model, (6,), cache_dir=tmp_path).cached
    digest = cache.code_digest()
    assert len(digest) == 64 and digest == cache.code_digest()
    # the digest is of the package's source: a byte-identical copy gives it, any edit or rename changes it
    import shutil
    from pathlib import Path

    source = Path(cache.__file__).parent
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in source.glob("*.py"):
        shutil.copy(f, copy / f.name)
    assert cache.source_digest(copy) == cache.source_digest(source) == digest
    (copy / "cuts.py").write_bytes((copy / "cuts.py").read_bytes() + b"\n")
    assert cache.source_digest(copy) != digest
    (copy / "cuts.py").write_bytes((source / "cuts.py").read_bytes())
    assert cache.source_digest(copy) == digest
    (copy / "cuts.py").rename(copy / "cuts2.py")
    assert cache.source_digest(copy) != digest
    monkeypatch.setattr(cache, "code_digest", lambda: "0" * 64)
    edited = exact_maximum(model, (6,), cache_dir=tmp_path)
    assert edited.key != first.key and not edited.cached
    assert _fields(edited)[:-1] == _fields(first)[:-1]  # same certificate, solved again under another key
