"""The exact MILP encoding of MaxPool2d, cross-checked against the model and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toy_functions.certify import exact_maximum, linearize
from toy_functions.certify.regions import brute_force_maximum


def _pooled(seed: int, kernel: int, stride: int, slope: float, channels: int = 1) -> nn.Sequential:
    """On 1 x 3 x 3 inputs: Conv2d(1, channels, 2) -> act -> MaxPool2d -> Linear (kernel 2), or
    MaxPool2d(3) of the input -> Linear (kernel 3: one window of 9 inputs)."""
    torch.manual_seed(seed)
    if kernel == 3:
        return nn.Sequential(nn.MaxPool2d(3), nn.Flatten(), nn.Linear(1, 1)).double().requires_grad_(False)
    act = nn.LeakyReLU(slope) if slope else nn.ReLU()
    side = (2 - kernel) // stride + 1
    return nn.Sequential(nn.Conv2d(1, channels, 2), act, nn.MaxPool2d(kernel, stride), nn.Flatten(),
                         nn.Linear(channels * side * side, 1)).double().requires_grad_(False)


def _grid_max(model: nn.Module, shape: tuple[int, ...], n: int = 20000) -> float:
    x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        return float(model(x).max())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kernel, stride, slope", [(2, 1, 0.0), (2, 2, 0.0), (3, 1, 0.0), (2, 1, 0.2), (2, 1, 0.05)])
def test_maxpool_encoding_is_exact_and_certified(seed, kernel, stride, slope):
    model = _pooled(seed, kernel, stride, slope)
    shape = (1, 3, 3)
    net = linearize(model, shape, box=(-1.0, 1.0))
    x = torch.rand(5000, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        want = model(x)[:, 0].numpy()
    assert np.abs(net.forward(x.reshape(5000, -1).numpy()) - want).max() <= 1e-12
    best, _ = brute_force_maximum(net, -1.0, 1.0)  # regions of the encoded net, every window winner
    cert = exact_maximum(model, shape, cache_dir=False)
    assert cert.status == "optimal" and abs(cert.value - best) <= 1e-9 * (1 + abs(best))
    assert _grid_max(model, shape) <= cert.upper_bound + 1e-12
    with torch.no_grad():
        assert float(model(cert.argmax[None])[0, 0]) == cert.value


def test_dominated_inputs_need_no_binary():
    """Conv 3x3 of ones, padding 1, on a 3x3 input in [10, 11]: a corner sums 4 inputs ([40, 44]), an
    edge 6 ([60, 66]), the centre 9 ([90, 99]); in every 2x2 window the bounds decide the winner, so
    the max costs no binary, while on [-1, 1] the windows overlap and need binaries."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2, 1), nn.Flatten(),
                          nn.Linear(4, 1)).double().requires_grad_(False)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
        model[3].weight.fill_(1.0)
        model[3].bias.zero_()
    decided = exact_maximum(model, (1, 3, 3), bounds=(10.0, 11.0), cache_dir=False)
    assert decided.status == "optimal" and decided.n_binaries == 0 and decided.value == 4 * 99.0
    overlapping = exact_maximum(model, (1, 3, 3), cache_dir=False)
    assert overlapping.status == "optimal" and overlapping.n_binaries > 0
    assert overlapping.value == 4 * 9.0  # all inputs at 1: every window's max is the centre


def test_unsupported_maxpool_settings_are_named():
    for layer in (nn.MaxPool2d(2, padding=1), nn.MaxPool2d(2, dilation=2), nn.MaxPool2d(2, ceil_mode=True)):
        model = nn.Sequential(nn.Conv2d(1, 1, 2), layer, nn.Flatten(), nn.Linear(1, 1)).double()
        with pytest.raises(ValueError, match="MaxPool2d"):
            exact_maximum(model, (1, 4, 4), cache_dir=False)


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_rectifier_before_maxpool_is_moved_after_it(slope):
    """Conv -> act -> MaxPool2d(2) is encoded as Conv -> MaxPool2d -> act (the same function, as
    act is nondecreasing): one rectifier per window, fewer binaries, the same certified maximum as
    brute force and as the encoding without the move."""
    from toy_functions.certify import network

    model = _pooled(5, 2, 2, slope, channels=2)
    shape = (1, 3, 3)
    moved = network.pool_first(network.leaves(model))
    assert [type(m) for m in moved[1:3]] == [nn.MaxPool2d, type(model[1])]
    net = linearize(model, shape, box=(-1.0, 1.0))
    x = torch.rand(5000, *shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        want = model(x)[:, 0].numpy()
    assert np.abs(net.forward(x.reshape(5000, -1).numpy()) - want).max() <= 1e-12
    best, _ = brute_force_maximum(net, -1.0, 1.0)
    cert = exact_maximum(model, shape, cache_dir=False)
    assert cert.status == "optimal" and abs(cert.value - best) <= 1e-9 * (1 + abs(best))
    unmoved = nn.Sequential(model[0], model[1], nn.Identity(), model[2], model[3], model[4])
    assert network.pool_first(network.leaves(unmoved))[1] is model[1]  # not adjacent: kept
    slow = exact_maximum(unmoved, shape, cache_dir=False)
    assert slow.status == "optimal" and abs(slow.value - cert.value) <= 1e-9 * (1 + abs(best))
    assert cert.n_units < slow.n_units


def test_committed_tiny14_is_certifiable_and_linearized_exactly():
    """fmnist-tiny14 (two conv + max-pool layers): every layer is one the certifier takes, and the
    linearized network of every logit and of every channel of each rectifier equals the model (float64)."""
    import copy

    from benchmarks.domain import zoo
    from toy_functions.certify import check_certifiable, unit_network

    zm = zoo.load("fmnist-tiny14")
    check_certifiable(zm.model)
    x = torch.rand(2000, *zm.input_shape, generator=torch.Generator().manual_seed(0),
                   dtype=torch.float64) * 2 - 1
    units = [("logit", None, k) for k in range(10)]
    units += [("channel", layer, c) for layer in ("1", "4") for c in range(zoo.layer_channels(zm, layer))]
    assert len(units) == 10 + 2 + 8
    for kind, layer, index in units:
        net, out = unit_network(zm.model, zm.input_shape, kind, layer, index)
        net64 = copy.deepcopy(net).double()
        pl = linearize(net64, zm.input_shape, out, box=(-1.0, 1.0))
        with torch.no_grad():
            want = net64(x)[:, out].numpy()
        assert np.abs(pl.forward(x.reshape(2000, -1).numpy()) - want).max() <= 1e-10
