"""Cost of the op and of ``proxify`` against plain PyTorch, measured side by side in one run.

Figures (printed by ``make bench``; each round times the plain reference and the proxy, in alternating
order, and the figure is the median over rounds of proxy / plain time, see ``paired`` in ``conftest.py``):
- op forward+backward on 2^24 float32 elements (``[16, 64, 128, 128]``) against ``torch.relu``,
  slope rule (goal <= 1.05x); the redirected and SUGAR (B-SiLU, NeLU) rules are measured the same
  way without a goal (they compute more in their backward);
- resnet18, batch 8x3x224x224, forward+backward to the input, under ``proxify`` against plain
  (goal <= 1.03x).
Torch runs on one thread here: on a shared machine two threads that wait for each other make timings
swing by several times.  Under ``--benchmark-disable`` (``make test``) each pair runs once on small
sizes.  Run with ``.venv/bin/python -m pytest benchmarks/perf/bench_op.py --benchmark-only -s``.
"""
import pytest
import torch
import torchvision

from proxygrad import proxify, proxy_relu, rectify, rules

FIGURES = [
    # (figure, test, extra_info key, goal)
    ("op fwd+bwd, 2^24 float32, slope rule vs torch.relu", "test_op_vs_torch_relu[slope]", "op_ratio_slope", 1.05),
    ("op fwd+bwd, 2^24 float32, redirected vs torch.relu", "test_op_vs_torch_relu[redirected]",
     "op_ratio_redirected", None),
    ("op fwd+bwd, 2^24 float32, SUGAR bsilu vs torch.relu", "test_op_vs_torch_relu[bsilu]", "op_ratio_bsilu", None),
    ("op fwd+bwd, 2^24 float32, SUGAR nelu vs torch.relu", "test_op_vs_torch_relu[nelu]", "op_ratio_nelu", None),
    ("resnet18 8x3x224x224 fwd+bwd to input, proxify vs plain", "test_resnet18_proxify_vs_plain",
     "proxify_ratio", 1.03),
]

SHAPE = (16, 64, 128, 128)  # 2^24 elements, batch items for the redirected rule's per-item test
RULES = {"slope": 0.5, "redirected": rules.redirected(), "bsilu": rules.bsilu(), "nelu": rules.nelu()}


pytestmark = pytest.mark.usefixtures("one_thread")


def _fwd_bwd(fn, x):
    x.grad = None
    y = fn(x)
    y.backward(torch.ones_like(y))
    return x.grad


@pytest.mark.parametrize("rule", list(RULES))
def test_op_vs_torch_relu(benchmark, paired, rule):
    shape = SHAPE if benchmark.enabled else (2, 4, 8, 8)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).requires_grad_()
    op = lambda t: rectify(t, RULES[rule])  # noqa: E731
    paired(lambda: _fwd_bwd(op, x), lambda: _fwd_bwd(torch.relu, x), f"op_ratio_{rule}", rounds=11)
    if rule == "slope":
        assert torch.equal(_fwd_bwd(op, x), torch.where(x > 0, 1.0, 0.5))
        assert torch.equal(_fwd_bwd(lambda t: proxy_relu(t, 0.5), x), torch.where(x > 0, 1.0, 0.5))


def _input_grad(model, x, slope=None):
    x = x.clone().requires_grad_()
    if slope is None:
        out = model(x)
    else:
        with proxify(model, slope):
            out = model(x)
    out[:, 0].sum().backward()
    return x.grad


def test_resnet18_proxify_vs_plain(benchmark, paired):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    batch, size = (8, 224) if benchmark.enabled else (1, 64)
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    paired(lambda: _input_grad(model, images, 0.5), lambda: _input_grad(model, images), "proxify_ratio",
           rounds=5)
    assert torch.isfinite(_input_grad(model, images, 0.5)).all()
