"""The ProxyGrad op: a rectifier whose forward value is unchanged and whose backward follows a rule.

Forward (bit-identical to PyTorch's own op):

    y = relu(x)                       forward_slope = 0
    y = leaky_relu(x, forward_slope)  forward_slope > 0
    y = hardtanh(x, 0, upper)         ReLU6-style clip (upper = 6)

Backward with the slope rule ``s`` (the proxy network's Leaky ReLU slope):

    dL/dx = dL/dy             where x > 0   (and x < upper; 0 at and above upper)
    dL/dx = s * dL/dy         where x <= 0  (PyTorch's leaky_relu convention at 0)

Memory: the slope and redirected rules save exactly the tensor PyTorch's own rectifier saves (the
output of ``relu``, ``relu_`` and of every in-place call; the input of out-of-place ``leaky_relu`` and
``hardtanh``/``relu6``), since ``y > 0`` exactly where ``x > 0`` and ``y >= upper`` exactly where
``x >= upper``: no mask and no second read of ``x`` in the forward.  Their memory and in-place
restrictions are those of the plain op.  A rule with a factor function (the surrogate rules of SUGAR)
needs the input values on the negative side and saves the input (an in-place call saves a copy of it).

Dispatch: :func:`rectify` looks the rule's form up in :data:`FUNCTIONS` (``slope``, ``redirected``, or
``factor`` for every rule that carries its factor function ``r(x)``); no rule is named here.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rules import BackwardRule, RuleLike, as_rule, check_slope

__all__ = ["proxy_relu", "ProxyReLU", "rectify"]


def _forward_value(x: Tensor, forward_slope: float, upper: Optional[float], inplace: bool) -> Tensor:
    """The unchanged forward value, computed with PyTorch's own kernels."""
    if upper is not None:
        return F.hardtanh_(x, 0.0, upper) if inplace else F.hardtanh(x, 0.0, upper)
    if forward_slope == 0.0:
        return torch.relu_(x) if inplace else torch.relu(x)
    return F.leaky_relu_(x, forward_slope) if inplace else F.leaky_relu(x, forward_slope)


def _saves_output(forward_slope: float, upper: Optional[float], inplace: bool) -> bool:
    """Whether PyTorch's own op saves its output (else its input) for the backward pass.

    ``relu`` / ``relu_`` and every in-place rectifier save the output; out-of-place ``leaky_relu`` and
    ``hardtanh`` (``relu6``) save the input.  The op saves the same tensor, so it keeps exactly the
    memory, and the in-place restrictions, of the op it stands in for.
    """
    return inplace or (forward_slope == 0.0 and upper is None)


def _slope_backward(grad: Tensor, saved: Tensor, upper: Optional[float], s: float) -> Tensor:
    """dL/dx for the slope rule from the saved input or output ``saved``.

    ``saved > 0`` exactly where ``x > 0`` (the output of ReLU, of Leaky ReLU with a slope >= 0 and of
    ``hardtanh(x, 0, upper)`` is positive exactly where the input is), and ``saved >= upper`` exactly
    where ``x >= upper``.  One fused kernel gives ``grad`` where ``saved > 0`` and ``s * grad`` elsewhere.
    """
    grad_in = torch.ops.aten.leaky_relu_backward(grad, saved, s, False)
    if upper is not None:
        grad_in = grad_in.masked_fill(saved >= upper, 0)
    return grad_in


def _forward_saving(ctx, x: Tensor, forward_slope: float, upper: Optional[float], inplace: bool) -> Tensor:
    """Run the forward value and save what PyTorch's own op saves (see :func:`_saves_output`)."""
    out = _forward_value(x, forward_slope, upper, inplace)
    if inplace:
        ctx.mark_dirty(x)
    ctx.save_for_backward(out if _saves_output(forward_slope, upper, inplace) else x)
    ctx.upper = upper
    return out


