"""The ProxyGrad op: forward bit-identical to PyTorch's rectifiers, backward by the proxy rule."""
import math

import pytest
import torch
import torch.nn.functional as F

import proxygrad
from proxygrad import ProxyReLU, proxy_relu, rectify, rules

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference_grad(x: torch.Tensor, upstream: torch.Tensor, slope: float) -> torch.Tensor:
    """dL/dx = upstream where x > 0, slope * upstream where x <= 0 (elementwise, written out)."""
    return torch.where(x > 0, upstream, upstream * slope)


def sample_with_zeros(shape, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x.view(-1)[::7] = 0.0  # exact zeros test the convention at x = 0
    return x.to(dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.0, 0.3, 1.0, 2.5])
def test_forward_identical_and_backward_rule(dtype, device, slope):
    x = sample_with_zeros((4, 3, 5), dtype, device).requires_grad_()
    up = sample_with_zeros((4, 3, 5), dtype, device, seed=1)
    y = proxy_relu(x, slope)
    assert y.dtype == dtype and torch.equal(y, torch.relu(x))
    y.backward(up)
    assert torch.equal(x.grad, reference_grad(x.detach(), up, slope))


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_forward_identical(dtype):
    x = sample_with_zeros((64,), dtype, "cpu").requires_grad_()
    y = proxy_relu(x, 0.5, forward_slope=0.01)
    assert torch.equal(y, F.leaky_relu(x, 0.01))
    y.sum().backward()
    assert torch.equal(x.grad, reference_grad(x.detach(), torch.ones_like(x), 0.5))


def test_slope_zero_equals_plain_relu_gradient():
    x = sample_with_zeros((10, 10), torch.float64, "cpu").requires_grad_()
    up = sample_with_zeros((10, 10), torch.float64, "cpu", seed=3)
    proxy_relu(x, 0.0).backward(up)
    g_proxy = x.grad.clone()
    x.grad = None
    torch.relu(x).backward(up)
    assert torch.equal(g_proxy, x.grad)


def test_leaky_slope_equal_forward_slope_is_plain_leaky_gradient():
    x = sample_with_zeros((10, 10), torch.float64, "cpu").requires_grad_()
    proxy_relu(x, 0.01, forward_slope=0.01).sum().backward()
    g_proxy = x.grad.clone()
    x.grad = None
    F.leaky_relu(x, 0.01).sum().backward()
    assert torch.equal(g_proxy, x.grad)


def test_non_contiguous_input():
    base = sample_with_zeros((6, 8), torch.float32, "cpu").requires_grad_()
    x = base.t()  # non-contiguous view
    assert not x.is_contiguous()
    y = proxy_relu(x, 0.4)
    assert torch.equal(y, torch.relu(x))
    y.backward(torch.ones_like(y))
    assert torch.equal(base.grad, reference_grad(base.detach(), torch.ones_like(base), 0.4))


@pytest.mark.parametrize("rule", [0.5, rules.redirected()])
@pytest.mark.parametrize("forward_slope, upper, inplace, saves", [
    (0.0, None, False, "output"), (0.0, None, True, "output"), (0.01, None, False, "input"),
    (0.01, None, True, "output"), (0.0, 6.0, False, "input"), (0.0, 6.0, True, "output")])
def test_saves_what_pytorch_saves_and_nothing_else(rule, forward_slope, upper, inplace, saves):
    """One saved tensor, the same PyTorch's own rectifier saves: no mask, no extra memory."""
    leaf = torch.randn(100, requires_grad=True)
    h = leaf * 1.0
    x_before = h.detach().clone()
    y = rectify(h, rule, forward_slope=forward_slope, upper=upper, inplace=inplace)
    saved = y.grad_fn.saved_tensors
    assert len(saved) == 1 and saved[0].dtype == torch.float32
    expected = y if saves == "output" else h
    assert saved[0].data_ptr() == expected.data_ptr() and torch.equal(saved[0], expected)
    if saves == "input":
        assert torch.equal(saved[0], x_before)


@pytest.mark.parametrize("forward_slope, upper", [(0.0, None), (0.2, None), (0.0, 6.0)])
@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_saving_variant_matches_the_reference_gradient(dtype, inplace, forward_slope, upper):
    """Gradients from the saved output or input equal the written-out rule, at x = 0 and at the clip."""
    x = (sample_with_zeros((7, 9), torch.float64, "cpu", seed=4) * 4).to(dtype)
    x.view(-1)[::11] = 6.0  # exactly at the clip
    up = sample_with_zeros((7, 9), dtype, "cpu", seed=5)
    leaf = x.clone().requires_grad_()
    y = rectify(leaf * 1, 0.3, forward_slope=forward_slope, upper=upper, inplace=inplace)
    plain = F.hardtanh(x, 0.0, upper) if upper is not None else F.leaky_relu(x, forward_slope)
    assert torch.equal(y, plain)
    y.backward(up)
    expected = reference_grad(x, up, 0.3)
    if upper is not None:
        expected = expected.masked_fill(x >= upper, 0)
    assert torch.equal(leaf.grad, expected)


def test_inplace_modifies_input_and_keeps_gradient():
    leaf = sample_with_zeros((5, 5), torch.float64, "cpu").requires_grad_()
    h = leaf * 1.0
    out = proxy_relu(h, 0.2, inplace=True)
    assert out.data_ptr() == h.data_ptr()
    assert torch.equal(out, torch.relu(leaf))
    out.sum().backward()
    assert torch.equal(leaf.grad, reference_grad(leaf.detach(), torch.ones_like(leaf), 0.2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1, "0.5", None, True, [0.1]])
