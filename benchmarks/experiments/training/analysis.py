"""Analysis of the ``training`` records: final accuracies, paired tests against ReLU, the claim.

Final accuracy of a run = test accuracy after its last epoch. Per (dataset, arch, variant):
mean over seeds with the 95% t interval. Each variant is compared with ``relu`` over the seeds both
have (paired design: same initial weights, same data order): paired t-test (effect Cohen's d_z, t
interval of the mean difference) and Wilcoxon signed-rank (effect rank-biserial r). Within each
(dataset, arch) the p-values of all variants are Holm-adjusted, separately per test.

The claim (ProxyGrad wins on some benchmarks) is one family of tests (:func:`claim_family`): every
ProxyGrad variant (the ``proxygrad`` and ``proxygrad-leaky`` methods) against ReLU on every real
dataset/arch, paired t-test, Holm over the whole family, decided by the ``some-gain`` rule of
:mod:`benchmarks.framework.compare` (the same comparison module as every other claim); "not tested" on
synthetic data alone. Per dataset/arch the ``verdicts`` table shows the best ProxyGrad variant:
"beat" (significantly higher in the family), "higher, not significant" or "not higher".
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats
from benchmarks.framework.claims import Claim

BASELINE = "relu"
#: The ``method_kind`` of the ProxyGrad variants (``proxygrad`` and ``proxygrad-leaky`` in the config).
PROXY_KIND = "proxy"
ALPHA = 0.05
GROUP = ["dataset", "arch"]


def final_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The last-epoch row of every run (dataset, arch, variant, seed)."""
    if records.empty:
        return records
    keys = GROUP + ["variant", "seed"]
    last = records.groupby(keys, sort=False)["epoch"].transform("max")
    return records[records["epoch"] == last].reset_index(drop=True)


def _order(records: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(records["variant"]))


def final_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): seeds, epochs, mean final test accuracy with its 95% CI, train loss."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        for v in _order(g):
            gv = g[g["variant"] == v]
            ci = stats.mean_ci(gv["test_acc"].to_numpy(float))
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gv["method"].iloc[0],
                        "seeds": len(gv), "epochs": int(gv["epoch"].max()),
                        "test_acc_mean": ci.estimate, "test_acc_low": ci.low, "test_acc_high": ci.high,
                        "train_loss_mean": float(gv["train_loss"].mean()),
                        "seconds_mean": float(records[(records["dataset"] == ds) & (records["arch"] == arch)
                                                      & (records["variant"] == v)]
                                              .groupby("seed")["seconds"].sum().mean())})
    return pd.DataFrame(out)


def _pairs(fin: pd.DataFrame, ds: str, arch: str, variants: list[str]) -> list[compare.Pair]:
    """Each of ``variants`` against ``relu`` on the seeds both have (paired: same init and data order)."""
    g = fin[(fin["dataset"] == ds) & (fin["arch"] == arch)]
    base = g[g["variant"] == BASELINE].set_index("seed")["test_acc"]
    pairs = []
    for v in variants:
        gv = g[g["variant"] == v].set_index("seed")["test_acc"]
        seeds = sorted(set(gv.index) & set(base.index))
        pairs.append(compare.Pair({"dataset": ds, "arch": arch, "variant": v,
                                   "method": g[g["variant"] == v]["method"].iloc[0], "baseline": BASELINE},
                                  gv.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)))
    return pairs