class _SlopeFunction(torch.autograd.Function):
    """Forward unchanged; backward factor 1 on x > 0 and a constant ``s`` on x <= 0.

    Memory: the one tensor PyTorch's own rectifier saves (its output for ``relu``, ``relu_`` and every
    in-place call; its input for out-of-place ``leaky_relu`` and ``hardtanh``/``relu6``), nothing else.
    """

    @staticmethod
    def forward(ctx, x: Tensor, forward_slope: float, backward_slope: float,
                upper: Optional[float], inplace: bool) -> Tensor:
        ctx.backward_slope = backward_slope
        return _forward_saving(ctx, x, forward_slope, upper, inplace)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (saved,) = ctx.saved_tensors
        return _slope_backward(grad, saved, ctx.upper, ctx.backward_slope), None, None, None, None


class _FactorFunction(torch.autograd.Function):
    """Forward unchanged; backward factor 1 on x > 0 and the rule's factor ``r(x)`` on x <= 0
    (``rule.negative_factor``, e.g. a SUGAR surrogate derivative).

    Memory: the input ``x`` (the surrogate needs its negative values, which the output of a ReLU no
    longer holds): one tensor like ``x`` per call; an in-place call saves a copy of ``x`` made before
    the overwrite.  Against plain ReLU (which saves its output, usually kept by the next layer anyway)
    this is one extra tensor of the input's size per rectifier.
    """

    @staticmethod
    def forward(ctx, x: Tensor, forward_slope: float, rule: BackwardRule,
                upper: Optional[float], inplace: bool) -> Tensor:
        saved_input = x.clone() if inplace else x
        out = _forward_value(x, forward_slope, upper, inplace)
        if inplace:
            ctx.mark_dirty(x)
        ctx.rule = rule
        ctx.upper = upper
        ctx.save_for_backward(saved_input)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        # where(x > 0, grad, grad * factor), in the factor's buffer
        grad_in = ctx.rule.negative_factor(x).mul_(grad)
        grad_in = torch.where(x > 0, grad, grad_in, out=grad_in)
        if ctx.upper is not None:
            grad_in = grad_in.masked_fill_(x >= ctx.upper, 0)
        return grad_in, None, None, None, None


class _RedirectedFunction(torch.autograd.Function):
    """Forward unchanged; Lucid's redirected gradient when the plain gradient of a batch item is all zero.

    Memory: as :class:`_SlopeFunction`, the one tensor PyTorch's own rectifier saves.
    """

    @staticmethod
    def forward(ctx, x: Tensor, forward_slope: float, upper: Optional[float], inplace: bool) -> Tensor:
        ctx.forward_slope = forward_slope
        return _forward_saving(ctx, x, forward_slope, upper, inplace)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (saved,) = ctx.saved_tensors
        plain = _slope_backward(grad, saved, ctx.upper, ctx.forward_slope)
        if plain.dim() == 0:
            alive = plain != 0
        else:
            alive = plain.reshape(plain.shape[0], -1).ne(0).any(dim=1)
            alive = alive.reshape((-1,) + (1,) * (plain.dim() - 1))
        if plain.device.type == "cpu" and bool(alive.all()):
            return plain, None, None, None  # no batch item needs the redirection (a free check on CPU)
        redirected = torch.where((saved > 0) | (grad > 0), grad, 0.0)
        if ctx.upper is not None:
            redirected = redirected.masked_fill_(saved >= ctx.upper, 0)
        return torch.where(alive, plain, redirected), None, None, None


def _apply_slope(x: Tensor, rule: BackwardRule, forward_slope: float, upper: Optional[float],
                 inplace: bool) -> Tensor:
    """The slope rule: factor ``rule.constant_slope`` on ``x <= 0`` (:class:`_SlopeFunction`)."""
    return _SlopeFunction.apply(x, forward_slope, rule.constant_slope, upper, inplace)


