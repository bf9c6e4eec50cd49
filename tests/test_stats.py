"""benchmarks.framework.stats against values computed by hand (derivations in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.framework import stats


def test_wilson_matches_hand_computation():
    # k=8, n=10, z=1.959964: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.716741,
    # half-width z/(1 + z^2/10) * sqrt(0.016 + z^2/400) = 0.226577.
    p, lo, hi = stats.wilson(8, 10)
    assert p == 0.8
    assert lo == pytest.approx(0.716741 - 0.226577, abs=1e-5)
    assert hi == pytest.approx(0.716741 + 0.226577, abs=1e-5)
    # k=0: lower end 0, upper end (z^2/n) / (1 + z^2/n) = 0.384146 / 1.384146.
    p0, lo0, hi0 = stats.wilson(0, 10)
    assert (p0, lo0) == (0.0, 0.0) and hi0 == pytest.approx(0.384146 / 1.384146, abs=1e-6)
    assert all(math.isnan(v) for v in stats.wilson(0, 0))
    with pytest.raises(ValueError, match="k=11"):
        stats.wilson(11, 10)


def test_holm_matches_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    adj2 = stats.holm([0.5, np.nan, 0.6])  # m = 2: 0.5*2 = 1.0 (capped), then max(1.0, 0.6) = 1.0
    assert adj2[0] == 1.0 and math.isnan(adj2[1]) and adj2[2] == 1.0
    with pytest.raises(ValueError, match="1.5"):
        stats.holm([1.5])


def test_rank_biserial_and_wilcoxon_by_hand():
    # d = [1, 2, -3, 4]: ranks of |d| = 1, 2, 3, 4; R+ = 7, R- = 3 -> r = (7 - 3) / 10.
    a, b = [2.0, 3.0, 0.0, 5.0, 7.0], [1.0, 1.0, 3.0, 1.0, 7.0]
    assert stats.rank_biserial(np.subtract(a, b)) == pytest.approx(0.4)
    t = stats.wilcoxon_paired(a, b)
    assert (t.n, t.wins, t.ties, t.losses) == (5, 3, 1, 1)
    # exact null of T = min(R+, R-) = 3 over 2^4 sign patterns: subset sums of {1,2,3,4} <= 3 are
    # {}, {1}, {2}, {3}, {1,2} -> P(T <= 3) = 5/16, two-sided p = 10/16.
    assert t.statistic == 3.0 and t.p == pytest.approx(10 / 16)
    assert t.effect == pytest.approx(0.4)
    tie = stats.wilcoxon_paired([1.0, 2.0], [1.0, 2.0])
    assert (tie.p, tie.effect, tie.ties) == (1.0, 0.0, 2)
    with pytest.raises(ValueError, match="length"):
        stats.wilcoxon_paired([1.0], [1.0, 2.0])


def test_paired_t_and_mean_ci_by_hand():
    # d = [1, 2, 3]: mean 2, s = 1, t = 2 / (1/sqrt(3)) = 2 sqrt(3); df = 2 has the closed-form
    # tail P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2 -> p = 1 - 2 sqrt(3) / sqrt(14).
    r = stats.paired_t([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert r.statistic == pytest.approx(2 * math.sqrt(3))
    assert r.p == pytest.approx(1 - 2 * math.sqrt(3) / math.sqrt(14))
    assert r.effect == pytest.approx(2.0) and r.mean_diff == pytest.approx(2.0)
    # t_{0.975, 2} = 4.302653 -> half-width 4.302653 / sqrt(3)
    m, lo, hi = stats.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), abs=1e-6) and m - lo == pytest.approx(hi - m)
    const = stats.paired_t([1.0, 2.0], [0.0, 1.0])
    assert math.isnan(const.p) and const.low == const.high == 1.0


def test_bootstrap_ci_is_deterministic_and_sane():
    x = np.random.default_rng(0).standard_normal(60) + 5.0
    a = stats.bootstrap_ci(x, np.median, seed=3)
    b = stats.bootstrap_ci(x, np.median, seed=3)
    assert a == b
    assert a.low < a.estimate < a.high and a.estimate == np.median(x)
    assert 4.0 < a.low and a.high < 6.0
    mean = stats.bootstrap_ci(x, np.mean, seed=0)
    t = stats.mean_ci(x)
    # the bootstrap and t intervals of a normal sample's mean agree to within a fraction of their width
    assert abs(mean.low - t.low) < 0.25 * (t.high - t.low) and abs(mean.high - t.high) < 0.25 * (t.high - t.low)
    assert stats.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    one = stats.bootstrap_ci([1.5])
    assert one.estimate == 1.5 and math.isnan(one.low)
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], confidence=1.5)
