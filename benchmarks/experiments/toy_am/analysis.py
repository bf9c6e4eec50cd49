"""Analysis of ``toy-am`` records: tables, baseline metrics and the claims they support.

Every number here is computed from the records; nothing is typed in.

Tables (per family x optimizer x method):
- ``rel_gap``: median and mean ``rel_gap`` with bootstrap 95% CIs (seeded, BCa);
- ``success``: success rate ``P(rel_gap <= tau)`` at each target with Wilson 95% CIs;
- ``vs_plain``: paired against plain AM on ``f_best`` (same instance, start and optimizer):
  Wilcoxon signed-rank, rank-biserial effect, Holm correction over all rows, win/tie/loss counts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import compare, stats
from benchmarks.framework.claims import Claim
from benchmarks.framework.methods import Method

PAIR_KEYS = ["dim", "seed", "start"]
ALPHA = 0.05
FAIL_RATE_MIN = 0.1      # AM "fails" on a family when the Wilson lower end of its failure rate >= this
SUCCESS_TARGET = 1e-3    # the target used for success/failure in the claims


def ordered(values: pd.Series) -> list[Any]:
    """Unique values in order of first appearance (the config's order)."""
    return list(dict.fromkeys(values.tolist()))


def target_columns(records: pd.DataFrame) -> dict[float, str]:
    """``{tau: column}`` for the ``steps_to_<tau>`` columns present."""
    return {float(c[len("steps_to_"):]): c for c in records.columns if c.startswith("steps_to_")}


def _groups(records: pd.DataFrame):
    for fam in ordered(records["family"]):
        rf = records[records["family"] == fam]
        for opt in ordered(rf["optimizer"]):
            ro = rf[rf["optimizer"] == opt]
            for m in ordered(ro["method"]):
                yield fam, opt, m, ro[ro["method"] == m]


def rel_gap_table(records: pd.DataFrame) -> pd.DataFrame:
    """Median and mean ``rel_gap`` with bootstrap 95% CIs per family, optimizer and method."""
    rows = []
    for fam, opt, m, g in _groups(records):
        x = g["rel_gap"].to_numpy(float)
        med = stats.bootstrap_ci(x, np.median)
        mean = stats.bootstrap_ci(x, np.mean)
        rows.append({"family": fam, "optimizer": opt, "method": m, "n": len(x),
                     "median_rel_gap": med.estimate, "median_lo": med.low, "median_hi": med.high,
                     "mean_rel_gap": mean.estimate, "mean_lo": mean.low, "mean_hi": mean.high})
    return pd.DataFrame(rows)


def success_table(records: pd.DataFrame) -> pd.DataFrame:
    """Success rate ``P(rel_gap <= tau)`` with Wilson 95% CIs per family, optimizer, method and target."""
    rows = []
    for fam, opt, m, g in _groups(records):
        for tau in target_columns(records):
            k, n = int((g["rel_gap"] <= tau).sum()), len(g)
            w = stats.wilson(k, n)
            rows.append({"family": fam, "optimizer": opt, "method": m, "target": tau, "k": k, "n": n,
                         "rate": w.estimate, "lo": w.low, "hi": w.high})
    return pd.DataFrame(rows)


def paired(records: pd.DataFrame, family: str, optimizer: str, method: str, reference: str = "plain",
           column: str = "f_best") -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)``: ``column`` of ``method`` and of ``reference`` on the same (instance, start)."""
    sel = records[(records["family"] == family) & (records["optimizer"] == optimizer)]
    a = sel[sel["method"] == method].set_index(PAIR_KEYS)[column]
    b = sel[sel["method"] == reference].set_index(PAIR_KEYS)[column]
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").sort_index()
    return joined["a"].to_numpy(float), joined["b"].to_numpy(float)


def vs_table(records: pd.DataFrame, reference: str = "plain", methods: list[str] | None = None,
             optimizers: list[str] | None = None) -> pd.DataFrame:
    """Each method against ``reference`` on ``f_best``, paired (Wilcoxon); one Holm family over all rows."""
    pairs, attained = [], []
    for fam in ordered(records["family"]):
        rf = records[records["family"] == fam]
        for opt in optimizers or ordered(rf["optimizer"]):
            for m in methods or ordered(rf["method"]):
                if m == reference:
                    continue
                a, b = paired(records, fam, opt, m, reference)
                if a.size == 0:
                    continue
                pairs.append(compare.Pair({"family": fam, "optimizer": opt, "method": m, "reference": reference},
                                          a, b))
                ma, mb = paired(records, fam, opt, m, reference, "attained")
                attained.append((float(np.median(ma)), float(np.median(mb))))
    df = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
    if not df.empty:
        df.insert(df.columns.get_loc("statistic"), "attained", [x for x, _ in attained])
        df.insert(df.columns.get_loc("statistic"), "attained_ref", [y for _, y in attained])
        df = df.rename(columns={"statistic": "W", "effect": "rank_biserial"})
    return df


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """The tables ``rel_gap``, ``success`` and ``vs_plain`` (the framework writes csv/md/tex)."""
    return {"rel_gap": rel_gap_table(records), "success": success_table(records),
            "vs_plain": vs_table(records)}


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics (all higher-is-better) per family/method/optimizer.

    ``.../median_f_best_rel``: the median of ``attained = (f_best - f_start) / (f_star - f_start)``;
    ``.../success@<tau>``: the fraction of starts with ``rel_gap <= tau``.
    """
    out: dict[str, float] = {}
    taus = target_columns(records)
    for fam, opt, m, g in _groups(records):
        key = f"{fam}/{m}/{opt}"
        out[f"{key}/median_f_best_rel"] = float(np.median(g["attained"].to_numpy(float)))
        for tau in taus:
            out[f"{key}/success@{tau:g}"] = float((g["rel_gap"] <= tau).mean())
    return out