def test_bad_slopes_raise_naming_the_value(bad):
    x = torch.randn(3)
    with pytest.raises(ValueError, match=repr(bad).replace("[", r"\[").replace("]", r"\]")):
        proxy_relu(x, bad)
    with pytest.raises(ValueError):
        ProxyReLU(bad)
    with pytest.raises(ValueError):
        proxy_relu(x, 0.5, forward_slope=bad)


def test_module_form():
    m = ProxyReLU(0.25)
    x = sample_with_zeros((3, 4), torch.float32, "cpu").requires_grad_()
    y = m(x)
    assert torch.equal(y, torch.relu(x))
    y.sum().backward()
    assert torch.equal(x.grad, reference_grad(x.detach(), torch.ones_like(x), 0.25))
    assert "backward_slope=0.25" in repr(m)


def test_relu6_clip_keeps_upper_zero():
    x = torch.tensor([-2.0, 0.0, 3.0, 6.0, 7.0], dtype=torch.float64, requires_grad=True)
    y = rectify(x, 0.5, upper=6.0)
    assert torch.equal(y, F.relu6(x))
    y.sum().backward()
    assert x.grad.tolist() == [0.5, 0.5, 1.0, 0.0, 0.0]


def test_surrogate_rules_match_their_formulas():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    for rule, deriv in [
        (rules.bsilu(1.67), lambda v: torch.sigmoid(v) + (v + 1.67) * torch.sigmoid(v) * (1 - torch.sigmoid(v))),
        (rules.nelu(0.1), lambda v: 2 * 0.1 * v / (1 + v**2) ** 2),
    ]:
        x.grad = None
        y = rectify(x, rule)
        assert torch.equal(y, torch.relu(x))
        y.sum().backward()
        v = x.detach()
        expected = torch.where(v > 0, torch.ones_like(v), deriv(v))
        assert torch.allclose(x.grad, expected, rtol=0, atol=1e-15)


def test_redirected_rule():
    # item 0: every unit inactive -> redirected: pass upstream where it is > 0
    # item 1: one unit active -> plain ReLU gradient
    x = torch.tensor([[-1.0, -2.0, -0.5], [1.0, -2.0, -0.5]], requires_grad=True)
    up = torch.tensor([[1.0, -1.0, 2.0], [1.0, -1.0, 2.0]])
    rectify(x, rules.redirected()).backward(up)
    assert x.grad.tolist() == [[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]]


def test_rule_labels_and_as_rule():
    assert rules.slope(0.5).label == "slope=0.5"
    assert rules.bsilu().label == "bsilu(alpha=1.67)"
    assert rules.as_rule(0.3) == rules.slope(0.3)
    assert rules.straight_through().constant_slope == 1.0
    with pytest.raises(ValueError, match="'x'"):
        rules.as_rule("x")
    assert math.isclose(rules.nelu(0.2).param("alpha"), 0.2)
    assert proxygrad.BackwardRule is rules.BackwardRule


@pytest.mark.parametrize("upper", [None, 6.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_surrogate_gradients_bit_identical_to_the_written_formulas(dtype, upper):
    """The buffered evaluation gives the bits of where(x > 0, g, g * r(x)) written out term by term."""
    x = (sample_with_zeros((6, 50), torch.float64, "cpu", seed=6) * 4).to(dtype)
    x.view(-1)[::13] = 6.0
    up = sample_with_zeros((6, 50), dtype, "cpu", seed=7)
    for rule in (rules.bsilu(1.67), rules.nelu(0.1)):
        alpha = rule.param("alpha")
        if rule.name == "bsilu":
            sig = torch.sigmoid(x)
            factor = sig + (x + alpha) * sig * (1 - sig)
        else:
            factor = 2 * alpha * x / (1 + x * x) ** 2
        expected = torch.where(x > 0, up, up * factor)
        if upper is not None:
            expected = expected.masked_fill(x >= upper, 0)
        leaf = x.clone().requires_grad_()
        rectify(leaf, rule, upper=upper).backward(up)
        assert torch.equal(leaf.grad.view(torch.int16 if dtype == torch.bfloat16 else
                                          {torch.float32: torch.int32, torch.float64: torch.int64}[dtype]),
                           expected.view(torch.int16 if dtype == torch.bfloat16 else
                                         {torch.float32: torch.int32, torch.float64: torch.int64}[dtype]))


@pytest.mark.parametrize("upper", [None, 6.0])
def test_redirected_rule_bit_identical_to_the_written_rule(upper):
    """Items with some plain gradient keep it; dead items pass the upstream where it is > 0."""
    x = sample_with_zeros((8, 3, 5), torch.float64, "cpu", seed=8) * 4
    x.view(-1)[::17] = 6.0
    x[2] = -x[2].abs() - 0.1  # a dead item
    x[5] = -x[5].abs()
    up = sample_with_zeros((8, 3, 5), torch.float64, "cpu", seed=9)
    plain = torch.where(x > 0, up, up * 0.0)
    redirected = torch.where((x > 0) | (up > 0), up, torch.zeros_like(up))
    if upper is not None:
        plain = plain.masked_fill(x >= upper, 0)
        redirected = redirected.masked_fill(x >= upper, 0)
    alive = plain.reshape(8, -1).ne(0).any(dim=1).view(8, 1, 1)
    assert not bool(alive.all())
    expected = torch.where(alive, plain, redirected)
    for inplace in (False, True):
        leaf = x.clone().requires_grad_()
        rectify(leaf * 1, rules.redirected(), upper=upper, inplace=inplace).backward(up)
        assert torch.equal(leaf.grad.view(torch.int64), expected.view(torch.int64))
    leaf = x.clone().abs().add(0.5).requires_grad_()  # every item alive: the plain gradient
    rectify(leaf, rules.redirected()).backward(up)
    assert torch.equal(leaf.grad, torch.where(leaf.detach() > 0, up, 0.0))
