"""Cost of one training step with a ProxyGrad backward rule against plain ReLU training.

A step is what ``benchmarks.domain.training.train`` does per batch: zero the gradients, forward, cross-entropy,
backward, SGD update (momentum 0.9, weight decay 5e-4). The proxy step runs inside ``proxify(model,
slope(0.3))``, entered once around the timed steps as ``train`` enters it once per epoch.

Figures (printed by ``make bench``; each round times a plain step and a proxy step of an identical copy,
in alternating order, and the figure is the median over rounds of proxy / plain time, see ``paired``
in ``conftest.py``):
- small_cnn, batch 128x1x28x28 (goal <= 1.05x);
- resnet18_cifar, batch 8x3x32x32 (goal <= 1.03x).
Torch runs on one thread.  Under ``--benchmark-disable`` (``make test``) each pair runs once.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks.domain.models import build_seeded
from proxygrad import proxify, rules

FIGURES = [
    # (figure, test, extra_info key, goal)
    ("small_cnn train step 128x1x28x28, proxy slope=0.3 vs ReLU", "test_train_step_proxy_vs_plain[small_cnn]",
     "train_step_ratio", 1.05),
    ("resnet18_cifar train step 8x3x32x32, proxy slope=0.3 vs ReLU",
     "test_train_step_proxy_vs_plain[resnet18_cifar]", "train_step_ratio", 1.03),
]

SHAPES = {"small_cnn": (128, 1, 28), "resnet18_cifar": (8, 3, 32)}


pytestmark = pytest.mark.usefixtures("one_thread")


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


@pytest.mark.parametrize("arch", list(SHAPES))
def test_train_step_proxy_vs_plain(benchmark, paired, arch: str) -> None:
    _, plain_step = _setup(arch)
    proxy_model, proxy_step = _setup(arch)
    with proxify(proxy_model, rules.slope(0.3)) as scope:
        if benchmark.enabled:
            plain_step()  # warm-up (allocator, momentum buffers) before timing
            proxy_step()
        paired(proxy_step, plain_step, "train_step_ratio", rounds=15 if arch == "small_cnn" else 25)
        loss = proxy_step()
    assert torch.isfinite(torch.tensor(loss))
    assert scope.calls > 0  # the rule was really in force
