"""Activation maximization (AM) with plain or ProxyGrad gradients: :func:`maximize`.

Given ``f: [N, *shape] -> [N]`` and the box ``B = [lo, hi]^shape``, every start ``i`` runs, for
``t = 0 .. T-1``,

    v_t = f(x_t)                                 (the ORIGINAL function's value, recorded in ``trace[t]``)
    g_t = grad of f at x_t under the step's rule (plain autograd, or the proxy's backward)
    d_t = g_t                       "ascent"     (the paper's update)
        = g_t / ||g_t||_2           "normalized" (per start; 0 when g_t = 0)
        = Adam's step direction     "adam"       (torch.optim.Adam, maximize=True)
        = the factory's step        a callable   (``params -> torch.optim.Optimizer``, ascending f)
    x_{t+1} = P_B(R(x_t + lr * d_t))             (R: the regularizers in order, P_B: clamp to the box)

and ``trace[T] = f(x_T)``, for ``T >= 1`` steps and ``lr > 0``.  With an input parametrization
``param`` the steps move ``z`` instead (``z_{t+1} = z_t + lr * d_t`` with ``g_t`` the gradient with
respect to ``z``) and ``x_t = param(z_t)``, inside the box by construction.  One interception
(``proxify`` for a module, ``rectifier_mode`` for a callable) is opened per call; its rule follows the
schedule step by step and is off outside the gradient forward (so the original's values, and the
``callback(t, x_t, v_t)`` observer, see the plain function).

The result keeps, per start, the best value ``max_t v_t`` of the original function, the first step
reaching it and the input there, so ``best_value == f(best_input)``.
Starts never interact: modules run in eval mode and every per-start quantity is computed row by row.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import rules as _rules
from .parametrizations import Parametrization
from .proxify import proxify, rectifier_mode
from .regularizers import Regularizer
from .schedules import Schedule, as_schedule

__all__ = ["maximize", "AMResult", "NonFiniteError", "OPTIMIZERS", "PROXY_MODES"]

OPTIMIZERS: tuple[str, ...] = ("ascent", "normalized", "adam")
PROXY_MODES: tuple[str, ...] = ("mixed", "network")


class NonFiniteError(ArithmeticError):
    """A value or gradient of ``f`` was NaN or infinite; ``step`` and ``start`` say where."""

    def __init__(self, what: str, step: int, start: int, value: float) -> None:
        super().__init__(f"non-finite {what} at step {step}, start {start} (value {value})")
        self.what = what
        self.step = step
        self.start = start


@dataclass
class AMResult:
    """Outcome of :func:`maximize` for ``N`` starts and ``T`` steps.

    best_value [N]: ``max_t f(x_t)`` of the original function; best_input [N, *shape]: ``x_t`` there;
    best_step [N] (int64): the first ``t`` reaching it; value [N]: ``f(x_T)``; final_input: ``x_T``;
    trace [T+1, N]: ``f(x_t)`` for ``t = 0..T``; grad_evals: backward passes; forward_evals: forward
    passes (the proxy network's and the original's both count); seconds: wall time; config: the
    resolved settings (JSON-able).
    """

    best_value: Tensor
    best_input: Tensor
    best_step: Tensor
    value: Tensor
    final_input: Tensor
    trace: Tensor
    grad_evals: int
    forward_evals: int
    seconds: float
    config: dict


# ----------------------------------------------------------------------------------------------
# validation (everything here runs before the first step)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_bounds(bounds: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lo, hi) of numbers, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    return lo, hi


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"shape must be a non-empty tuple of ints >= 1, got {shape!r}")
    return dims


def _module_tensor(f: Any) -> Optional[Tensor]:
    """The first floating parameter (else buffer) of ``f`` when it is a module, else ``None``."""
    if isinstance(f, nn.Module):
        for tensor in list(f.parameters()) + list(f.buffers()):
            if torch.is_floating_point(tensor):
                return tensor
    return None


def _resolve_rules(backward_slope: Any, steps: int, proxy: str) -> tuple[list[Optional[_rules.BackwardRule]], str]:
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


def _values(out: Any, n: int) -> Tensor:
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


def _check_finite(what: str, tensor: Tensor, step: int) -> None:
    """Raise :class:`NonFiniteError` at the first start whose row of ``tensor`` is not all finite."""
    finite = torch.isfinite(tensor.reshape(tensor.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        start = int((~finite).nonzero()[0, 0])
        row = tensor[start].reshape(-1)
        bad = row[~torch.isfinite(row)][0]
        raise NonFiniteError(what, step, start, float(bad))


# ----------------------------------------------------------------------------------------------
# the loop


class _Modes:
    """Puts every submodule of ``f`` in eval mode and restores each module's own mode afterwards."""

    def __init__(self, f: Any) -> None:
        self.saved = [(m, m.training) for m in f.modules()] if isinstance(f, nn.Module) else []

    def __enter__(self) -> None:
        for module, _ in self.saved:
            module.training = False

    def __exit__(self, *exc: Any) -> None:
        for module, training in self.saved:
            module.training = training


