"""The comparison module: power, Holm families and the named decision rules."""
from __future__ import annotations

import math

import numpy as np
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
    t = compare.family_table(pairs, test="wilcoxon")
    assert list(t["g"]) == ["up", "down", "none"]
    assert (t["p_holm"] >= t["p"]).all() and (t["family_size"] == 3).all()
    assert t["higher"].tolist() == [True, False, False]
    assert t["lower"].tolist() == [False, True, False]
    assert np.isfinite(t["mde_dz"]).all() and (t["mde"] > 0).all()
    # the t-test table carries the t interval of the mean difference around the true shift
    tt = compare.family_table([_pair(1.0)], test="t")
    assert tt["diff_low"].iloc[0] < 1.0 < tt["diff_high"].iloc[0]


def test_family_table_rejects_unequal_pairs():
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        compare.family_table([compare.Pair({"g": 1}, np.ones(3), np.ones(2))])


def test_majority_no_loss_verdicts():
    up = [_pair(1.0, seed=s, g=s) for s in range(3)]
    assert compare.majority_no_loss(compare.family_table(up)).verdict == "reproduced"
    mixed = [_pair(1.0, g=0), _pair(1.0, seed=1, g=1), _pair(-1.0, seed=2, g=2)]
    d = compare.majority_no_loss(compare.family_table(mixed))
    assert d.verdict == "partly reproduced" and "higher in 2, lower in 1 of 3" in d.rationale
    flat = [_pair(0.0, seed=s, g=s) for s in range(3)]
    assert compare.majority_no_loss(compare.family_table(flat)).verdict == "not reproduced"
    tiny = [_pair(1.0, n=4, g=0)]
    d = compare.majority_no_loss(compare.family_table(tiny))
    assert d.verdict == "not tested" and "No test can reach significance" in d.rationale


def test_some_gain_verdicts():
    one = [_pair(1.0, g=0), _pair(-1.0, seed=1, g=1)]
    assert compare.some_gain(compare.family_table(one, test="t")).verdict == "reproduced"
    ahead = [compare.Pair({"g": 0}, np.array([0.03, -0.02, 0.01]), np.zeros(3))]
    assert compare.some_gain(compare.family_table(ahead, test="t")).verdict == "partly reproduced"
    worse = [_pair(-1.0, g=0)]
    assert compare.some_gain(compare.family_table(worse, test="t")).verdict == "not reproduced"


def test_each_claim_has_one_declared_rule():
    table = compare.family_table([_pair(1.0, g=0)])
    assert compare.decide("slope-raises-maxima", table).rule == "majority-no-loss"
    assert compare.decide("beyond:network-0.5", table).rule == "majority-no-loss"
    assert compare.decide("training", compare.family_table([_pair(1.0, g=0)], test="t")).rule == "some-gain"
    with pytest.raises(KeyError, match="am-fails"):
        compare.decide("am-fails", table)


def test_power_statement_states_n_family_and_effect():
    text = compare.power_statement(compare.family_table([_pair(1.0, n=20, g=0), _pair(1.0, n=30, g=1)]))
    assert "n = 20-30" in text and "2 wilcoxon tests" in text and "80% power" in text


def test_format_p():
    assert compare.format_p(0.012345) == "0.012" and compare.format_p(float("nan")) == "n/a"
    assert compare.format_p(None) == "n/a"


def test_untuned_note_names_the_shared_step_sizes():
    note = compare.untuned_note({"ascent": [0.05, 0.05], "adam": [0.01]})
    assert note.startswith("Untuned comparison") and "ascent: lr = 0.05" in note and "adam: lr = 0.01" in note