def paired_tests(records: pd.DataFrame) -> pd.DataFrame:
    """Each non-baseline variant against ``relu`` per (dataset, arch), over shared seeds: paired t-test and
    Wilcoxon, each Holm-adjusted within the (dataset, arch)."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        if (g["variant"] == BASELINE).sum() == 0:
            continue
        pairs = _pairs(fin, ds, arch, [v for v in _order(g) if v != BASELINE])
        if not pairs:
            continue
        t = compare.family_table(pairs, test="t", alpha=ALPHA)
        w = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
        part = t[["dataset", "arch", "variant", "method", "baseline", "n", "mean_diff", "diff_low", "diff_high",
                  "wins", "ties", "losses", "statistic", "p", "effect"]].rename(
            columns={"statistic": "t", "p": "p_t", "effect": "cohen_dz"})
        part["p_wilcoxon"] = w["p"].to_numpy()
        part["rank_biserial"] = w["effect"].to_numpy()
        part["p_t_holm"] = t["p_holm"].to_numpy()
        part["p_wilcoxon_holm"] = w["p_holm"].to_numpy()
        part["mde_dz"] = t["mde_dz"].to_numpy()
        out.append(part)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def claim_family(records: pd.DataFrame) -> pd.DataFrame:
    """The family of the training claim: every ProxyGrad variant against ReLU on every real (dataset, arch),
    paired t-test on final test accuracy, Holm-adjusted together (:func:`benchmarks.framework.compare.family_table`)."""
    fin = final_rows(records)
    pairs: list[compare.Pair] = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        if ds == "synthetic" or (g["variant"] == BASELINE).sum() == 0:
            continue
        pairs += _pairs(fin, ds, arch, [v for v in _order(g) if g[g["variant"] == v]["method_kind"].iloc[0]
                                        == PROXY_KIND])
    return compare.family_table(pairs, test="t", alpha=ALPHA)


def verdicts(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch): the best ProxyGrad variant against ReLU, from the claim's family (real data) or,
    for synthetic data, from the per-(dataset, arch) tests."""
    family = claim_family(records)
    tests = paired_tests(records)
    out = []
    if tests.empty:
        return pd.DataFrame()
    for (ds, arch), g in tests.groupby(GROUP, sort=False):
        proxy = g[g["variant"].isin(set(records.loc[records["method_kind"] == PROXY_KIND, "variant"]))]
        if proxy.empty:
            continue
        fam = family[(family["dataset"] == ds) & (family["arch"] == arch)] if not family.empty else family
        if not fam.empty:
            higher = fam[fam["higher"]]
            best = (higher if not higher.empty else fam).sort_values("mean_diff", ascending=False).iloc[0]
            p_claim = float(best["p_holm"])
            outcome = ("beat" if bool(best["higher"]) else
                       "higher, not significant" if best["mean_diff"] > 0 else "not higher")
        else:
            best, p_claim = proxy.loc[proxy["mean_diff"].idxmax()], math.nan
            outcome = "higher, not significant" if best["mean_diff"] > 0 else "not higher"
        row = tests[(tests["dataset"] == ds) & (tests["arch"] == arch) & (tests["variant"] == best["variant"])].iloc[0]
        out.append({"dataset": ds, "arch": arch, "synthetic": ds == "synthetic", "best_variant": best["variant"],
                    "n": int(row["n"]), "mean_diff": row["mean_diff"], "diff_low": row["diff_low"],
                    "diff_high": row["diff_high"], "p_t_holm": row["p_t_holm"], "p_claim_holm": p_claim,
                    "p_wilcoxon_holm": row["p_wilcoxon_holm"], "outcome": outcome})
    return pd.DataFrame(out)


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """Tables: ``final_accuracy``, ``paired_tests`` (vs ReLU, Holm-adjusted) and ``verdicts``."""
    return {"final_accuracy": final_accuracy(records), "paired_tests": paired_tests(records),
            "verdicts": verdicts(records)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics: mean final test accuracy per ``dataset/arch/variant``."""
    table = final_accuracy(records)
    return {f"{r.dataset}/{r.arch}/{r.variant}/final_test_acc": float(r.test_acc_mean)
            for r in table.itertuples(index=False)}


def claims(records: pd.DataFrame) -> list[Claim]:
    """The paper's training claim, decided by the ``some-gain`` rule of :mod:`benchmarks.framework.compare`."""
    statement = ("CNNs trained with ProxyGrad (forward slope unchanged, large negative slope in the backward "
                 "pass) outperform conventionally trained (ReLU) networks on some benchmarks.")
    table = verdicts(records)
    design = ("Each ProxyGrad variant against ReLU on every real dataset/arch, paired over seeds (same initial "
              "weights and data order), paired t-test on the final test accuracy, Holm over all of them.")
    if "lr" in records.columns and not records.empty:
        first = records[records["epoch"] == records["epoch"].min()]  # the schedule starts at the base lr
        design = f"{compare.untuned_note({'SGD, base': first['lr'].tolist()})} {design}"
    if table.empty:
        return [Claim("training", statement, "training", "no ProxyGrad runs with a ReLU baseline in the records",
                      "not tested", design, rule=compare.CLAIM_RULES["training"])]
    lines = []
    for r in table.itertuples(index=False):
        lines.append(f"{r.dataset}/{r.arch}: best ProxyGrad variant {r.best_variant} vs relu, final test accuracy "
                     f"difference {r.mean_diff:+.4f} (95% CI {r.diff_low:+.4f} to {r.diff_high:+.4f}, n={r.n} "
                     f"seeds), Holm p (t, claim family) = {compare.format_p(r.p_claim_holm)}, Holm p (Wilcoxon, "
                     f"per dataset/arch) = {compare.format_p(r.p_wilcoxon_holm)}: {r.outcome}.")
    n_min = int(table["n"].min())
    power = ""
    if n_min < 6:
        power = (f" Power is low: with {n_min} seeds per comparison the paired t-test detects only large effects, "
                 f"and the two-sided Wilcoxon test cannot go below p = {2 / 2 ** n_min:.3g}, so it can never "
                 "reach 0.05.")
    family = claim_family(records)
    if family.empty:
        return [Claim("training", statement, "training", " ".join(lines), "not tested",
                      f"{design} Only the synthetic smoke data set was run; it is no benchmark.{power}", table,
                      rule=compare.CLAIM_RULES["training"])]
    decision = compare.decide("training", family, alpha=ALPHA)
    return [Claim("training", statement, "training", " ".join(lines), decision.verdict,  # type: ignore[arg-type]
                  f"{design} {decision.rationale}{power}", table, rule=decision.rule)]


def curves(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t interval of test accuracy per (dataset, arch, variant, epoch) over seeds."""
    out = []
    for (ds, arch, v, ep), g in records.groupby(GROUP + ["variant", "epoch"], sort=False):
        ci = stats.mean_ci(g["test_acc"].to_numpy(float))
        out.append({"dataset": ds, "arch": arch, "variant": v, "epoch": int(ep), "test_acc_mean": ci.estimate,
                    "test_acc_low": ci.low, "test_acc_high": ci.high,
                    "train_loss_mean": float(np.mean(g["train_loss"].to_numpy(float)))})
    return pd.DataFrame(out)
