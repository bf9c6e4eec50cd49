"""Analysis of the ``training`` records: the tuned lrs, final test accuracies, paired tests, the claim.

Tuning (role ``tune``): per (dataset, arch, variant) the validation score of every lr index tried and the
chosen one (:func:`benchmarks.framework.tuning.choose`, the same rule the run used); a variant is *failed*
when every lr diverged.  Final accuracy of a final run = its test accuracy after the last epoch; a final
run that diverged counts at chance level ``1 / num_classes`` (a diverged network predicts nothing).
Per variant: mean over seeds with the 95% t interval.  Each variant is compared with ``relu/plain`` over
the seeds both have (paired design: same initial weights, same data order): paired t-test (Cohen's d_z,
t interval of the mean difference) and Wilcoxon signed-rank (rank-biserial r), Holm within the
(dataset, arch), separately per test.

The claim (ProxyGrad wins on some benchmarks) is one family of tests (:func:`claim_family`): every
ProxyGrad variant (``method_kind == "proxy"``, on ReLU or Leaky ReLU networks) against ``relu/plain`` on
every real dataset/arch, paired t-test, Holm over the whole family, decided by
``compare.decide("some", ...)`` (the claim's rule: it holds "on some benchmarks"), with the equivalence
margin :data:`MARGIN` and relevance threshold :data:`RELEVANCE` in accuracy units. The unit of
replication is the seed. Its power: the smallest d_z detected at 80% power at level alpha / family size
(``mde_dz``), and in accuracy units ``mde = mde_dz * max(SD, MARGIN)`` of the per-seed differences.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats
from benchmarks.framework.claims import Claim

BASELINE = "relu/plain"
PROXY_KIND = "proxy"
ALPHA = 0.05
GROUP = ["dataset", "arch"]
#: The training claim's rule, equivalence margin and relevance threshold (test accuracy, absolute).
RULE = "some"
MARGIN = 0.005
RELEVANCE = 0.02


def _role(records: pd.DataFrame, role: str) -> pd.DataFrame:
    if records.empty or "role" not in records.columns:
        return records.iloc[0:0]
    return records[records["role"] == role]


def last_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The last-epoch row of every run (dataset, arch, variant, role, lr_k, seed)."""
    if records.empty:
        return records
    keys = GROUP + ["variant", "role", "lr_k", "seed"]
    last = records.groupby(keys, sort=False)["epoch"].transform("max")
    return records[records["epoch"] == last].reset_index(drop=True)


def final_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Last-epoch rows of the final runs with ``score`` = test accuracy (chance level when diverged)."""
    fin = last_rows(_role(records, "final")).copy()
    if fin.empty:
        return fin
    fin["score"] = np.where(fin["diverged"].astype(bool), 1.0 / fin["num_classes"].astype(float),
                            fin["test_acc"].astype(float))
    return fin


def _order(records: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(records["variant"]))


def tuning_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): each lr tried with its validation score (mean over tuning seeds, NaN
    when one diverged), the number of diverged tuning runs, the chosen lr and whether the variant failed."""
    tune = last_rows(_role(records, "tune"))
    fin = _role(records, "final")
    out = []
    for (ds, arch, v), g in tune.groupby(GROUP + ["variant"], sort=False):
        chosen = fin[(fin["dataset"] == ds) & (fin["arch"] == arch) & (fin["variant"] == v)]
        k_chosen = int(chosen["lr_k"].iloc[0]) if not chosen.empty else None
        for k, gk in g.groupby("lr_k", sort=True):
            div = gk["diverged"].astype(bool)
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gk["method"].iloc[0],
                        "lr_k": int(k), "lr": float(gk["lr"].iloc[0]), "tune_seeds": len(gk),
                        "val_acc": math.nan if div.any() else float(gk["val_acc"].mean()),
                        "diverged_runs": int(div.sum()), "chosen": k_chosen == int(k),
                        "failed": k_chosen is None})
    return pd.DataFrame(out)


