"""The `ToyFunction` module and the small helpers every family shares.

A toy function is a scalar ReLU network f: [lo, hi]^input_shape -> R whose global maximum over the
box is known beyond doubt, either from a closed-form derivation (hand-built families) or from the
exact MILP certifier (random families). Each family module declares which with ``OPTIMUM_KIND``
(`CLOSED_FORM` or `CERTIFIED`).

The stated optimum and the attained one. The derivation (or the certificate) gives the maximum in
exact arithmetic, ``stated_optimum``, and a maximizer ``argmax``. The network computes in floating
point, and its value at ``argmax`` differs from the exact one by rounding; worse, BLAS kernels sum in
an order that depends on the batch size and on the row's position in the batch, so the same input
can give values one or two ulps apart. ``ToyFunction.optimum`` is therefore the largest value the
network itself computes at ``argmax``, in its own dtype and on its own device, over every row of
batches of ``PROBE_BATCHES`` sizes. A record ``f_best`` computed by the same network can reach
that value but not exceed it, unless the derivation is wrong: where ``f`` is a nondecreasing
function of ``w . x`` (dead_unit, deep_chain), floating-point rounding is monotone, so any point of
the box gives at most the value at ``argmax`` in the same layout. The derivation is checked against
the attained value: ``|optimum - stated_optimum| <= STATED_RTOL * max(1, |stated_optimum|)``
(`check_optimum`, run at construction for closed forms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

DTYPE = torch.float64
CLOSED_FORM = "closed form"
CERTIFIED = "certified"
#: Batch sizes at which ``f(argmax)`` is evaluated (every row) to find the attained optimum:
#: every size up to 64 (the kernels' tail cases) and larger powers of two.
PROBE_BATCHES: tuple[int, ...] = (*range(1, 65), 128, 256, 512, 1024)
#: Relative tolerance between the attained optimum and the derived one: float64 rounding of the few
#: hundred operations of a toy network (observed: below 1e-15 relative for d <= 128).
STATED_RTOL = 1e-12


@dataclass(frozen=True)
class ClosedForm:
    """How a hand-built family's optimum is known: a derivation, not a solver run.

    `derivation` summarises the argument (the full one is in the family's docstring);
    `kind` is always ``"closed form"`` so records can tell it from a MILP `Certificate`.
    """

    derivation: str
    kind: str = field(default=CLOSED_FORM)


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
    default), which keeps autograd intact. `stated_optimum` = max_{x in box} f(x) in exact arithmetic
    (closed form or certificate, the constructor's ``optimum``), `argmax` attains it, and `optimum`
    is the value the network computes there (see the module docstring).
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
        self.stated_optimum = float(optimum)
        self.register_buffer("_argmax", torch.as_tensor(argmax).reshape(self.input_shape).clone())
        self.certificate = certificate
        self.forward_slope = float(forward_slope)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self._attained: dict[tuple, float] = {}
        if isinstance(certificate, ClosedForm):
            self.check_optimum()

    @property
    def optimum(self) -> float:
        """max over the rows of batches of `PROBE_BATCHES` sizes of f(argmax), in the network's dtype
        and on its device: the largest value the network attains at its argmax."""
        p = next(self.net.parameters())
        key = (p.device, p.dtype, self._argmax._version, self._argmax.data_ptr())
        if key not in self._attained:
            with torch.no_grad():
                a = self._argmax.to(device=p.device)[None]
                batches = (a.expand(n, *self.input_shape).contiguous() for n in PROBE_BATCHES)
                best = max(float(self.forward(x).max()) for x in batches)
            self._attained = {key: best}
        return self._attained[key]

    @optimum.setter
    def optimum(self, value: float) -> None:
        """Assigning sets `stated_optimum` (e.g. a certificate's value); `optimum` stays f(argmax)."""
        self.stated_optimum = float(value)

    def check_optimum(self, rtol: float = STATED_RTOL) -> float:
        """ValueError unless |optimum - stated_optimum| <= rtol * max(1, |stated_optimum|); returns
        the difference optimum - stated_optimum."""
        diff = self.optimum - self.stated_optimum
        if not abs(diff) <= rtol * max(1.0, abs(self.stated_optimum)):
            raise ValueError(f"{self.name}: the network computes {self.optimum!r} at its argmax, the "
                             f"stated optimum is {self.stated_optimum!r} (difference {diff!r} > "
                             f"{rtol} relative): the derivation or the construction is wrong")
        return diff

    def adopt_certificate(self, certificate: Any) -> None:
        """Take a certificate's value as `stated_optimum`, its argmax as `argmax` (copied in place) and
        the certificate itself as `certificate`."""
        self.optimum = certificate.value
        self._argmax.copy_(certificate.argmax)
        self.certificate = certificate

    @property
    def argmax(self) -> torch.Tensor:
        """A point of the box (shape `input_shape`) where the network computes `optimum` (in one of
        the probed batch layouts; in others it may compute a few ulps less)."""
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
        return f"name={self.name!r}, input_shape={self.input_shape}, stated_optimum={self.stated_optimum!r}"


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


def check_negative_slope(value: Any) -> float:
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


def signed_weights(d: int, g: torch.Generator) -> torch.Tensor:
    """A weight vector w in R^d (float64): signs drawn by `random_signs`, then magnitudes uniform in
    [0.5, 1.5), both with generator `g` in that order. No entry is 0, so sign(w) is the signs drawn."""
    return random_signs(d, g) * (0.5 + torch.rand(d, generator=g, dtype=DTYPE))
