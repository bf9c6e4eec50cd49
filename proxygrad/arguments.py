"""Checking and resolving the arguments of an activation-maximization run (:func:`proxygrad.maximize`'s
contract), all before its first step: the box, the input shape, the starts, the dtype and device, the
optimizer, the per-step backward rules (and the one gradient interception that applies them) and an input
parametrization; and what a run does with ``f``: the check of its output and the eval mode it holds ``f`` in.
Every ``ValueError`` names the bad value.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from . import rules as _rules
from .checks import check_number
from .parametrizations import Parametrization
from .proxify import proxify, rectifier_mode
from .regularizers import Regularizer
from .schedules import Schedule, as_schedule

OPTIMIZERS: tuple[str, ...] = ("ascent", "normalized", "adam")
PROXY_MODES: tuple[str, ...] = ("mixed", "network")

__all__ = ["OPTIMIZERS", "PROXY_MODES", "EvalModes", "build_optimizer", "check_arguments", "check_bounds", "check_shape",
           "dtype_device", "interception", "module_tensor", "optimized_variable", "optimizer_label", "output_values",
           "resolve_rules", "starting_points"]


def check_bounds(bounds: Any) -> tuple[float, float]:
    """The box ``(lo, hi)`` as floats: finite with ``lo < hi``."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lo, hi) of numbers, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    return lo, hi


def check_shape(shape: Any) -> tuple[int, ...]:
    """One start's input shape: an int or a non-empty tuple of ints >= 1."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"shape must be a non-empty tuple of ints >= 1, got {shape!r}")
    return dims


def module_tensor(f: Any) -> Optional[Tensor]:
    """The first floating parameter (else buffer) of ``f`` when it is a module, else ``None``."""
    if isinstance(f, nn.Module):
        for tensor in list(f.parameters()) + list(f.buffers()):
            if torch.is_floating_point(tensor):
                return tensor
    return None


def resolve_rules(backward_slope: Any, steps: int, proxy: str) -> tuple[list[Optional[_rules.BackwardRule]], str]:
    """The rule of every step (``None``: plain gradient) and the label of ``backward_slope``."""
    schedule: Schedule = as_schedule(backward_slope)
    per_step: list[Optional[_rules.BackwardRule]] = []
    for t in range(steps):
        value = schedule.at(t, steps)
        rule = None if value is None else _rules.as_rule(value)
        if rule is not None and proxy == "network" and not rule.is_slope:
            raise ValueError(f"proxy='network' needs slope rules, got {rule.label} at step {t}")
        per_step.append(rule)
    return per_step, schedule.label


def output_values(out: Any, n: int) -> Tensor:
    """``f``'s output as ``[N]``: ``[N]`` or ``[N, 1]`` accepted, anything else a ``ValueError``."""
    if not isinstance(out, Tensor):
        raise ValueError(f"f must return a tensor of shape [N], got {type(out).__name__}")
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (n,):
        raise ValueError(f"f must map [N, *shape] to [N] (or [N, 1]) with N={n}, got shape {tuple(out.shape)}")
    if not torch.is_floating_point(out):
        raise ValueError(f"f must return floating values, got dtype {out.dtype}")
    return out


def optimizer_label(optimizer: Any) -> str:
    """``optimizer``'s name for the config; ``ValueError`` unless it is a known name or a callable."""
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS} or a callable params -> "
                             f"torch.optim.Optimizer, got {optimizer!r}")
        return optimizer
    if callable(optimizer):
        return f"factory({getattr(optimizer, '__qualname__', type(optimizer).__name__)})"
    raise ValueError(f"optimizer must be one of {OPTIMIZERS} or a callable params -> torch.optim.Optimizer, "
                     f"got {optimizer!r}")


def build_optimizer(optimizer: Any, variable: Tensor, lr: float) -> Optional[torch.optim.Optimizer]:
    """A ``torch.optim`` optimizer over ``[variable]`` for ``"adam"`` and factories, else ``None``."""
    if optimizer == "adam":
        return torch.optim.Adam([variable], lr=lr, maximize=True)
    if isinstance(optimizer, str):
        return None
    built = optimizer([variable])
    if not isinstance(built, torch.optim.Optimizer):
        raise ValueError(f"the optimizer factory must return a torch.optim.Optimizer, got {type(built).__name__}")
    return built


def check_arguments(f: Any, lr: Any, optimizer: Any, proxy: str, callback: Any, param: Any, bounds: Any,
                     regularizers: Sequence[Regularizer]) -> tuple[str, tuple[float, float], tuple[Regularizer, ...]]:
    """Check the arguments that need nothing resolved: the optimizer's label, the box and the regularizers."""
    check_number("lr", lr, min=0, min_exclusive=True)
    label = optimizer_label(optimizer)
    if proxy not in PROXY_MODES:
        raise ValueError(f"proxy must be one of {PROXY_MODES}, got {proxy!r}")
    if not callable(f):
        raise ValueError(f"f must be an nn.Module or a callable, got {type(f).__name__}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be a callable (step, x, value), got {callback!r}")
    if param is not None and not isinstance(param, Parametrization):
        raise ValueError(f"param must be a proxygrad.parametrizations.Parametrization, got {param!r}")
    box = check_bounds(bounds)
    regularizers = tuple(regularizers)
    for reg in regularizers:
        if not isinstance(reg, Regularizer):
            raise ValueError(f"regularizers must be proxygrad.regularizers objects, got {reg!r}")
    if param is not None and regularizers:
        raise ValueError(f"regularizers act on x and cannot be combined with param={param.label}")
    return label, box, regularizers


