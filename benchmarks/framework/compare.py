"""One comparison protocol for every claim: paired tests at the unit of replication, one Holm family per
claim, an interval for every effect, power, an equivalence margin and four verdicts.

**Samples are units of replication** (a toy instance, a CNN unit, a training seed), never the correlated
starts of one unit: the experiment summarizes a unit's starts by the claim's declared statistic first
(:mod:`benchmarks.framework.replication`), then every test here sees one value per unit and method.
Each test compares paired samples ``a`` (the method) and ``b`` (the reference) over ``n`` units, with
differences ``d = a - b`` on a normalized score (attained fraction of the reference: 1 at the
certified optimum or bound, else at the best value any method found on the unit):

- ``wilcoxon``: two-sided Wilcoxon signed-rank test (zero differences dropped; exact for small n), with
  the matched-pairs rank-biserial correlation ``r`` in [-1, 1] as its effect;
- ``t``: paired t-test, effect = Cohen's ``d_z = mean(d) / sd(d)``.

**Interval.** Every row carries ``mean_diff`` with a 95% confidence interval ``[diff_low, diff_high]``:
for the t-test the t interval; for the Wilcoxon test the percentile bootstrap of ``mean(d)`` resampling
units (``BOOTSTRAP_RESAMPLES`` resamples, seed 0), which is the cluster bootstrap over starts because
each unit enters once. The interval is the value itself when every difference is equal.

**Holm.** The p-values of one family (one claim, every method it tests) are Holm-adjusted together
(:func:`benchmarks.framework.stats.holm`); a test has that one adjusted p wherever it is shown.

**Power.** ``mde_dz`` is the smallest standardized effect ``d_z`` that the test detects with probability
``power`` (0.8) at two-sided level ``alpha / m`` (``m`` = family size: the first, most stringent Holm
step, so the figure is conservative for every step), from the number of units ``n``. For the t-test it
solves ``P(|T_{n-1}(delta)| > t_{1-alpha'/2, n-1}) = power`` with noncentrality ``delta = d_z sqrt(n)``;
for the Wilcoxon test the same formula with the effective size ``n * 3 / pi`` (its asymptotic relative
efficiency), and ``inf`` when even the most extreme outcome cannot reach ``alpha'`` (exact minimum
two-sided p ``2 / 2^n``). ``mde = mde_dz * max(sd(d), margin)``, in score units: the spread is floored at
the equivalence margin, so a test whose differences do not vary does not claim to resolve effects
finer than the margin.

**Outcome of one test** (``outcome``), with the claim's equivalence ``margin`` and ``relevance``
threshold (both in score units):

- ``higher`` / ``lower`` when ``p_holm < alpha``, the interval excludes 0 on that side, and the interval
  is not inside ``[-margin, margin]``;
- ``equivalent`` when the interval lies inside ``[-margin, margin]`` (a significant but irrelevant
  difference is equivalent too);
- ``inconclusive`` otherwise: neither a detected difference nor a shown equivalence.

``powered`` is ``mde <= relevance``: whether the test could have detected an effect of the relevance
threshold. An unpowered test's non-detection is no evidence against the claim, and the rules below
count it as inconclusive (never as a loss); a detection under Holm controls its error rate at any
power, so it stays a detection, flagged unpowered (its estimate may be inflated).

**Verdicts** of one method, from its ``m`` test rows (``h`` higher, ``l`` lower, ``e`` equivalent):

- rule ``majority`` (the claim holds in general): *supported* when ``h > m/2`` and ``l = 0``;
  *contradicted* when ``h = 0`` and ``l + e > m/2``; *mixed* when ``h > 0`` and ``l + e > 0``;
  else *inconclusive*;
- rule ``some`` (the claim holds "on some benchmarks"): *supported* when ``h >= 1`` and ``l = 0``;
  *contradicted* when ``h = 0`` and ``l + e > m/2``; *mixed* when ``h >= 1`` and ``l >= 1``;
  else *inconclusive*.

A claim without any test row is *not tested* (nothing ran), which is a status, not a verdict.

A claim decided group by group (e.g. per model) takes :func:`coverage_verdict` of the groups; the parts of one
claim tested by several experiments combine by :func:`combined_verdict`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from benchmarks.framework import stats

ALPHA = 0.05
POWER = 0.8
#: Equivalence margin and relevance threshold of a claim on the normalized score, by default: 1% and 10% of
#: the reference (a test that cannot detect a tenth of the reference with 80% power decides nothing).
MARGIN = 0.01
RELEVANCE = 0.10
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 4000
TESTS: tuple[str, ...] = ("wilcoxon", "t")
#: Asymptotic relative efficiency of the Wilcoxon signed-rank test against the t-test (normal differences).
WILCOXON_ARE = 3.0 / math.pi


def format_p(p: float | None) -> str:
    """A p-value for text: two significant digits, ``n/a`` when missing or NaN."""
    if p is None or not math.isfinite(float(p)):
        return "n/a"
    return f"{float(p):.2g}"


def _t_power(dz: float, n: int, level: float) -> float:
    df = n - 1
    crit = float(_st.t.ppf(1.0 - level / 2.0, df))
    nc = dz * math.sqrt(n)
    return float(_st.nct.sf(crit, df, nc) + _st.nct.cdf(-crit, df, nc))


def min_detectable_effect(n: int, *, family_size: int = 1, test: str = "wilcoxon", alpha: float = ALPHA,
                          power: float = POWER) -> float:
    """Smallest standardized effect ``d_z`` detected with probability ``power`` (see the module docstring).

    ``n``: pairs with a nonzero difference (Wilcoxon) or all pairs (t); ``family_size``: tests Holm-adjusted
    together (>= 1). Returns ``inf`` when no effect can be detected with ``n`` pairs.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if not isinstance(family_size, int) or family_size < 1:
        raise ValueError(f"family_size must be an int >= 1, got {family_size!r}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha!r}, power={power!r}")
    level = alpha / family_size
    if test == "wilcoxon":
        if n < 1 or 2.0 / 2.0 ** n > level:
            return math.inf
        n_eff = n * WILCOXON_ARE
    else:
        if n < 2:
            return math.inf
        n_eff = float(n)
    # The t power curve at the (possibly fractional) effective size; bisection on d_z.
    size = max(2, int(math.floor(n_eff)))
    scale = math.sqrt(n_eff / size)
    lo, hi = 0.0, 1.0
    while _t_power(hi * scale, size, level) < power:
        hi *= 2.0
        if hi > 1e6:
            return math.inf
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if _t_power(mid * scale, size, level) < power:
            lo = mid
        else:
            hi = mid
    return hi


