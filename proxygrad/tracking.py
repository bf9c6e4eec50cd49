"""The best-so-far record of a maximization run: :class:`BestSoFar`, and the non-finite check every step makes.

Shared by :func:`proxygrad.maximize` and every other loop that follows its contract (the suite's
practitioners' recipes), so that a run's ``trace``, ``best_value``, ``best_step``, ``best_input`` and its
best@t checkpoints mean the same everywhere.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
from torch import Tensor

__all__ = ["BestSoFar", "NonFiniteError", "best_at", "check_finite"]


class NonFiniteError(ArithmeticError):
    """A value or gradient of ``f`` was NaN or infinite; ``step`` and ``start`` say where."""

    def __init__(self, what: str, step: int, start: int, value: float) -> None:
        super().__init__(f"non-finite {what} at step {step}, start {start} (value {value})")
        self.what = what
        self.step = step
        self.start = start


def check_finite(what: str, tensor: Tensor, step: int) -> None:
    """Raise :class:`NonFiniteError` at the first start whose row of ``tensor`` is not all finite."""
    finite = torch.isfinite(tensor.reshape(tensor.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        start = int((~finite).nonzero()[0, 0])
        row = tensor[start].reshape(-1)
        bad = row[~torch.isfinite(row)][0]
        raise NonFiniteError(what, step, start, float(bad))


class BestSoFar:
    """What a run of ``N`` starts over the steps ``t = 0..T`` keeps of the values ``v_t [N]`` of the original
    function at the inputs ``x_t [N, *shape]``, given to :meth:`record` in step order:

    - ``trace [T+1, N]``: row ``t`` is ``v_t`` (allocated in ``dtype`` on ``device``; rows not yet recorded
      are undefined);
    - ``best_value [N]``: ``max_{u <= t} v_u`` per start (``-inf`` before the first record);
    - ``best_step [N]`` (int64): the first step reaching it (only a strictly larger value replaces it);
    - ``best_input [N, *shape]``: ``x`` at that step, so ``best_value == f(best_input)`` (``None`` before the
      first record);
    - the best@t checkpoints ``max_{u <= t} v_u`` for any recorded ``t``: :meth:`best_at` (from the trace).

    ``observer(t, x_t, v_t)``, when given, is called after each record with copies of ``x_t`` and ``v_t``.
    The values are stored as given: checking them (:func:`check_finite`) is the caller's step.
    """

    def __init__(self, steps: int, starts: int, dtype: torch.dtype, device: Any,
                 observer: Optional[Callable[[int, Tensor, Tensor], None]] = None) -> None:
        self.trace = torch.empty((steps + 1, starts), dtype=dtype, device=device)
        self.best_value = torch.full((starts,), -math.inf, dtype=dtype, device=device)
        self.best_step = torch.zeros(starts, dtype=torch.int64, device=device)
        self.best_input: Optional[Tensor] = None
        self.observer = observer

    def record(self, t: int, value: Tensor, at: Tensor) -> None:
        """Record ``v_t = value [N]`` at the inputs ``x_t = at [N, *shape]``."""
        self.trace[t] = value
        improved = value > self.best_value
        held = at if self.best_input is None else self.best_input
        self.best_value = torch.where(improved, value, self.best_value)
        self.best_step = torch.where(improved, torch.full_like(self.best_step, t), self.best_step)
        self.best_input = torch.where(improved.view((-1,) + (1,) * (at.dim() - 1)), at, held)
        if self.observer is not None:
            self.observer(t, at.clone(), value.clone())

    def best_at(self, t: int) -> Tensor:
        """The best@t checkpoint ``max_{u <= t} v_u`` per start (``[N]``; ``t`` recorded)."""
        return best_at(self.trace, t)


def best_at(trace: Tensor, t: int) -> Tensor:
    """``max_{u <= t} trace[u]`` per column of a run's ``trace [T+1, N]``: its best@t checkpoint."""
    return trace[: t + 1].max(dim=0).values

