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
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import rules as _rules
from .arguments import (OPTIMIZERS, PROXY_MODES, EvalModes, build_optimizer, check_arguments, dtype_device,
                        interception, optimized_variable, output_values, resolve_rules, starting_points)
from .checks import check_number
from .parametrizations import Parametrization
from .regularizers import Regularizer
from .tracking import BestSoFar, NonFiniteError, check_finite

__all__ = ["maximize", "AMResult", "NonFiniteError", "OPTIMIZERS", "PROXY_MODES"]


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
# the loop


def _first_forward(f: Any, x: Tensor, shape: tuple[int, ...]) -> Any:
    """``f(x)`` at the first step; a shape ``f`` cannot take raises ``ValueError`` naming it."""
    try:
        return f(x)
    except (RuntimeError, IndexError) as err:
        raise ValueError(f"f cannot take inputs of shape {tuple(shape)} per start (batch {tuple(x.shape)}): "
                         f"{err}") from err


@dataclass
class _Run:
    """A run's resolved settings (every check done) and its moving state ``variable``."""

    f: Any
    steps: int
    seed: int
    lr: Any
    optimizer: Any
    proxy: str
    box: tuple[float, float]
    regularizers: tuple[Regularizer, ...]
    param: Optional[Parametrization]
    per_step: list[Optional[_rules.BackwardRule]]
    n: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    variable: Tensor
    to_input: Callable[[Tensor], Tensor]
    torch_optimizer: Optional[torch.optim.Optimizer]
    negate_gradient: bool
    config: dict


def _prepare(f: Any, x0: Any, *, shape: Any, starts: Any, seed: Any, steps: Any, lr: Any, optimizer: Any,
             backward_slope: Any, proxy: str, bounds: Any, regularizers: Sequence[Regularizer], param: Any,
             callback: Any, device: Any, dtype: Any) -> _Run:
    """Check and resolve :func:`maximize`'s arguments (every ``ValueError`` before the first step)."""
    steps = check_number("steps", steps, integer=True, min=1)
    seed = check_number("seed", seed, integer=True, min=0)
    optimizer_label, box, regularizers = check_arguments(f, lr, optimizer, proxy, callback, param, bounds,
                                                          regularizers)
    per_step, slope_label = resolve_rules(backward_slope, steps, proxy)
    dtype, device = dtype_device(f, x0, dtype, device)
    x, shape, start_source = starting_points(x0, shape, starts, seed, box, dtype, device)
    for reg in regularizers:
        reg.check(shape)
    variable, to_input = optimized_variable(param, x, box)
    config = {
        "steps": steps, "lr": float(lr), "optimizer": optimizer_label, "backward_slope": slope_label,
        "proxy": proxy, "bounds": list(box), "regularizers": [r.label for r in regularizers],
        "starts": int(x.shape[0]), "shape": list(shape), "seed": seed, "x0": start_source,
        "dtype": str(dtype).replace("torch.", ""), "device": str(device),
    }
    if param is not None:
        config["param"] = param.label
    torch_optimizer = build_optimizer(optimizer, variable, float(lr))
    negate_gradient = torch_optimizer is not None and not torch_optimizer.defaults.get("maximize", False)
    return _Run(f, steps, seed, lr, optimizer, proxy, box, regularizers, param, per_step, int(x.shape[0]), shape,
                dtype, device, variable, to_input, torch_optimizer, negate_gradient, config)


def _gradient_step(run: _Run, scope: Any, t: int) -> tuple[Tensor, Tensor, Tensor, int]:
    """Step ``t``'s forward under its rule: ``(v_t, x_t, g_t, forward passes)``, both checked finite."""
    rule = run.per_step[t]
    var_in = run.variable.detach().requires_grad_(True)
    x_in = run.to_input(var_in)
    if scope is not None:
        scope.use(rule)
    try:
        out = output_values(_first_forward(run.f, x_in, run.shape) if t == 0 else run.f(x_in), run.n)
    finally:
        if scope is not None:
            scope.use(None)
    if not out.requires_grad:
        raise ValueError("f's output does not depend on its input through autograd")
    (grad,) = torch.autograd.grad(out.sum(), var_in, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(var_in)
    x_at = x_in.detach()
    forwards = 1
    if rule is not None and run.proxy == "network":
        with torch.no_grad():
            value = output_values(run.f(x_at), run.n)
        forwards += 1
    else:
        value = out.detach()
    check_finite("value of f", value, t)
    check_finite("gradient", grad, t)
    return value, x_at, grad, forwards


def _move(run: _Run, grad: Tensor, t: int, reg_generator: torch.Generator) -> None:
    """``run.variable`` one step along ``grad`` (then the regularizers and the box when it is ``x``)."""
    variable, lr = run.variable, run.lr
    with torch.no_grad():
        if run.torch_optimizer is not None:
            variable.grad = -grad if run.negate_gradient else grad
            run.torch_optimizer.step()
            moved = variable
        elif run.optimizer == "normalized":
            norm = grad.reshape(run.n, -1).norm(dim=1).view((run.n,) + (1,) * (variable.dim() - 1))
            direction = torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1), 0)
            moved = variable + lr * direction
        else:
            moved = variable + lr * grad
        if run.param is None:
            for reg in run.regularizers:
                moved = reg(moved, t, reg_generator)
            moved = moved.clamp(*run.box)
        if run.torch_optimizer is not None:
            variable.copy_(moved)
            variable.grad = None
        else:
            run.variable = moved


def _loop(run: _Run, callback: Any, progress: bool) -> AMResult:
    """The steps ``t = 0..T-1`` and the final value ``f(x_T)`` (see the module doc)."""
    reg_generator = torch.Generator(device="cpu").manual_seed(run.seed)
    best = BestSoFar(run.steps, run.n, run.dtype, run.device, observer=callback)
    grad_evals = forward_evals = 0
    scope = interception(run.f, run.per_step, run.proxy)
    start_time = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(EvalModes(run.f))
        if scope is not None:
            stack.enter_context(scope)
        bar = stack.enter_context(tqdm(total=run.steps, disable=not progress, desc="maximize"))
        for t in range(run.steps):
            value, x_at, grad, forwards = _gradient_step(run, scope, t)
            grad_evals += 1
            forward_evals += forwards
            best.record(t, value, x_at)
            _move(run, grad, t, reg_generator)
            if progress:
                bar.set_postfix(best=float(best.best_value.max()))
            bar.update(1)
        with torch.no_grad():
            final = run.to_input(run.variable.detach()).clone()
            value = output_values(run.f(final), run.n)
        forward_evals += 1
        check_finite("value of f", value, run.steps)
        best.record(run.steps, value, final)
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    return AMResult(
        best_value=best.best_value, best_input=best.best_input, best_step=best.best_step, value=value.clone(),
        final_input=final, trace=best.trace, grad_evals=grad_evals, forward_evals=forward_evals,
        seconds=time.perf_counter() - start_time, config=run.config,
    )


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
    run = _prepare(f, x0, shape=shape, starts=starts, seed=seed, steps=steps, lr=lr, optimizer=optimizer,
                   backward_slope=backward_slope, proxy=proxy, bounds=bounds, regularizers=regularizers, param=param,
                   callback=callback, device=device, dtype=dtype)
    return _loop(run, callback, progress)
