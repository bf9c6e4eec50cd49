"""Analysis of the ``training`` records: final accuracies, paired tests against ReLU, the claim.

Final accuracy of a run = test accuracy after its last epoch. Per (dataset, arch, variant):
mean over seeds with the 95% t interval. Each variant is compared with ``relu`` over the seeds both
have (paired design: same initial weights, same data order): paired t-test (effect Cohen's d_z, t
interval of the mean difference) and Wilcoxon signed-rank (effect rank-biserial r). Within each
(dataset, arch) the p-values of all variants are Holm-adjusted, separately per test.

Verdict rule (per dataset/arch, ProxyGrad = the ``proxygrad`` and ``proxygrad-leaky`` variants):
ProxyGrad "beat" conventional training when some ProxyGrad variant has a higher mean final test accuracy
than ReLU with Holm-adjusted paired t-test p < 0.05; it is "higher, not significant" when its mean is
higher without that; else "not higher". The claim (ProxyGrad wins on some benchmarks) is "reproduced"
if it beat ReLU on at least one real dataset/arch, "partly reproduced" if it was only higher without
significance somewhere, "not reproduced" otherwise, and "not tested" on synthetic data alone.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import stats
from benchmarks.claims import Claim

BASELINE = "relu"
PROXY_METHODS: tuple[str, ...] = ("proxygrad", "proxygrad-leaky")
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


def paired_tests(records: pd.DataFrame) -> pd.DataFrame:
    """Each non-baseline variant against ``relu`` per (dataset, arch), over shared seeds, Holm-adjusted."""
    fin = final_rows(records)
    out = []
    for (ds, arch), g in fin.groupby(GROUP, sort=False):
        base = g[g["variant"] == BASELINE].set_index("seed")["test_acc"]
        rows = []
        for v in _order(g):
            if v == BASELINE or base.empty:
                continue
            gv = g[g["variant"] == v].set_index("seed")["test_acc"]
            seeds = sorted(set(gv.index) & set(base.index))
            a, b = gv.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)
            t, w = stats.paired_t(a, b), stats.wilcoxon_paired(a, b)
            rows.append({"dataset": ds, "arch": arch, "variant": v, "method": g[g["variant"] == v]["method"].iloc[0],
                         "baseline": BASELINE, "n": len(seeds), "mean_diff": t.mean_diff,
                         "diff_low": t.low, "diff_high": t.high, "wins": t.wins, "ties": t.ties,
                         "losses": t.losses, "t": t.statistic, "p_t": t.p, "cohen_dz": t.effect,
                         "p_wilcoxon": w.p, "rank_biserial": w.effect})
        if rows:
            part = pd.DataFrame(rows)
            part["p_t_holm"] = stats.holm(part["p_t"].to_numpy(float))
            part["p_wilcoxon_holm"] = stats.holm(part["p_wilcoxon"].to_numpy(float))
            out.append(part)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def verdicts(records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch): the best ProxyGrad variant against ReLU and the outcome under the verdict rule."""
    tests = paired_tests(records)
    out = []
    if tests.empty:
        return pd.DataFrame()
    for (ds, arch), g in tests.groupby(GROUP, sort=False):
        proxy = g[g["method"].isin(PROXY_METHODS)]
        if proxy.empty:
            continue
        sig = proxy[(proxy["mean_diff"] > 0) & (proxy["p_t_holm"] < ALPHA)]
        if not sig.empty:
            best, outcome = sig.loc[sig["mean_diff"].idxmax()], "beat"
        else:
            best = proxy.loc[proxy["mean_diff"].idxmax()]
            outcome = "higher, not significant" if best["mean_diff"] > 0 else "not higher"
        out.append({"dataset": ds, "arch": arch, "synthetic": ds == "synthetic", "best_variant": best["variant"],
                    "n": int(best["n"]), "mean_diff": best["mean_diff"], "diff_low": best["diff_low"],
                    "diff_high": best["diff_high"], "p_t_holm": best["p_t_holm"],
                    "p_wilcoxon_holm": best["p_wilcoxon_holm"], "outcome": outcome})
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


def _fmt_p(p: float) -> str:
    return "n/a" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.3g}"


def claims(records: pd.DataFrame) -> list[Claim]:
    """The paper's training claim, judged by the verdict rule of this module's docstring."""
    statement = ("CNNs trained with ProxyGrad (forward slope unchanged, large negative slope in the backward "
                 "pass) outperform conventionally trained (ReLU) networks on some benchmarks.")
    table = verdicts(records)
    rule = ("Per dataset/arch, ProxyGrad beat ReLU if a ProxyGrad variant's mean final test accuracy is higher "
            f"with Holm-adjusted paired t-test p < {ALPHA} (Holm over all variants compared with ReLU on that "
            "dataset/arch). Reproduced: beat on at least one real dataset/arch; partly reproduced: higher but "
            "not significant somewhere; not reproduced: otherwise.")
    if table.empty:
        return [Claim("training", statement, "training", "no ProxyGrad runs with a ReLU baseline in the records",
                      "not tested", rule)]
    lines = []
    for r in table.itertuples(index=False):
        lines.append(f"{r.dataset}/{r.arch}: best ProxyGrad variant {r.best_variant} vs relu, final test accuracy "
                     f"difference {r.mean_diff:+.4f} (95% CI {r.diff_low:+.4f} to {r.diff_high:+.4f}, n={r.n} "
                     f"seeds), Holm p (t) = {_fmt_p(r.p_t_holm)}, Holm p (Wilcoxon) = "
                     f"{_fmt_p(r.p_wilcoxon_holm)}: {r.outcome}.")
    n_min = int(table["n"].min())
    power = ""
    if n_min < 6:
        power = (f" Power is low: with {n_min} seeds per comparison the paired t-test detects only large effects, "
                 f"and the two-sided Wilcoxon test cannot go below p = {2 / 2 ** n_min:.3g}, so it can never "
                 "reach 0.05.")
    real = table[~table["synthetic"]]
    if real.empty:
        verdict, why = "not tested", "Only the synthetic smoke data set was run; it is no benchmark."
    elif (real["outcome"] == "beat").any():
        verdict, why = "reproduced", "ProxyGrad beat ReLU significantly on at least one dataset/arch."
    elif (real["outcome"] == "higher, not significant").any():
        verdict, why = "partly reproduced", "ProxyGrad's mean was higher somewhere, but not significantly."
    else:
        verdict, why = "not reproduced", "No ProxyGrad variant reached a higher mean than ReLU."
    return [Claim("training", statement, "training", " ".join(lines), verdict,  # type: ignore[arg-type]
                  f"{rule} {why}{power}", table)]


def curves(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t interval of test accuracy per (dataset, arch, variant, epoch) over seeds."""
    out = []
    for (ds, arch, v, ep), g in records.groupby(GROUP + ["variant", "epoch"], sort=False):
        ci = stats.mean_ci(g["test_acc"].to_numpy(float))
        out.append({"dataset": ds, "arch": arch, "variant": v, "epoch": int(ep), "test_acc_mean": ci.estimate,
                    "test_acc_low": ci.low, "test_acc_high": ci.high,
                    "train_loss_mean": float(np.mean(g["train_loss"].to_numpy(float)))})
    return pd.DataFrame(out)