def _interception(f: Any, per_step: Sequence[Optional[_rules.BackwardRule]], proxy: str) -> Any:
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


def _optimizer_label(optimizer: Any) -> str:
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


def _build_optimizer(optimizer: Any, variable: Tensor, lr: float) -> Optional[torch.optim.Optimizer]:
    """A ``torch.optim`` optimizer over ``[variable]`` for ``"adam"`` and factories, else ``None``."""
    if optimizer == "adam":
        return torch.optim.Adam([variable], lr=lr, maximize=True)
    if isinstance(optimizer, str):
        return None
    built = optimizer([variable])
    if not isinstance(built, torch.optim.Optimizer):
        raise ValueError(f"the optimizer factory must return a torch.optim.Optimizer, got {type(built).__name__}")
    return built


def _first_forward(f: Any, x: Tensor, shape: tuple[int, ...]) -> Any:
    """``f(x)`` at the first step; a shape ``f`` cannot take raises ``ValueError`` naming it."""
    try:
        return f(x)
    except (RuntimeError, IndexError) as err:
        raise ValueError(f"f cannot take inputs of shape {tuple(shape)} per start (batch {tuple(x.shape)}): "
                         f"{err}") from err


def maximize(
    f: Union[nn.Module, Callable[[Tensor], Tensor]],
    x0: Optional[Tensor] = None,
    *,
    shape: Optional[Union[int, Sequence[int]]] = None,
    starts: int = 1,
    seed: int = 0,
    steps: int = 256,
    lr: float = 0.05,
    optimizer: Union[str, Callable[[list[Tensor]], torch.optim.Optimizer]] = "ascent",
    backward_slope: Any = None,
    proxy: str = "mixed",
    bounds: tuple[float, float] = (-1.0, 1.0),
    regularizers: Sequence[Regularizer] = (),
    param: Optional[Parametrization] = None,
    callback: Optional[Callable[[int, Tensor, Tensor], None]] = None,
    device: Optional[Union[str, torch.device]] = None,
    dtype: Optional[torch.dtype] = None,
    progress: bool = False,
) -> AMResult:
    """Maximize ``f`` over the box ``[lo, hi]^shape`` from ``N`` independent starts (see the module doc).

    Args:
        f: ``nn.Module`` or callable mapping ``[N, *shape]`` to ``[N]`` (``[N, 1]`` accepted).
        x0: starts ``[N, *shape]`` inside the box; else ``starts`` points drawn uniformly in the box
            by ``torch.Generator('cpu').manual_seed(seed)``.
        steps: number of gradient steps ``T``, an int >= 1.
        lr: step size, a finite number > 0 (a factory optimizer sets its own step size; ``lr`` is
            still checked and recorded).
        optimizer: ``"ascent"`` (``x + lr g``), ``"normalized"`` (``x + lr g / ||g||``), ``"adam"``,
            or a factory ``params -> torch.optim.Optimizer`` (for example
            ``lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)``).  A factory's optimizer minimizes
            ``-f`` unless it was built with ``maximize=True``; it must treat elements independently
            (SGD, Adam, RMSprop, ...) for starts to stay independent.
        backward_slope: ``None`` (plain gradient), a float slope, a ``BackwardRule``, a
            ``schedules.Schedule`` or a callable ``step -> float | BackwardRule | None``.  One
            interception is opened per call; its rule follows the schedule step by step.
        proxy: ``"mixed"`` (original forward, proxy backward: one pass) or ``"network"`` (gradient of
            the Leaky-ReLU proxy network; the original value costs a second, gradient-free forward).
        bounds: ``(lo, hi)`` of the box.
        regularizers: ``proxygrad.regularizers`` objects ``R`` applied in order after each update
            (not with ``param``).
        param: an input parametrization ``x = param(z)`` (:mod:`proxygrad.parametrizations`): the
            steps move ``z`` (from ``z_0 = param.initial(x_0)``) and every value is the original
            ``f`` at ``x_t = param(z_t)``, checked to lie in the box.
        callback: ``callback(t, x_t, v_t)`` for ``t = 0 .. T``, called once ``v_t = f(x_t)`` (the
            original function's value, ``trace[t]``) is known; it gets copies, and its own calls
            run without the proxy.
        device, dtype: where and in which precision to run; default: those of ``f``'s parameters,
            else of ``x0``, else CPU and float32.
        progress: show a tqdm bar.

    Raises:
        ValueError: bad arguments or shapes (a shape ``f`` cannot take is named), before any step.
        NonFiniteError: a non-finite value or gradient, naming the step and the start.
    """
    # --- arguments
    steps = _check_int("steps", steps, 1)
    seed = _check_int("seed", seed, 0)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    optimizer_label = _optimizer_label(optimizer)
    if proxy not in PROXY_MODES:
        raise ValueError(f"proxy must be one of {PROXY_MODES}, got {proxy!r}")
    if not callable(f):
        raise ValueError(f"f must be an nn.Module or a callable, got {type(f).__name__}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be a callable (step, x, value), got {callback!r}")
    if param is not None and not isinstance(param, Parametrization):
        raise ValueError(f"param must be a proxygrad.parametrizations.Parametrization, got {param!r}")
    lo, hi = _check_bounds(bounds)
    regularizers = tuple(regularizers)
    for reg in regularizers:
        if not isinstance(reg, Regularizer):
            raise ValueError(f"regularizers must be proxygrad.regularizers objects, got {reg!r}")
    if param is not None and regularizers:
        raise ValueError(f"regularizers act on x and cannot be combined with param={param.label}")
    per_step, slope_label = _resolve_rules(backward_slope, steps, proxy)

    reference = _module_tensor(f)
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
    device = torch.device(device)

    if x0 is None:
        if shape is None:
            raise ValueError("give x0 or shape")
        shape = _check_shape(shape)
        n = _check_int("starts", starts, 1)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x = lo + (hi - lo) * torch.rand((n, *shape), generator=generator, dtype=dtype)
        x = x.to(device)
        start_source = "uniform"
    else:
        if not isinstance(x0, Tensor) or x0.dim() < 2:
            raise ValueError(f"x0 must be a tensor [N, *shape], got {getattr(x0, 'shape', x0)!r}")
        n = x0.shape[0]
        if shape is not None and tuple(x0.shape[1:]) != _check_shape(shape):
            raise ValueError(f"x0 has shape {tuple(x0.shape)}, which does not match shape={shape!r}")
        if starts not in (1, n):
            raise ValueError(f"starts={starts!r} does not match the {n} rows of x0")
        if n < 1:
            raise ValueError("x0 has no rows")
        shape = tuple(x0.shape[1:])
        x = x0.detach().to(device=device, dtype=dtype).clone()
        if not bool(torch.isfinite(x).all()) or bool((x < lo).any()) or bool((x > hi).any()):
            low, high = float(x0.min()), float(x0.max())
            raise ValueError(f"x0 must lie in the box [{lo}, {hi}], got values in [{low}, {high}]")
        start_source = "given"
    shape = tuple(shape)
    for reg in regularizers:
        reg.check(shape)

    # the optimized variable: x itself, or z with x = param(z)
    if param is None:
        variable = x
        to_input: Callable[[Tensor], Tensor] = lambda v: v  # noqa: E731
    else:
        param.check(shape)
        variable = param.initial(x, (lo, hi)).detach().clone()
        to_input = lambda v: param(v, (lo, hi), shape)  # noqa: E731
        with torch.no_grad():
            x_start = to_input(variable)
        if tuple(x_start.shape) != (n, *shape) or x_start.dtype != dtype:
            raise ValueError(f"param {param.label} gives {tuple(x_start.shape)} {x_start.dtype}, "
                             f"not {(n, *shape)} {dtype}")
        if not bool(torch.isfinite(x_start).all()) or bool((x_start < lo).any()) or bool((x_start > hi).any()):
            raise ValueError(f"param {param.label} leaves the box [{lo}, {hi}] at the starts")
    torch_optimizer = _build_optimizer(optimizer, variable, float(lr))
    negate_gradient = torch_optimizer is not None and not torch_optimizer.defaults.get("maximize", False)

    config = {
        "steps": steps, "lr": float(lr), "optimizer": optimizer_label, "backward_slope": slope_label,
        "proxy": proxy, "bounds": [lo, hi], "regularizers": [r.label for r in regularizers],
        "starts": n, "shape": list(shape), "seed": seed, "x0": start_source,
        "dtype": str(dtype).replace("torch.", ""), "device": str(device),
    }
    if param is not None:
        config["param"] = param.label

    # --- run
    reg_generator = torch.Generator(device="cpu").manual_seed(seed)
    trace = torch.empty((steps + 1, n), dtype=dtype, device=device)
    best_value = torch.full((n,), -math.inf, dtype=dtype, device=device)
    best_input = x.clone()
    best_step = torch.zeros(n, dtype=torch.int64, device=device)
    grad_evals = forward_evals = 0
    expand = (n,) + (1,) * len(shape)
    var_expand = (n,) + (1,) * (variable.dim() - 1)
    scope = _interception(f, per_step, proxy)

    def record(t: int, v: Tensor, at: Tensor) -> None:
        nonlocal best_value, best_input, best_step
        trace[t] = v
        improved = v > best_value
        best_value = torch.where(improved, v, best_value)
        best_step = torch.where(improved, torch.full_like(best_step, t), best_step)
        best_input = torch.where(improved.view(expand), at, best_input)
        if callback is not None:
            callback(t, at.clone(), v.clone())

    start_time = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_Modes(f))
        if scope is not None:
            stack.enter_context(scope)
        bar = stack.enter_context(tqdm(total=steps, disable=not progress, desc="maximize"))
        for t in range(steps):
            rule = per_step[t]
            var_in = variable.detach().requires_grad_(True)
            x_in = to_input(var_in)
            if scope is not None:
                scope.use(rule)
            try:
                out = _values(_first_forward(f, x_in, shape) if t == 0 else f(x_in), n)
            finally:
                if scope is not None:
                    scope.use(None)
            if not out.requires_grad:
                raise ValueError("f's output does not depend on its input through autograd")
            (grad,) = torch.autograd.grad(out.sum(), var_in, allow_unused=True)
            if grad is None:
                grad = torch.zeros_like(var_in)
            grad_evals += 1
            forward_evals += 1
            x_at = x_in.detach()
            if rule is not None and proxy == "network":
                with torch.no_grad():
                    value = _values(f(x_at), n)
                forward_evals += 1
            else:
                value = out.detach()
            _check_finite("value of f", value, t)
            _check_finite("gradient", grad, t)
            record(t, value, x_at)

            with torch.no_grad():
                if torch_optimizer is not None:
                    variable.grad = -grad if negate_gradient else grad
                    torch_optimizer.step()
                    moved = variable
                elif optimizer == "normalized":
                    norm = grad.reshape(n, -1).norm(dim=1).view(var_expand)
                    direction = torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1), 0)
                    moved = variable + lr * direction
                else:
                    moved = variable + lr * grad
                if param is None:
                    for reg in regularizers:
                        moved = reg(moved, t, reg_generator)
                    moved = moved.clamp(lo, hi)
                if torch_optimizer is not None:
                    variable.copy_(moved)
                    variable.grad = None
                else:
                    variable = moved
            if progress:
                bar.set_postfix(best=float(best_value.max()))
            bar.update(1)

        with torch.no_grad():
            final = to_input(variable.detach()).clone()
            value = _values(f(final), n)
        forward_evals += 1
        _check_finite("value of f", value, steps)
        record(steps, value, final)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start_time

    return AMResult(
        best_value=best_value, best_input=best_input, best_step=best_step, value=value.clone(),
        final_input=final, trace=trace, grad_evals=grad_evals, forward_evals=forward_evals,
        seconds=seconds, config=config,
    )
