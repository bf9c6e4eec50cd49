"""The mechanism probes of the ``training`` experiment: dead rectifier units and gradient norm per layer.

Measured after every epoch on a fixed probe batch ``(x_j, y_j)_{j=1..P}`` (the first images of the
validation split, the same for every method):

- A rectifier *unit* is one element of a rectifier's output (one neuron: a channel at one position for a
  convolution, one feature for a linear layer).  It is **dead** on the probe batch when its input
  ``z_j`` is never positive: ``max_j z_j <= 0``.  ``dead_<l>`` is the fraction of dead units of the
  ``l``-th rectifier (1 = nearest the input), ``dead_fraction`` the fraction over all units of all
  rectifiers.
- ``grad_norm_<l>`` is ``||dL/dtheta_l||_2`` of the ``l``-th layer with parameters (Conv2d / Linear,
  weight and bias together), for the mean cross-entropy ``L`` on the probe batch, with the method's
  backward rule (``proxify(model, rule)``): the gradient the method itself would follow there.

Columns ``dead_1..dead_{SLOTS}`` and ``grad_norm_1..grad_norm_{SLOTS}`` always exist (NaN beyond the
network's depth), so every record shares one header.  The probes draw no random numbers and leave the
parameters as they were; every ``grad`` is reset to None (the training step zeroes it anyway).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Per-layer column slots: ``dead_1..dead_8``, ``grad_norm_1..grad_norm_8``.
SLOTS = 8
RECTIFIERS = (nn.ReLU, nn.LeakyReLU)
PARAMETRIC = (nn.Conv2d, nn.Linear)


def columns() -> list[str]:
    """The probe's column names, in record order."""
    return (["dead_fraction"] + [f"dead_{i}" for i in range(1, SLOTS + 1)]
            + [f"grad_norm_{i}" for i in range(1, SLOTS + 1)])


def dead_units(model: nn.Module, x: torch.Tensor) -> tuple[float, list[float]]:
    """``(overall dead fraction, dead fraction per rectifier)`` of ``model`` on the probe images ``x``."""
    seen: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        seen.append((inputs[0].detach() > 0).any(dim=0).flatten())

    rectifiers = [m for m in model.modules() if isinstance(m, RECTIFIERS)]
    handles = [m.register_forward_pre_hook(hook) for m in rectifiers]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if len(seen) != len(rectifiers):
        raise ValueError(f"expected one call per rectifier ({len(rectifiers)}), saw {len(seen)}")
    per_layer = [float((~alive).float().mean()) for alive in seen]
    total = sum(int(alive.numel()) for alive in seen)
    dead = sum(int((~alive).sum()) for alive in seen)
    return (dead / total if total else math.nan), per_layer


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rule: Any = None) -> list[float]:
    """``||dL/dtheta_l||_2`` per parametric layer (see the module docstring), under ``rule`` when given."""
    layers = [m for m in model.modules() if isinstance(m, PARAMETRIC)]
    was_training = model.training
    model.eval()
    if rule is not None:
        from proxygrad import proxify

        scope: Any = proxify(model, rule)
    else:
        scope = contextlib.nullcontext()
    try:
        with scope:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        norms = []
        for m in layers:
            sq = sum(float((p.grad.detach() ** 2).sum()) for p in m.parameters(recurse=False) if p.grad is not None)
            norms.append(math.sqrt(sq))
    finally:
        for p in model.parameters():
            p.grad = None
        model.train(was_training)
    return norms


def probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rule: Any = None) -> dict[str, float]:
    """The probe columns (:func:`columns`) of ``model`` on the probe batch ``(x, y)``."""
    overall, dead = dead_units(model, x)
    norms = gradient_norms(model, x, y, rule)
    for name, values in (("rectifiers", dead), ("parametric layers", norms)):
        if len(values) > SLOTS:
            raise ValueError(f"the network has {len(values)} {name}; the probe records at most {SLOTS}")
    row: dict[str, float] = {"dead_fraction": overall}
    row.update({f"dead_{i}": dead[i - 1] if i <= len(dead) else math.nan for i in range(1, SLOTS + 1)})
    row.update({f"grad_norm_{i}": norms[i - 1] if i <= len(norms) else math.nan for i in range(1, SLOTS + 1)})
    return row