def chosen_lrs(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): the chosen lr (NaN when failed), lrs tried, diverged tuning runs, and
    whether the choice sits at an edge of the lrs tried (it never should: the grid extends)."""
    t = tuning_table(records)
    out = []
    if t.empty:
        return t
    for (ds, arch, v), g in t.groupby(GROUP + ["variant"], sort=False):
        ks = sorted(g["lr_k"])
        pick = g[g["chosen"]]
        k = int(pick["lr_k"].iloc[0]) if not pick.empty else None
        out.append({"dataset": ds, "arch": arch, "variant": v, "lr": float(pick["lr"].iloc[0]) if k is not None
                    else math.nan, "lr_k": k, "val_acc": float(pick["val_acc"].iloc[0]) if k is not None else math.nan,
                    "lrs_tried": " ".join(f"{x:.3g}" for x in sorted(g["lr"])),
                    "diverged_runs": int(g["diverged_runs"].sum()),
                    "at_edge": k is not None and len(ks) > 1 and k in (ks[0], ks[-1]),
                    "failed": k is None})
    return pd.DataFrame(out)


def final_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant): seeds, chosen lr, mean final test accuracy with its 95% CI, diverged runs."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        for v in _order(g):
            gv = g[g["variant"] == v]
            ci = stats.mean_ci(gv["score"].to_numpy(float))
            runs = records[(records["dataset"] == ds) & (records["arch"] == arch) & (records["variant"] == v)
                           & (records["role"] == "final")]
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gv["method"].iloc[0],
                        "lr": float(gv["lr"].iloc[0]), "seeds": len(gv), "epochs": int(gv["epoch"].max()),
                        "test_acc_mean": ci.estimate, "test_acc_low": ci.low, "test_acc_high": ci.high,
                        "diverged_runs": int(gv["diverged"].astype(bool).sum()),
                        "dead_fraction_last": float(gv["dead_fraction"].mean()),
                        "seconds_mean": float(runs.groupby("seed")["seconds"].sum().mean())})
    return pd.DataFrame(out)


def _pairs(fin: pd.DataFrame, ds: str, arch: str, variants: list[str]) -> list[compare.Pair]:
    g = fin[(fin["dataset"] == ds) & (fin["arch"] == arch)]
    base = g[g["variant"] == BASELINE].set_index("seed")["score"]
    pairs = []
    for v in variants:
        gv = g[g["variant"] == v].set_index("seed")["score"]
        seeds = sorted(set(gv.index) & set(base.index))
        pairs.append(compare.Pair({"dataset": ds, "arch": arch, "variant": v,
                                   "method": g[g["variant"] == v]["method"].iloc[0], "baseline": BASELINE},
                                  gv.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)))
    return pairs


def paired_tests(records: pd.DataFrame) -> pd.DataFrame:
    """Each non-baseline variant against ``relu/plain`` per (dataset, arch), over shared seeds: paired
    t-test and Wilcoxon, each Holm-adjusted within the (dataset, arch)."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        if (g["variant"] == BASELINE).sum() == 0:
            continue
        pairs = _pairs(fin, ds, arch, [v for v in _order(g) if v != BASELINE])
        if not pairs:
            continue
        t = compare.family_table(pairs, test="t", alpha=ALPHA, margin=MARGIN, relevance=RELEVANCE)
        w = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA, margin=MARGIN, relevance=RELEVANCE)
        part = t[["dataset", "arch", "variant", "method", "baseline", "n", "mean_diff", "diff_low", "diff_high",
                  "wins", "ties", "losses", "statistic", "p", "effect"]].rename(
            columns={"statistic": "t", "p": "p_t", "effect": "cohen_dz"})
        part["p_wilcoxon"] = w["p"].to_numpy()
        part["rank_biserial"] = w["effect"].to_numpy()
        part["p_t_holm"] = t["p_holm"].to_numpy()
        part["p_wilcoxon_holm"] = w["p_holm"].to_numpy()
        part["mde_dz"] = t["mde_dz"].to_numpy()
        part["mde_acc"] = t["mde"].to_numpy()
        out.append(part)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def claim_family(records: pd.DataFrame) -> pd.DataFrame:
    """The family of the training claim: every ProxyGrad variant against ``relu/plain`` on every real
    (dataset, arch), paired t-test on final test accuracy, Holm-adjusted together."""
    fin = final_rows(records)
    pairs: list[compare.Pair] = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        if ds == "synthetic" or (g["variant"] == BASELINE).sum() == 0:
            continue
        pairs += _pairs(fin, ds, arch, [v for v in _order(g) if g[g["variant"] == v]["method_kind"].iloc[0]
                                        == PROXY_KIND])
    return compare.family_table(pairs, test="t", alpha=ALPHA, margin=MARGIN, relevance=RELEVANCE)


