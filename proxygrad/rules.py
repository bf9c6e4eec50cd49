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

Rules are plain frozen values; :func:`proxygrad.op.rectify` applies them.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Union

__all__ = [
    "BackwardRule",
    "slope",
    "straight_through",
    "bsilu",
    "nelu",
    "redirected",
    "as_rule",
    "check_slope",
]


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
    """A named backward rule with its parameters (see the module docstring for the math)."""

    name: str
    params: tuple[tuple[str, float], ...] = ()

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


def bsilu(alpha: float = 1.67) -> BackwardRule:
    """SUGAR's B-SiLU surrogate derivative on the negative side; ``alpha`` finite, ``>= 0`` (paper: 1.67)."""
    return BackwardRule("bsilu", (("alpha", check_slope(alpha, "alpha")),))


def nelu(alpha: float = 0.1) -> BackwardRule:
    """SUGAR's NeLU surrogate derivative ``2 alpha x / (1 + x^2)^2`` on the negative side; ``alpha >= 0``."""
    return BackwardRule("nelu", (("alpha", check_slope(alpha, "alpha")),))


def redirected() -> BackwardRule:
    """Lucid's redirected ReLU gradient (see the module docstring)."""
    return BackwardRule("redirected")


RuleLike = Union[float, int, BackwardRule]


def as_rule(value: RuleLike) -> BackwardRule:
    """A ``BackwardRule`` from a rule or a slope number; anything else raises ``ValueError``."""
    if isinstance(value, BackwardRule):
        return value
    return slope(check_slope(value))
