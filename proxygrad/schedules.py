"""Backward-slope schedules for activation maximization.

A schedule says, for gradient step ``t`` of ``T`` (``t = 0 .. T-1``), which backward rule the
rectifiers use: a float slope ``s`` (ProxyGrad with factor ``s`` on the negative side), a
``proxygrad.rules.BackwardRule``, or ``None`` (the plain autograd gradient that step).

- ``constant(s)``: ``s(t) = s``.
- ``linear_anneal(start, end=0.0, fraction=0.5)``: with ``K = fraction * T``,
  ``s(t) = start + (end - start) * min(t / K, 1)`` (``s(t) = end`` for all ``t`` when ``K = 0``).
  With ``end`` the forward slope, the last steps are plain activation maximization.
- ``first_steps(rule, steps=16, then=None)``: ``rule`` for ``t < steps``, ``then`` afterwards.
- ``from_callable(fn)``: ``fn(t)`` for any callable ``step -> float | BackwardRule | None``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Union

from .rules import check_slope

StepRule = Union[float, Any, None]  # float slope, a BackwardRule, or None (plain gradient)


def _check_rule(name: str, value: StepRule) -> StepRule:
    """Validate a schedule entry: ``None``, a slope (via ``rules.check_slope``) or a rule with ``.label``."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_slope(value, name)
    if not hasattr(value, "label"):
        raise ValueError(f"{name} must be a float slope, a BackwardRule or None, got {value!r}")
    return value


def rule_label(value: StepRule) -> str:
    """Label of one schedule entry: ``"plain"`` for ``None``, ``"slope=<s>"`` for a float, else ``.label``."""
    if value is None:
        return "plain"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"slope={float(value):g}"
    return str(value.label)


def _check_steps(total_steps: int, step: int) -> None:
    if not 0 <= step < max(total_steps, 1):
        raise ValueError(f"step {step} is outside 0..{total_steps - 1}")


class Schedule:
    """Base class: ``at(step, total_steps)`` gives the rule of gradient step ``step``; ``label`` names it."""

    label: str

    def at(self, step: int, total_steps: int) -> StepRule:  # pragma: no cover - abstract
        """Rule used by gradient step ``step`` (0-based) of ``total_steps``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    """``s(t) = value`` for every step."""

    value: StepRule

    def __post_init__(self) -> None:
        _check_rule("constant schedule value", self.value)

    @property
    def label(self) -> str:  # type: ignore[override]
        return rule_label(self.value)

    def at(self, step: int, total_steps: int) -> StepRule:
        _check_steps(total_steps, step)
        return float(self.value) if isinstance(self.value, int) else self.value


@dataclass(frozen=True)
class LinearAnneal(Schedule):
    """``s(t) = (1 - p) start + p end`` with ``p = min(t / (fraction * T), 1)``; ``end`` when ``fraction * T = 0``.

    The two-term form is exact at both ends: ``s = start`` at ``p = 0`` and ``s = end`` (bit for bit, so the
    plain phase after the anneal is the plain gradient) from ``p = 1`` on.
    """

    start: float
    end: float = 0.0
    fraction: float = 0.5

    def __post_init__(self) -> None:
        check_slope(self.start, "linear_anneal start")
        check_slope(self.end, "linear_anneal end")
        if (isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float))
                or not 0.0 <= float(self.fraction) <= 1.0):
            raise ValueError(f"linear_anneal fraction must be in [0, 1], got {self.fraction!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"linear_anneal({float(self.start):g}->{float(self.end):g},fraction={float(self.fraction):g})"

    def at(self, step: int, total_steps: int) -> float:
        _check_steps(total_steps, step)
        span = float(self.fraction) * total_steps
        if span <= 0.0:
            return float(self.end)
        progress = min(step / span, 1.0)
        return (1.0 - progress) * float(self.start) + progress * float(self.end)


@dataclass(frozen=True)
class FirstSteps(Schedule):
    """``rule`` for steps ``t < steps``, ``then`` for ``t >= steps``."""

    rule: StepRule
    steps: int = 16
    then: StepRule = None

    def __post_init__(self) -> None:
        _check_rule("first_steps rule", self.rule)
        _check_rule("first_steps then", self.then)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"first_steps steps must be an int >= 0, got {self.steps!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"first_steps({rule_label(self.rule)},{self.steps},then={rule_label(self.then)})"

    def at(self, step: int, total_steps: int) -> StepRule:
        _check_steps(total_steps, step)
        value = self.rule if step < self.steps else self.then
        return float(value) if isinstance(value, int) else value


@dataclass(frozen=True)
class FromCallable(Schedule):
    """``s(t) = fn(t)`` for a callable ``fn: step -> float | BackwardRule | None``."""

    fn: Callable[[int], StepRule]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ValueError(f"from_callable needs a callable, got {self.fn!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"callable({getattr(self.fn, '__qualname__', type(self.fn).__name__)})"

    def at(self, step: int, total_steps: int) -> StepRule:
        _check_steps(total_steps, step)
        value = _check_rule(f"schedule value at step {step}", self.fn(step))
        return value


def constant(s: StepRule) -> Constant:
    """Schedule with the same rule (float slope, BackwardRule or None) at every step."""
    return Constant(s)


def linear_anneal(start: float, end: float = 0.0, fraction: float = 0.5) -> LinearAnneal:
    """Slope going linearly from ``start`` to ``end`` over the first ``fraction`` of the steps, then ``end``."""
    return LinearAnneal(start, end, fraction)


def first_steps(rule: StepRule, steps: int = 16, then: StepRule = None) -> FirstSteps:
    """``rule`` for the first ``steps`` steps, then ``then`` (``None``: the plain gradient)."""
    return FirstSteps(rule, steps, then)


def from_callable(fn: Callable[[int], StepRule]) -> FromCallable:
    """Schedule calling ``fn(step)`` for each step."""
    return FromCallable(fn)


def as_schedule(value: Any) -> Schedule:
    """Coerce ``backward_slope`` to a schedule: a ``Schedule`` as is, a callable without ``.label``
    via ``from_callable``, else ``constant(value)`` (``None``, a float or a rule); ``ValueError`` otherwise."""
    if isinstance(value, Schedule):
        return value
    if callable(value) and not hasattr(value, "label"):
        return from_callable(value)
    return constant(value)
