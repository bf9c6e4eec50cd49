"""The float32 rounding margin of certificates: rigorous against observed errors, and needed."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from toy_functions.certify import exact_maximum
from toy_functions.certify.rounding import gamma, round_up, rounding_margin, unit_roundoff


def _linear32(seed: int, n: int = 64) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(n, 1)).requires_grad_(False)
    with torch.no_grad():
        model[0].weight.copy_(torch.rand(1, n, generator=g) * 2 - 1)
        model[0].bias.copy_(torch.rand(1, generator=g))
    return model


def test_float32_forward_exceeds_the_exact_maximum_and_the_margin_covers_it():
    """f(x) = w . x + b on [-1, 1]^64 (float32 weights): max f = sum |w_i| + b exactly (as a
    Fraction). The float32 forward pass at the argmax sign(w) rounds above it for some weights, so
    a bound equal to the exact maximum (a perfect MILP) would be violated by an AM record; the
    certificate's upper_bound (exact bound + rounding margin) is not."""
    found = 0
    for seed in range(40):
        model = _linear32(seed)
        w = model[0].weight[0]
        exact = sum(Fraction(float(abs(v))) for v in w) + Fraction(float(model[0].bias[0]))
        with torch.no_grad():
            f32 = float(model(torch.sign(w)[None])[0, 0])
        if Fraction(f32) <= exact:
            continue
        found += 1
        cert = exact_maximum(model, (64,), cache_dir=False)
        assert cert.status == "optimal"
        assert abs(cert.exact_bound - float(exact)) <= 1e-5  # the MILP's bound is the exact maximum
        assert Fraction(f32) > exact  # a bound without the margin fails on this record ...
        assert f32 <= cert.upper_bound  # ... the certified bound holds
        assert cert.rounding_margin >= f32 - float(exact) > 0.0
        assert cert.upper_bound == cert.exact_bound + cert.rounding_margin
    assert found >= 3


def _cnn(dtype: torch.dtype, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.LeakyReLU(0.1),
                          nn.MaxPool2d(2), nn.Conv2d(3, 4, 2), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        bn = model[1]
        bn.running_mean.copy_(torch.randn(3))
        bn.running_var.copy_(torch.rand(3) + 0.5)
        bn.weight.copy_(torch.randn(3))
        bn.bias.copy_(torch.randn(3))
    return model.eval().to(dtype).requires_grad_(False)


@pytest.mark.parametrize("seed", range(3))
def test_margin_bounds_the_observed_float32_error(seed):
    """|f32(x) - f64(x)| <= margin at 20000 points (random, near corners, and at the corners of
    the box), for every output of a CNN with BatchNorm, LeakyReLU, MaxPool2d and AvgPool2d; the
    margin is a useful size (below 1e-3 (1 + max |f|)) and shrinks to ~1e-13 relative in float64."""
    m32 = _cnn(torch.float32, seed)
    m64 = copy.deepcopy(m32).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(20000, 1, 6, 6, generator=g) * 2 - 1
    x[:10000] = torch.sign(x[:10000]) * x[:10000].abs() ** 0.1
    x[:2000] = torch.sign(x[:2000])
    with torch.no_grad():
        f32, f64 = m32(x).double(), m64(x.double())
    for k in range(3):
        margin = rounding_margin(m32, (1, 6, 6), (-1.0, 1.0), k)
        observed = float((f32[:, k] - f64[:, k]).abs().max())
        scale = 1.0 + float(f64[:, k].abs().max())
        assert observed <= margin < 1e-3 * scale
        assert rounding_margin(m64, (1, 6, 6), (-1.0, 1.0), k) < 1e-11 * scale


def test_margin_formula_on_one_dot_product():
    """One Linear(n, 1) on [-1, 1]^n: the margin is gamma_{n+1} (sum |w| + |b|) (times 1 + 1e-6)."""
    model = _linear32(3, n=10)
    w, b = model[0].weight[0].double(), float(model[0].bias[0])
    want = float(gamma(11, unit_roundoff(torch.float32))) * (float(w.abs().sum()) + abs(b))
    got = rounding_margin(model, (10,), (-1.0, 1.0))
    assert want * (1 + 1e-6) <= got <= want * (1 + 1e-6) * (1 + 2.0 ** -7)
    assert round_up(got) == got and round_up(0.75) == 0.75 and round_up(0.0) == 0.0
    assert round_up(1.0 + 2.0 ** -20) == 1.0 + 2.0 ** -7
    assert unit_roundoff(torch.float32) == 2.0 ** -24 and unit_roundoff(torch.float64) == 2.0 ** -53
    with pytest.raises(ValueError, match="output_index=1"):
        rounding_margin(model, (10,), (-1.0, 1.0), 1)
    with pytest.raises(ValueError, match="too long"):
        gamma(np.array([2 ** 23]), unit_roundoff(torch.float32))


def test_cached_certificate_keeps_the_margin(tmp_path):
    model = _linear32(0, n=8)
    a = exact_maximum(model, (8,), cache_dir=tmp_path)
    b = exact_maximum(model, (8,), cache_dir=tmp_path)
    assert b.cached and (a.upper_bound, a.exact_bound, a.rounding_margin) == \
        (b.upper_bound, b.exact_bound, b.rounding_margin)
    assert a.rounding_margin > 0.0 and a.as_dict()["rounding_margin"] == a.rounding_margin
