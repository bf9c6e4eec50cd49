"""``proxify``: ProxyGrad gradients from any PyTorch model, without touching its code.

Inside ``with proxify(model, backward_slope):`` every rectifier called during ``model``'s forward keeps
its forward value and back-propagates with the proxy rule (see :mod:`proxygrad.op`).  Covered:

- modules: ``nn.ReLU`` (also ``inplace=True`` and one object reused several times), ``nn.LeakyReLU``
  (keeps its own forward slope), ``nn.ReLU6`` / ``nn.Hardtanh(0, max)`` (the upper clip stays);
- inline calls in ``forward()``: ``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``,
  ``Tensor.relu``, ``Tensor.relu_``, ``F.leaky_relu``, ``F.leaky_relu_``, ``F.relu6``, ``F.hardtanh``
  with ``min_val=0``.

How: a ``TorchFunctionMode`` is pushed by a forward pre-hook on ``model`` and popped by a forward hook
that runs even when the forward raises, so only calls made during this model's forward are touched
(other models, code outside the forward, and other threads are not: only forwards run by the thread
that entered the block are intercepted, so a second thread's forward and backward through the same
model stay plain).  Nothing about the model is modified: on exit
the hooks are removed and the model has the same module objects, types, state_dict and plain
gradients as before.  Nested blocks work; the innermost block's rule wins.  Calling
``model.forward(x)`` directly bypasses hooks, and therefore the proxy: call ``model(x)``.
``use(rule)`` changes the rule inside an open block (``None``: plain gradients) for the forwards that
follow, so a loop whose rule changes per step enters the block once.

``mode="network"`` is the paper's literal proxy network: inside the block the model *is* the copy whose
rectifiers are Leaky ReLUs with slope ``backward_slope`` in both passes (same weights, nothing
copied).  Its forward values are the proxy's, not the original's: a caller that needs the original
value must evaluate the model outside the block.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .op import rectify
from .rules import BackwardRule, RuleLike, as_rule

__all__ = ["proxify", "rectifier_mode", "RECTIFIER_MODULES"]

MODES = ("mixed", "network")
RECTIFIER_MODULES: tuple[type, ...] = (nn.ReLU, nn.LeakyReLU, nn.ReLU6)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


RECTIFIER_FUNCTIONS: frozenset = frozenset({
    F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.leaky_relu, F.leaky_relu_,
    F.relu6, F.hardtanh, F.hardtanh_,
})


def _parse_call(func: Callable, args: tuple, kwargs: dict) -> Optional[tuple[Tensor, float, Optional[float], bool]]:
    """``(x, forward_slope, upper, inplace)`` if ``func`` is a rectifier call, else ``None``."""
    if func in (F.relu, torch.Tensor.relu, torch.relu):
        return args[0], 0.0, None, bool(_arg(args, kwargs, 1, "inplace", False)) if func is F.relu else False
    if func in (F.relu_, torch.relu_, torch.Tensor.relu_):
        return args[0], 0.0, None, True
    if func is F.leaky_relu:
        slope = float(_arg(args, kwargs, 1, "negative_slope", 0.01))
        return args[0], slope, None, bool(_arg(args, kwargs, 2, "inplace", False))
    if func is F.leaky_relu_:
        return args[0], float(_arg(args, kwargs, 1, "negative_slope", 0.01)), None, True
    if func is F.relu6:
        return args[0], 0.0, 6.0, bool(_arg(args, kwargs, 1, "inplace", False))
    if func in (F.hardtanh, F.hardtanh_):
        low = float(_arg(args, kwargs, 1, "min_val", -1.0))
        high = float(_arg(args, kwargs, 2, "max_val", 1.0))
        if low != 0.0 or high <= 0.0:
            return None
        inplace = True if func is F.hardtanh_ else bool(_arg(args, kwargs, 3, "inplace", False))
        return args[0], 0.0, high, inplace
    return None


def _network_rectifier(x: Tensor, slope: float, upper: Optional[float], inplace: bool) -> Tensor:
    """The proxy network's rectifier: Leaky ReLU with ``slope`` in both passes (clipped at ``upper``)."""
    out = F.leaky_relu(x, slope, inplace=inplace)
    if upper is not None:
        out = out.clamp_(max=upper) if inplace else out.clamp(max=upper)
    return out


class _Interceptor(TorchFunctionMode):
    """Replaces every rectifier call by the proxy rule; passes every other call through unchanged."""

    def __init__(self, rule: Optional[BackwardRule], mode: str) -> None:
        super().__init__()
        self.rule = rule
        self.mode = mode
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.rule is None or func not in RECTIFIER_FUNCTIONS:  # the fast path for every other call
            return func(*args, **kwargs)
        parsed = _parse_call(func, args, kwargs)
        if parsed is None or not isinstance(parsed[0], Tensor):
            return func(*args, **kwargs)
        x, forward_slope, upper, inplace = parsed
        self.calls += 1
        # outer blocks (nested proxify) must not intercept the op's own kernels: the innermost rule wins
        with torch._C.DisableTorchFunction():
            if self.mode == "network":
                return _network_rectifier(x, self.rule.constant_slope, upper, inplace)
            return rectify(x, self.rule, forward_slope=forward_slope, upper=upper, inplace=inplace)


