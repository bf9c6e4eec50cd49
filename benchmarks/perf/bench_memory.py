"""Peak memory of ProxyGrad against plain PyTorch: AM on resnet18 and one training step.

How it measures (CPU): PyTorch's profiler with ``profile_memory=True`` records every allocation and
free made by PyTorch's CPU allocator during the measured call, each with the allocator's running total
of bytes held (``total_allocated``).  The figure is the peak of that total during the call minus the
total just before the first allocation, i.e. the most tensor memory the call held at once on top of
what existed before it (weights, inputs, optimizer state).  It counts every tensor PyTorch allocates
(forward activations, tensors saved for backward, gradients), and nothing else (no Python objects,
no allocator caching: the CPU allocator returns freed blocks at once).  The count does not depend on
timing, so the figure repeats exactly; it is a CPU figure (on CUDA one would read
``torch.cuda.max_memory_allocated``).

Figures (printed by ``make bench``; goal proxy / plain <= 1.05x):
- AM on resnet18 (random weights, logit 1 behind the ImageNet normalization), batch 8 at 3x224x224:
  ``maximize`` for 2 ascent steps, plain against ProxyGrad (slope 0.5, ``proxy="mixed"``);
- one training step of resnet18_cifar, batch 8x3x32x32 (SGD with momentum, after a warm-up step
  that creates the momentum buffers), plain against ``proxify(model, slope(0.3))``.
Each call runs once unmeasured first (one-time allocations), then plain and proxy alternate twice;
the smaller peak of each is kept (they agree exactly when nothing else allocates).
Under ``--benchmark-disable`` (``make test``) the sizes are small.
"""
from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch.profiler import ProfilerActivity, profile

from benchmarks.domain.models import build_seeded
from proxygrad import maximize, objectives, proxify, rules

FIGURES = [
    # (figure, test, extra_info key, goal)
    ("peak memory, AM resnet18 8x3x224x224, proxy / plain", "test_peak_memory_am_resnet18", "peak_ratio", 1.05),
    ("peak memory, resnet18_cifar train step 8x3x32x32, proxy / plain", "test_peak_memory_train_step",
     "peak_ratio", 1.05),
]


def _allocations(prof: profile) -> list[tuple[int, int, int]]:
    """``(time ns, bytes allocated (< 0: freed), allocator total after it)`` of the CPU allocator, in order."""
    from torch._C._profiler import _EventType

    found = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.typed[0] == _EventType.Allocation and node.typed[1].device.type == "cpu":
            fields = node.typed[1]
            found.append((node.start_time_ns, fields.alloc_size, fields.total_allocated))
        stack.extend(node.children)
    return sorted(found)


def peak_bytes(fn: Callable[[], object]) -> int:
    """The most CPU tensor memory ``fn()`` holds at once beyond what existed before it (bytes)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = _allocations(prof)
    if not events:
        return 0
    before = events[0][2] - events[0][1]
    return max(total for _, _, total in events) - before


def _compare(benchmark, plain: Callable[[], object], proxy: Callable[[], object]) -> float:
    """Peak of ``proxy`` over peak of ``plain`` (see the module docstring); stored in ``extra_info``."""
    plain()
    proxy()
    peaks: dict[str, list[int]] = {"plain": [], "proxy": []}

    def measure() -> None:
        for _ in range(2):
            peaks["plain"].append(peak_bytes(plain))
            peaks["proxy"].append(peak_bytes(proxy))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    plain_peak, proxy_peak = min(peaks["plain"]), min(peaks["proxy"])
    ratio = proxy_peak / plain_peak
    benchmark.extra_info.update({"peak_ratio": ratio, "plain_peak_mib": plain_peak / 2**20,
                                 "proxy_peak_mib": proxy_peak / 2**20})
    print(f"\npeak memory: plain {plain_peak / 2**20:.2f} MiB, proxy {proxy_peak / 2**20:.2f} MiB, "
          f"ratio {ratio:.4f} (all peaks: {peaks})")
    return ratio


pytestmark = pytest.mark.usefixtures("one_thread")


def test_peak_memory_am_resnet18(benchmark) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    f = objectives.logit(model, 1, preprocess=objectives.imagenet_preprocess())
    batch, size = (8, 224) if benchmark.enabled else (1, 32)
    x0 = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    run = lambda slope: maximize(f, x0, steps=2, lr=0.01, backward_slope=slope)  # noqa: E731
    ratio = _compare(benchmark, lambda: run(None), lambda: run(0.5))
    assert ratio > 0


def test_peak_memory_train_step(benchmark) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=g) * 2 - 1
    y = torch.randint(0, 10, (8,), generator=g)

    def make_step():
        model = build_seeded(0, "resnet18_cifar", in_channels=3, input_size=32).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return model, step

    _, plain_step = make_step()
    proxy_model, proxy_step = make_step()
    with proxify(proxy_model, rules.slope(0.3)) as scope:
        ratio = _compare(benchmark, plain_step, proxy_step)
    assert scope.calls > 0 and ratio > 0
