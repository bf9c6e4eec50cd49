"""Backward rules: what a rectifier back-propagates on its negative side.

A rectifier ``y = rect(x)`` (ReLU, Leaky ReLU with forward slope ``a``, ReLU6) keeps its forward value
under every rule here.  Only the local derivative used in the backward pass changes:

    dL/dx = dL/dy * 1                  where x > 0 (and x < upper for ReLU6; 0 at and above upper)
    dL/dx = dL/dy * r(x, dL/dy)        where x <= 0

with ``r`` given by the rule:

- ``slope(s)``            r = s  (ProxyGrad; ``s`` = the forward slope gives the plain gradient,
                          ``s = 1`` is the identity backward of straight-through / LinBP / BPDA)
- ``straight_through()``  an alias: the value ``slope(1.0)`` (one rule, one name)
- ``bsilu(alpha)``        r = sigma(x) + (x + alpha) sigma(x) (1 - sigma(x)), the derivative of
                          B-SiLU(x) = (x + alpha) sigma(x) - alpha / 2 (SUGAR)
- ``nelu(alpha)``         r = 2 alpha x / (1 + x^2)^2, the derivative of NeLU(x) = -alpha / (1 + x^2)
                          on the negative side (SUGAR)
- ``redirected()``        Lucid's redirected ReLU: per batch item and layer, the plain gradient if it is
                          non-zero anywhere in the layer; otherwise r = 1 where dL/dy > 0 (the update
                          pushes the unit up) and r = 0 where dL/dy <= 0.

Rules are plain frozen values; :func:`proxygrad.op.rectify` applies them, choosing its autograd function
by the rule's :attr:`~BackwardRule.form` in the table :data:`proxygrad.op.FUNCTIONS`.  A rule whose
negative-side factor is a function of ``x`` alone (the SUGAR surrogates) carries that function,
``factor(x, **params) -> r``, so a new such rule is one constructor here and nothing in the op::

    def constant(c: float = 0.5) -> BackwardRule:
        return BackwardRule("constant", (("c", check_slope(c, "c")),), factor=_constant_factor)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

import torch
from torch import Tensor

__all__ = [
    "BackwardRule",
    "slope",
    "straight_through",
    "bsilu",
    "nelu",
    "redirected",
    "as_rule",
    "check_slope",
    "Factor",
]

#: The negative-side factor of a rule that depends on ``x`` alone: ``factor(x, **params) -> r``, a new
#: tensor shaped like ``x`` (the op multiplies it by ``dL/dy`` in place and uses it where ``x <= 0`` only).
Factor = Callable[..., Tensor]


def check_slope(value: object, name: str = "backward_slope") -> float:
    """Return ``value`` as a float if it is a finite real number >= 0, else raise ``ValueError``.

    Booleans, strings, ``None``, NaN, infinities and negative numbers are rejected with a message that
    names the offending value.  Values above 1 are allowed.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, finite and >= 0, got {value!r} ({type(value).__name__})")
    as_float = float(value)
    if not math.isfinite(as_float) or as_float < 0.0:
        raise ValueError(f"{name} must be a real number, finite and >= 0, got {value!r}")
    return as_float


@dataclass(frozen=True)
class BackwardRule:
    """A named backward rule with its parameters (see the module docstring for the math).

    ``factor`` (None for ``slope`` and ``redirected``, which the op implements itself) is the rule's
    negative-side factor ``r = factor(x, **params)``; it is part of the rule's definition, not of its
    identity: two rules are equal when their names and parameters are.
    """

    name: str
    params: tuple[tuple[str, float], ...] = ()
    factor: Optional[Factor] = field(default=None, compare=False, repr=False)

    def param(self, key: str) -> float:
        """The value of parameter ``key``."""
        return dict(self.params)[key]

    @property
    def label(self) -> str:
        """A stable, human-readable label used in records, e.g. ``slope=0.5`` or ``bsilu(alpha=1.67)``."""
        if self.name == "slope":
            return f"slope={self.param('s'):g}"
        if not self.params:
            return self.name
        inner = ",".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.name}({inner})"

    @property
    def form(self) -> str:
        """How the op applies the rule: ``"factor"`` for a rule with a factor function, else its name."""
        return "factor" if self.factor is not None else self.name

    def negative_factor(self, x: Tensor) -> Tensor:
        """``r(x)`` of a rule with a factor function (ValueError for the others)."""
        if self.factor is None:
            raise ValueError(f"rule {self.label} has no factor function")
        return self.factor(x, **dict(self.params))

    @property
    def is_slope(self) -> bool:
        """True for rules whose negative-side factor is a constant (``slope``)."""
        return self.name == "slope"

    @property
    def constant_slope(self) -> float:
        """The constant negative-side factor of a slope rule."""
        if self.name == "slope":
            return self.param("s")
        raise ValueError(f"rule {self.label} has no constant slope")


def slope(s: float) -> BackwardRule:
    """ProxyGrad: negative-side factor ``s`` (finite, ``s >= 0``; ``s > 1`` allowed)."""
    return BackwardRule("slope", (("s", check_slope(s, "slope")),))


def straight_through() -> BackwardRule:
    """Identity backward (straight-through estimator, LinBP, BPDA): factor 1 on the negative side.

    An alias of ``slope(1.0)``: it returns that very value, so the rule has one name in records.
    """
    return slope(1.0)


def _bsilu_factor(x: Tensor, alpha: float) -> Tensor:
    """``sig + (x + alpha) * sig * (1 - sig)`` with ``sig = sigmoid(x)``, in exactly this order of
    operations, in reused buffers."""
    sig = torch.sigmoid(x)
    factor = torch.add(x, alpha).mul_(sig)     # (x + alpha) * sig
    factor.mul_(torch.rsub(sig, 1))            # ... * (1 - sig)
    return factor.add_(sig)                    # sig + ...


def _nelu_factor(x: Tensor, alpha: float) -> Tensor:
    """``2 alpha x / (1 + x^2)^2``, in exactly this order of operations, in reused buffers."""
    denominator = torch.mul(x, x).add_(1).pow_(2)   # (1 + x * x) ** 2
    return torch.mul(x, 2 * alpha).div_(denominator)


def bsilu(alpha: float = 1.67) -> BackwardRule:
    """SUGAR's B-SiLU surrogate derivative on the negative side; ``alpha`` finite, ``>= 0`` (paper: 1.67)."""
    return BackwardRule("bsilu", (("alpha", check_slope(alpha, "alpha")),), factor=_bsilu_factor)


def nelu(alpha: float = 0.1) -> BackwardRule:
    """SUGAR's NeLU surrogate derivative ``2 alpha x / (1 + x^2)^2`` on the negative side; ``alpha >= 0``."""
    return BackwardRule("nelu", (("alpha", check_slope(alpha, "alpha")),), factor=_nelu_factor)


def redirected() -> BackwardRule:
    """Lucid's redirected ReLU gradient (see the module docstring)."""
    return BackwardRule("redirected")


RuleLike = Union[float, int, BackwardRule]


def as_rule(value: RuleLike) -> BackwardRule:
    """A ``BackwardRule`` from a rule or a slope number; anything else raises ``ValueError``."""
    if isinstance(value, BackwardRule):
        return value
    return slope(check_slope(value))
