"""Performance of ``proxygrad.maximize`` (pytest-benchmark; quick when run with --benchmark-disable).

- Vectorized multi-start: time per step with 256 starts of a small MLP over time per step with
  1 start (goal: at most 10x).
- Overhead against a minimal hand-written ascent loop on resnet18 (random weights), plain and
  ProxyGrad (goal: at most 1.05x; the hand loop enters ``proxify`` once, as ``maximize`` does).

Each round times the reference (1 start, or the hand loop) and the engine one after the other, in
alternating order (``paired`` in ``conftest.py``).  Reported (printed and stored in ``extra_info``):
the ratio of the fastest rounds and the median of the per-round ratios (the headline figure,
declared in ``FIGURES`` for the goal table of ``conftest.py``).
Torch runs on one thread here: on a shared machine two threads that wait for each other make
timings swing by several times.  Run with
``.venv/bin/python -m pytest benchmarks/perf/bench_engine.py --benchmark-only -s``.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import pytest
import torch
import torchvision
from torch import nn

from proxygrad import objectives, proxify
from proxygrad.engine import maximize

FIGURES = [
    # (figure, test, extra_info key, goal)
    ("maximize MLP: 256 starts / 1 start, per step", "test_multistart_mlp_256_vs_1", "per_step_ratio_256_vs_1",
     10.0),
    ("maximize / hand loop, resnet18 plain", "test_resnet18_overhead_vs_hand_loop[plain]", "overhead_ratio_plain",
     1.05),
    ("maximize / hand loop, resnet18 proxy", "test_resnet18_overhead_vs_hand_loop[proxy]", "overhead_ratio_proxy",
     1.05),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_multistart_mlp_256_vs_1(benchmark, paired) -> None:
    """256 starts vs 1 start, same number of steps: ratio of time per step (goal <= 10)."""
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    steps = 50 if benchmark.enabled else 2
    run = lambda n: maximize(mlp, shape=32, starts=n, steps=steps, lr=0.05, backward_slope=0.3)  # noqa: E731
    ratio = paired(lambda: run(256), lambda: run(1), "per_step_ratio_256_vs_1", rounds=10)
    if benchmark.enabled:
        assert ratio <= 10.0, f"256 starts take {ratio:.2f}x the time per step of 1 start"


def _hand_loop(f: nn.Module, x0: torch.Tensor, steps: int, lr: float, slope: Optional[float]) -> torch.Tensor:
    """The minimal reference: x <- clamp(x + lr * grad f(x), -1, 1), then one final evaluation."""
    x = x0.clone()
    with proxify(f, slope) if slope is not None else contextlib.nullcontext():
        for _ in range(steps):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(f(x).sum(), x)
            x = (x.detach() + lr * grad).clamp(-1.0, 1.0)
    with torch.no_grad():
        return f(x)


@pytest.fixture(scope="module")
def resnet18_logit() -> nn.Module:
    """Logit 1 of a randomly initialized resnet18 behind the ImageNet input normalization."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    return objectives.logit(model, 1, preprocess=objectives.imagenet_preprocess())


@pytest.mark.parametrize("slope", [None, 0.5], ids=["plain", "proxy"])
def test_resnet18_overhead_vs_hand_loop(benchmark, paired, resnet18_logit: nn.Module, slope: Optional[float]) -> None:
    """Engine over hand loop on resnet18 logit 1, batch 4 at 3x112x112 (goal <= 1.05)."""
    f = resnet18_logit
    batch, size, steps, rounds = (4, 112, 5, 8) if benchmark.enabled else (1, 32, 1, 1)
    x0 = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    paired(lambda: maximize(f, x0, steps=steps, lr=0.01, backward_slope=slope),
           lambda: _hand_loop(f, x0, steps, 0.01, slope),
           f"overhead_ratio_{'plain' if slope is None else 'proxy'}", rounds=rounds)
