"""Tests of the toy families: known optima, validation, determinism, and the failure they isolate."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

import toy_functions as tf
from toy_functions.certify.network import linearize
from toy_functions.certify.regions import pattern_of, region_lp

HAND_BUILT = [n for n in tf.names() if tf.optimum_kind(n) == tf.CLOSED_FORM]
CONVEX = [n for n in HAND_BUILT if not n.startswith("bumps")]


def _tol(f: tf.ToyFunction) -> float:
    return 1e-12 * (1.0 + abs(f.optimum))


def _ascent(f: tf.ToyFunction, starts: int, steps: int, lr: float, seed: int) -> torch.Tensor:
    """Projected gradient ascent x <- clip(x + lr grad f(x), -1, 1) from uniform starts; final points."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((starts, *f.input_shape), generator=g, dtype=torch.float64) * 2 - 1
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x).sum(), x)
        x = (x.detach() + lr * grad).clamp(-1.0, 1.0)
    return x.detach()


def test_names_lists_every_family():
    names = tf.names()
    for base in ("dead_unit", "race_of_patterns", "bumps", "deep_chain"):
        assert base in names and f"{base}_leaky" in names
    assert "random_mlp" in names and "random_cnn" in names
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", HAND_BUILT)
@pytest.mark.parametrize("dim", [1, 2, 5, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_argmax_attains_optimum(name, dim, seed):
    f = tf.get(name, dim=dim, seed=seed)
    assert f.input_shape == (dim,)
    assert f.argmax.shape == (dim,) and f.argmax.dtype == torch.float64
    assert float(f.argmax.min()) >= -1.0 and float(f.argmax.max()) <= 1.0
    value = float(f(f.argmax[None])[0])
    assert abs(value - f.optimum) <= _tol(f)
    assert f.name == name and f.params["dim"] == dim and f.params["seed"] == seed
    json.dumps(f.params)
    assert f.forward_slope == (0.01 if name.endswith("_leaky") else 0.0)
    assert f.certificate.kind == "closed form" and f.certificate.derivation
    assert f.bounds == (-1.0, 1.0)


@pytest.mark.parametrize("name", HAND_BUILT)
@pytest.mark.parametrize("dim", [2, 6])
def test_dense_sampling_never_exceeds_optimum(name, dim):
    for seed in (0, 3):
        f = tf.get(name, dim=dim, seed=seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.rand((20000, dim), generator=g, dtype=torch.float64) * 2 - 1
        # also points near the argmax, where the function is highest
        near = (f.argmax + 0.05 * (torch.rand((2000, dim), generator=g, dtype=torch.float64) * 2 - 1)).clamp(-1, 1)
        with torch.no_grad():
            vals = f(torch.cat([x, near]))
        assert float(vals.max()) <= f.optimum + _tol(f)


@pytest.mark.parametrize("name", CONVEX)
@pytest.mark.parametrize("dim", [1, 3, 8])
def test_vertex_enumeration_of_convex_families(name, dim):
    """These families are convex, so the maximum over the box is the best vertex."""
    for seed in (0, 1, 5):
        f = tf.get(name, dim=dim, seed=seed)
        verts = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=dim)), dtype=torch.float64)
        with torch.no_grad():
            best = float(f(verts).max())
        assert abs(best - f.optimum) <= _tol(f)
        # convexity spot check: f(midpoint) <= mean of the ends
        g = torch.Generator().manual_seed(seed)
        a, b = (torch.rand((500, dim), generator=g, dtype=torch.float64) * 2 - 1 for _ in range(2))
        with torch.no_grad():
            assert bool((f((a + b) / 2) <= (f(a) + f(b)) / 2 + 1e-12).all())


