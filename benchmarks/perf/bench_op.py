"""Cost of the op and of ``proxify`` against plain PyTorch, measured side by side in one run.

Figures (printed as ratios by ``make bench``):
- op forward+backward on 2^24 float32 elements against ``torch.relu`` forward+backward (goal <= 1.5x);
- resnet18, batch 8x3x224x224, forward+backward to the input, under ``proxify`` against plain
  (goal <= 1.05x).
Under ``--benchmark-disable`` (``make test``) each function runs once on the full sizes.
"""
import pytest
import torch
import torchvision

from proxygrad import proxify, proxy_relu

RATIOS = [
    ("op fwd+bwd, 2^24 float32, vs torch.relu", "test_op_proxy_relu", "test_op_torch_relu", 1.5),
    ("resnet18 8x3x224x224 fwd+bwd to input, proxify vs plain", "test_resnet18_proxify", "test_resnet18_plain", 1.05),
]

N_ELEMENTS = 2**24


@pytest.fixture(scope="module")
def big_input():
    return torch.randn(N_ELEMENTS, generator=torch.Generator().manual_seed(0)).requires_grad_()


def _fwd_bwd(fn, x):
    x.grad = None
    y = fn(x)
    y.backward(torch.ones_like(y))
    return x.grad


@pytest.mark.benchmark(group="op")
def test_op_torch_relu(benchmark, big_input):
    grad = benchmark(_fwd_bwd, torch.relu, big_input)
    assert torch.equal(grad, (big_input > 0).float())


@pytest.mark.benchmark(group="op")
def test_op_proxy_relu(benchmark, big_input):
    grad = benchmark(_fwd_bwd, lambda t: proxy_relu(t, 0.5), big_input)
    assert torch.equal(grad, torch.where(big_input > 0, 1.0, 0.5))


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _input_grad(model, x, slope=None):
    x = x.clone().requires_grad_()
    if slope is None:
        out = model(x)
    else:
        with proxify(model, slope):
            out = model(x)
    out[:, 0].sum().backward()
    return x.grad


@pytest.mark.benchmark(group="resnet18", min_rounds=3, warmup=True)
def test_resnet18_plain(benchmark, resnet18, images):
    grad = benchmark.pedantic(_input_grad, args=(resnet18, images), rounds=3, warmup_rounds=1)
    assert torch.isfinite(grad).all()


@pytest.mark.benchmark(group="resnet18", min_rounds=3, warmup=True)
def test_resnet18_proxify(benchmark, resnet18, images):
    grad = benchmark.pedantic(_input_grad, args=(resnet18, images, 0.5), rounds=3, warmup_rounds=1)
    assert torch.isfinite(grad).all()
