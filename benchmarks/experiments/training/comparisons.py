"""The comparisons the training claim needs, declared as data (:class:`~benchmarks.framework.claims.ClaimSpec`)
and decided by the framework (:func:`benchmarks.framework.replication.evaluate`).

Rows (:func:`comparison_rows`): one per (dataset, arch, activation ``a``, proxy variant, comparison, side,
seed).  The side ``method`` is :data:`PROXY` (the variant ``a/proxy-<s>``) or :data:`REFERENCE`; the
comparison is

- :data:`SAME`: the reference is ``a/plain``, the same network trained conventionally (relu/proxy vs
  relu/plain, leaky/proxy vs leaky/plain: the paper's setting is the Leaky ReLU one);
- :data:`BEST`: the reference is the best conventional variant of the (dataset, arch), chosen on
  validation data (:func:`benchmarks.experiments.training.selection.best_conventional`).  Where that is
  ``a/plain`` the BEST test repeats the SAME test on the same numbers; it stays in the family (the family
  has one shape on every profile, and Holm only grows more cautious).

The unit of replication is the training seed (paired: every variant of a seed starts from the same weights
and sees the same batches).  The score is the final test accuracy (``score``, NaN for a diverged run, so a
seed where either side diverged drops out of that test) or, for the intention-to-treat line, ``itt``
(diverged runs at chance).  Every test is a paired t-test on the per-seed differences, with the t interval
of the mean difference (:mod:`benchmarks.framework.compare`); all tests of one claim form one Holm family.

Claims: ``C3`` on the tuned runs (each variant at its own lr, SAME and BEST comparisons), ``B9`` on the
matched runs (every variant at the profile's one ``matched_lr``, SAME comparisons): the same rule at the
same step size, which separates the backward rule from the step size.
"""
from __future__ import annotations

import pandas as pd

from benchmarks.framework.claims import ClaimSpec
from benchmarks.framework.methods import has_trait
from benchmarks.experiments.training.runs import GROUP

PROXY = "ProxyGrad"
REFERENCE = "conventional"
SAME = "same network, plain gradient"
BEST = "best conventional (validation)"
UNIT = ("seed",)
STRATA = ("dataset", "arch", "activation", "proxy", "comparison", "reference_variant")
#: Equivalence margin and relevance threshold of the training claims, in test-accuracy units.
MARGIN = 0.005
RELEVANCE = 0.02
RULE = "some"
STATEMENT = ("CNNs trained with ProxyGrad (forward pass unchanged, large negative slope in the backward pass) "
             "outperform conventionally trained networks on some benchmarks.")
MATCHED_STATEMENT = ("At one shared learning rate, networks trained with ProxyGrad outperform the same networks "
                     "trained with the plain gradient on some benchmarks.")


def spec(cid: str, key: str, statement: str, score: str = "score") -> ClaimSpec:
    """A training claim: ProxyGrad against the conventional reference per stratum, paired t over seeds."""
    return ClaimSpec(cid, key, statement, (PROXY,), REFERENCE, UNIT, STRATA, score, rule=RULE, margin=MARGIN,
                     relevance=RELEVANCE, test="t")


TUNED = spec("C3", "training", STATEMENT)
MATCHED = spec("B9", "beyond:training-matched-lr", MATCHED_STATEMENT)


def _side(runs: pd.DataFrame, method: str, activation: str, proxy: str, comparison: str,
          reference_variant: str) -> pd.DataFrame:
    cols = [*GROUP, "seed", "score", "itt", "lr", "diverged"]
    return runs[cols].assign(method=method, activation=activation, proxy=proxy, comparison=comparison,
                             reference_variant=reference_variant)


def comparison_rows(runs: pd.DataFrame, best: pd.DataFrame | None = None) -> pd.DataFrame:
    """The claim rows of the scored ``runs`` (:mod:`benchmarks.experiments.training.runs`): SAME comparisons
    always, BEST comparisons for every (dataset, arch) that ``best`` names (see the module docstring)."""
    parts: list[pd.DataFrame] = []
    if runs.empty:
        return pd.DataFrame()
    best_of = {} if best is None or best.empty else {
        (r.dataset, r.arch): r.best_conventional for r in best.itertuples(index=False)}
    for (ds, arch), g in runs.groupby(GROUP, sort=False):
        variants = list(dict.fromkeys(g["variant"]))
        for v in variants:
            gv = g[g["variant"] == v]
            if not has_trait(str(gv["method_kind"].iloc[0]), "claim"):  # the kinds a claim may test: ProxyGrad
                continue
            a, label = str(gv["activation"].iloc[0]), str(gv["method"].iloc[0])
            refs = [(SAME, f"{a}/plain")]
            if (ds, arch) in best_of:
                refs.append((BEST, best_of[(ds, arch)]))
            for comparison, ref in refs:
                gr = g[g["variant"] == ref]
                if gr.empty:
                    continue
                parts += [_side(gv, PROXY, a, label, comparison, ref), _side(gr, REFERENCE, a, label, comparison, ref)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