@pytest.mark.parametrize("name", HAND_BUILT)
def test_many_start_ascent_with_region_polish_never_exceeds_optimum(name):
    for dim, seed in ((2, 0), (5, 1)):
        f = tf.get(name, dim=dim, seed=seed)
        x = _ascent(f, starts=64, steps=150, lr=0.05, seed=seed)
        with torch.no_grad():
            assert float(f(x).max()) <= f.optimum + _tol(f)
        net = linearize(f, f.input_shape)
        for point in x[:16].numpy():
            got = region_lp(net, pattern_of(net, point), -1.0, 1.0)
            assert got is not None and got[0] <= f.optimum + 1e-7 * (1 + abs(f.optimum))


@pytest.mark.parametrize("name", HAND_BUILT)
@pytest.mark.parametrize("dim", [2, 5])
def test_certifier_confirms_closed_form(name, dim, tmp_path):
    f = tf.get(name, dim=dim, seed=4)
    cert = tf.exact_maximum(f, f.input_shape, cache_dir=tmp_path)
    assert cert.status == "optimal"
    assert abs(cert.value - f.optimum) <= 1e-6 * (1 + abs(f.optimum))


def _best_so_far(f: tf.ToyFunction, x: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """Projected gradient ascent from the rows of x; the best value each row reached (as AM keeps)."""
    best = f(x).detach()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x).sum(), x)
        x = (x.detach() + lr * grad).clamp(-1.0, 1.0)
        with torch.no_grad():
            best = torch.maximum(best, f(x))
    return best


@pytest.mark.parametrize("name", HAND_BUILT)
def test_two_d_instance_shows_the_failure(name):
    """Plain projected gradient ascent (lr 0.05, 200 steps) in the 2-D instance: from uniform starts
    fewer than half reach 95% of the optimum; from starts near the argmax (control) almost all do."""
    f = tf.get(name, dim=2, seed=0)
    target = f.optimum - 0.05 * abs(f.optimum)
    g = torch.Generator().manual_seed(11)
    uniform = torch.rand((400, 2), generator=g, dtype=torch.float64) * 2 - 1
    near = (f.argmax + 0.05 * (torch.rand((100, 2), generator=g, dtype=torch.float64) * 2 - 1)).clamp(-1, 1)
    best = _best_so_far(f, torch.cat([uniform, near]), steps=200, lr=0.05)
    assert (best[:400] >= target).double().mean().item() < 0.5
    assert (best[400:] >= target).double().mean().item() > 0.9


def test_straight_through_gradient_solves_race():
    """The race failure is a matter of the gradient path: following the global pattern's score
    (what a backward slope of 1 at the root node passes on) reaches the optimum."""
    f = tf.get("race_of_patterns", dim=8, seed=0)
    x = _ascent(f, starts=100, steps=300, lr=0.05, seed=0)
    with torch.no_grad():
        plain = (f(x) >= f.optimum - 1e-9).double().mean().item()
    assert plain < 0.5
    lin = f.net[0]  # first Linear: row 0 is g_0 - g_1 + ...; rows 0 and 1 give the scores
    w0 = lin.weight[0] + lin.weight[1]  # (g_0 - g_1) + g_1 = g_0 when two patterns
    y = (torch.zeros(8, dtype=torch.float64) + 300 * 0.05 * w0).clamp(-1, 1)
    assert abs(float(f(y[None])[0]) - f.optimum) <= _tol(f)


@pytest.mark.parametrize("name", HAND_BUILT)
def test_same_seed_same_function_other_seed_differs(name):
    a, b, c = (tf.get(name, dim=4, seed=s) for s in (7, 7, 8))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    differs = any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))
    assert differs


def test_leaky_variants_have_the_leaky_modules_and_slope_param():
    f = tf.get("bumps_leaky", dim=3, seed=0)
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.01 for m in f.modules())
    g = tf.get("bumps", dim=3, seed=0, negative_slope=0.02)
    assert g.forward_slope == 0.02 and g.params["negative_slope"] == 0.02
    h = tf.get("dead_unit", dim=3, seed=0)
    assert any(isinstance(m, torch.nn.ReLU) for m in h.modules())
    # the leaky optimum of bumps differs from the ReLU one (the tails of other bumps)
    assert f.optimum != tf.get("bumps", dim=3, seed=0).optimum


