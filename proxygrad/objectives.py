"""Objectives ``f(x) -> [N]`` on named layers of a model, for :func:`proxygrad.maximize`.

With ``a = A(pre(x))`` the output ``[N, C, ...]`` of the module named ``layer`` in
``model.named_modules()`` (read by a forward hook), and ``pre`` an optional preprocessing module:

- ``channel(model, layer, c)``:        ``f(x) = mean over positions p of a[:, c, p]``
  (for a ``[N, C]`` output simply ``a[:, c]``);
- ``neuron(model, layer, c, y, x)``:   ``f(x) = a[:, c, y, x]`` (``y``, ``x`` optional for outputs with
  fewer dims; dims left unindexed are averaged);
- ``logit(model, k)``:                 ``f(x) = model(pre(x))[:, k]``.

A module called several times in one forward keeps every call's output; ``call`` picks one
(``0``: the first, ``-1``: the last, Python indexing).  With a non-negative ``call`` the forward
stops right after that call (``stop_early=True``), which saves the rest of a deep network.
Hooks are registered at each forward of the objective and removed in a ``finally`` block.

Each objective is an ``nn.Module`` holding ``model`` (and ``pre``) as submodules, so
``proxify(objective, ...)`` reaches the model's rectifiers and ``.double()``/``.to()`` move both.
"""
from __future__ import annotations

