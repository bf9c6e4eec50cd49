"""Objectives on named layers: values, call selection, early stop, hook clean-up, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from proxygrad import objectives, proxify
from proxygrad.engine import maximize

F64 = torch.float64


class Net(nn.Module):
    """conv -> relu -> shared block used twice -> pool -> head; records which modules ran."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)
        self.ran: list[str] = []
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.ran.append("stem")
        h = self.stem(x)
        h = torch.relu(self.shared(h))
        h = torch.relu(self.shared(h))
        self.ran.append("head")
        if self.fail:
            raise RuntimeError("model failure")
        return self.head(h.mean(dim=(2, 3)))


def make() -> tuple[Net, torch.Tensor]:
    net = Net().double().eval()
    x = torch.rand(3, 3, 6, 6, generator=torch.Generator().manual_seed(1), dtype=F64) * 2 - 1
    return net, x


def manual(net: Net, x: torch.Tensor) -> dict[str, torch.Tensor]:
    h0 = net.stem(x)
    s1 = net.shared(h0)
    s2 = net.shared(torch.relu(s1))
    return {"stem.2": h0, "shared0": s1, "shared1": s2}


def hooks_left(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


def test_channel_neuron_logit_values() -> None:
    net, x = make()
    acts = manual(net, x)
    with torch.no_grad():
        got = objectives.channel(net, "stem.2", 2)(x)
        torch.testing.assert_close(got, acts["stem.2"][:, 2].mean(dim=(1, 2)), rtol=0, atol=0)
        got = objectives.neuron(net, "stem.2", 1, 3, 4)(x)
        assert torch.equal(got, acts["stem.2"][:, 1, 3, 4])
        assert torch.equal(objectives.neuron(net, "stem.2", 1, y=3, x=4)(x), got)
        assert torch.equal(objectives.neuron(net, "head", 2)(x), net(x)[:, 2])  # a [N, C] output
        pre = objectives.imagenet_preprocess().double()
        got = objectives.logit(net, 4, preprocess=pre)(x)
        assert torch.equal(got, net(pre(x))[:, 4])
    assert hooks_left(net) == 0


def test_call_selection_of_a_module_used_twice() -> None:
    net, x = make()
    acts = manual(net, x)
    with torch.no_grad():
        first = objectives.channel(net, "shared", 0)(x)
        second = objectives.channel(net, "shared", 0, call=1)(x)
        last = objectives.channel(net, "shared", 0, call=-1)(x)
    torch.testing.assert_close(first, acts["shared0"][:, 0].mean(dim=(1, 2)), rtol=0, atol=0)
    torch.testing.assert_close(second, acts["shared1"][:, 0].mean(dim=(1, 2)), rtol=0, atol=0)
    assert torch.equal(second, last) and not torch.equal(first, second)
    with pytest.raises(ValueError, match=r"called 2 time\(s\).*call=2"):
        objectives.channel(net, "shared", 0, call=2)(x)
    assert hooks_left(net) == 0


def test_early_stop_skips_the_rest_and_keeps_gradients() -> None:
    net, x = make()
    net.ran.clear()
    early = objectives.channel(net, "shared", 1)
    xa = x.clone().requires_grad_(True)
    early(xa).sum().backward()
    assert net.ran == ["stem"]  # stopped inside the first use of `shared`
    net.ran.clear()
    full = objectives.channel(net, "shared", 1, stop_early=False)
    xb = x.clone().requires_grad_(True)
    full(xb).sum().backward()
    assert net.ran == ["stem", "head"]
    assert torch.equal(xa.grad, xb.grad)


def test_hooks_are_removed_on_errors() -> None:
    net, x = make()
    net.fail = True
    with pytest.raises(RuntimeError, match="model failure"):
        objectives.channel(net, "shared", 0, call=-1)(x)
    assert hooks_left(net) == 0
    with pytest.raises(ValueError, match="out of range for dim 1 of size 4"):
        objectives.channel(net, "stem.2", 9)(x)
    assert hooks_left(net) == 0


def test_unknown_layer_lists_close_names() -> None:
    net, _ = make()
    with pytest.raises(ValueError, match=r"unknown layer 'stem\.3'.*stem\.2"):
        objectives.channel(net, "stem.3", 0)
    with pytest.raises(ValueError, match="'shard'.*shared"):
        objectives.neuron(net, "shard", 0, 1, 1)


def test_imagenet_preprocess_maps_the_box() -> None:
    pre = objectives.imagenet_preprocess()
    mean = torch.tensor(objectives.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(objectives.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(pre(-torch.ones(1, 3, 2, 2)), (0 - mean).expand(1, 3, 2, 2) / std)
    torch.testing.assert_close(pre(torch.ones(1, 3, 2, 2)), (1 - mean).expand(1, 3, 2, 2) / std)
    with pytest.raises(ValueError, match="got shape"):
        pre(torch.zeros(1, 1, 2, 2))


def test_proxify_reaches_the_model_inside_an_objective() -> None:
    """A dead channel: the plain gradient is zero, the proxy gradient is not, the value is the same."""
    net, x = make()
    with torch.no_grad():
        net.stem[0].bias.fill_(-50.0)  # every unit of the stem's ReLU is negative
    f = objectives.channel(net, "stem.2", 0)
    xa = x.clone().requires_grad_(True)
    plain = f(xa)
    (g_plain,) = torch.autograd.grad(plain.sum(), xa)
    with proxify(f, 0.5):
        proxy = f(xa)
    (g_proxy,) = torch.autograd.grad(proxy.sum(), xa)
    assert torch.equal(plain, proxy) and plain.eq(0).all()
    assert g_plain.eq(0).all() and g_proxy.abs().sum() > 0
    res = maximize(f, x, steps=5, lr=0.05, backward_slope=0.5)
    with torch.no_grad():
        assert torch.equal(f(res.best_input), res.best_value)
    assert not torch.equal(res.final_input, x)
    assert hooks_left(net) == 0 and not net.training


def test_objective_arguments() -> None:
    net, _ = make()
    with pytest.raises(ValueError, match="x=1 needs y"):
        objectives.neuron(net, "shared", 0, x=1)
    with pytest.raises(ValueError, match="call must be an int"):
        objectives.channel(net, "shared", 0, call=0.5)
    with pytest.raises(ValueError, match="model must be an nn.Module"):
        objectives.logit(lambda x: x, 0)
    with pytest.raises(ValueError, match="k=7 is out of range for 5"):
        objectives.logit(net, 7)(torch.zeros(1, 3, 4, 4, dtype=F64))


def test_resnet18_layer_and_reused_relu() -> None:
    """``layer3.1.conv2`` read by the hook equals the layer computed by hand; BasicBlock's ``relu``
    module runs twice per block, so ``call`` selects between its two outputs."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    pre = objectives.imagenet_preprocess()
    with torch.no_grad():
        got = objectives.channel(model, "layer3.1.conv2", 12, preprocess=pre)(x)
        h = model.maxpool(model.relu(model.bn1(model.conv1(pre(x)))))
        h = model.layer3[0](model.layer2(model.layer1(h)))
        block = model.layer3[1]
        h = block.conv2(block.relu(block.bn1(block.conv1(h))))
        torch.testing.assert_close(got, h[:, 12].mean(dim=(1, 2)), rtol=0, atol=0)
        stem = model.relu(model.bn1(model.conv1(x)))
        first = model.layer1[0].relu(model.layer1[0].bn1(model.layer1[0].conv1(model.maxpool(stem))))
        torch.testing.assert_close(objectives.neuron(model, "layer1.0.relu", 5, 3, 3)(x), first[:, 5, 3, 3],
                                   rtol=0, atol=0)
        b0 = model.layer1[0]
        second = b0.relu(b0.bn2(b0.conv2(first)) + model.maxpool(stem))
        got = objectives.channel(model, "layer1.0.relu", 5, call=1)(x)
        torch.testing.assert_close(got, second[:, 5].mean(dim=(1, 2)), rtol=0, atol=0)
        assert not torch.equal(got, first[:, 5].mean(dim=(1, 2)))
    with pytest.raises(ValueError, match=r"called 2 time\(s\)"):
        objectives.channel(model, "layer1.0.relu", 0, call=2)(x)
    with pytest.raises(ValueError, match="layer3.1.conv2"):
        objectives.channel(model, "layer3.1.conv3", 0)
    assert hooks_left(model) == 0
