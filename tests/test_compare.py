"""The comparison module: power, Holm families and the named decision rules."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from benchmarks.framework import compare


@pytest.mark.parametrize("n", [10, 30])
def test_t_mde_solves_the_noncentral_t_power_equation(n):
    dz = compare.min_detectable_effect(n, test="t")
    crit = st.t.ppf(0.975, n - 1)
    power = st.nct.sf(crit, n - 1, dz * math.sqrt(n)) + st.nct.cdf(-crit, n - 1, dz * math.sqrt(n))
    assert power == pytest.approx(0.8, abs=1e-6)
    assert 0.9 < dz < 1.1 if n == 10 else 0.5 < dz < 0.56


def test_mde_grows_with_the_family_and_shrinks_with_n():
    one = compare.min_detectable_effect(20, family_size=1, test="t")
    five = compare.min_detectable_effect(20, family_size=5, test="t")
    assert five > one > compare.min_detectable_effect(40, family_size=1, test="t")


def test_wilcoxon_mde_is_infinite_when_the_exact_test_cannot_reach_the_level():
    # two-sided exact minimum p = 2 / 2^n: 0.0625 at n = 5, 0.031 at n = 6
    assert math.isinf(compare.min_detectable_effect(5, test="wilcoxon"))
    assert math.isfinite(compare.min_detectable_effect(6, test="wilcoxon"))
    # Holm over 4 tests: the first step is at 0.0125, which n = 6 cannot reach (0.031) but n = 8 can (0.0078)
    assert math.isinf(compare.min_detectable_effect(6, family_size=4, test="wilcoxon"))
    assert math.isfinite(compare.min_detectable_effect(8, family_size=4, test="wilcoxon"))


@pytest.mark.parametrize("test, n", [("t", 12), ("wilcoxon", 25)])
def test_simulated_power_at_the_mde_is_eighty_percent(test, n):
    dz = compare.min_detectable_effect(n, test=test)
    rng = np.random.default_rng(0)
    sims = 3000
    d = rng.standard_normal((sims, n)) + dz
    if test == "t":
        p = st.ttest_1samp(d, 0.0, axis=1).pvalue
    else:
        p = np.array([st.wilcoxon(row).pvalue for row in d])
    power = float((p < 0.05).mean())
    tol = 0.03 if test == "t" else 0.06  # the Wilcoxon figure rests on the asymptotic efficiency 3/pi
    assert abs(power - 0.8) < tol, power


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="'z'"):
        compare.min_detectable_effect(10, test="z")
    with pytest.raises(ValueError, match="family_size"):
        compare.min_detectable_effect(10, family_size=0)


def _pair(shift: float, n: int = 20, seed: int = 0, **labels) -> compare.Pair:
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(n)
    return compare.Pair(labels, b + shift + 0.1 * rng.standard_normal(n), b)


def test_family_table_flags_significant_direction_after_holm():
    pairs = [_pair(1.0, g="up"), _pair(-1.0, seed=1, g="down"), _pair(0.0, seed=2, g="none")]
    t = compare.family_table(pairs, test="wilcoxon", relevance=0.5)
    assert list(t["g"]) == ["up", "down", "none"]
    assert (t["p_holm"] >= t["p"]).all() and (t["family_size"] == 3).all()
    assert t["outcome"].tolist() == ["higher", "lower", "inconclusive"]
    assert t["higher"].tolist() == [True, False, False]
    assert t["lower"].tolist() == [False, True, False]
    assert np.isfinite(t["mde_dz"]).all() and (t["mde"] > 0).all()
    # every row carries a finite interval of the mean difference around the true shift
    assert np.isfinite(t[["diff_low", "diff_high"]].to_numpy()).all()
    assert t["diff_low"].iloc[0] < 1.0 < t["diff_high"].iloc[0]
    tt = compare.family_table([_pair(1.0)], test="t")
    assert tt["diff_low"].iloc[0] < 1.0 < tt["diff_high"].iloc[0]


def test_family_table_rejects_unequal_pairs():
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        compare.family_table([compare.Pair({"g": 1}, np.ones(3), np.ones(2))])


def test_an_unpowered_non_detection_is_inconclusive_and_a_detection_is_flagged_unpowered():
    # 8 units, a large shift: significant, but the mde exceeds a tight relevance threshold
    t = compare.family_table([_pair(1.0, n=8, g=0)], relevance=0.01)
    assert t["p_holm"].iloc[0] < 0.05 and t["mde"].iloc[0] > 0.01
    assert t["outcome"].iloc[0] == "higher" and not t["powered"].iloc[0]
    # no shift, too few units to detect the relevance threshold: inconclusive, never a loss
    d = np.array([0.05, -0.05, 0.1, -0.1, 0.02, -0.03, 0.04, -0.02])
    t = compare.family_table([compare.Pair({"g": 0}, d, np.zeros(8))], relevance=0.01)
    assert t["outcome"].iloc[0] == "inconclusive" and not t["powered"].iloc[0]
    assert compare.decide("majority", t).verdict == "inconclusive"


def test_significant_but_tiny_difference_is_equivalent_not_lower():
    # 88 ties and 8 tiny losses (the bumps/ascent case): significant, but inside the 1% margin
    d = np.r_[np.zeros(88), -0.004 * np.ones(8)]
    t = compare.family_table([compare.Pair({"g": 0}, d, np.zeros_like(d))])
    assert t["p"].iloc[0] < 0.05
    assert t["outcome"].iloc[0] == "equivalent" and not t["lower"].iloc[0]


def test_constant_differences_do_not_claim_an_mde_of_zero():
    t = compare.family_table([compare.Pair({"g": 0}, np.full(20, 0.1), np.zeros(20))])
    assert t["mde"].iloc[0] > 0 and t["diff_low"].iloc[0] == t["diff_high"].iloc[0] == pytest.approx(0.1)
    assert t["outcome"].iloc[0] == "higher"


def test_all_ties_are_equivalent():
    t = compare.family_table([compare.Pair({"g": 0}, np.ones(20), np.ones(20))])
    assert t["outcome"].iloc[0] == "equivalent" and t["p"].iloc[0] == 1.0


def _table(outcomes):
    return pd.DataFrame({"outcome": outcomes, "n": 20, "test": "wilcoxon", "mde": 0.01, "margin": 0.01,
                         "relevance": 0.05})


@pytest.mark.parametrize("outcomes, rule, verdict", [
    (["higher", "higher", "equivalent"], "majority", "supported"),
    (["higher", "higher", "lower"], "majority", "mixed"),
    (["higher", "inconclusive", "inconclusive"], "majority", "inconclusive"),
    (["higher", "equivalent", "inconclusive"], "majority", "mixed"),
    (["equivalent", "lower", "inconclusive"], "majority", "contradicted"),
    (["inconclusive"] * 3, "majority", "inconclusive"),
    (["higher", "inconclusive", "inconclusive"], "some", "supported"),
    (["higher", "lower", "inconclusive"], "some", "mixed"),
    (["higher", "equivalent", "equivalent"], "some", "supported"),
    (["equivalent", "equivalent", "inconclusive"], "some", "contradicted"),
    (["equivalent", "inconclusive", "inconclusive"], "some", "inconclusive"),
])
def test_four_verdicts(outcomes, rule, verdict):
    d = compare.decide(rule, _table(outcomes))
    assert d.verdict == verdict and d.rule == rule
    assert "n = 20" in d.rationale and "equivalence margin" in d.rationale


def test_decide_rejects_an_unknown_rule_and_reports_not_tested_without_rows():
    with pytest.raises(ValueError, match="'majority-no-loss'"):
        compare.decide("majority-no-loss", _table(["higher"]))
    assert compare.decide("majority", _table([])).verdict == "not tested"


def test_power_statement_states_n_family_and_effect():
    text = compare.power_statement(compare.family_table([_pair(1.0, n=20, g=0), _pair(1.0, n=30, g=1)]))
    assert "n = 20-30" in text and "2 wilcoxon tests" in text and "80% power" in text


def test_format_p():
    assert compare.format_p(0.012345) == "0.012" and compare.format_p(float("nan")) == "n/a"
    assert compare.format_p(None) == "n/a"


def test_untuned_note_names_the_shared_step_sizes():
    note = compare.untuned_note({"ascent": [0.05, 0.05], "adam": [0.01]})
    assert note.startswith("Untuned comparison") and "ascent: lr = 0.05" in note and "adam: lr = 0.01" in note


@pytest.mark.parametrize("test", ["t", "wilcoxon"])
def test_one_unit_gives_no_interval_and_never_an_equivalence(test):
    """A single paired difference says nothing about its spread: no interval, and the outcome is
    inconclusive however small the difference is (it once came out 'equivalent' from a degenerate [d, d])."""
    from benchmarks.framework import compare

    lo, hi = compare.mean_interval(np.array([-0.0017]), test=test)
    assert math.isnan(lo) and math.isnan(hi)
    assert compare.outcome(float("nan"), lo, hi, margin=0.005) == "inconclusive"
    pair = compare.Pair({"name": "one"}, np.array([0.8918]), np.array([0.8935]))
    row = compare.family_table([pair], test=test, margin=0.005).iloc[0]
    assert row["n"] == 1 and row["outcome"] == "inconclusive"
    from benchmarks.framework import replication

    table = compare.family_table([pair], test=test, margin=0.005).assign(value=0.8918, value_ref=0.8935)
    assert "(no interval from n = 1)" in replication.effect_text(table, ["name"])
    assert compare.mean_interval(np.array([0.01, 0.01]), test=test) == (0.01, 0.01)


def test_coverage_verdict_counts_the_groups_where_the_claim_holds():
    assert compare.coverage_verdict([3, 1, 2]) == "supported"
    assert compare.coverage_verdict([3, 0, 2]) == "mixed"
    assert compare.coverage_verdict([0, 0]) == "contradicted"
    assert compare.coverage_verdict([-1, 0]) == "contradicted"  # only a positive count counts
    assert compare.coverage_verdict([]) == "supported"  # nothing contradicts it; callers test emptiness