def verdicts(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch): the best ProxyGrad variant against ``relu/plain`` in the claim's family, with
    n, the mean difference and its 95% CI, the Holm p and the accuracy difference detectable at 80% power."""
    family = claim_family(records)
    tests = paired_tests(records)
    out = []
    if tests.empty:
        return pd.DataFrame()
    proxy_variants = set(records.loc[records["method_kind"] == PROXY_KIND, "variant"])
    for (ds, arch), g in tests.groupby(GROUP, sort=False):
        proxy = g[g["variant"].isin(proxy_variants)]
        if proxy.empty:
            continue
        fam = family[(family["dataset"] == ds) & (family["arch"] == arch)] if not family.empty else family
        if not fam.empty:
            higher = fam[fam["higher"]]
            best = (higher if not higher.empty else fam).sort_values("mean_diff", ascending=False).iloc[0]
            p_claim, mde = float(best["p_holm"]), float(best["mde"])
            outcome = ("beat" if bool(best["higher"]) else
                       "higher, not significant" if best["mean_diff"] > 0 else "not higher")
        else:
            best, p_claim, mde = proxy.loc[proxy["mean_diff"].idxmax()], math.nan, math.nan
            outcome = "higher, not significant" if best["mean_diff"] > 0 else "not higher"
        row = tests[(tests["dataset"] == ds) & (tests["arch"] == arch) & (tests["variant"] == best["variant"])].iloc[0]
        out.append({"dataset": ds, "arch": arch, "synthetic": ds == "synthetic", "best_variant": best["variant"],
                    "n": int(row["n"]), "mean_diff": row["mean_diff"], "diff_low": row["diff_low"],
                    "diff_high": row["diff_high"], "p_t_holm": row["p_t_holm"], "p_claim_holm": p_claim,
                    "mde_acc_claim": mde, "p_wilcoxon_holm": row["p_wilcoxon_holm"], "outcome": outcome})
    return pd.DataFrame(out)


def mechanism_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant, epoch) of the final runs: mean over seeds of the dead fraction (all
    rectifiers and per rectifier) and of the gradient norm per layer."""
    fin = _role(records, "final")
    if fin.empty:
        return pd.DataFrame()
    cols = [c for c in fin.columns if c == "dead_fraction" or c.startswith("dead_") and c[5:].isdigit()
            or c.startswith("grad_norm_")]
    ok = fin[~fin["diverged"].astype(bool)]
    return ok.groupby(GROUP + ["variant", "epoch"], sort=False)[cols].mean().reset_index()


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """Tables: ``tuning``, ``chosen_lrs``, ``final_accuracy``, ``paired_tests``, ``verdicts``, ``mechanism``."""
    return {"tuning": tuning_table(records), "chosen_lrs": chosen_lrs(records),
            "final_accuracy": final_accuracy(records), "paired_tests": paired_tests(records),
            "verdicts": verdicts(records), "mechanism": mechanism_table(records)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics: mean final test accuracy per ``dataset/arch/variant``."""
    table = final_accuracy(records)
    return {f"{r.dataset}/{r.arch}/{r.variant}/final_test_acc": float(r.test_acc_mean)
            for r in table.itertuples(index=False)}


def _tuning_note(records: pd.DataFrame) -> str:
    lrs = chosen_lrs(records)
    if lrs.empty:
        return "No tuning records."
    parts = [f"{r.arch}/{r.variant}: " + ("failed (every lr diverged)" if r.failed else f"{r.lr:.3g}")
             for r in lrs.itertuples(index=False)]
    edge = int(lrs["at_edge"].sum())
    return ("Tuned comparison: every variant trains at its own SGD lr, chosen on validation accuracy (a split of "
            "the training images, disjoint from the test split, which is used once for the final numbers) from "
            f"a log grid extended past its edges; chosen lrs: {'; '.join(parts)}."
            + (f" {edge} choices sit at an edge of the lrs tried (a grid limit stopped the extension)." if edge else ""))


def claims(records: pd.DataFrame) -> list[Claim]:
    """The paper's training claim (C3), decided by ``compare.decide(RULE, ...)``."""
    statement = ("CNNs trained with ProxyGrad (forward slope unchanged, large negative slope in the backward "
                 "pass) outperform conventionally trained (ReLU) networks on some benchmarks.")
    rule = RULE
    table = verdicts(records)
    design = ("Each ProxyGrad variant against relu/plain on every real dataset/arch, paired over seeds (same "
              "initial weights and data order), paired t-test on the final test accuracy, Holm over all of them.")
    if not records.empty and "role" in records.columns:
        design = f"{_tuning_note(records)} {design}"
    if table.empty:
        return [Claim("training", statement, "training", "no ProxyGrad runs with a relu/plain baseline in the "
                      "records", "not tested", design, rule=rule, id="C3")]
    lines = []
    for r in table.itertuples(index=False):
        mde = "" if not math.isfinite(r.mde_acc_claim) else (
            f", smallest accuracy difference detectable at 80% power after Holm {r.mde_acc_claim:.4f}")
        lines.append(f"{r.dataset}/{r.arch}: best ProxyGrad variant {r.best_variant} vs relu/plain, final test "
                     f"accuracy difference {r.mean_diff:+.4f} (95% CI {r.diff_low:+.4f} to {r.diff_high:+.4f}, "
                     f"n={r.n} seeds), Holm p (t, claim family) = {compare.format_p(r.p_claim_holm)}{mde}, Holm p "
                     f"(Wilcoxon, per dataset/arch) = {compare.format_p(r.p_wilcoxon_holm)}: {r.outcome}.")
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
                      rule=rule, id="C3")]
    decision = compare.decide(RULE, family, alpha=ALPHA)
    return [Claim("training", statement, "training", " ".join(lines), decision.verdict,  # type: ignore[arg-type]
                  f"{design} Unit of replication: the training seed. {decision.rationale}{power}", table,
                  rule=decision.rule, id="C3")]


def curves(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t interval of validation accuracy per (dataset, arch, variant, epoch) of the final runs
    that did not diverge (``runs``: how many; a diverged run has no accuracy after its divergence)."""
    out = []
    fin = _role(records, "final")
    fin = fin[~fin["diverged"].astype(bool)] if not fin.empty else fin
    for (ds, arch, v, ep), g in fin.groupby(GROUP + ["variant", "epoch"], sort=False):
        ci = stats.mean_ci(g["val_acc"].to_numpy(float))
        out.append({"dataset": ds, "arch": arch, "variant": v, "epoch": int(ep), "runs": len(g),
                    "val_acc_mean": ci.estimate,
                    "val_acc_low": ci.low, "val_acc_high": ci.high,
                    "train_loss_mean": float(np.nanmean(g["train_loss"].to_numpy(float)))})
    return pd.DataFrame(out)
