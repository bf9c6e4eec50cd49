"""Benchmark instances as plain values, and what an experiment provides to give them out and score results
on them (:mod:`benchmarks.public`: ``benchmarks.instances``, ``benchmarks.score``, ``benchmarks.choose_lr``).

An experiment with public instances has ``public_api() -> PublicAPI`` in its manifest
(:mod:`benchmarks.framework.catalogue`): how it builds its :class:`Instance` values from a parsed config,
its reference per unit, the reference no value may exceed, and how per-start rows become one value per unit
of replication. Nothing here knows an experiment by name.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.framework import tuning


@dataclass(frozen=True)
class Tuning:
    """The suite's step-size protocol of a profile.

    Every pair in ``pairs`` (method label, optimizer) gets its own lr from ``grids[optimizer]``
    (``lr(k) = 10 ** (k / per_decade)``, initial indices ``k_lo..k_hi``, hard limits ``k_min..k_max``),
    selected on the tuning instances only with ``starts`` starts each and the same ``steps``: the score of
    an index is the mean over tuning instances of its rank (:class:`tuning.Score`) by
    ``per_instance`` (``"mean"`` or ``"max"``) of ``f_best`` over starts, and :func:`tuning.choose` picks the
    lower middle of the best block, or asks for the indices past an edge (``Choice.extend``) that must be
    run before the choice is final.
    """

    grids: dict[str, tuning.Grid]
    pairs: tuple[tuple[str, str], ...]
    starts: int
    per_instance: str


@dataclass
class Instance:
    """One benchmark instance or unit of a profile (see :mod:`benchmarks.public`); ``key`` names it in the
    results given to ``score``.

    ``f``: the original objective ``[N, *shape] -> [N]``; ``x0``: the standardized starts (exactly those the
    suite's cells of that ``role`` start from); ``steps``: the budget (gradient evaluations per start);
    ``bounds``: the box; ``lr``: the fixed step size per optimizer of the untuned comparison; ``tuning``: the
    step-size protocol; ``reference``: the unit's references by name (NaN where there is none).
    """

    experiment: str
    key: str
    role: str
    benchmark: str
    params: dict[str, Any]
    f: Any
    x0: torch.Tensor
    steps: int
    lr: dict[str, float]
    bounds: tuple[float, float]
    tuning: Tuning
    reference: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PublicAPI:
    """What an experiment gives :mod:`benchmarks.public`.

    instances(module, cfg, role, cache_dir, data_dir): the :class:`Instance` values of ``role`` of the parsed
        config ``cfg`` of the protocol ``module``, in the suite's cell order.
    reference(inst, f_best): the unit's reference value and its name as the leaderboard defines it, given the
        best values reached on it (``(nan, "")`` when it has none).
    cap / cap_name: the key of ``Instance.reference`` that no value may exceed (a certified optimum or bound)
        and how an error names it.
    sampling_unit: what the score table's ``n`` counts (the unit of replication).
    unit_scores(rows, insts): the per-start rows of ``score`` as one row per unit of replication (columns
        ``benchmark``, ``instance``, ``reference``, ``attained``), as the leaderboard scores it.
    """

    instances: Callable[[ModuleType, Any, str, Path, Path | None], list[Instance]]
    reference: Callable[[Instance, np.ndarray], tuple[float, str]]
    cap: str
    cap_name: str
    sampling_unit: str
    unit_scores: Callable[[pd.DataFrame, Sequence[Instance]], pd.DataFrame]
