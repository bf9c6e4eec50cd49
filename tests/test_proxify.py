"""``proxify``: forward unchanged, gradients by the proxy rule, model restored on exit."""
import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from proxygrad import proxify, rectifier_mode, rules


def fgi_rectifier(x: torch.Tensor, forward_slope: float, backward_slope: float) -> torch.Tensor:
    """Reference written independently of the op: forward gradient injection.

    value  = leaky_relu(x, forward_slope)            (detached)
    grad   = d/dx [x * factor] with factor = 1 (x > 0) or backward_slope (x <= 0), factor detached.
    """
    factor = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, backward_slope)).detach()
    return F.leaky_relu(x, forward_slope).detach() + x * factor - (x * factor).detach()


class Mixed(nn.Module):
    """Inline calls, one inplace ReLU module reused, a LeakyReLU, a ReLU6; ``reference`` switches all
    rectifiers to the FGI reference with ``ref_slope``."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 8)
        self.l2 = nn.Linear(8, 8)
        self.l3 = nn.Linear(8, 8)
        self.l4 = nn.Linear(8, 1)
        self.act = nn.ReLU(inplace=True)  # reused twice
        self.leaky = nn.LeakyReLU(0.05)
        self.six = nn.ReLU6()
        self.ref_slope = None

    def rect(self, module_or_fn, h, forward_slope=0.0):
        if self.ref_slope is None:
            return module_or_fn(h)
        return fgi_rectifier(h, forward_slope, self.ref_slope)

    def forward(self, x):
        h = self.rect(self.act, self.l1(x))
        h = self.rect(self.act, self.l2(h))
        h = self.rect(F.relu, h) + self.rect(torch.relu, self.l3(h)) + self.rect(lambda t: t.relu(), h)
        h = self.rect(lambda t: F.relu_(t), self.l3(h))
        h = self.rect(self.leaky, self.l2(h), 0.05)
        h = self.rect(lambda t: F.leaky_relu(t, 0.2), self.l3(h), 0.2)
        if self.ref_slope is None:
            h = self.six(self.l2(h) * 4)
        else:
            z = self.l2(h) * 4
            h = torch.where(z >= 6, torch.full_like(z, 6.0), fgi_rectifier(z, 0.0, self.ref_slope))
            h = h - (h * (z >= 6)).detach() * 0 + 0  # keep value; gradient is 0 above the clip (constant)
        return self.l4(h).squeeze(1)


def input_grad(model, x, slope=None):
    x = x.clone().requires_grad_()
    if slope is None:
        y = model(x)
    else:
        with proxify(model, slope):
            y = model(x)
    y.sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize("slope", [0.0, 0.3, 1.0, 3.0])
def test_gradient_matches_independent_reference(slope):
    torch.manual_seed(0)
    model = Mixed().double()
    x = torch.randn(16, 6, dtype=torch.float64)
    y_plain, _ = input_grad(model, x)
    y_proxy, g_proxy = input_grad(model, x, slope)
    assert torch.equal(y_plain, y_proxy)
    ref = copy.deepcopy(model)
    ref.ref_slope = slope
    y_ref, g_ref = input_grad(ref, x)
    assert torch.allclose(y_ref, y_plain, rtol=0, atol=1e-12)
    assert torch.allclose(g_proxy, g_ref, rtol=1e-12, atol=1e-12)


def test_slope_zero_equals_plain_and_one_equals_linear_for_relu_mlp():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 1)).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    _, g_plain = input_grad(mlp, x)
    _, g_zero = input_grad(mlp, x, 0.0)
    assert torch.equal(g_plain, g_zero)
    linear = nn.Sequential(mlp[0], mlp[2], mlp[4])  # slope 1 back-propagates through the weights only
    _, g_linear = input_grad(linear, x)
    _, g_one = input_grad(mlp, x, 1.0)
    assert torch.allclose(g_one, g_linear, rtol=1e-13, atol=1e-13)
    _, g_half = input_grad(mlp, x, 0.5)
    assert not torch.allclose(g_half, g_plain)  # the proxy did change something


TORCHVISION = ["resnet18", "vgg11", "alexnet", "googlenet", "densenet121", "mobilenet_v2"]


def build_torchvision(name):
    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    torch.manual_seed(0)
    return torchvision.models.get_model(name, **kwargs).eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_forward_bit_identical(name, dtype):
    model = build_torchvision(name).to(dtype)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2), dtype=dtype) * 2 - 1
    with torch.no_grad():
        y0 = model(x)
        with proxify(model, 0.7) as ctx:
            y1 = model(x)
        assert ctx.calls > 0
    assert torch.equal(y0, y1)


@pytest.mark.parametrize("name", ["googlenet", "densenet121"])
def test_inline_rectifiers_are_intercepted(name):
    """GoogLeNet and DenseNet call F.relu inline: a module-only proxy would change nothing."""
    model = build_torchvision(name)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    inline_calls = sum(isinstance(m, nn.ReLU) for m in model.modules())
    with torch.no_grad(), proxify(model, 0.5) as ctx:
        model(x)
    assert ctx.calls > inline_calls
    _, g_plain = input_grad(model, x)
    _, g_proxy = input_grad(model, x, 0.5)
    assert (g_plain - g_proxy).norm() > 1e-6 * g_plain.norm()


def test_resnet_slope_zero_gradient_equals_plain():
    model = build_torchvision("resnet18").double()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    _, g_plain = input_grad(model, x)
    _, g_zero = input_grad(model, x, 0.0)
    assert torch.allclose(g_plain, g_zero, rtol=0, atol=0)


def snapshot(model):
    modules = [(name, m, type(m)) for name, m in model.named_modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return modules, state


def assert_restored(model, before, x, g_plain_before):
    modules, state = before
    assert [(n, id(m), t) for n, m, t in modules] == [(n, id(m), type(m)) for n, m in model.named_modules()]
    after = model.state_dict()
    assert state.keys() == after.keys() and all(torch.equal(state[k], after[k]) for k in state)
    assert not model._forward_hooks and not model._forward_pre_hooks
    _, g_plain_after = input_grad(model, x)
    assert torch.equal(g_plain_before, g_plain_after)


def test_restored_after_normal_exit_and_after_exception():
    torch.manual_seed(5)
    model = Mixed().double()
    x = torch.randn(4, 6, dtype=torch.float64)
    _, g_plain = input_grad(model, x)
    before = snapshot(model)
    with proxify(model, 0.9):
        model(x).sum().backward()
    assert_restored(model, before, x, g_plain)
    with pytest.raises(RuntimeError, match="boom"):
        with proxify(model, 0.9):
            model(x)
            raise RuntimeError("boom")
    assert_restored(model, before, x, g_plain)
    # an exception raised inside the model's forward
    with pytest.raises(RuntimeError):
        with proxify(model, 0.9):
            model(torch.randn(4, 5, dtype=torch.float64))  # wrong width
    assert_restored(model, before, x, g_plain)
    y = model(x)  # and no mode is left pushed: plain forward, plain gradient
    assert torch.equal(y, model(x))


def test_nested_use_innermost_wins_and_restores():
    torch.manual_seed(6)
    model = Mixed().double()
    x = torch.randn(4, 6, dtype=torch.float64)
    _, g_plain = input_grad(model, x)
    _, g_03 = input_grad(model, x, 0.3)
    before = snapshot(model)
    xr = x.clone().requires_grad_()
    with proxify(model, 0.8):
        with proxify(model, 0.3):
            model(xr).sum().backward()
        g_inner = xr.grad.clone()
        _, g_outer = input_grad(model, x)  # proxify(0.8) still active
    assert torch.equal(g_inner, g_03)
    _, g_08 = input_grad(model, x, 0.8)
    assert torch.equal(g_outer, g_08)
    assert_restored(model, before, x, g_plain)


def test_network_mode_is_the_leaky_proxy_network():
    torch.manual_seed(7)
    relu_net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.LeakyReLU(0.01), nn.Linear(6, 1))
    leaky_net = copy.deepcopy(relu_net)
    leaky_net[1] = nn.LeakyReLU(0.4)
    leaky_net[3] = nn.LeakyReLU(0.4)
    x = torch.randn(8, 4, dtype=torch.float32)
    y_ref, g_ref = input_grad(leaky_net, x)
    xr = x.clone().requires_grad_()
    with proxify(relu_net, 0.4, mode="network"):
        y = relu_net(xr)
    y.sum().backward()
    assert torch.equal(y.detach(), y_ref) and torch.equal(xr.grad, g_ref)


def test_relu6_module_keeps_upper_clip():
    net = nn.Sequential(nn.Linear(1, 3, bias=False), nn.ReLU6(), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[-1.0], [2.0], [10.0]]))
        net[2].weight.fill_(1.0)
    x = torch.ones(1, 1, requires_grad=True)
    with proxify(net, 0.5):
        net(x).sum().backward()
    # units: -1 (negative: 0.5 * -1), 2 (linear: 2), 10 (clipped at 6: 0)
    assert x.grad.item() == pytest.approx(-0.5 + 2.0)


def test_rules_through_proxify():
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    for rule in [rules.bsilu(), rules.nelu(), rules.redirected(), rules.straight_through()]:
        _, g = input_grad(net, x, rule)
        assert torch.isfinite(g).all()
    _, g_st = input_grad(net, x, rules.straight_through())
    _, g_1 = input_grad(net, x, 1.0)
    assert torch.equal(g_st, g_1)


def test_other_models_and_code_outside_forward_untouched():
    a = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    b = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    x = torch.randn(5, 3, requires_grad=True)
    with proxify(a, 0.5) as ctx:
        b(x).sum().backward()
        torch.relu(x)
    assert ctx.calls == 0
    g_b = x.grad.clone()
    x.grad = None
    b(x).sum().backward()
    assert torch.equal(g_b, x.grad)


def test_rectifier_mode_for_plain_callables():
    def f(t):
        return torch.relu(t - 2.0).sum(dim=1)

    x = torch.zeros(2, 3, requires_grad=True)
    with rectifier_mode(0.25) as mode:
        f(x).sum().backward()
    assert mode.calls == 1 and torch.equal(x.grad, torch.full((2, 3), 0.25))


def test_errors():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2), nn.GELU())
    with pytest.raises(ValueError, match="GELU, Tanh"):
        with proxify(model, 0.5):
            model(torch.zeros(1, 2))
    assert not model._forward_hooks and not model._forward_pre_hooks
    relu_net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(ValueError, match="'sideways'"):
        proxify(relu_net, 0.5, mode="sideways")
    with pytest.raises(ValueError, match="nan"):
        proxify(relu_net, float("nan"))
    with pytest.raises(ValueError, match="-2"):
        proxify(relu_net, -2)
    with pytest.raises(ValueError, match="slope rule"):
        proxify(relu_net, rules.bsilu(), mode="network")
    with pytest.raises(ValueError, match="nn.Module"):
        proxify(lambda t: t, 0.5)


def test_block_affects_only_the_thread_that_entered_it():
    """While one thread runs proxy steps inside ``proxify``, a second thread's plain forward and
    backward through the same model give exactly the plain gradient (never the proxy's), and no
    thread sees a mode-stack error.  Many overlapping trials: a leak shows up in most of them."""
    import threading

    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)).double()
    x = torch.randn(64, 6, dtype=torch.float64) - 0.5
    _, g_plain = input_grad(model, x)
    _, g_proxy = input_grad(model, x, 1.0)
    assert not torch.equal(g_plain, g_proxy)
    trials = 200
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    plain_results: list[bool] = []
    proxy_results: list[bool] = []

    def proxy_thread():
        try:
            with proxify(model, 1.0):
                start.wait()
                for _ in range(trials):
                    xr = x.clone().requires_grad_()
                    model(xr).sum().backward()
                    proxy_results.append(torch.equal(xr.grad, g_proxy))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def plain_thread():
        try:
            start.wait()
            for _ in range(trials):
                xr = x.clone().requires_grad_()
                model(xr).sum().backward()
                plain_results.append(torch.equal(xr.grad, g_plain))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=proxy_thread), threading.Thread(target=plain_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(plain_results) == len(proxy_results) == trials
    assert all(proxy_results), f"{proxy_results.count(False)} of {trials} proxy steps got other gradients"
    assert all(plain_results), f"{plain_results.count(False)} of {trials} plain steps got proxy gradients"
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_use_changes_the_rule_inside_one_block():
    torch.manual_seed(9)
    model = Mixed().double()
    x = torch.randn(4, 6, dtype=torch.float64)
    _, g_plain = input_grad(model, x)
    _, g_03 = input_grad(model, x, 0.3)
    _, g_bsilu = input_grad(model, x, rules.bsilu())
    with proxify(model, 0.3) as ctx:
        grads = []
        for rule in (0.3, None, rules.bsilu(), 0.3):
            ctx.use(rule)
            xr = x.clone().requires_grad_()
            model(xr).sum().backward()
            grads.append(xr.grad)
        with pytest.raises(ValueError, match="-1"):
            ctx.use(-1.0)
    assert torch.equal(grads[0], g_03) and torch.equal(grads[1], g_plain)
    assert torch.equal(grads[2], g_bsilu) and torch.equal(grads[3], g_03)
    with pytest.raises(ValueError, match="slope rule"):
        proxify(model, 0.5, mode="network").use(rules.bsilu())
