"""The units of a ``cnn-am`` model: the pool, the seeded draw into tuning and evaluation units, and one
batched objective that evaluates a different unit on every element of a batch.

Pool: every configured logit, and every channel of every configured layer (the channel mean of the
layer's output).  Groups: the logits, then one group per layer, in config order.

Draw (a pure function of the seed and the pool's dataset maxima): each group's units are shuffled with
``numpy.random.default_rng(seed_of(seed, model, group))``; the shuffled groups are interleaved round robin
(group order, one unit of each group per turn, exhausted groups skipped), giving one ordered list that
spans the logits and every layer.  Walking that list, a unit whose dataset maximum is ``<= dead_epsilon``
is *excluded* (dead on the data: the rule is declared in the profile before the run); the first
``tune_units`` live units become *tuning* units, the next ``eval_units`` *evaluation* units, the rest are
*unused*.  Of the evaluation units, the first ``certify_units`` in draw order are certified (models with
``certify = true``).  Tuning and evaluation units are disjoint by construction (checked).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

ROLES: tuple[str, ...] = ("tuning", "evaluation", "excluded", "unused")


@dataclass(frozen=True)
class Unit:
    """One unit: ``kind`` ``"logit"`` (``index`` = class) or ``"channel"`` (``index`` of ``layer``)."""

    kind: str
    layer: str | None
    index: int
    depth: float

    @property
    def label(self) -> str:
        return f"logit={self.index}" if self.kind == "logit" else f"{self.layer}={self.index}"

    @property
    def layer_label(self) -> str:
        return "logits" if self.kind == "logit" else str(self.layer)


def unit_of(params: Sequence[Any]) -> Unit:
    """The unit stored in a cell's params as ``[kind, layer, index, depth]``."""
    kind, layer, index, depth = params
    return Unit(str(kind), None if layer is None else str(layer), int(index), float(depth))


def seed_of(*parts: Any) -> int:
    """A 31-bit seed from text parts (crc32 of ``"|".join(parts)``)."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def draw(groups: Sequence[Sequence[Unit]], *, seed: int, model: str, dataset_max: dict[str, float],
         dead_epsilon: float, tune_units: int, eval_units: int) -> list[tuple[Unit, str, int]]:
    """``(unit, role, draw position)`` for every unit of the pool, by the rule in the module doc.

    ``dataset_max``: unit label -> its dataset maximum (NaN or missing: no data, never excluded).
    """
    shuffled = []
    for g, units in enumerate(groups):
        order = np.random.default_rng(seed_of(seed, model, g)).permutation(len(units))
        shuffled.append([units[int(i)] for i in order])
    ordered: list[Unit] = []
    for turn in range(max((len(g) for g in shuffled), default=0)):
        ordered += [g[turn] for g in shuffled if turn < len(g)]
    out, tuned, evaluated = [], 0, 0
    for pos, u in enumerate(ordered):
        dmax = dataset_max.get(u.label, float("nan"))
        if tuned + evaluated < tune_units + eval_units and dmax == dmax and dmax <= dead_epsilon:
            role = "excluded"
        elif tuned < tune_units:
            role, tuned = "tuning", tuned + 1
        elif evaluated < eval_units:
            role, evaluated = "evaluation", evaluated + 1
        else:
            role = "unused"
        out.append((u, role, pos))
    return out


class UnitBatch(nn.Module):
    """``f(x)[e] = unit_e(x[e])``: element ``e`` of the batch is scored by its own unit ``units[e]``.

    Every network here treats batch elements independently (eval mode), so the gradient of
    ``sum_e f(x)[e]`` with respect to ``x[e]`` is the gradient of ``unit_e`` alone and starts stay
    independent under element-wise optimizers.  For an ``nn.Sequential`` on ``[-1, 1]`` inputs the
    forward runs layer by layer and an element leaves the batch after the last layer its unit needs
    (shallow units cost only their prefix); otherwise one full forward with hooks on every needed layer.
    A channel's value is the mean over positions of its layer's output, a logit the model's output.
    """

    def __init__(self, model: nn.Module, units: Sequence[Unit], preprocess: nn.Module | None = None):
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self.units = list(units)
        self.staged = preprocess is None and isinstance(model, nn.Sequential)
        names = [n for n, _ in model.named_children()] if self.staged else []
        last = len(names) - 1
        self._stop = [names.index(u.layer) if (self.staged and u.kind == "channel") else last for u in self.units]

    @staticmethod
    def _value(a: Tensor, channels: Tensor) -> Tensor:
        v = a[torch.arange(a.shape[0], device=a.device), channels]
        return v.flatten(1).mean(dim=1) if v.dim() > 1 else v

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.units)
        if x.shape[0] != n:
            raise ValueError(f"UnitBatch of {n} units got a batch of {x.shape[0]}")
        idx = torch.tensor([u.index for u in self.units], device=x.device)
        if not self.staged:
            return self._hooked(x, idx)
        stop = torch.tensor(self._stop, device=x.device)
        rows = torch.arange(n, device=x.device)  # the original elements held in h
        h, pieces, order = x, [], []
        for i, layer in enumerate(self.model.children()):
            h = layer(h)
            done = stop[rows] == i
            if bool(done.any()):
                sel = done.nonzero().flatten()
                pieces.append(self._value(h[sel], idx[rows[sel]]))
                order.append(rows[sel])
                keep = (~done).nonzero().flatten()
                h, rows = h[keep], rows[keep]
                if rows.numel() == 0:
                    break
        values = torch.cat(pieces)
        inverse = torch.empty_like(values, dtype=torch.long)
        inverse[torch.cat(order)] = torch.arange(n, device=x.device)
        return values[inverse]

    def _hooked(self, x: Tensor, idx: Tensor) -> Tensor:
        layers = sorted({u.layer for u in self.units if u.kind == "channel"})
        outputs: dict[str, Tensor] = {}
        handles = [self.model.get_submodule(name).register_forward_hook(
            lambda mod, args, out, name=name: outputs.__setitem__(name, out)) for name in layers]
        try:
            y = self.model(self.preprocess(x) if self.preprocess is not None else x)
        finally:
            for h in handles:
                h.remove()
        values = []
        for e, u in enumerate(self.units):
            a = y if u.kind == "logit" else outputs[u.layer]  # type: ignore[index]
            v = a[e, u.index]
            values.append(v.mean() if v.dim() else v)
        del idx
        return torch.stack(values)
