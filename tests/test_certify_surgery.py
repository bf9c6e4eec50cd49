"""Tests of `toy_functions.certify`: the package layout, `check_certifiable` and the unit surgery."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from toy_functions import certify
from toy_functions.certify import check_certifiable, exact_maximum, only_channel, unit_network


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.Flatten(),
                         nn.Linear(16, 5)).double().eval().requires_grad_(False)


def test_the_certifier_lives_in_one_package_only():
    from pathlib import Path

    import toy_functions

    top, package = Path(toy_functions.__file__).parent, Path(certify.__file__).parent
    for name in ("bounds", "cache", "certifier", "formulation", "network", "regions"):
        assert not (top / f"{name}.py").exists(), name
        assert (package / f"{name}.py").is_file(), name
    assert toy_functions.exact_maximum is certify.certifier.exact_maximum is exact_maximum


@pytest.mark.parametrize("layer, needle", [
    (nn.MaxPool2d(2, padding=1), "MaxPool2d"), (nn.Tanh(), "Tanh"), (nn.LeakyReLU(1.5), "negative_slope=1.5"),
])
def test_check_certifiable_names_the_layer(layer, needle):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), layer, nn.Flatten(), nn.Linear(8, 1))
    with pytest.raises(ValueError, match=needle):
        check_certifiable(model)
    bn = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU())
    with pytest.raises(ValueError, match="BatchNorm1d in training mode"):
        check_certifiable(bn)
    assert check_certifiable(bn.eval()) is None and check_certifiable(_cnn()) is None


@pytest.mark.parametrize("channel", range(4))
def test_channel_unit_is_the_channel_mean(channel, tmp_path):
    model = _cnn()
    net, out = unit_network(model, (1, 4, 4), "channel", "4", channel)
    assert out == 0 and net[3].out_channels == 1  # pruned to the one channel
    x = torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        want = model[:5](x)[:, channel].flatten(1).mean(1)
        assert torch.allclose(net(x)[:, 0], want, rtol=0, atol=1e-12)
    cert = exact_maximum(net, (1, 4, 4), cache_dir=False)
    with torch.no_grad():
        assert float(want.max()) <= cert.upper_bound


def test_logit_unit_and_bad_arguments():
    model = _cnn()
    assert unit_network(model, (1, 4, 4), "logit", None, 3) == (model, 3)
    with pytest.raises(ValueError, match="'9'"):
        unit_network(model, (1, 4, 4), "channel", "9", 0)
    with pytest.raises(ValueError, match="'neuron'"):
        unit_network(model, (1, 4, 4), "neuron", "1", 0)
    layers = list(model.children())[:2]
    assert only_channel(layers, 1)[1] == 0
    assert only_channel(list(model.children()), 2) == (list(model.children()), 2)  # Linear follows


def test_a_channel_that_does_not_exist_is_named():
    model = _cnn()
    with pytest.raises(ValueError, match="channel 3 does not exist: the layer has channels 0..2"):
        only_channel(list(model.children())[:2], 3)
    with pytest.raises(ValueError, match="channel 7 does not exist"):
        unit_network(model, (1, 4, 4), "channel", "4", 7)   # conv 4 channels - leaky: pruned path
    with pytest.raises(ValueError, match="channel -1 does not exist"):
        unit_network(model, (1, 4, 4), "channel", "2", -1)
    with pytest.raises(ValueError, match="output 16 of layer '5' does not exist: it has 0..15"):
        unit_network(model, (1, 4, 4), "channel", "5", 16)   # Flatten follows the conv: not pruned