def _apply_factor(x: Tensor, rule: BackwardRule, forward_slope: float, upper: Optional[float],
                  inplace: bool) -> Tensor:
    """A rule with a factor function: factor ``rule.negative_factor(x)`` on ``x <= 0`` (:class:`_FactorFunction`)."""
    return _FactorFunction.apply(x, forward_slope, rule, upper, inplace)


def _apply_redirected(x: Tensor, rule: BackwardRule, forward_slope: float, upper: Optional[float],
                      inplace: bool) -> Tensor:
    """Lucid's redirected ReLU (:class:`_RedirectedFunction`; the rule has no parameters)."""
    return _RedirectedFunction.apply(x, forward_slope, upper, inplace)


Apply = Callable[[Tensor, BackwardRule, float, Optional[float], bool], Tensor]

FUNCTIONS: dict[str, Apply] = {"slope": _apply_slope, "factor": _apply_factor, "redirected": _apply_redirected}
"""Rule form (:attr:`proxygrad.rules.BackwardRule.form`) -> ``apply(x, rule, forward_slope, upper, inplace)``:
the one table :func:`rectify` dispatches through.  A rule with a factor function needs no entry of its own."""


def rectify(x: Tensor, rule: RuleLike, *, forward_slope: float = 0.0, upper: Optional[float] = None,
            inplace: bool = False) -> Tensor:
    """Apply a rectifier whose forward value is unchanged and whose backward follows ``rule``.

    Args:
        x: input of any shape, dtype float16/bfloat16/float32/float64, on any device.
        rule: a :class:`~proxygrad.rules.BackwardRule` or a slope number (ProxyGrad).
        forward_slope: the rectifier's own negative slope (0 for ReLU, e.g. 0.01 for Leaky ReLU).
        upper: the upper clip of a ReLU6-style rectifier (forward ``hardtanh(x, 0, upper)``).
        inplace: modify ``x`` in place, as ``F.relu(x, inplace=True)`` does.
    """
    rule = as_rule(rule)
    forward_slope = check_slope(forward_slope, "forward_slope")
    if upper is not None and forward_slope != 0.0:
        raise ValueError(f"an upper clip needs forward_slope 0, got forward_slope={forward_slope!r}")
    apply = FUNCTIONS.get(rule.form)
    if apply is None:
        raise ValueError(f"unknown backward rule {rule.name!r} (no factor function and no entry of "
                         f"proxygrad.op.FUNCTIONS; known forms: {sorted(FUNCTIONS)})")
    return apply(x, rule, forward_slope, upper, inplace)


def proxy_relu(x: Tensor, backward_slope: float, forward_slope: float = 0.0, inplace: bool = False) -> Tensor:
    """ProxyGrad rectifier: forward ``relu(x)`` (or ``leaky_relu(x, forward_slope)``), bit-identical;
    backward factor 1 where ``x > 0`` and ``backward_slope`` where ``x <= 0``.

    Slopes are finite floats >= 0 (values above 1 allowed); anything else raises ``ValueError``.
    Saved for the backward pass: what PyTorch's own op saves (the output ``y`` of ``relu`` and of
    in-place calls, the input of out-of-place ``leaky_relu``), no mask.
    """
    backward_slope = check_slope(backward_slope, "backward_slope")
    forward_slope = check_slope(forward_slope, "forward_slope")
    return _SlopeFunction.apply(x, forward_slope, backward_slope, None, inplace)


class ProxyReLU(nn.Module):
    """Module form of :func:`proxy_relu`."""

    def __init__(self, backward_slope: float, forward_slope: float = 0.0, inplace: bool = False) -> None:
        super().__init__()
        self.backward_slope = check_slope(backward_slope, "backward_slope")
        self.forward_slope = check_slope(forward_slope, "forward_slope")
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return _SlopeFunction.apply(x, self.forward_slope, self.backward_slope, None, self.inplace)

    def extra_repr(self) -> str:
        extra = f"backward_slope={self.backward_slope}, forward_slope={self.forward_slope}"
        return extra + (", inplace=True" if self.inplace else "")
