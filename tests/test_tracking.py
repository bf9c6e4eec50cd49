"""The one best-so-far tracker (proxygrad.tracking.BestSoFar) and the one number check (proxygrad.checks)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from proxygrad import maximize
from proxygrad.checks import check_number
from proxygrad.tracking import BestSoFar, NonFiniteError, best_at, check_finite
from benchmarks.framework import recipes


def test_best_so_far_keeps_the_first_step_of_the_maximum_its_input_and_the_checkpoints() -> None:
    values = torch.tensor([[1.0, 5.0], [3.0, 5.0], [3.0, 4.0], [2.0, 6.0]], dtype=torch.float64)
    seen: list[int] = []
    best = BestSoFar(3, 2, torch.float64, "cpu", observer=lambda t, x, v: seen.append(t))
    for t, v in enumerate(values):
        best.record(t, v, torch.full((2, 3), float(t), dtype=torch.float64))
    assert torch.equal(best.trace, values) and seen == [0, 1, 2, 3]
    assert best.best_value.tolist() == [3.0, 6.0]
    assert best.best_step.tolist() == [1, 3]  # a tie (step 2, start 0) keeps the first step
    assert best.best_input[:, 0].tolist() == [1.0, 3.0]
    assert best.best_at(0).tolist() == [1.0, 5.0] and best.best_at(2).tolist() == [3.0, 5.0]
    assert torch.equal(best_at(values, 3), best.best_value)


def test_check_finite_names_the_step_start_and_value() -> None:
    with pytest.raises(NonFiniteError, match=r"gradient at step 4, start 1 \(value inf\)"):
        check_finite("gradient", torch.tensor([[0.0, 1.0], [2.0, math.inf]]), 4)


def _consistent(res) -> None:
    trace = res.trace
    assert torch.equal(res.best_value, trace.max(dim=0).values)
    first = (trace == res.best_value).to(torch.int64).argmax(dim=0)
    assert torch.equal(res.best_step, first)
    for t in range(trace.shape[0]):
        assert torch.equal(best_at(trace, t), torch.cummax(trace, dim=0).values[t])


def test_maximize_and_a_recipe_keep_the_same_best_so_far_record() -> None:
    """Both loops record through BestSoFar: best = max of the trace at its first step, at the input there."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 1)).double()
    seen: dict[int, torch.Tensor] = {}
    res = maximize(net, shape=(1, 8, 8), starts=3, steps=6, lr=0.3, seed=1,
                   callback=lambda t, x, v: seen.__setitem__(t, x))
    _consistent(res)
    for i, t in enumerate(res.best_step.tolist()):
        assert torch.equal(res.best_input[i], seen[t][i])
    rec = recipes.run(recipes.Lucent(), net, shape=(1, 8, 8), starts=3, steps=6, lr=0.3, seed=1,
                      optimizer="ascent", callback=lambda t, x, v: seen.__setitem__(t, x))
    _consistent(rec)
    for i, t in enumerate(rec.best_step.tolist()):
        assert torch.equal(rec.best_input[i], seen[t][i])
    with torch.no_grad():
        assert torch.equal(net(rec.best_input)[:, 0], rec.best_value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(value=True), "x must be a number, got True"),
    (dict(value=2.5, integer=True), "x must be an integer, got 2.5"),
    (dict(value=math.nan), "x must be finite, got nan"),
    (dict(value=0, integer=True, min=1), "x must be >= 1, got 0"),
    (dict(value=0.0, min=0.0, min_exclusive=True), "x must be > 0.0, got 0.0"),
    (dict(value=7, max=5), "x must be <= 5, got 7"),
])
def test_check_number_names_the_value(kwargs: dict, message: str) -> None:
    value = kwargs.pop("value")
    with pytest.raises(ValueError, match=message):
        check_number("x", value, **kwargs)
    assert check_number("x", 3, integer=True, min=1, max=3) == 3 and check_number("x", 2) == 2.0
