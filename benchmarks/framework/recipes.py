"""The practitioners' activation-maximization recipes as built-in methods: Lucent-style and horama-style.

Written in the suite's own code from the recipes' published defaults (nothing vendored); every default
below names the public source it follows. A recipe is a frozen value (:class:`Lucent`, :class:`Horama`)
and :func:`run` runs it on ``f`` with the suite's contract (the same as ``proxygrad.maximize``):

For starts ``i = 1..N``, images of shape ``(C, H, W)`` and the box ``[lo, hi]``, a recipe optimizes a
spectrum ``z`` through its parametrization ``s = P(z)`` in the recipe's own image space ``[a, b]``;
the image the suite scores is the *adapter* ``A`` of it,

    x = A(s) = clamp(lo + (hi - lo) (s - a) / (b - a), lo, hi)         (in the box [lo, hi]^(C x H x W))

and each step ``t = 0..T-1`` is

    v_t = f(x_t)                                  the ORIGINAL f at x_t = A(P(z_t)), plain forward (trace[t])
    g_t = d/dz sum_k f(A(tau_{t,k}(P(z))))        at z_t, one transformed gradient forward per crop k
                                                  (``crops`` = 1 by default: one per step, as every
                                                  other method), under the ProxyGrad rule when given
    z_{t+1} = the optimizer's step from z_t along g_t (ascent, normalized, adam or a factory)

and ``trace[T] = f(x_T)``. ``tau_{t,k}`` are the recipe's random transforms of step ``t``, drawn from one
explicit ``torch.Generator('cpu').manual_seed(seed)`` (never the global RNG), the same draw for every start,
so a start runs the same alone as in a batch. Values are recorded only from the plain forward of the
untransformed image: never a transformed copy, never the proxy's value; ``best_value == f(best_input)``.
The transformed inputs the gradient forward sees may leave the box (horama's noise); the scored images never.

Budget: ``grad_evals = T * crops`` gradient forwards (equal to every other method's ``T`` at ``crops = 1``);
``forward_evals`` also counts the plain forward of every step. With the ProxyGrad rule ``r``
(``backward_slope``) the gradient forward runs inside one ``proxygrad.proxify`` scope (``rectifier_mode``
for a plain callable): the rule holds only during the gradient forward, so the forward value is the
network's own and only the backward changes (the paper's rule inside a practitioner's pipeline).

Starts. A recipe starts from its own published initial distribution, with the noise taken from the
suite's start ``x0`` (uniform in the box, seeded per unit): ``e = Phi^-1((x0 - lo) / (hi - lo))`` (clipped
to ``[1e-6, 1 - 1e-6]``) is i.i.d. standard normal per pixel, and ``z0 = sqrt(2) sd rfft2(e, ortho)`` (real
and imaginary parts): each component about ``N(0, sd^2)``, as the recipes draw their spectra. So every
variant of a recipe (plain or ProxyGrad) starts at the same image, a function of the suite's start alone;
the recipes' starts differ from the other methods' (their parametrizations cannot produce an arbitrary
image: horama's standardizes it), which the records show in ``f_start``.

Adapters (the record's ``method_adapter`` column, :func:`adapter_label`): the recipe's image space ``[a, b]``
is mapped affinely onto the box (Lucent ``[0, 1]``; horama ``values_range``); Lucent's final resize to
the network's input size takes the place of its upsampling to 224 pixels; colour (de)correlation applies
to 3-channel images only (the recipes' own rule for other channel counts in Lucent; horama supports RGB
only), so 1-channel images have none.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from proxygrad import AMResult, rules
from proxygrad.arguments import (EvalModes, build_optimizer, check_bounds, dtype_device, interception, optimizer_label,
                                 output_values, starting_points)
from proxygrad.checks import check_number
from proxygrad.tracking import BestSoFar, check_finite

from benchmarks.framework.recipe_images import Horama, Lucent

_EDGE = 1e-6

Recipe = Lucent | Horama
#: The recipes by name (a method kind's recipe: :mod:`benchmarks.framework.methods`).
RECIPES: dict[str, Recipe] = {"lucent": Lucent(), "horama": Horama()}


def adapter_label(recipe: Recipe, shape: tuple[int, ...], bounds: tuple[float, float]) -> str:
    """What the adapter does for images of ``shape`` in the box ``bounds`` (the records' ``method_adapter``)."""
    a, b = recipe.space
    lo, hi = bounds
    parts = [f"{recipe.name} image space [{a:g},{b:g}] -> box [{lo:g},{hi:g}] (affine)",
             recipe.color_note(int(shape[0]))]
    parts.append(recipe.size_note(int(shape[1]), int(shape[2])))
    if isinstance(recipe, Lucent):
        parts.append(f"transformed image resized to {shape[1]}x{shape[2]}")
    parts.append("own start from the suite's start noise")
    return "; ".join(parts)


def start_noise(x0: Tensor, bounds: tuple[float, float]) -> Tensor:
    """``Phi^-1((x0 - lo) / (hi - lo))`` clipped to ``[1e-6, 1 - 1e-6]``: standard normal per pixel for uniform ``x0``."""
    lo, hi = bounds
    unit = ((x0 - lo) / (hi - lo)).clamp(_EDGE, 1.0 - _EDGE)
    return math.sqrt(2.0) * torch.erfinv(2.0 * unit - 1.0)


@dataclass
class _Run:
    """A recipe run's resolved settings (every check done) and its moving spectrum ``variable``."""

    recipe: Recipe
    f: Any
    steps: int
    seed: int
    lr: float
    rule: rules.BackwardRule | None
    box: tuple[float, float]
    shape: tuple[int, ...]
    n: int
    variable: Tensor
    optimizer: str
    torch_optimizer: torch.optim.Optimizer | None

    def adapt(self, s: Tensor) -> Tensor:
        """``A(s)`` before the clamp: the recipe's image space mapped affinely onto the box."""
        (lo, hi), (a, b) = self.box, self.recipe.space
        return lo + (hi - lo) * (s - a) / (b - a)

    def scored(self, z: Tensor) -> Tensor:
        """The image the suite scores at the spectrum ``z``: ``A(P(z))`` clamped to the box."""
        return self.adapt(self.recipe.image(z, self.shape)).clamp(*self.box)


def _prepare(recipe: Any, f: Any, x0: Any, *, steps: Any, lr: Any, optimizer: Any, seed: Any, backward_slope: Any,
             bounds: Any, starts: Any, shape: Any, device: Any, dtype: Any) -> tuple[_Run, torch.dtype, torch.device]:
    """Check and resolve :func:`run`'s arguments (every ``ValueError`` before the first step)."""
    if not isinstance(recipe, (Lucent, Horama)):
        raise ValueError(f"recipe must be a Lucent or Horama value, got {recipe!r}")
    steps = check_number("steps", steps, integer=True, min=1)
    seed = check_number("seed", seed, integer=True, min=0)
    lr = check_number("lr", lr, min=0.0, min_exclusive=True)
    if not callable(f):
        raise ValueError(f"f must be an nn.Module or a callable, got {type(f).__name__}")
    box = check_bounds(bounds)
    rule = None if backward_slope is None else rules.as_rule(backward_slope)
    dtype, device = dtype_device(f, x0, dtype, device)
    x, shape, _ = starting_points(x0, shape, starts, seed, box, dtype, device)
    recipe.check(shape)
    label = optimizer_label(optimizer)
    variable = recipe.initial(start_noise(x, box)).detach().clone()
    job = _Run(recipe, f, steps, seed, lr, rule, box, shape, int(x.shape[0]), variable, label,
               build_optimizer(optimizer, variable, lr))
    return job, dtype, device


def _gradient(job: _Run, scope: Any, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One step's gradient ``g_t`` of ``sum_k f(A(tau_k(P(z))))`` at ``z_t`` (under the rule when given) and
    the recipe's image ``s_t = P(z_t)``."""
    z_in = job.variable.detach().requires_grad_(True)
    s = job.recipe.image(z_in, job.shape)
    total = None
    for k in range(int(getattr(job.recipe, "crops", 1))):
        inputs = job.adapt(job.recipe.transform(s, generator, k))
        if scope is not None:
            scope.use(job.rule)
        try:
            out = output_values(job.f(inputs), job.n)
        finally:
            if scope is not None:
                scope.use(None)
        total = out.sum() if total is None else total + out.sum()
    (grad,) = torch.autograd.grad(total, z_in, allow_unused=True)
    return (torch.zeros_like(z_in) if grad is None else grad), s


def _move(job: _Run, grad: Tensor) -> None:
    """``job.variable`` one optimizer step along ``grad``."""
    with torch.no_grad():
        if job.torch_optimizer is not None:
            negate = not job.torch_optimizer.defaults.get("maximize", False)
            job.variable.grad = -grad if negate else grad
            job.torch_optimizer.step()
            job.variable.grad = None
        elif job.optimizer == "normalized":
            n = job.n
            norm = grad.reshape(n, -1).norm(dim=1).view((n,) + (1,) * (grad.dim() - 1))
            job.variable = job.variable + job.lr * torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1), 0)
        else:
            job.variable = job.variable + job.lr * grad