def _validate(backward_slope: RuleLike, mode: str) -> BackwardRule:
    """The rule of ``backward_slope`` after checking that ``mode`` can use it; ``ValueError`` names the value."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    rule = as_rule(backward_slope)
    if mode == "network" and not rule.is_slope:
        raise ValueError(f"mode='network' needs a slope rule (a Leaky ReLU slope), got {rule.label}")
    return rule


def _activation_types(model: nn.Module) -> list[str]:
    names = {type(m).__name__ for m in model.modules() if type(m).__module__ == "torch.nn.modules.activation"}
    return sorted(names)


class rectifier_mode:
    """Context manager: every rectifier call made inside the block follows ``rule`` (any caller).

    Use it for plain callables; for a model prefer :class:`proxify`, which is scoped to the model's
    forward.  ``calls`` counts the rectifier calls intercepted.
    """

    def __init__(self, backward_slope: RuleLike, mode: str = "mixed") -> None:
        self.rule: Optional[BackwardRule] = _validate(backward_slope, mode)
        self.mode = mode
        self._interceptor: Optional[_Interceptor] = None

    @property
    def calls(self) -> int:
        return 0 if self._interceptor is None else self._interceptor.calls

    def use(self, backward_slope: Optional[RuleLike]) -> None:
        """Follow ``backward_slope`` from now on (``None``: leave rectifier calls plain)."""
        self.rule = None if backward_slope is None else _validate(backward_slope, self.mode)
        if self._interceptor is not None:
            self._interceptor.rule = self.rule

    def __enter__(self) -> "rectifier_mode":
        self._interceptor = _Interceptor(self.rule, self.mode)
        self._interceptor.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        assert self._interceptor is not None
        self._interceptor.__exit__(*exc)


class proxify:
    """``with proxify(model, backward_slope, mode="mixed"):`` ProxyGrad gradients from ``model``.

    Args:
        model: any ``nn.Module``; its code and state are not modified.
        backward_slope: the proxy's negative slope (finite float >= 0; above 1 allowed), or a
            :class:`~proxygrad.rules.BackwardRule` (SUGAR surrogates, redirected ReLU, ...).
        mode: ``"mixed"`` (forward of the original, backward of the proxy) or ``"network"`` (the
            proxy network in both passes; slope rules only).

    Raises:
        ValueError: bad slope or mode (at construction); a model that has no rectifier module and whose
            forward called no rectifier raises at its first forward inside the block, listing the
            activation types it does have (a proxy there would silently change nothing).
    """

    def __init__(self, model: nn.Module, backward_slope: RuleLike, mode: str = "mixed") -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"proxify needs an nn.Module, got {type(model).__name__}")
        self.model = model
        self.rule: Optional[BackwardRule] = _validate(backward_slope, mode)
        self.mode = mode
        self.calls = 0
        self._owner: Optional[int] = None
        self._active: list[Optional[_Interceptor]] = []
        self._handles: list[Any] = []
        self._has_rectifier_modules = any(
            isinstance(m, RECTIFIER_MODULES) or (isinstance(m, nn.Hardtanh) and m.min_val == 0.0)
            for m in model.modules()
        )

    def use(self, backward_slope: Optional[RuleLike]) -> None:
        """Follow ``backward_slope`` in the forwards that follow (``None``: plain gradients)."""
        self.rule = None if backward_slope is None else _validate(backward_slope, self.mode)

    def _push(self, module: nn.Module, args: tuple) -> None:
        if threading.get_ident() != self._owner:
            return  # another thread's forward: untouched
        interceptor = None
        if self.rule is not None:
            interceptor = _Interceptor(self.rule, self.mode)
            interceptor.__enter__()
        self._active.append(interceptor)

    def _pop(self, module: nn.Module, args: tuple, output: Any) -> None:
        if threading.get_ident() != self._owner or not self._active:
            return
        interceptor = self._active.pop()
        if interceptor is None:
            return
        interceptor.__exit__(None, None, None)
        self.calls += interceptor.calls
        # output None: the forward raised (always_call hooks still run); its own error is the one to see
        if interceptor.calls == 0 and not self._has_rectifier_modules and output is not None:
            kinds = _activation_types(self.model) or ["none"]
            raise ValueError(
                f"proxify: {type(self.model).__name__} has no rectifier (ReLU, LeakyReLU, ReLU6 or inline "
                f"relu/leaky_relu calls); its activation types are: {', '.join(kinds)}"
            )

    def __enter__(self) -> "proxify":
        if self._handles:
            raise RuntimeError("this proxify block is already open; create one proxify per block")
        self._owner = threading.get_ident()
        self._handles = [
            self.model.register_forward_pre_hook(self._push),
            self.model.register_forward_hook(self._pop, prepend=True, always_call=True),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        while self._active:  # only if a forward was interrupted before its hook could run
            interceptor = self._active.pop()
            if interceptor is not None:
                interceptor.__exit__(None, None, None)
        self._owner = None