def dtype_device(f: Any, x0: Any, dtype: Any, device: Any) -> tuple[torch.dtype, torch.device]:
    """The run's dtype and device: the given ones, else those of ``f``'s parameters, else of ``x0``, else
    float32 on the CPU."""
    reference = module_tensor(f)
    if dtype is None:
        if reference is not None:
            dtype = reference.dtype
        elif isinstance(x0, Tensor) and torch.is_floating_point(x0):
            dtype = x0.dtype
        else:
            dtype = torch.float32
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if device is None:
        device = reference.device if reference is not None else (
            x0.device if isinstance(x0, Tensor) else torch.device("cpu"))
    return dtype, torch.device(device)


def starting_points(x0: Any, shape: Any, starts: Any, seed: int, box: tuple[float, float], dtype: torch.dtype,
                     device: torch.device) -> tuple[Tensor, tuple[int, ...], str]:
    """The starts ``x [N, *shape]`` in the box (``x0``, or ``starts`` uniform draws), ``shape`` and the
    starts' source for the config (``"given"`` or ``"uniform"``)."""
    lo, hi = box
    if x0 is None:
        if shape is None:
            raise ValueError("give x0 or shape")
        shape = check_shape(shape)
        n = check_number("starts", starts, integer=True, min=1)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x = lo + (hi - lo) * torch.rand((n, *shape), generator=generator, dtype=dtype)
        return x.to(device), tuple(shape), "uniform"
    if not isinstance(x0, Tensor) or x0.dim() < 2:
        raise ValueError(f"x0 must be a tensor [N, *shape], got {getattr(x0, 'shape', x0)!r}")
    n = x0.shape[0]
    if shape is not None and tuple(x0.shape[1:]) != check_shape(shape):
        raise ValueError(f"x0 has shape {tuple(x0.shape)}, which does not match shape={shape!r}")
    if starts not in (1, n):
        raise ValueError(f"starts={starts!r} does not match the {n} rows of x0")
    if n < 1:
        raise ValueError("x0 has no rows")
    x = x0.detach().to(device=device, dtype=dtype).clone()
    if not bool(torch.isfinite(x).all()) or bool((x < lo).any()) or bool((x > hi).any()):
        low, high = float(x0.min()), float(x0.max())
        raise ValueError(f"x0 must lie in the box [{lo}, {hi}], got values in [{low}, {high}]")
    return x, tuple(x0.shape[1:]), "given"


def optimized_variable(param: Optional[Parametrization], x: Tensor,
                        box: tuple[float, float]) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """The variable the steps move and its map to the input: ``x`` itself, or ``z`` with ``x = param(z)``
    (checked to give the starts' shape and dtype inside the box)."""
    if param is None:
        return x, lambda v: v
    shape = tuple(x.shape[1:])
    param.check(shape)
    variable = param.initial(x, box).detach().clone()
    to_input: Callable[[Tensor], Tensor] = lambda v: param(v, box, shape)  # noqa: E731
    with torch.no_grad():
        x_start = to_input(variable)
    lo, hi = box
    if tuple(x_start.shape) != tuple(x.shape) or x_start.dtype != x.dtype:
        raise ValueError(f"param {param.label} gives {tuple(x_start.shape)} {x_start.dtype}, "
                         f"not {tuple(x.shape)} {x.dtype}")
    if not bool(torch.isfinite(x_start).all()) or bool((x_start < lo).any()) or bool((x_start > hi).any()):
        raise ValueError(f"param {param.label} leaves the box [{lo}, {hi}] at the starts")
    return variable, to_input


class EvalModes:
    """Puts every submodule of ``f`` in eval mode and restores each module's own mode afterwards."""

    def __init__(self, f: Any) -> None:
        self.saved = [(m, m.training) for m in f.modules()] if isinstance(f, nn.Module) else []

    def __enter__(self) -> None:
        for module, _ in self.saved:
            module.training = False

    def __exit__(self, *exc: Any) -> None:
        for module, training in self.saved:
            module.training = training


def interception(f: Any, per_step: Sequence[Optional[_rules.BackwardRule]], proxy: str) -> Any:
    """The one gradient interception of a run, or ``None`` when every step is plain.

    ``proxify`` for modules (scoped to ``f``'s forward in this thread), ``rectifier_mode`` for other
    callables.  It starts plain (``use(None)``); the loop switches it to the step's rule for the
    forward that computes the gradient and back to plain right after.
    """
    first = next((rule for rule in per_step if rule is not None), None)
    if first is None:
        return None
    scope = proxify(f, first, mode=proxy) if isinstance(f, nn.Module) else rectifier_mode(first, proxy)
    scope.use(None)
    return scope
