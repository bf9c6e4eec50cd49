"""The `ToyFunction` module and the small helpers every family shares.

A toy function is a scalar ReLU network f: [lo, hi]^input_shape -> R whose global maximum over the
box is known beyond doubt, either from a closed-form derivation (hand-built families) or from the
exact MILP certifier (random families).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

DTYPE = torch.float64


@dataclass(frozen=True)
class ClosedForm:
    """How a hand-built family's optimum is known: a derivation, not a solver run.

    `derivation` summarises the argument (the full one is in the family's docstring);
    `kind` is always ``"closed form"`` so records can tell it from a MILP `Certificate`.
    """

    derivation: str
    kind: str = field(default="closed form")


def rectifier(negative_slope: float) -> nn.Module:
    """`nn.ReLU()` for slope 0, else `nn.LeakyReLU(negative_slope)`: y = max(z, s z) for 0 <= s < 1."""
    return nn.ReLU() if negative_slope == 0.0 else nn.LeakyReLU(negative_slope)


def linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """An `nn.Linear` in float64 with the given weight [out, in] and bias [out], frozen."""
    weight = torch.as_tensor(weight, dtype=DTYPE)
    bias = torch.as_tensor(bias, dtype=DTYPE)
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=DTYPE)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    layer.requires_grad_(False)
    return layer


class ToyFunction(nn.Module):
    """A scalar network with a known global maximum over the box `bounds`.

    forward(x: [N, *input_shape]) -> [N]. The input is cast to the network's dtype (float64 by
    default), which keeps autograd intact. `optimum` = max_{x in box} f(x) and `argmax` attains it.
    """

    def __init__(
        self,
        net: nn.Sequential,
        *,
        name: str,
        params: dict[str, Any],
        input_shape: tuple[int, ...],
        optimum: float,
        argmax: torch.Tensor,
        certificate: Any,
        forward_slope: float,
        bounds: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.params = dict(params)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.optimum = float(optimum)
        self.register_buffer("_argmax", torch.as_tensor(argmax).reshape(self.input_shape).clone())
        self.certificate = certificate
        self.forward_slope = float(forward_slope)
        self.bounds = (float(bounds[0]), float(bounds[1]))

    @property
    def argmax(self) -> torch.Tensor:
        """A point of the box (shape `input_shape`) with f(argmax) == optimum."""
        return self._argmax

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the network's parameters."""
        return next(self.net.parameters()).dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for a batch x of shape [N, *input_shape]; returns [N]."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"input of shape {tuple(x.shape)} does not match [N, *{self.input_shape}]"
            )
        out = self.net(x.to(self.dtype))
        return out.reshape(x.shape[0])

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_shape={self.input_shape}, optimum={self.optimum!r}"


# ---- parameter validation (every message names the parameter and the value) -------------------

def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum], else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        hi = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{hi}, got {value!r}")
    return int(value)


def check_float(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """`value` as a finite float in the interval [low, high] (ends open when asked)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = (
        not math.isfinite(v)
        or v < low
        or v > high
        or (low_open and v == low)
        or (high_open and v == high)
    )
    if bad:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{hb}, got {value!r}")
    return v


def check_slope(value: Any) -> float:
    """A rectifier's forward negative slope s with 0 <= s < 1."""
    return check_float("negative_slope", value, 0.0, 1.0, high_open=True)


def generator(seed: Any) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed` (a non-negative int)."""
    seed = check_int("seed", seed, 0)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def random_signs(d: int, g: torch.Generator) -> torch.Tensor:
    """A vector in {-1, +1}^d drawn uniformly with generator `g` (float64)."""
    return torch.randint(0, 2, (d,), generator=g).to(DTYPE) * 2.0 - 1.0
