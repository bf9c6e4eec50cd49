"""Statistics shared by the harnesses: confidence intervals, paired tests, multiple-comparison correction.

All functions are deterministic (the bootstrap uses a fixed seed) and accept array-likes of floats.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _st


class Interval(NamedTuple):
    """A point estimate with the two ends of its confidence interval."""

    estimate: float
    low: float
    high: float


class PairedTest(NamedTuple):
    """Result of a paired comparison of ``a`` against ``b`` (differences ``d = a - b``)."""

    n: int
    wins: int          # d > 0
    ties: int          # d == 0
    losses: int        # d < 0
    statistic: float
    p: float
    effect: float      # rank-biserial (Wilcoxon) or Cohen's d_z (t-test)
    mean_diff: float
    low: float         # CI of the mean difference (t-test); NaN for Wilcoxon
    high: float


def _array(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if np.isnan(a).any():
        raise ValueError("statistics input contains NaN; drop missing values first")
    return a


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(_st.norm.ppf(0.5 + confidence / 2.0))


def bootstrap_ci(x: Sequence[float], statistic: Callable[[np.ndarray], float] = np.median, *,
                 confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                 method: str = "BCa") -> Interval:
    """Bootstrap CI of ``statistic(x)`` via ``scipy.stats.bootstrap`` with ``rng = default_rng(seed)``.

    ``n == 0`` gives NaNs; ``n == 1`` gives the value with a NaN interval; constant data gives the
    degenerate interval ``[c, c]``.  When BCa is undefined (NaN ends, e.g. heavy ties), the
    percentile interval is used instead.
    """
    a = _array(x)
    _z(confidence)
    if a.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    est = float(statistic(a))
    if a.size == 1:
        return Interval(est, math.nan, math.nan)
    if np.all(a == a[0]):
        return Interval(est, est, est)

    def stat(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        try:  # numpy reductions (median, mean) take axis= and run vectorized
            return np.asarray(statistic(sample, axis=axis))
        except TypeError:
            return np.apply_along_axis(statistic, axis, sample)

    def once(m: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.bootstrap((a,), stat, confidence_level=confidence, n_resamples=n_resamples,
                                method=m, rng=np.random.default_rng(seed), vectorized=True)
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    lo, hi = once(method)
    if not (math.isfinite(lo) and math.isfinite(hi)) and method != "percentile":
        lo, hi = once("percentile")
    return Interval(est, lo, hi)


def wilson(k: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a success rate ``p = k / n``.

    With ``z`` the normal quantile: centre ``(p + z^2/(2n)) / (1 + z^2/n)``, half-width
    ``z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))``.  ``n == 0`` gives NaNs.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k!r}, n={n!r}")
    z = _z(confidence)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(x: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """Mean with the t interval ``mean +- t_{n-1} * s / sqrt(n)`` (NaN ends for n < 2)."""
    a = _array(x)
    _z(confidence)
    if a.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    m = float(a.mean())
    if a.size < 2:
        return Interval(m, math.nan, math.nan)
    half = float(_st.t.ppf(0.5 + confidence / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
    return Interval(m, m - half, m + half)


def welch_diff_ci(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """``mean(a) - mean(b)`` of two independent samples with Welch's t interval.

    ``se^2 = s_a^2/n_a + s_b^2/n_b``; degrees of freedom by Welch-Satterthwaite,
    ``nu = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))``; ends ``diff +- t_nu * se``.
    NaN ends when either sample has fewer than 2 values; ``se == 0`` gives ``[diff, diff]``.
    """
    x, y = _array(a), _array(b)
    _z(confidence)
    if x.size == 0 or y.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return Interval(diff, math.nan, math.nan)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Interval(diff, diff, diff)
    dof = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, dof)) * se
    return Interval(diff, diff - half, diff + half)


def bounded_mean_ci(x: Sequence[float], *, low: float = 0.0, high: float = 1.0,
                    confidence: float = 0.95) -> Interval:
    """:func:`mean_ci` intersected with the range ``[low, high]`` of the quantity (an accuracy: [0, 1]).

    Every sample lies in ``[low, high]``, so the true mean does too: whenever the t interval covers it,
    the intersection covers it, and the coverage is unchanged.  ValueError for a sample outside the range.
    """
    a = _array(x)
    if not low < high:
        raise ValueError(f"need low < high, got low={low!r}, high={high!r}")
    if ((a < low) | (a > high)).any():
        raise ValueError(f"values outside [{low:g}, {high:g}]: {a[(a < low) | (a > high)].tolist()[:5]}")
    ci = mean_ci(a, confidence=confidence)
    if math.isnan(ci.low):
        return ci
    return Interval(ci.estimate, min(high, max(low, ci.low)), max(low, min(high, ci.high)))


def _counts(d: np.ndarray) -> tuple[int, int, int]:
    return int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())


def rank_biserial(d: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation ``r = (R+ - R-) / (R+ + R-)``.

    ``R+`` / ``R-`` are the sums of the ranks of ``|d|`` (average ranks for ties, zero differences
    dropped) over positive / negative differences.  ``r`` is in [-1, 1]; 0 when all ``d == 0``.
    """
    a = _array(d)
    a = a[a != 0]
    if a.size == 0:
        return 0.0
    ranks = _st.rankdata(np.abs(a))
    rp, rm = float(ranks[a > 0].sum()), float(ranks[a < 0].sum())
    return (rp - rm) / (rp + rm)