# ---- claims ------------------------------------------------------------------------------------

def _main_optimizer(records: pd.DataFrame) -> str:
    opts = ordered(records["optimizer"])
    return "ascent" if "ascent" in opts else opts[0]


def _target(records: pd.DataFrame) -> float:
    taus = sorted(target_columns(records)) or [SUCCESS_TARGET]
    return SUCCESS_TARGET if SUCCESS_TARGET in taus else taus[len(taus) // 2]


def _hand_built(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of families whose optimum is closed-form (as each family declares)."""
    import toy_functions

    kinds = {n: toy_functions.optimum_kind(n) if n in toy_functions.names() else None  # plug-ins: not the suite's
             for n in records["family_name"].astype(str).unique()}
    return records[records["family_name"].astype(str).map(kinds) == toy_functions.CLOSED_FORM]


def am_fails(records: pd.DataFrame) -> Claim:
    """Plain AM misses the certified optimum on simple ReLU and Leaky ReLU functions."""
    opt, tau = _main_optimizer(records), _target(records)
    hb = _hand_built(records)
    hb = hb[(hb["method"] == "plain") & (hb["optimizer"] == opt)]
    rows = []
    for fam in ordered(hb["family"]):
        g = hb[hb["family"] == fam]
        fails = int((g["rel_gap"] > tau).sum())
        w = stats.wilson(fails, len(g))
        rows.append({"family": fam, "forward_slope": float(g["forward_slope"].iloc[0]), "n": len(g),
                     "failures": fails, "fail_rate": w.estimate, "lo": w.low, "hi": w.high,
                     "median_rel_gap": float(g["rel_gap"].median()), "fails": w.low >= FAIL_RATE_MIN})
    table = pd.DataFrame(rows)
    statement = "Plain activation maximization fails to find the global maximum of simple ReLU and Leaky ReLU functions."
    if table.empty:
        return Claim("am-fails", statement, "toy-am", "no hand-built families with plain AM in the records",
                     "not tested", table=table)
    relu = table[table["forward_slope"] == 0.0]
    leaky = table[table["forward_slope"] > 0.0]
    relu_f, leaky_f = int(relu["fails"].sum()), int(leaky["fails"].sum())
    effect = (f"plain AM ({opt}) misses the optimum (rel_gap > {tau:g}) with a failure rate whose Wilson 95% "
              f"lower end is >= {FAIL_RATE_MIN:g} on {relu_f}/{len(relu)} ReLU and {leaky_f}/{len(leaky)} "
              f"Leaky ReLU families; failure rates range {table['fail_rate'].min():.2f}-{table['fail_rate'].max():.2f} "
              f"over {int(table['n'].sum())} starts")
    if relu_f and leaky_f:
        verdict = "reproduced"
    elif relu_f or leaky_f:
        verdict = "partly reproduced"
    else:
        verdict = "not reproduced"
    rationale = (f"A family counts as failed when the Wilson 95% lower end of plain AM's failure rate is at "
                 f"least {FAIL_RATE_MIN:g}; reproduced when at least one ReLU and one Leaky ReLU family fail, "
                 f"partly when only one kind does.")
    return Claim("am-fails", statement, "toy-am", effect, verdict, rationale, table)


def _method_fields(records: pd.DataFrame) -> pd.DataFrame:
    """One row per method label with its ``method_kind`` and ``method_slope``, in the config's order."""
    return records.drop_duplicates("method")[["method", "method_kind", "method_slope"]].reset_index(drop=True)


def _compare_claim(records: pd.DataFrame, key: str, statement: str, methods: list[str], reference: str,
                   better_word: str) -> Claim:
    """Claim that ``methods`` beat ``reference``: per family Wilcoxon (Holm) on f_best with the main optimizer."""
    opt = _main_optimizer(records)
    table = vs_table(records, reference, methods, [opt])
    if table.empty:
        return Claim(key, statement, "toy-am", f"no paired records of {methods} against {reference}",
                     "not tested", table=table)
    sig = table["p_holm"] < ALPHA
    up = table[sig & (table["rank_biserial"] > 0)]
    down = table[sig & (table["rank_biserial"] < 0)]
    parts = []
    for m in methods:
        t = table[table["method"] == m]
        if t.empty:
            continue
        a, b = [], []
        for fam in t["family"]:
            x, y = paired(records, fam, opt, m, reference, "attained")
            a.append(x)
            b.append(y)
        pooled = stats.wilcoxon_paired(np.concatenate(a), np.concatenate(b))
        parts.append(f"{m} vs {reference} ({opt}): {better_word} on {int((up['method'] == m).sum())}/{len(t)} "
                     f"families and worse on {int((down['method'] == m).sum())} (Holm p < {ALPHA}); pooled attained "
                     f"fraction median {np.median(np.concatenate(a)):.3f} vs {np.median(np.concatenate(b)):.3f}, "
                     f"rank-biserial r = {pooled.effect:.2f}, Wilcoxon p = {compare.format_p(pooled.p)}, "
                     f"W/T/L {pooled.wins}/{pooled.ties}/{pooled.losses}")
    decision = compare.decide(key, table.rename(columns={"rank_biserial": "effect"}), alpha=ALPHA)
    untuned = compare.untuned_note({opt: records.loc[records["optimizer"] == opt, "lr"].tolist()})
    verdict, rationale = decision.verdict, (f"{untuned} Per family, paired Wilcoxon signed-rank on f_best over the "
                                            f"same instances and starts ({opt}). {decision.rationale}")
    return Claim(key, statement, "toy-am", "; ".join(parts), verdict, rationale, table, rule=decision.rule)


def claims(records: pd.DataFrame) -> list[Claim]:
    """The paper's toy-function claims and the beyond-the-paper findings, each with its decision rule."""
    out = [am_fails(records)]
    fields = _method_fields(records)
    proxies = fields[fields["method_kind"] == "proxy"]
    if not proxies.empty:
        big = str(proxies.loc[proxies["method_slope"].astype(float).idxmax(), "method"])
        out.append(_compare_claim(records, "slope-raises-maxima",
                                  "A large backward slope (ProxyGrad) raises the maxima AM finds.",
                                  [big], "plain", "higher"))
    peers = [str(m) for m, k in zip(fields["method"], fields["method_kind"]) if k in ("redirected", "bsilu", "nelu")]
    if peers:
        out.append(_compare_claim(records, "beyond:peers",
                                  "Other backward rules (Lucid's redirected ReLU, SUGAR B-SiLU / NeLU) also raise "
                                  "the maxima AM finds.", peers, "plain", "higher"))
    anneals = [str(m) for m, k in zip(fields["method"], fields["method_kind"]) if k == "anneal"]
    if anneals:
        out.append(_compare_claim(records, "beyond:anneal",
                                  "Annealing the backward slope down to the forward slope raises the maxima AM finds.",
                                  anneals, "plain", "higher"))
    labels = set(fields["method"])
    for row in fields[fields["method_kind"] == "network"].itertuples(index=False):
        ref = Method("proxy", float(row.method_slope)).label
        if ref in labels:
            out.append(_compare_claim(records, f"beyond:network-{float(row.method_slope):g}",
                                      f"Gradients of the proxy network ({row.method}) find higher maxima than "
                                      f"ProxyGrad's mixed gradient ({ref}).", [str(row.method)], ref, "higher"))
    return out
