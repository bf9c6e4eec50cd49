"""One comparison protocol for every claim: paired tests against a reference, Holm over a declared family,
effect sizes, power, and a small set of named decision rules.

A *family* is the set of paired tests that one claim makes (for example "the largest ProxyGrad slope
against plain AM, once per toy family"). Each test compares paired samples ``a`` (the method) and ``b``
(the reference) with differences ``d = a - b``:

- ``wilcoxon``: two-sided Wilcoxon signed-rank test (zero differences dropped), effect = matched-pairs
  rank-biserial correlation ``r`` in [-1, 1];
- ``t``: paired t-test, effect = Cohen's ``d_z = mean(d) / sd(d)``, with the t interval of ``mean(d)``.

The p-values of the family are Holm-adjusted together (:func:`benchmarks.framework.stats.holm`). A test is
*significantly higher* when ``p_holm < alpha`` and its effect is positive, *significantly lower* when
``p_holm < alpha`` and its effect is negative.

**Power.** ``mde_dz`` is the smallest standardized effect ``d_z = mean(d) / sd(d)`` that the test detects with
probability ``power`` (0.8) at two-sided level ``alpha / m`` (``m`` = family size: the first, most stringent
Holm step, so the figure is conservative for every step). For the t-test it solves
``P(|T_{n-1}(delta)| > t_{1-alpha'/2, n-1}) = power`` with noncentrality ``delta = d_z sqrt(n)`` exactly (noncentral
t). For the Wilcoxon test it uses the same formula with the effective sample size ``n * 3 / pi`` (the test's
asymptotic relative efficiency against the t-test under normal differences), and ``inf`` when ``n`` is so
small that even the most extreme outcome cannot reach ``alpha'`` (the exact two-sided minimum p-value
``2 / 2^n``). ``mde`` is ``mde_dz`` times the observed ``sd(d)``, in the units of the compared values.

**Decision rules** map a family's table to a verdict and a rationale that states the rule, the counts and
the power; every claim names the rule it uses, and the same claim uses the same rule in every experiment:

- ``majority-no-loss``: reproduced when significantly higher in more than half of the tests and
  significantly lower in none; partly reproduced when significantly higher in at least one; else not
  reproduced;
- ``some-gain``: reproduced when significantly higher in at least one test ("on some benchmarks");
  partly reproduced when none is significant but some effect is positive (a higher mean without
  significance: no evidence of a gain, reported as such); else not reproduced;

and every rule gives "not tested" when no test of the family can reach significance at all (``mde_dz`` is
infinite for all of them).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from benchmarks.framework import stats

ALPHA = 0.05
POWER = 0.8
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
    """One test of a family: the labels of the group it belongs to and the paired samples."""

    labels: Mapping[str, Any]
    a: np.ndarray
    b: np.ndarray


def family_table(pairs: Sequence[Pair], *, test: str = "wilcoxon", alpha: float = ALPHA,
                 power: float = POWER) -> pd.DataFrame:
    """The family's table: one row per pair, its labels, the test, Holm-adjusted p and power.

    Columns after the labels: ``test``, ``n``, ``wins``, ``ties``, ``losses``, ``statistic``, ``median_diff``, ``mean_diff``,
    ``diff_low``/``diff_high`` (t interval of the mean difference; NaN for Wilcoxon), ``effect`` (rank-biserial
    or ``d_z``), ``p``, ``p_holm``, ``family_size``, ``mde_dz``, ``mde``, ``higher``, ``lower``
    (significantly higher / lower after Holm).
    """
    rows: list[dict[str, Any]] = []
    m = len(pairs)
    for pair in pairs:
        a, b = np.asarray(pair.a, float), np.asarray(pair.b, float)
        if a.shape != b.shape:
            raise ValueError(f"pair {dict(pair.labels)} has samples of lengths {a.size} and {b.size}")
        res = paired_test(a, b, test=test)
        d = a - b
        n_power = int((d != 0).sum()) if test == "wilcoxon" else int(d.size)
        mde_dz = min_detectable_effect(n_power, family_size=max(1, m), test=test, alpha=alpha, power=power)
        sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
        rows.append({**dict(pair.labels), "test": test, "n": res.n, "wins": res.wins, "ties": res.ties,
                     "losses": res.losses, "statistic": res.statistic, "median_diff": float(np.median(d)) if d.size else math.nan,
                     "mean_diff": res.mean_diff, "diff_low": res.low, "diff_high": res.high,
                     "effect": res.effect, "p": res.p, "family_size": m, "mde_dz": mde_dz,
                     "mde": mde_dz * sd if math.isfinite(mde_dz) and math.isfinite(sd) else math.inf})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table.insert(table.columns.get_loc("family_size"), "p_holm", stats.holm(table["p"].to_numpy(float)))
    significant = table["p_holm"] < alpha
    table["higher"] = significant & (table["effect"] > 0)
    table["lower"] = significant & (table["effect"] < 0)
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
    """n, family size and the smallest detectable effect of a family, in one sentence."""
    if table.empty:
        return "no tests"
    n_lo, n_hi = int(table["n"].min()), int(table["n"].max())
    finite = table["mde_dz"][np.isfinite(table["mde_dz"])]
    test = str(table["test"].iloc[0])
    effect = "d_z (mean difference / SD of the differences)"
    if finite.empty:
        reach = "no test in the family can reach significance with these n"
    else:
        lo, hi = float(finite.min()), float(finite.max())
        span = f"{lo:.2g}" if math.isclose(lo, hi, rel_tol=0.01) else f"{lo:.2g}-{hi:.2g}"
        reach = (f"smallest standardized effect {effect} detected with {power:.0%} power: {span}"
                 + (f" ({int((~np.isfinite(table['mde_dz'])).sum())} tests cannot reach significance)"
                    if len(finite) < len(table) else ""))
    n_text = f"n = {n_lo}" if n_lo == n_hi else f"n = {n_lo}-{n_hi}"
    return (f"{n_text} pairs per test, {len(table)} {test} tests Holm-adjusted together at alpha = {alpha:g} "
            f"(power at level alpha/{len(table)}); {reach}")


def _counts(table: pd.DataFrame) -> tuple[int, int, int]:
    """(significantly higher, significantly lower, tests) of a family table."""
    if table.empty:
        return 0, 0, 0
    return int(table["higher"].sum()), int(table["lower"].sum()), len(table)


def _not_tested(name: str, rule: str, table: pd.DataFrame, alpha: float) -> Decision | None:
    """The "not tested" decision when no test of the family can reach significance, else None."""
    if table.empty or not np.isfinite(table["mde_dz"]).any():
        return Decision(name, "not tested", f"{rule} No test can reach significance. "
                        f"{power_statement(table, alpha=alpha)}.")
    return None


def majority_no_loss(table: pd.DataFrame, *, alpha: float = ALPHA) -> Decision:
    """``majority-no-loss`` (see the module docstring)."""
    up, down, m = _counts(table)
    rule = (f"Decision rule majority-no-loss: reproduced when significantly higher (Holm p < {alpha:g}, positive "
            f"effect) in more than half of the {m} tests and significantly lower in none; partly reproduced "
            f"when significantly higher in at least one; else not reproduced.")
    untested = _not_tested("majority-no-loss", rule, table, alpha)
    if untested:
        return untested
    if up > m / 2 and down == 0:
        verdict = "reproduced"
    elif up > 0:
        verdict = "partly reproduced"
    else:
        verdict = "not reproduced"
    return Decision("majority-no-loss", verdict, f"{rule} Observed: higher in {up}, lower in {down} of {m}. "
                    f"{power_statement(table, alpha=alpha)}.")


def some_gain(table: pd.DataFrame, *, alpha: float = ALPHA) -> Decision:
    """``some-gain`` (see the module docstring)."""
    up, down, m = _counts(table)
    rule = (f"Decision rule some-gain: reproduced when significantly higher (Holm p < {alpha:g}, positive effect) "
            f"in at least one of the {m} tests; partly reproduced when none is significant but at least one "
            f"effect is positive (a higher mean without significance, no evidence of a gain); else not "
            f"reproduced.")
    untested = _not_tested("some-gain", rule, table, alpha)
    if untested:
        return untested
    ahead = int((table["effect"] > 0).sum())
    verdict = "reproduced" if up > 0 else "partly reproduced" if ahead > 0 else "not reproduced"
    return Decision("some-gain", verdict, f"{rule} Observed: significantly higher in {up}, lower in {down}, "
                    f"positive effect in {ahead} of {m}. {power_statement(table, alpha=alpha)}.")


RULES: dict[str, Callable[..., Decision]] = {"majority-no-loss": majority_no_loss, "some-gain": some_gain}
"""The named decision rules."""

CLAIM_RULES: dict[str, str] = {
    "slope-raises-maxima": "majority-no-loss",
    "beyond:peers": "majority-no-loss",
    "beyond:anneal": "majority-no-loss",
    "beyond:network": "majority-no-loss",
    "beyond:switch": "majority-no-loss",
    "beyond:best-of": "majority-no-loss",
    "beyond:certified-gaps-cnn": "majority-no-loss",
    "training": "some-gain",
}
"""The decision rule of each comparative claim, the same in every experiment that tests it."""


def decide(claim_key: str, table: pd.DataFrame, *, alpha: float = ALPHA) -> Decision:
    """The verdict of ``claim_key`` on its family ``table`` under the claim's declared rule.

    A key ``e-<variant>`` (e.g. ``beyond:network-0.5``) uses the rule of ``e``.
    """
    base = claim_key if claim_key in CLAIM_RULES else claim_key.rpartition("-")[0]
    if base not in CLAIM_RULES:
        raise KeyError(f"no decision rule declared for claim {claim_key!r}; declare it in CLAIM_RULES")
    return RULES[CLAIM_RULES[base]](table, alpha=alpha)


STUCK, MOVED = "stuck", "moved"


def stuck_units(reference: pd.DataFrame, units: Sequence[str], *, start: str = "f_start",
                best: str = "f_best") -> pd.DataFrame:
    """Which units the reference method never moves: one row per unit (its ``units`` columns) with
    ``stuck`` = ``best == start`` exactly on every row (every start) of the unit, and ``starts``, the rows.

    "Stuck" is where a backward rule can only help (the reference's gradient is zero or points out of
    the box from every start); "moved" is everything else.  Split comparisons report both parts.
    """
    units = list(units)
    if reference.empty:
        return pd.DataFrame(columns=[*units, "stuck", "starts"])
    still = (reference[best].to_numpy(float) == reference[start].to_numpy(float))
    g = reference.assign(_still=still).groupby(units, sort=True, dropna=False)["_still"]
    out = g.agg(["all", "size"]).reset_index().rename(columns={"all": "stuck", "size": "starts"})
    out["stuck"] = out["stuck"].astype(bool)
    return out


def split_stuck(rows: pd.DataFrame, stuck: pd.DataFrame, units: Sequence[str]) -> dict[str, pd.DataFrame]:
    """``{"stuck": rows of stuck units, "moved": rows of the other units}`` (``stuck`` from
    :func:`stuck_units`; rows of units it does not list belong to neither part)."""
    units = list(units)
    if rows.empty or stuck.empty:
        return {STUCK: rows.iloc[0:0], MOVED: rows.iloc[0:0]}
    flag = rows[units].merge(stuck[[*units, "stuck"]], on=units, how="left")["stuck"].to_numpy()
    return {STUCK: rows[flag == True], MOVED: rows[flag == False]}  # noqa: E712 (NaN: neither)