import difflib
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["channel", "neuron", "logit", "imagenet_preprocess", "InputNormalization",
           "LayerObjective", "LogitObjective", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class InputNormalization(nn.Module):
    """``pre(x) = ((x - lo) / (hi - lo) - mean_c) / std_c``: the AM box ``[lo, hi]`` to a model's input."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], bounds: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f"mean and std must have the same non-zero length, got {mean!r} and {std!r}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be > 0, got {std!r}")
        lo, hi = float(bounds[0]), float(bounds[1])
        if not lo < hi:
            raise ValueError(f"bounds must have lo < hi, got {bounds!r}")
        self.lo, self.hi = lo, hi
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected images [N, {self.mean.shape[1]}, H, W], got shape {tuple(x.shape)}")
        unit = (x - self.lo) / (self.hi - self.lo)
        return (unit - self.mean) / self.std


def imagenet_preprocess() -> InputNormalization:
    """Map AM inputs in ``[-1, 1]`` to ``[0, 1]``, then normalize with the ImageNet mean and std."""
    return InputNormalization(IMAGENET_MEAN, IMAGENET_STD)


class _StopForward(Exception):
    """Raised by the hook after the selected call to end the model's forward early."""


def _find_layer(model: nn.Module, layer: str) -> nn.Module:
    """``model``'s submodule ``layer``; ``ValueError`` listing the closest names when unknown."""
    if not isinstance(layer, str):
        raise ValueError(f"layer must be a module name (str), got {layer!r}")
    modules = dict(model.named_modules())
    if layer not in modules:
        names = [name for name in modules if name]
        close = difflib.get_close_matches(layer, names, n=5, cutoff=0.3) or names[:5]
        raise ValueError(f"unknown layer {layer!r}; closest names: {', '.join(close) or '(model has no submodules)'}")
    return modules[layer]


def _check_index(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


class LayerObjective(nn.Module):
    """``f(x) = reduce(a[:, index])`` for ``a`` the ``call``-th output of ``model.<layer>``.

    ``index = (c, *rest)`` selects a channel and optionally positions; the remaining dims (if any)
    are averaged, so ``(c,)`` on ``[N, C, H, W]`` is the channel mean and ``(c, y, x)`` one neuron.
    """

    def __init__(self, model: nn.Module, layer: str, index: Sequence[int], *,
                 preprocess: Optional[nn.Module] = None, call: int = 0, stop_early: bool = True):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        _find_layer(model, layer)
        self.model = model
        self.preprocess = preprocess
        self.layer = layer
        self.index = tuple(_check_index("index", i) for i in index)
        self.call = _check_index("call", call)
        self.stop_early = bool(stop_early)

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, index={self.index}, call={self.call}"

    def activation(self, x: Tensor) -> Tensor:
        """The output of the selected call of ``model.<layer>`` for input ``x`` (hooks removed after)."""
        target = self.model.get_submodule(self.layer)
        outputs: list[Tensor] = []
        stop_after = self.call + 1 if self.stop_early and self.call >= 0 else None

        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            outputs.append(output)
            if stop_after is not None and len(outputs) >= stop_after:
                raise _StopForward

        handle = target.register_forward_hook(hook)
        try:
            inputs = self.preprocess(x) if self.preprocess is not None else x
            try:
                self.model(inputs)
            except _StopForward:
                pass
        finally:
            handle.remove()
        if not -len(outputs) <= self.call < len(outputs):
            raise ValueError(f"layer {self.layer!r} was called {len(outputs)} time(s) in one forward; "
                             f"call={self.call} is out of range")
        out = outputs[self.call]
        if not isinstance(out, Tensor):
            raise ValueError(f"layer {self.layer!r} returned {type(out).__name__}, not a tensor")
        return out

    def forward(self, x: Tensor) -> Tensor:
        act = self.activation(x)
        if act.dim() < 1 + len(self.index):
            raise ValueError(f"index {self.index} needs an output with more than {len(self.index)} dims "
                             f"per item; layer {self.layer!r} gives shape {tuple(act.shape)}")
        for dim, (i, size) in enumerate(zip(self.index, act.shape[1:])):
            if not -size <= i < size:
                raise ValueError(f"index {i} is out of range for dim {dim + 1} of size {size} "
                                 f"in the output {tuple(act.shape)} of layer {self.layer!r}")
        selected = act[(slice(None), *self.index)]
        if selected.dim() > 1:
            selected = selected.flatten(1).mean(dim=1)
        return selected


class LogitObjective(nn.Module):
    """``f(x) = model(pre(x))[:, k]``."""

    def __init__(self, model: nn.Module, k: int, *, preprocess: Optional[nn.Module] = None):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        self.preprocess = preprocess
        self.k = _check_index("k", k)

    def extra_repr(self) -> str:
        return f"k={self.k}"

    def forward(self, x: Tensor) -> Tensor:
        inputs = self.preprocess(x) if self.preprocess is not None else x
        out = self.model(inputs)
        if not isinstance(out, Tensor) or out.dim() != 2:
            raise ValueError(f"logit needs a model output [N, K], got {getattr(out, 'shape', type(out))}")
        if not -out.shape[1] <= self.k < out.shape[1]:
            raise ValueError(f"logit k={self.k} is out of range for {out.shape[1]} outputs")
        return out[:, self.k]


def channel(model: nn.Module, layer: str, c: int, *, preprocess: Optional[nn.Module] = None,
            call: int = 0, stop_early: bool = True) -> LayerObjective:
    """Mean activation of channel ``c`` of ``model.<layer>`` over all positions."""
    return LayerObjective(model, layer, (c,), preprocess=preprocess, call=call, stop_early=stop_early)


def neuron(model: nn.Module, layer: str, c: int, y: Optional[int] = None, x: Optional[int] = None, *,
           preprocess: Optional[nn.Module] = None, call: int = 0, stop_early: bool = True) -> LayerObjective:
    """Activation ``a[:, c, y, x]`` of one unit of ``model.<layer>`` (``a[:, c]`` for ``[N, C]`` outputs,
    ``a[:, c, y]`` for ``[N, C, L]``; dims left unindexed are averaged)."""
    if y is None and x is not None:
        raise ValueError(f"neuron: x={x!r} needs y as well")
    position = tuple(i for i in (y, x) if i is not None)
    return LayerObjective(model, layer, (c, *position), preprocess=preprocess, call=call, stop_early=stop_early)


def logit(model: nn.Module, k: int, *, preprocess: Optional[nn.Module] = None) -> LogitObjective:
    """Output ``k`` of the model (pre-softmax logit)."""
    return LogitObjective(model, k, preprocess=preprocess)