def paired_test(a: Sequence[float], b: Sequence[float], *, test: str = "wilcoxon") -> stats.PairedTest:
    """One paired test of ``a`` against ``b`` (see the module docstring for the two tests)."""
    if test == "wilcoxon":
        return stats.wilcoxon_paired(a, b)
    if test == "t":
        return stats.paired_t(a, b)
    raise ValueError(f"test must be one of {TESTS}, got {test!r}")


@dataclass(frozen=True)
class Pair:
    """One test of a family: the labels of the group it belongs to and the paired samples, one per unit."""

    labels: Mapping[str, Any]
    a: np.ndarray
    b: np.ndarray


OUTCOMES: tuple[str, ...] = ("higher", "lower", "equivalent", "inconclusive")


def mean_interval(d: np.ndarray, *, test: str = "wilcoxon", confidence: float = CONFIDENCE,
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The confidence interval of ``mean(d)`` over units (see the module docstring): t interval for
    ``test == "t"``, else the percentile bootstrap resampling units.  Fewer than two units give no interval
    ``(nan, nan)`` (one unit says nothing about the spread, so no outcome but ``inconclusive`` can follow);
    two or more equal differences give ``(d, d)``."""
    d = np.asarray(d, float)
    if d.size < 2:
        return math.nan, math.nan
    if np.all(d == d[0]):
        return float(d.mean()), float(d.mean())
    if test == "t":
        ci = stats.mean_ci(d, confidence=confidence)
        return ci.low, ci.high
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def outcome(p_holm: float, low: float, high: float, *, margin: float, alpha: float = ALPHA) -> str:
    """The outcome of one test (see the module docstring)."""
    inside = -margin <= low and high <= margin
    significant = math.isfinite(p_holm) and p_holm < alpha
    if significant and low > 0 and not inside:
        return "higher"
    if significant and high < 0 and not inside:
        return "lower"
    return "equivalent" if inside else "inconclusive"


def family_table(pairs: Sequence[Pair], *, test: str = "wilcoxon", alpha: float = ALPHA, power: float = POWER,
                 margin: float = MARGIN, relevance: float = RELEVANCE) -> pd.DataFrame:
    """The family's table: one row per pair, its labels, the test, Holm-adjusted p, interval, power, outcome.

    Columns after the labels: ``test``, ``n`` (units), ``wins``, ``ties``, ``losses``, ``statistic``,
    ``median_diff``, ``mean_diff``, ``diff_low``/``diff_high`` (the interval of :func:`mean_interval`),
    ``effect`` (rank-biserial or ``d_z``), ``p``, ``p_holm``, ``family_size``, ``mde_dz``, ``mde``,
    ``margin``, ``relevance``, ``powered`` (``mde <= relevance``), ``outcome`` and the booleans ``higher`` /
    ``lower`` (outcome higher / lower).
    """
    if not (0.0 <= margin and 0.0 < relevance):
        raise ValueError(f"need margin >= 0 and relevance > 0, got margin={margin!r}, relevance={relevance!r}")
    rows: list[dict[str, Any]] = []
    m = len(pairs)
    for pair in pairs:
        a, b = np.asarray(pair.a, float), np.asarray(pair.b, float)
        if a.shape != b.shape:
            raise ValueError(f"pair {dict(pair.labels)} has samples of lengths {a.size} and {b.size}")
        res = paired_test(a, b, test=test)
        d = a - b
        mde_dz = min_detectable_effect(int(d.size), family_size=max(1, m), test=test, alpha=alpha, power=power)
        sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
        spread = max(sd, margin) if math.isfinite(sd) else math.nan
        low, high = mean_interval(d, test=test)
        rows.append({**dict(pair.labels), "test": test, "n": res.n, "wins": res.wins, "ties": res.ties,
                     "losses": res.losses, "statistic": res.statistic,
                     "median_diff": float(np.median(d)) if d.size else math.nan,
                     "mean_diff": res.mean_diff, "diff_low": low, "diff_high": high,
                     "effect": res.effect, "p": res.p, "family_size": m, "mde_dz": mde_dz,
                     "mde": mde_dz * spread if math.isfinite(mde_dz) and math.isfinite(spread) else math.inf,
                     "margin": margin, "relevance": relevance})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table.insert(table.columns.get_loc("family_size"), "p_holm", stats.holm(table["p"].to_numpy(float)))
    table["powered"] = table["mde"] <= relevance
    table["outcome"] = [outcome(float(r.p_holm), float(r.diff_low), float(r.diff_high), margin=margin, alpha=alpha)
                        for r in table.itertuples()]
    table["higher"] = table["outcome"] == "higher"
    table["lower"] = table["outcome"] == "lower"
    return table


def untuned_note(step_sizes: Mapping[str, Sequence[float]]) -> str:
    """The label of a comparison whose methods share one step size instead of each running at its own tuned one.

    ``step_sizes``: optimizer (or setting) -> the step sizes the compared runs used.
    """
    parts = ", ".join(f"{k}: lr = {', '.join(f'{float(v):g}' for v in sorted(set(vs)))}"
                      for k, vs in step_sizes.items())
    return (f"Untuned comparison: every method runs at the same step size ({parts}), not at one tuned for it, "
            f"so a method whose best step size differs is measured at a disadvantage.")


@dataclass(frozen=True)
class Decision:
    """A verdict with the rationale that the rule wrote for it."""

    rule: str
    verdict: str
    rationale: str


def power_statement(table: pd.DataFrame, *, alpha: float = ALPHA, power: float = POWER) -> str:
    """n, family size, the smallest detectable effect and the declared thresholds of a family, in one sentence."""
    if table.empty:
        return "no tests"
    n_lo, n_hi = int(table["n"].min()), int(table["n"].max())
    finite = table["mde"][np.isfinite(table["mde"])]
    test = str(table["test"].iloc[0])
    margin, relevance = float(table["margin"].iloc[0]), float(table["relevance"].iloc[0])
    if finite.empty:
        reach = "no test in the family can reach significance with these n"
    else:
        lo, hi = float(finite.min()), float(finite.max())
        span = f"{lo:.2g}" if math.isclose(lo, hi, rel_tol=0.01) else f"{lo:.2g}-{hi:.2g}"
        gated = int((~(table["mde"] <= relevance)).sum())
        reach = (f"smallest effect detected with {power:.0%} power (mde): {span} in score units"
                 + (f"; {gated} of {len(table)} tests have an mde above the relevance threshold (unpowered: a "
                    f"non-detection there is no evidence either way)" if gated else ""))
    n_text = f"n = {n_lo}" if n_lo == n_hi else f"n = {n_lo}-{n_hi}"
    return (f"{n_text} units per test, {len(table)} {test} tests Holm-adjusted together at alpha = {alpha:g} "
            f"(power at level alpha/{len(table)}); equivalence margin {margin:g}, relevance threshold "
            f"{relevance:g}; {reach}")


def outcome_counts(table: pd.DataFrame) -> dict[str, int]:
    """``{outcome: count}`` over :data:`OUTCOMES` of a family table (zeros included)."""
    got = table["outcome"].value_counts().to_dict() if len(table) else {}
    return {o: int(got.get(o, 0)) for o in OUTCOMES}


def counts_text(table: pd.DataFrame) -> str:
    """``higher in h, lower in l, equivalent in e, inconclusive in i of m``."""
    c = outcome_counts(table)
    return (f"higher in {c['higher']}, lower in {c['lower']}, equivalent in {c['equivalent']}, "
            f"inconclusive in {c['inconclusive']} of {len(table)}")


RULE_TEXT: dict[str, str] = {
    "majority": ("supported when higher in more than half of the m tests and lower in none; contradicted when "
                 "higher in none and lower or equivalent in more than half; mixed when higher in some and lower "
                 "or equivalent in some; else inconclusive"),
    "some": ("supported when higher in at least one test and lower in none; contradicted when higher in none "
             "and lower or equivalent in more than half; mixed when higher in some and lower in some; else "
             "inconclusive"),
}
"""The declared decision rules (see the module docstring)."""

VERDICTS: tuple[str, ...] = ("supported", "contradicted", "mixed", "inconclusive")


def decide(rule: str, table: pd.DataFrame, *, alpha: float = ALPHA) -> Decision:
    """The verdict of one method's test rows ``table`` (a slice of a family table) under ``rule``."""
    if rule not in RULE_TEXT:
        raise ValueError(f"rule must be one of {sorted(RULE_TEXT)}, got {rule!r}")
    c, m = outcome_counts(table), len(table)
    h, low, e = c["higher"], c["lower"], c["equivalent"]
    if m == 0:
        return Decision(rule, "not tested", "no test rows")
    if rule == "majority":
        verdict = ("supported" if h > m / 2 and low == 0 else "contradicted" if h == 0 and low + e > m / 2
                   else "mixed" if h > 0 and low + e > 0 else "inconclusive")
    else:
        verdict = ("supported" if h >= 1 and low == 0 else "contradicted" if h == 0 and low + e > m / 2
                   else "mixed" if h >= 1 and low >= 1 else "inconclusive")
    rationale = (f"Decision rule {rule}: a test is higher or lower when its Holm p < {alpha:g} and its 95% "
                 f"interval excludes 0 and is not inside the equivalence margin, equivalent when the interval is "
                 f"inside the margin, else inconclusive; {RULE_TEXT[rule]}. Observed: {counts_text(table)}. "
                 f"{power_statement(table, alpha=alpha)}.")
    return Decision(rule, verdict, rationale)


def coverage_verdict(counts: Sequence[int]) -> str:
    """The verdict of a claim decided group by group, from each group's count of what holds in it (a group
    counts when its count is positive): supported when every group counts, mixed when some do, contradicted
    when none does. No group at all is supported (nothing contradicts the claim); callers test emptiness."""
    counted = sum(1 for c in counts if c > 0)
    return "supported" if counted == len(counts) else "mixed" if counted else "contradicted"


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for several parts of a claim (one per experiment): "not tested" parts are left out; equal
    verdicts stay; different verdicts among the tested parts give "mixed"; nothing tested gives "not tested".
    A value that is neither a verdict nor "not tested" raises ValueError."""
    known = (*VERDICTS, "not tested")
    for v in verdicts:
        if v not in known:
            raise ValueError(f"verdict must be one of {known}, got {v!r}")
    tested = {v for v in verdicts if v != "not tested"}
    if not tested:
        return "not tested"
    return tested.pop() if len(tested) == 1 else "mixed"


STUCK, MOVED = "stuck", "moved"


def split_stuck(rows: pd.DataFrame, stuck: pd.DataFrame, units: Sequence[str]) -> dict[str, pd.DataFrame]:
    """``{"stuck": rows of stuck units, "moved": rows of the other units}``. ``stuck`` has one row per unit
    (its ``units`` columns) and a boolean ``stuck`` decided before any method ran (for example: the plain
    gradient is zero at every start); rows of units it does not list belong to neither part."""
    units = list(units)
    if rows.empty or stuck.empty:
        return {STUCK: rows.iloc[0:0], MOVED: rows.iloc[0:0]}
    flag = rows[units].merge(stuck[[*units, "stuck"]], on=units, how="left")["stuck"].to_numpy()
    return {STUCK: rows[flag == True], MOVED: rows[flag == False]}  # noqa: E712 (NaN: neither)