def wilcoxon_paired(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of ``a`` against ``b`` (pairs with ``a == b`` dropped).

    ``effect`` is the rank-biserial correlation (positive: ``a`` tends to be larger).  When every
    pair ties, ``p = 1`` and ``effect = 0``.
    """
    x, y = _array(a), _array(b)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    d = x - y
    wins, ties, losses = _counts(d)
    mean_diff = float(d.mean()) if d.size else math.nan
    nz = d[d != 0]
    if nz.size == 0:
        return PairedTest(int(d.size), wins, ties, losses, 0.0, 1.0, 0.0, mean_diff, math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _st.wilcoxon(nz, zero_method="wilcox", alternative="two-sided")
    return PairedTest(int(d.size), wins, ties, losses, float(res.statistic), float(res.pvalue),
                      rank_biserial(nz), mean_diff, math.nan, math.nan)


def paired_t(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> PairedTest:
    """Paired t-test of ``a`` against ``b``: ``t = mean(d) / (s_d / sqrt(n))``, df ``n - 1``.

    ``effect`` is Cohen's ``d_z = mean(d) / s_d``; ``low``/``high`` the t interval of ``mean(d)``.
    With ``s_d == 0`` the statistic, p and effect are NaN (undefined), the interval degenerate.
    """
    x, y = _array(a), _array(b)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    d = x - y
    wins, ties, losses = _counts(d)
    if d.size < 2:
        m = float(d.mean()) if d.size else math.nan
        return PairedTest(int(d.size), wins, ties, losses, math.nan, math.nan, math.nan, m, math.nan, math.nan)
    ci = mean_ci(d, confidence=confidence)
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return PairedTest(int(d.size), wins, ties, losses, math.nan, math.nan, math.nan, ci.estimate,
                          ci.estimate, ci.estimate)
    t = ci.estimate / (sd / math.sqrt(d.size))
    p = float(2 * _st.t.sf(abs(t), d.size - 1))
    return PairedTest(int(d.size), wins, ties, losses, float(t), p, ci.estimate / sd, ci.estimate, ci.low, ci.high)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values.

    With the ``m`` finite p-values sorted ascending, ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``
    (1-based ``j``), returned in the input order; NaN inputs stay NaN and do not count in ``m``.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if idx.size == 0:
        return out
    if ((p[idx] < 0) | (p[idx] > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[idx].tolist()}")
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        out[i] = running
    return out