def run(recipe: Recipe, f: Callable[[Tensor], Tensor], x0: Tensor | None = None, *, steps: int, lr: float,
        optimizer: Any = "adam", seed: int = 0, backward_slope: Any = None, bounds: tuple[float, float] = (-1.0, 1.0),
        starts: int = 1, shape: Any = None, callback: Callable[..., None] | None = None, device: Any = None,
        dtype: torch.dtype | None = None, progress: bool = False) -> Any:
    """Run ``recipe`` on ``f`` from the suite's starts ``x0`` (or ``starts`` uniform starts of ``shape`` drawn
    as ``maximize`` draws them) for ``steps`` steps; a ``proxygrad.AMResult`` whose every value is the
    original ``f`` at an image in the box (see the module doc). ``backward_slope``: ``None`` (the recipe's
    own autograd gradient) or a ProxyGrad rule (a float slope or a ``BackwardRule``) for the gradient forward.
    ``progress`` is accepted for ``maximize``'s signature and ignored. ValueError naming a bad argument.
    """
    job, dtype, device = _prepare(recipe, f, x0, steps=steps, lr=lr, optimizer=optimizer, seed=seed,
                                  backward_slope=backward_slope, bounds=bounds, starts=starts, shape=shape,
                                  device=device, dtype=dtype)
    generator = torch.Generator(device="cpu").manual_seed(job.seed)
    crops = int(getattr(recipe, "crops", 1))
    best = BestSoFar(job.steps, job.n, dtype, device, observer=callback)
    grad_evals = forward_evals = 0
    scope = interception(f, [job.rule], "mixed")
    start_time = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(EvalModes(f))
        if scope is not None:
            stack.enter_context(scope)
        for t in range(job.steps):
            grad, s = _gradient(job, scope, generator)
            grad_evals += crops
            x_t = job.adapt(s.detach()).clamp(*job.box)
            with torch.no_grad():
                value = output_values(f(x_t), job.n)
            forward_evals += crops + 1
            check_finite("value of f", value, t)
            best.record(t, value, x_t)
            check_finite("gradient", grad, t)
            _move(job, grad)
        with torch.no_grad():
            final = job.scored(job.variable.detach())
            value = output_values(f(final), job.n)
        forward_evals += 1
        check_finite("value of f", value, job.steps)
        best.record(job.steps, value, final)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    config = {"steps": job.steps, "lr": job.lr, "optimizer": job.optimizer,
              "backward_slope": None if job.rule is None else job.rule.label,
              "proxy": "mixed" if job.rule is not None else None, "recipe": repr(recipe),
              "adapter": adapter_label(recipe, job.shape, job.box), "crops": crops, "bounds": list(job.box),
              "starts": job.n, "shape": list(job.shape), "seed": job.seed,
              "x0": "recipe start from the suite's start noise",
              "dtype": str(dtype).replace("torch.", ""), "device": str(device)}
    return AMResult(best_value=best.best_value, best_input=best.best_input, best_step=best.best_step,
                    value=value.clone(), final_input=final, trace=best.trace, grad_evals=grad_evals,
                    forward_evals=forward_evals, seconds=time.perf_counter() - start_time, config=config)
