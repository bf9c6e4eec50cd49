"""Pre-activation bounds of the certifier against brute force over activation regions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from toy_functions.certify import exact_maximum, linearize
from toy_functions.certify.formulation import build
from toy_functions.certify.network import PiecewiseLinearNet
from toy_functions.certify.regions import brute_force_maximum


def _net(d: int, widths: tuple[int, ...], seed: int, slope: float) -> PiecewiseLinearNet:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan = d
    for w in widths:
        layers += [nn.Linear(fan, w), nn.LeakyReLU(slope) if slope else nn.ReLU()]
        fan = w
    layers.append(nn.Linear(fan, 1))
    return linearize(nn.Sequential(*layers).double(), (d,))


def _true_range(net: PiecewiseLinearNet, layer: int, j: int, lo: float, hi: float) -> tuple[float, float]:
    """min and max of pre-activation j of hidden layer `layer` over the box, by region enumeration."""
    w, b = net.weights[layer][j:j + 1], net.biases[layer][j:j + 1]
    up = PiecewiseLinearNet(net.weights[:layer] + (w,), net.biases[:layer] + (b,), net.slopes[:layer])
    down = PiecewiseLinearNet(net.weights[:layer] + (-w,), net.biases[:layer] + (-b,), net.slopes[:layer])
    return -brute_force_maximum(down, lo, hi)[0], brute_force_maximum(up, lo, hi)[0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_bounds_contain_the_true_range_and_lp_beats_intervals(seed, slope):
    net = _net(2, (4, 4, 3), seed, slope)
    _, plain = build(net, -1.0, 1.0, tighten=False)
    _, tight = build(net, -1.0, 1.0, tighten=True)
    _, milp = build(net, -1.0, 1.0, tighten=True, tighten_nodes=50)
    strict = 0
    for layer in range(len(net.widths)):
        for j in range(net.widths[layer]):
            t_lo, t_hi = _true_range(net, layer, j, -1.0, 1.0)
            (pl, pu), (tl, tu), (ml, mu) = ((b[layer][0][j], b[layer][1][j]) for b in (plain, tight, milp))
            tol = 1e-9 * (1 + abs(t_lo) + abs(t_hi))
            unstable = pl < 0 < pu
            for l, u in ((pl, pu), (tl, tu), (ml, mu)):
                assert l <= t_lo + tol and t_hi <= u + tol  # valid
            if layer == 0:
                assert abs(pl - t_lo) <= tol and abs(pu - t_hi) <= tol  # exact on the first layer
            last = layer == len(net.widths) - 1 and net.weights[-1][0][j] <= 0
            if unstable and not last:
                assert tl >= pl - tol and tu <= pu + tol and ml >= tl - 1e-5 and mu <= tu + 1e-5
                strict += (tu < pu - 1e-9) or (tl > pl + 1e-9)
                # the node-limited MILP over the exact formulation is exact on a tiny net
                assert mu <= t_hi + 1e-5 * (1 + abs(t_hi)) or mu <= 0
    assert strict > 0  # the LP step did tighten something


def test_milp_tightening_keeps_the_optimum(tmp_path):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(),
                          nn.Linear(5, 1)).double()
    best, _ = brute_force_maximum(linearize(model, (3,)), -1.0, 1.0)
    cert = exact_maximum(model, (3,), cache_dir=False, tighten_nodes=10)
    assert cert.status == "optimal" and abs(cert.value - best) <= 1e-7 * (1 + abs(best))
    assert cert.key != exact_maximum(model, (3,), cache_dir=False).key
    with pytest.raises(ValueError, match="tighten_nodes"):
        exact_maximum(model, (3,), cache_dir=False, tighten_nodes=-1)
