"""benchmarks.domain.models: shapes, one rectifier module per use, seeding and argument checks."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.domain import models

CASES = [
    ("small_cnn", dict(in_channels=1, input_size=28, num_classes=10)),
    ("vgg_small", dict(in_channels=1, input_size=28, num_classes=10)),
    ("vgg_small", dict(in_channels=1, input_size=28, num_classes=10, batch_norm=True)),
    ("tiny8", dict(in_channels=1, input_size=8, num_classes=10)),
    ("resnet18_cifar", dict(in_channels=3, input_size=32, num_classes=100)),
    ("vgg11_cifar", dict(in_channels=3, input_size=32, num_classes=10)),
    ("vgg11_cifar", dict(in_channels=1, input_size=28, num_classes=10)),
]


def _rectifiers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]


@pytest.mark.parametrize("arch, kw", CASES)
def test_output_shape_and_each_rectifier_called_once(arch, kw):
    model = models.build_seeded(0, arch, **kw).eval()
    calls: dict[int, int] = {}
    rects = _rectifiers(model)
    for m in rects:
        m.register_forward_hook(lambda mod, i, o: calls.__setitem__(id(mod), calls.get(id(mod), 0) + 1))
    x = torch.zeros(2, kw["in_channels"], kw["input_size"], kw["input_size"])
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, kw["num_classes"])
    assert len(rects) >= 2 and len({id(m) for m in rects}) == len(rects)
    assert calls == {id(m): 1 for m in rects}  # distinct module objects, each used exactly once


@pytest.mark.parametrize("arch", ["small_cnn", "tiny8", "resnet18_cifar"])
def test_leaky_activation_uses_its_slope(arch):
    model = models.build(arch, activation="leaky", negative_slope=0.2, in_channels=3, input_size=32)
    rects = _rectifiers(model)
    assert rects and all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in rects)
    assert all(type(m) is nn.ReLU for m in _rectifiers(models.build(arch, in_channels=3, input_size=32)))


def test_tiny8_uses_only_certifiable_layers():
    model = models.build("tiny8", input_size=8)
    allowed = (nn.Sequential, nn.Conv2d, nn.Linear, nn.ReLU, nn.LeakyReLU, nn.AvgPool2d, nn.Flatten)
    assert all(isinstance(m, allowed) for m in model.modules())
    assert models.count_parameters(model) < 1000


def test_build_seeded_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = models.build_seeded(7, "small_cnn")
    assert torch.equal(torch.get_rng_state(), before)
    b = models.build_seeded(7, "small_cnn", activation="leaky")  # same weights for either rectifier
    c = models.build_seeded(8, "small_cnn")
    for (ka, va), (kb, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                           c.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


@pytest.mark.parametrize("kwargs, word", [
    ({"arch": "resnet50"}, "resnet50"),
    ({"arch": "small_cnn", "activation": "gelu"}, "gelu"),
    ({"arch": "small_cnn", "negative_slope": -0.1}, "negative_slope"),
    ({"arch": "small_cnn", "num_classes": 0}, "num_classes"),
    ({"arch": "tiny8", "input_size": 3}, "input_size 3"),
])
def test_bad_arguments_name_the_value(kwargs, word):
    with pytest.raises(ValueError, match=word) as err:
        models.build(**kwargs)
    if "arch" in word or kwargs.get("arch") == "resnet50":
        assert "small_cnn" in str(err.value)  # lists the choices


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match="relu, leaky"):
        models.build("small_cnn", activation="tanh")
    with pytest.raises(ValueError, match="seed"):
        models.build_seeded(-1, "small_cnn")
