"""The AM methods compared by the experiments, by name, as arguments of ``proxygrad.maximize``.

A method name resolves to ``dict(backward_slope=..., proxy=...)`` for a network whose rectifiers have
forward (negative-side) slope ``a`` (0 for ReLU, 0.01 for the paper's Leaky ReLU):

- ``plain``: the autograd gradient, ``backward_slope=None``.
- ``proxy-<s>``: ProxyGrad, every rectifier passes factor ``s`` on its negative side in the backward
  pass only (``rules.slope(s)``, forward unchanged).
- ``network-<s>``: the proxy network, rectifiers become LeakyReLU(s) in both passes (``proxy="network"``).
- ``anneal`` / ``anneal-<s>``: slope going linearly from ``s`` (default 1.0) to ``a`` over the first
  half of the steps, then plain (``schedules.linear_anneal(s, end=a, fraction=0.5)``).
- ``redirected``: Lucid's redirected ReLU for the first ``min(16, steps)`` steps, then plain.
- ``bsilu``, ``nelu``: the SUGAR surrogate derivatives on the negative side.
- ``straight-through``: factor 1 on the negative side (LinBP).

Fixed names live in ``METHODS``; parametrised names (``<prefix>-<number>``) in ``PARAMETRIC``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

#: Steps of the redirected-ReLU phase (Lucid uses it during the first steps only).
REDIRECTED_STEPS = 16
#: Default start slope and fraction of the ``anneal`` method.
ANNEAL_START = 1.0
ANNEAL_FRACTION = 0.5


def _plain(forward_slope: float, steps: int) -> dict[str, Any]:
    return {"backward_slope": None, "proxy": "mixed"}


def _anneal(start: float, forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import schedules

    return {"backward_slope": schedules.linear_anneal(start, end=forward_slope, fraction=ANNEAL_FRACTION),
            "proxy": "mixed"}


def _redirected(forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules, schedules

    return {"backward_slope": schedules.first_steps(rules.redirected(), steps=min(REDIRECTED_STEPS, steps)),
            "proxy": "mixed"}


def _bsilu(forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules

    return {"backward_slope": rules.bsilu(), "proxy": "mixed"}


def _nelu(forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules

    return {"backward_slope": rules.nelu(), "proxy": "mixed"}


def _straight_through(forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules

    return {"backward_slope": rules.straight_through(), "proxy": "mixed"}


def _proxy(s: float, forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules

    return {"backward_slope": rules.slope(s), "proxy": "mixed"}


def _network(s: float, forward_slope: float, steps: int) -> dict[str, Any]:
    return {"backward_slope": s, "proxy": "network"}


METHODS: dict[str, Callable[[float, int], dict[str, Any]]] = {
    "plain": _plain,
    "anneal": lambda a, steps: _anneal(ANNEAL_START, a, steps),
    "redirected": _redirected,
    "bsilu": _bsilu,
    "nelu": _nelu,
    "straight-through": _straight_through,
}

PARAMETRIC: dict[str, Callable[[float, float, int], dict[str, Any]]] = {
    "proxy": _proxy,
    "network": _network,
    "anneal": _anneal,
}


def _split(name: str) -> tuple[str, float] | None:
    """``"proxy-0.5"`` -> ``("proxy", 0.5)``; None when ``name`` has no numeric suffix."""
    prefix, sep, number = name.rpartition("-")
    if not sep or prefix not in PARAMETRIC:
        return None
    try:
        value = float(number)
    except ValueError:
        return None
    return prefix, value


def validate(name: str) -> str:
    """Return ``name`` if it names a method, else raise ``ValueError`` naming it."""
    if not isinstance(name, str):
        raise ValueError(f"method name must be a string, got {name!r}")
    if name in METHODS:
        return name
    split = _split(name)
    if split is None:
        raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)} or "
                         f"{[p + '-<slope>' for p in sorted(PARAMETRIC)]}")
    _, s = split
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"method {name!r}: slope must be finite and >= 0, got {s!r}")
    return name


def resolve(name: str, *, forward_slope: float, steps: int) -> dict[str, Any]:
    """The ``maximize`` arguments ``{"backward_slope": ..., "proxy": ...}`` of method ``name``.

    ``forward_slope`` is the network's negative-side slope ``a`` (plain AM back-propagates ``a``);
    ``steps`` is the AM step budget (bounds the redirected phase).
    """
    validate(name)
    if not math.isfinite(forward_slope) or forward_slope < 0:
        raise ValueError(f"forward_slope must be finite and >= 0, got {forward_slope!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if name in METHODS:
        return METHODS[name](forward_slope, steps)
    prefix, s = _split(name)  # type: ignore[misc]
    return PARAMETRIC[prefix](s, forward_slope, steps)


def is_plain(name: str) -> bool:
    """True for the reference method every other method is compared against."""
    return name == "plain"
