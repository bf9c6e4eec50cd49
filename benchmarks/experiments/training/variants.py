"""The variants of ``training``: a forward rectifier (``relu`` or ``leaky``) crossed with a training method."""
from __future__ import annotations

from typing import Any

from benchmarks.framework import methods as _methods
from benchmarks.experiments.training.config import Config

def variants(cfg: Config) -> list[tuple[str, _methods.Method]]:
    """``(activation, method)`` per variant, activations outer, in config order."""
    return [(a, m) for a in cfg.activations for m in cfg.methods]


def variant_name(activation: str, method: _methods.Method) -> str:
    """Record label of a variant, e.g. ``relu/plain`` or ``leaky/proxy-0.3`` (an output, never parsed)."""
    return f"{activation}/{method.label}"


def forward_slope(cfg: Config, activation: str) -> float:
    """The network's negative-side forward slope: 0 for ReLU, ``leaky_slope`` for Leaky ReLU."""
    return cfg.leaky_slope if activation == "leaky" else 0.0


def rule_of(cfg: Config, activation: str, method: _methods.Method) -> Any:
    """The ``proxygrad`` backward rule of a variant (None: the plain gradient, conventional training)."""
    return method.maximize_kwargs(forward_slope(cfg, activation), 1)["backward_slope"]
