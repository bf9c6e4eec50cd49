"""Input parametrizations x = param(z): inside the box, invertible at the start, original values recorded."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from proxygrad import maximize
from proxygrad.parametrizations import FourierSquash
from proxygrad.regularizers import Jitter

F64 = torch.float64


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 7, 9), (1, 5, 6)])
@pytest.mark.parametrize("decay", [0.0, 1.0, 2.0])
def test_fourier_squash_inverts_at_the_start_and_stays_in_the_box(shape, decay) -> None:
    param = FourierSquash(decay)
    x0 = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0), dtype=F64) * 1.8 - 0.9
    z0 = param.initial(x0, (-1.0, 1.0))
    assert z0.shape == (4, shape[0], shape[1], shape[2] // 2 + 1, 2)
    torch.testing.assert_close(param(z0, (-1.0, 1.0), shape), x0, rtol=0, atol=1e-12)
    wild = torch.randn(z0.shape, generator=torch.Generator().manual_seed(1), dtype=F64) * 1e3
    x = param(wild, (-0.5, 2.0), shape)
    assert x.shape == (4, *shape) and bool((x >= -0.5).all()) and bool((x <= 2.0).all())
    for i in range(4):  # rows never interact
        torch.testing.assert_close(param(wild[i:i + 1], (-0.5, 2.0), shape)[0], x[i], rtol=0, atol=0)


def test_fourier_squash_arguments() -> None:
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="decay"):
            FourierSquash(bad)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        FourierSquash().check((5,))
    with pytest.raises(ValueError, match="expects z"):
        FourierSquash()(torch.zeros(1, 3, 8, 8), (-1.0, 1.0), (3, 8, 8))
    assert FourierSquash(1.5).label == "fourier_squash(decay=1.5)"


class Mean(nn.Module):
    """f(x) = mean of relu(conv(x)) channel 0: a small image objective."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(3, 4, 3, padding=1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))[:, 0].mean(dim=(1, 2))


@pytest.mark.parametrize("optimizer", ["ascent", "adam"])
def test_maximize_with_a_parametrization_records_the_original_in_the_box(optimizer: str) -> None:
    f = Mean()
    param = FourierSquash(1.0)
    xs: list[torch.Tensor] = []
    res = maximize(f, shape=(3, 12, 12), starts=3, seed=7, steps=15, lr=0.5, optimizer=optimizer,
                   backward_slope=0.3, param=param, callback=lambda t, x, v: xs.append(x))
    assert res.config["param"] == "fourier_squash(decay=1)"
    for x in xs + [res.best_input, res.final_input]:
        assert bool((x >= -1.0).all()) and bool((x <= 1.0).all())
    with torch.no_grad():
        assert torch.equal(f(res.best_input), res.best_value)
        for t, x in enumerate(xs):
            assert torch.equal(f(x), res.trace[t])
    assert bool((res.best_value > res.trace[0]).all())
    again = maximize(f, shape=(3, 12, 12), starts=3, seed=7, steps=15, lr=0.5, optimizer=optimizer,
                     backward_slope=0.3, param=param)
    assert torch.equal(again.trace, res.trace)


def test_parametrization_errors_before_any_forward() -> None:
    f = Mean()
    with pytest.raises(ValueError, match="regularizers"):
        maximize(f, shape=(3, 8, 8), param=FourierSquash(), regularizers=(Jitter(1),))
    with pytest.raises(ValueError, match=r"\(12,\)"):
        maximize(lambda x: x.sum(dim=1), shape=12, param=FourierSquash())
