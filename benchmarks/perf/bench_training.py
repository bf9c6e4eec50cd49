"""Cost of one training step with a ProxyGrad backward rule against plain ReLU training.

A step is what ``benchmarks.training.train`` does per batch: zero the gradients, forward, cross-entropy,
backward, SGD update (momentum 0.9, weight decay 5e-4). The proxy step runs inside ``proxify(model,
slope(0.3))``, entered once around the timed steps as ``train`` enters it once per epoch.

Figures (printed as ratios by ``make bench``; goal <= 1.05x):
- small_cnn, batch 128x1x28x28;
- resnet18_cifar, batch 8x3x32x32.
Under ``--benchmark-disable`` (``make test``) each function runs once.
"""
from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

from benchmarks.models import build_seeded
from proxygrad import proxify, rules

RATIOS = [
    ("small_cnn train step 128x1x28x28, proxy slope=0.3 vs ReLU", "test_step_small_cnn_proxy",
     "test_step_small_cnn_plain", 1.05),
    ("resnet18_cifar train step 8x3x32x32, proxy slope=0.3 vs ReLU", "test_step_resnet18_proxy",
     "test_step_resnet18_plain", 1.05),
]

SHAPES = {"small_cnn": (128, 1, 28), "resnet18_cifar": (8, 3, 32)}


def _setup(arch: str):
    n, c, s = SHAPES[arch]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, s, s, generator=g) * 2 - 1
    y = torch.randint(0, 10, (n,), generator=g)
    model = build_seeded(0, arch, in_channels=c, input_size=s).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return model, step


def _run(benchmark, arch: str, proxy: bool) -> None:
    model, step = _setup(arch)
    scope = proxify(model, rules.slope(0.3)) if proxy else contextlib.nullcontext()
    with scope:
        if not benchmark.disabled:
            step()  # warm-up (allocator, momentum buffers) before timing
        loss = benchmark(step)
    assert torch.isfinite(torch.tensor(loss))
    if proxy:
        assert scope.calls > 0  # the rule was really in force


@pytest.mark.benchmark(group="train-step-small_cnn")
def test_step_small_cnn_plain(benchmark):
    _run(benchmark, "small_cnn", proxy=False)


@pytest.mark.benchmark(group="train-step-small_cnn")
def test_step_small_cnn_proxy(benchmark):
    _run(benchmark, "small_cnn", proxy=True)


@pytest.mark.benchmark(group="train-step-resnet18")
def test_step_resnet18_plain(benchmark):
    _run(benchmark, "resnet18_cifar", proxy=False)


@pytest.mark.benchmark(group="train-step-resnet18")
def test_step_resnet18_proxy(benchmark):
    _run(benchmark, "resnet18_cifar", proxy=True)
