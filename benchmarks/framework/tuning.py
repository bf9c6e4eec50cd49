"""Step-size tuning: a log-spaced grid that extends past its edges, and a selection that is a pure
function of the tuning records.

Grid points are indexed by integers ``k``: ``lr(k) = 10 ** (k / per_decade)`` (so every lr is the same
float on every machine, and the grid is refined or extended by adding indices, never by recomputing
values).  A profile declares the initial index range ``[k_lo, k_hi]`` and hard limits ``[k_min, k_max]``.

Selection (:func:`choose`), given one score per evaluated index (higher is better):

1. the *best block* is the set of indices whose score equals the maximum (exact ties, e.g. a flat
   score where no lr moves the result);
2. the chosen index is the lower middle of the best block;
3. when the best block contains an edge of the evaluated range (the lowest or highest index tried) and
   the hard limit allows one more index beyond that edge, the grid *extends* by that index (both
   sides when the block spans the whole range); the choice is final only when no extension is due.

A choice that still touches an edge because a hard limit stops the extension is returned with
``at_limit=True``; reports must flag it.  Scores are computed by the experiment from its tuning
records only (e.g. :func:`mean_rank_scores`); the tuning units are disjoint from the evaluation units.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Grid:
    """A log-spaced step-size grid: initial indices ``k_lo..k_hi``, hard limits ``k_min..k_max``,
    ``per_decade`` points per factor 10 (``lr(k) = 10 ** (k / per_decade)``)."""

    k_lo: int
    k_hi: int
    per_decade: int = 2
    k_min: int | None = None
    k_max: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.per_decade, int) and 1 <= self.per_decade <= 12):
            raise ValueError(f"per_decade must be an int in [1, 12], got {self.per_decade!r}")
        if self.k_lo > self.k_hi:
            raise ValueError(f"grid index range is empty: k_lo={self.k_lo} > k_hi={self.k_hi}")
        k_min = self.k_lo - 4 * self.per_decade if self.k_min is None else self.k_min
        k_max = self.k_hi + 4 * self.per_decade if self.k_max is None else self.k_max
        if not k_min <= self.k_lo <= self.k_hi <= k_max:
            raise ValueError(f"grid limits must hold k_min <= k_lo <= k_hi <= k_max, got "
                             f"{k_min}, {self.k_lo}, {self.k_hi}, {k_max}")
        object.__setattr__(self, "k_min", k_min)
        object.__setattr__(self, "k_max", k_max)

    def lr(self, k: int) -> float:
        """The step size of index ``k``: ``10 ** (k / per_decade)``."""
        return lr_of(k, self.per_decade)

    def initial(self) -> tuple[int, ...]:
        """The indices every tuned pair runs first."""
        return tuple(range(self.k_lo, self.k_hi + 1))

    @classmethod
    def from_lrs(cls, low: float, high: float, per_decade: int = 2, *, lr_min: float | None = None,
                 lr_max: float | None = None) -> "Grid":
        """The grid whose initial range covers ``[low, high]`` (rounded to the nearest indices)."""
        def k(x: float, what: str) -> int:
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"{what} must be a finite number > 0, got {x!r}")
            return int(round(math.log10(x) * per_decade))
        return cls(k(low, "lr low"), k(high, "lr high"), per_decade,
                   None if lr_min is None else k(lr_min, "lr_min"), None if lr_max is None else k(lr_max, "lr_max"))


def lr_of(k: int, per_decade: int) -> float:
    """``10 ** (k / per_decade)``, the same float everywhere."""
    return float(10.0 ** (k / per_decade))


@dataclass(frozen=True)
class Choice:
    """The outcome of :func:`choose`: the chosen index and lr, the indices still to run (``extend``,
    empty when the choice is final), and whether a hard grid limit stopped an extension."""

    k: int
    lr: float
    extend: tuple[int, ...]
    at_limit: bool
    scores: tuple[tuple[int, float], ...]

    @property
    def final(self) -> bool:
        return not self.extend


def choose(scores: Mapping[int, float], grid: Grid) -> Choice:
    """Select an index from ``scores`` (index -> score, higher is better; NaN = failed, never chosen
    unless every score is NaN) by the rule in the module doc."""
    if not scores:
        raise ValueError("no tuning scores to choose from")
    ks = sorted(int(k) for k in scores)
    vals = np.array([float(scores[k]) for k in ks])
    finite = ~np.isnan(vals)
    lo, hi = ks[0], ks[-1]
    if not finite.any():
        # every lr failed: extend downwards (smaller steps fail less), else report at the limit
        ext = (lo - 1,) if lo - 1 >= grid.k_min else ()
        return Choice(lo, grid.lr(lo), ext, not ext, tuple(zip(ks, vals.tolist())))
    best = np.nanmax(vals)
    block = [k for k, v, ok in zip(ks, vals, finite) if ok and v == best]
    k = block[(len(block) - 1) // 2]
    extend: list[int] = []
    at_limit = False
    if block[0] == lo:
        if lo - 1 >= grid.k_min:
            extend.append(lo - 1)
        else:
            at_limit = True
    if block[-1] == hi:
        if hi + 1 <= grid.k_max:
            extend.append(hi + 1)
        else:
            at_limit = True
    return Choice(k, grid.lr(k), tuple(extend), at_limit and not extend, tuple(zip(ks, vals.tolist())))


def mean_rank_scores(records: pd.DataFrame, *, index: str, units: Iterable[str], value: str) -> dict[int, float]:
    """Score of each grid index: the mean over tuning units of the rank of that index's ``value``
    among all indices run on the unit (rank 1 = lowest, ties share their mean rank; NaN values rank
    lowest).  Scale-free, so units whose values differ by orders of magnitude weigh equally.

    ``records`` holds one row per (unit, index) or several (their mean is taken first).
    """
    units = list(units)
    if records.empty:
        return {}
    per = records.groupby(units + [index], dropna=False)[value].mean().reset_index()
    per["_rank"] = per.groupby(units, dropna=False)[value].rank(method="average", na_option="top")
    return {int(k): float(v) for k, v in per.groupby(index)["_rank"].mean().items()}


#: How a tuning unit's rows at one index are summarized, and how the units are combined (see :class:`Score`).
PER_UNIT: tuple[str, ...] = ("mean", "max")
ACROSS: tuple[str, ...] = ("rank", "mean")


@dataclass(frozen=True)
class Score:
    """The tuning score of a grid index, a function of the tuning records only (higher is better).

    Per tuning unit (the columns ``units``) and index (the column ``index``), the rows' ``value`` is
    summarized by ``per_unit`` (``mean`` or ``max``, e.g. over starts).  Across units, ``across = "rank"``
    gives the mean over units of the index's rank among the unit's indices (:func:`mean_rank_scores`:
    scale-free), ``across = "mean"`` the mean of the unit values (in record order).  With ``failed`` (a
    boolean column), an index at which any row failed scores NaN, so :func:`choose` never picks it unless
    every index failed.
    """

    value: str
    units: tuple[str, ...]
    index: str = "lr_index"
    per_unit: str = "mean"
    across: str = "rank"
    failed: str | None = None

    def __post_init__(self) -> None:
        if self.per_unit not in PER_UNIT or self.across not in ACROSS:
            raise ValueError(f"per_unit must be one of {PER_UNIT} and across one of {ACROSS}, "
                             f"got {self.per_unit!r}, {self.across!r}")


def scores(records: pd.DataFrame, score: Score) -> dict[int, float]:
    """The score of every index the ``records`` hold (the rule in :class:`Score`); empty without records."""
    if records.empty:
        return {}
    units = list(score.units)
    per = records.groupby(units + [score.index], sort=False, dropna=False)[score.value].agg(score.per_unit)
    per = per.reset_index()
    if score.across == "rank":
        out = mean_rank_scores(per, index=score.index, units=units, value=score.value)
    else:
        out = {int(k): float(g.astype(float).mean()) for k, g in per.groupby(score.index, sort=False)[score.value]}
    if score.failed is not None:
        from benchmarks.framework.codec import as_bool

        failed = as_bool(records[score.failed]).fillna(False).astype(bool).groupby(records[score.index]).any()
        out = {k: math.nan if bool(failed.get(k, False)) else v for k, v in out.items()}
    return out


def choose_records(records: pd.DataFrame, grid: Grid, score: Score) -> Choice:
    """The chooser over stored tuning records: :func:`choose` on :func:`scores` of ``records``."""
    return choose(scores(records, score), grid)


def disjoint(tuning: Iterable[object], evaluation: Iterable[object]) -> None:
    """ValueError naming the shared items when the tuning and evaluation sets overlap."""
    shared = set(tuning) & set(evaluation)
    if shared:
        raise ValueError(f"tuning and evaluation sets share {sorted(map(str, shared))[:10]}")