def test_forward_accepts_float32_and_keeps_autograd():
    f = tf.get("dead_unit", dim=3, seed=0)
    x = torch.zeros(4, 3, dtype=torch.float32, requires_grad=True)
    out = f(x)
    assert out.shape == (4,) and out.dtype == torch.float64
    out.sum().backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match="input of shape"):
        f(torch.zeros(4, 2))


@pytest.mark.parametrize("name, params, needle", [
    ("nope", {}, "nope"),
    ("dead_unit", {"thresold": 0.5}, "thresold"),
    ("dead_unit", {"threshold": 1.5}, "threshold"),
    ("dead_unit", {"threshold": float("nan")}, "threshold"),
    ("deep_chain", {"depth": 0}, "depth"),
    ("race_of_patterns", {"n_patterns": 1}, "n_patterns"),
    ("race_of_patterns", {"margin": -0.1}, "margin"),
    ("bumps", {"coverage": 1.2}, "coverage"),
    ("bumps", {"negative_slope": 0.9}, "negative_slope"),
    ("bumps", {"gap": "big"}, "gap"),
    ("dead_unit", {"negative_slope": -0.1}, "negative_slope"),
    ("dead_unit_leaky", {"negative_slope": 0.0}, "negative_slope"),
    ("random_mlp", {"widths": "16"}, "widths"),
    ("random_mlp", {"widths": [16, 0]}, "widths"),
    ("random_cnn", {"channels": [2]}, "channels"),
])
def test_bad_parameters_raise_value_error_naming_them(name, params, needle):
    with pytest.raises(ValueError, match=needle):
        tf.get(name, dim=2 if not name.startswith("random_cnn") else 8, seed=0, cache_dir=False, **params)


def test_bad_dim_seed_and_pattern_count():
    with pytest.raises(ValueError, match="dim"):
        tf.get("dead_unit", dim=0)
    with pytest.raises(ValueError, match="seed"):
        tf.get("dead_unit", dim=2, seed=-1)
    with pytest.raises(ValueError, match="n_patterns"):
        tf.get("race_of_patterns", dim=1, n_patterns=3)
    with pytest.raises(ValueError, match="dim"):
        tf.get("random_cnn", dim=3, cache_dir=False)


def test_random_mlp_is_certified_and_cached(tmp_path):
    f = tf.get("random_mlp", dim=4, seed=3, widths=(6, 5), cache_dir=tmp_path)
    cert = f.certificate
    assert cert.status == "optimal" and not cert.cached and cert.kind == "milp"
    assert f.optimum == cert.value
    assert abs(float(f(f.argmax[None])[0]) - f.optimum) <= 1e-12
    assert len(list(tmp_path.glob("*.json"))) == 1
    g = tf.get("random_mlp", dim=4, seed=3, widths=(6, 5), cache_dir=tmp_path)
    assert g.certificate.cached and g.optimum == f.optimum and torch.equal(g.argmax, f.argmax)
    x = torch.rand(5000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(f(x).max()) <= f.optimum + 1e-12
    assert f.params == {"dim": 4, "seed": 3, "widths": [6, 5], "negative_slope": 0.0}


def test_random_mlp_leaky(tmp_path):
    f = tf.get("random_mlp", dim=5, seed=1, widths=(8, 6), negative_slope=0.01, cache_dir=tmp_path)
    assert f.input_shape == (5,) and f.forward_slope == 0.01
    assert abs(float(f(f.argmax[None])[0]) - f.optimum) <= 1e-12
    x = _ascent(f, starts=32, steps=100, lr=0.05, seed=0)
    with torch.no_grad():
        assert float(f(x).max()) <= f.optimum + 1e-9


def test_random_cnn_is_certified(tmp_path):
    f = tf.get("random_cnn", dim=4, seed=0, cache_dir=tmp_path)
    assert f.input_shape == (1, 4, 4) and f.argmax.shape == (1, 4, 4)
    assert f.certificate.status == "optimal"
    assert abs(float(f(f.argmax[None])[0]) - f.optimum) <= 1e-12
    x = torch.rand(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        assert float(f(x).max()) <= f.optimum + 1e-12


# ---- the stated optimum is the value the network attains at its argmax (no record can exceed it) ----

@pytest.fixture
def one_thread():
    """One intra-op thread: the networks are tiny and the machine's cores may be shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_each_family_declares_how_its_optimum_is_known():
    kinds = {n: tf.optimum_kind(n) for n in tf.names()}
    assert set(kinds.values()) == {tf.CLOSED_FORM, tf.CERTIFIED}
    assert kinds["random_mlp"] == kinds["random_cnn"] == tf.CERTIFIED
    assert all(kinds[n] == tf.CLOSED_FORM for n in ("dead_unit", "bumps_leaky", "deep_chain", "race_of_patterns"))
    with pytest.raises(ValueError, match="no_such"):
        tf.optimum_kind("no_such")


@pytest.mark.parametrize("name", HAND_BUILT)
@pytest.mark.parametrize("dim", [2, 8, 32, 128])
def test_optimum_is_the_largest_value_computed_at_the_argmax(name, dim, one_thread):
    """Batches of sizes outside PROBE_BATCHES, every row: none exceeds `optimum`; the closed form
    agrees with it within the documented tolerance."""
    if name.startswith("bumps") and dim > 32:
        pytest.skip("bumps is built for d <= 32 here")
    for seed in range(4):
        f = tf.get(name, dim=dim, seed=seed)
        a = f.argmax[None]
        with torch.no_grad():
            for n in (65, 100, 333, 2048):
                assert float(f(a.repeat(n, 1)).max()) <= f.optimum
            assert float(f(a).max()) <= f.optimum
        assert f.check_optimum() == f.optimum - f.stated_optimum
        assert abs(f.optimum - f.stated_optimum) <= tf.base.STATED_RTOL * max(1.0, abs(f.stated_optimum))


def test_a_wrong_closed_form_is_caught_at_construction():
    f = tf.get("dead_unit", dim=3, seed=0)
    with pytest.raises(ValueError, match="stated optimum"):
        tf.ToyFunction(f.net, name="wrong", params={}, input_shape=(3,), optimum=f.stated_optimum * (1 - 1e-9),
                       argmax=f.argmax, certificate=tf.ClosedForm("wrong on purpose"), forward_slope=0.0)


def test_the_optimum_follows_dtype_and_assignment_sets_the_stated_value():
    f = tf.get("deep_chain", dim=8, seed=1)
    g = tf.get("deep_chain", dim=8, seed=1).to(torch.float32)
    with torch.no_grad():
        assert g.optimum == max(float(g(g.argmax[None].repeat(n, 1)).max()) for n in tf.base.PROBE_BATCHES)
    assert g.optimum != f.optimum  # float32 rounding
    before = f.optimum
    f.optimum = 123.0
    assert f.stated_optimum == 123.0 and f.optimum == before


@pytest.mark.parametrize("name", HAND_BUILT)
def test_gradient_ascent_never_beats_the_optimum_not_even_by_one_ulp(name, one_thread):
    """Many AM runs that end on the argmax (the corner for dead_unit/deep_chain): f_best <= optimum
    exactly, for batch layouts 1..64 starts."""
    from proxygrad import maximize, rules

    for dim in (2, 8):
        for seed in range(12):
            f = tf.get(name, dim=dim, seed=seed)
            for starts, slope in ((1, 1.0), (3, 0.5), (16, 1.0), (64, 0.3)):
                res = maximize(f, shape=f.input_shape, starts=starts, steps=60, lr=0.1, seed=seed,
                               dtype=torch.float64, backward_slope=rules.slope(slope))
                best = res.trace.max(dim=0).values
                assert (best <= f.optimum).all(), (name, dim, seed, starts, float(best.max()) - f.optimum)
