"""Analysis of the ``training`` records: tuned lrs, stability, final accuracies, the comparisons, the claims.

Runs (:mod:`.runs`): a diverged run is excluded from the main tests and accuracies (its seed drops out of
every test it is in) and counted separately (:mod:`.stability`); the intention-to-treat (ITT) line counts
it at chance level ``1 / num_classes``.  Accuracy intervals are t intervals intersected with [0, 1]
(:func:`benchmarks.framework.stats.bounded_mean_ci`); differences get the t interval of the paired
differences.

Choices are made on validation data only (:mod:`.selection`): each variant's lr (the run's rule: the
highest mean validation accuracy over the tuning seeds among the lrs where no tuning seed diverged), and
the best conventional variant a ProxyGrad variant is compared with.  The test split enters only as the
final runs' scores.

Claims (:mod:`.comparisons`, decided by :func:`benchmarks.framework.replication.evaluate`): ``C3`` on the
tuned runs (ProxyGrad against the same network trained with the plain gradient, and against the best
conventional variant), ``B9`` on the matched runs (every variant at one lr).  A claim none of whose tests
is powered (every mde above the relevance threshold) is a smoke-scale view: its verdict is
``inconclusive``, and its text says so.

Descriptive tables: ``paired_tests`` (every variant against ``relu/plain``, its own Holm family per
dataset/arch, diverged seeds excluded), ``final_accuracy`` / ``matched_accuracy``, ``tuning``,
``chosen_lrs``, ``best_conventional``, ``stability``, ``divergence``, ``plateau``, ``mechanism``.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication, stats
from benchmarks.framework.claims import Claim, ClaimSpec
from benchmarks.experiments.training import comparisons as cmp
from benchmarks.experiments.training.plateau import PLATEAU_GAIN, plateau_table
from benchmarks.experiments.training.rank_check import rank_check_table
from benchmarks.experiments.training.runs import (GROUP, final_runs, last_rows, matched_k, matched_runs,
                                                 role_rows)
from benchmarks.experiments.training.selection import best_conventional
from benchmarks.experiments.training.stability import divergence_table, stability_table

BASELINE = "relu/plain"
PROXY_KIND = cmp.PROXY_KIND
ALPHA = 0.05
#: The training claims' rule, equivalence margin and relevance threshold (test accuracy, absolute).
RULE = cmp.RULE
MARGIN = cmp.MARGIN
RELEVANCE = cmp.RELEVANCE


def _role(records: pd.DataFrame, role: str) -> pd.DataFrame:
    return role_rows(records, role)


def final_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Last-epoch rows of the final runs with ``score`` (test accuracy, NaN when diverged) and ``itt``."""
    return final_runs(records)


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


def accuracy_table(runs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, variant) of the scored ``runs``: runs, diverged runs, the mean test accuracy of
    the runs that did not diverge with its 95% interval inside [0, 1], and the ITT mean (diverged at chance)."""
    out = []
    for (ds, arch), g in runs.groupby(GROUP, sort=False):
        for v in _order(g):
            gv = g[g["variant"] == v]
            ok = gv["score"].dropna().to_numpy(float)
            ci = stats.bounded_mean_ci(ok) if ok.size else stats.Interval(math.nan, math.nan, math.nan)
            seeds = set(gv["seed"])
            rows = records[(records["dataset"] == ds) & (records["arch"] == arch) & (records["variant"] == v)
                           & records["role"].isin(list(set(gv["role"]))) & records["seed"].isin(seeds)
                           & records["lr_k"].isin(list(set(gv["lr_k"])))]
            live = gv[~gv["diverged"].astype(bool)]
            out.append({"dataset": ds, "arch": arch, "variant": v, "method": gv["method"].iloc[0],
                        "lr": float(gv["lr"].iloc[0]), "seeds": len(gv), "epochs": int(gv["epoch"].max()),
                        "diverged_runs": int(gv["diverged"].astype(bool).sum()), "runs_used": int(ok.size),
                        "test_acc_mean": ci.estimate, "test_acc_low": ci.low, "test_acc_high": ci.high,
                        "itt_mean": float(gv["itt"].mean()),
                        "dead_fraction_last": float(live["dead_fraction"].mean()) if len(live) else math.nan,
                        "seconds_mean": float(rows.groupby("seed")["seconds"].sum().mean())})
    return pd.DataFrame(out)


def final_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """:func:`accuracy_table` of the final runs (each variant at its tuned lr)."""
    return accuracy_table(final_runs(records), records)


def matched_accuracy(records: pd.DataFrame) -> pd.DataFrame:
    """:func:`accuracy_table` of the matched runs (every variant at the matched lr); empty without them."""
    runs = matched_runs(records)
    return accuracy_table(runs, records) if len(runs) else pd.DataFrame()


def _pairs(fin: pd.DataFrame, ds: str, arch: str, variants: list[str]) -> list[compare.Pair]:
    """``variant`` against relu/plain over the seeds where neither diverged."""
    g = fin[(fin["dataset"] == ds) & (fin["arch"] == arch)]
    base = g[g["variant"] == BASELINE].set_index("seed")["score"].dropna()
    pairs = []
    for v in variants:
        gv = g[g["variant"] == v].set_index("seed")["score"].dropna()
        seeds = sorted(set(gv.index) & set(base.index))
        if not seeds:
            continue
        pairs.append(compare.Pair({"dataset": ds, "arch": arch, "variant": v,
                                   "method": g[g["variant"] == v]["method"].iloc[0], "baseline": BASELINE},
                                  gv.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)))
    return pairs


def paired_tests(records: pd.DataFrame) -> pd.DataFrame:
    """Descriptive: each non-baseline variant against ``relu/plain`` per (dataset, arch), over the seeds
    where neither diverged: paired t-test and Wilcoxon, each Holm-adjusted within the (dataset, arch)."""
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


def _real(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[~runs["dataset"].eq("synthetic")] if len(runs) else runs


def claim_rows(records: pd.DataFrame, which: str = "tuned") -> pd.DataFrame:
    """The rows of claim ``C3`` (``which="tuned"``: final runs, SAME and BEST comparisons) or ``B9``
    (``"matched"``: matched runs, SAME comparisons) on the real data sets (:mod:`.comparisons`)."""
    if which == "tuned":
        return cmp.comparison_rows(_real(final_runs(records)), best_conventional(records))
    return cmp.comparison_rows(_real(matched_runs(records)))


def _spec(which: str) -> ClaimSpec:
    return cmp.TUNED if which == "tuned" else cmp.MATCHED


def claim_table(records: pd.DataFrame, which: str = "tuned", *, itt: bool = False) -> pd.DataFrame:
    """The Holm family of claim C3 (``which="tuned"``) or B9 (``"matched"``); ``itt``: diverged at chance."""
    rows = claim_rows(records, which)
    if rows.empty:
        return pd.DataFrame()
    spec = _spec(which)
    if itt:
        spec = dataclasses.replace(spec, score="itt")
    return replication.claim_table(spec, rows)


def claim_family(records: pd.DataFrame) -> pd.DataFrame:
    """C3's Holm family (the tuned comparisons), with a ``variant`` column naming the ProxyGrad variant."""
    t = claim_table(records, "tuned")
    if t.empty:
        return t
    return t.assign(variant=t["activation"] + "/" + t["proxy"])


def mechanism_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per (set, dataset, arch, variant, epoch): mean over the runs that did not diverge of the dead fraction
    (all rectifiers and per rectifier) and of the gradient norm per layer; ``runs`` of them, and
    ``diverged_runs`` left out.  Sets: ``tuned`` (the final runs) and, with matched runs, ``matched`` (every
    variant at the matched lr: plain and ProxyGrad at the same step size)."""
    parts = []
    k = matched_k(records)
    for name, rows in (("tuned", _role(records, "final")),
                       ("matched", role_rows(records, "final", "matched") if k is not None else records.iloc[0:0])):
        if rows.empty:
            continue
        if name == "matched":
            rows = rows[rows["lr_k"] == k]
        cols = [c for c in rows.columns if c == "dead_fraction" or c.startswith("dead_") and c[5:].isdigit()
                or c.startswith("grad_norm_")]
        div = rows["diverged"].astype(bool)
        ok = rows[~div]
        gone = rows[div].groupby(GROUP + ["variant"])["seed"].nunique()
        t = ok.groupby(GROUP + ["variant", "epoch"], sort=False)[cols].mean().reset_index()
        t.insert(0, "set", name)
        t["runs"] = ok.groupby(GROUP + ["variant", "epoch"], sort=False)["seed"].nunique().to_numpy()
        t["diverged_runs"] = [int(gone.get((r.dataset, r.arch, r.variant), 0)) for r in t.itertuples()]
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """Tables: ``tuning``, ``chosen_lrs``, ``stability``, ``final_accuracy``, ``divergence``, ``plateau``,
    ``best_conventional``, ``paired_tests``, ``claim_C3``, ``claim_C3_itt``, ``mechanism`` and, with matched
    runs, ``matched_accuracy``, ``claim_B9``, ``claim_B9_itt``, ``rank_check``."""
    tables = {"tuning": tuning_table(records), "chosen_lrs": chosen_lrs(records),
              "stability": stability_table(records), "final_accuracy": final_accuracy(records),
              "divergence": divergence_table(records), "plateau": plateau_table(records),
              "best_conventional": best_conventional(records), "paired_tests": paired_tests(records),
              "claim_C3": claim_table(records, "tuned"), "claim_C3_itt": claim_table(records, "tuned", itt=True),
              "mechanism": mechanism_table(records)}
    if matched_k(records) is not None:
        tables.update({"matched_accuracy": matched_accuracy(records), "claim_B9": claim_table(records, "matched"),
                       "claim_B9_itt": claim_table(records, "matched", itt=True),
                       "rank_check": rank_check_table(records)})
    return tables


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics: per ``dataset/arch/variant`` the mean final test accuracy over seeds, a diverged run
    at chance (the ITT mean: the value these metrics have always had)."""
    table = final_accuracy(records)
    return {f"{r.dataset}/{r.arch}/{r.variant}/final_test_acc": float(r.itt_mean)
            for r in table.itertuples(index=False)}


def _tuning_note(records: pd.DataFrame) -> str:
    lrs = chosen_lrs(records)
    if lrs.empty:
        return "No tuning records."
    parts = [f"{r.arch}/{r.variant}: " + ("failed (every lr diverged)" if r.failed else f"{r.lr:.3g}")
             for r in lrs.itertuples(index=False)]
    edge = int(lrs["at_edge"].sum())
    tune = last_rows(_role(records, "tune"))
    n_tune = int(tune.groupby(GROUP + ["variant", "lr_k"])["seed"].nunique().min()) if len(tune) else 0
    fin = _role(records, "final")
    e_tune, e_fin = int(_role(records, "tune")["epoch"].max()), int(fin["epoch"].max()) if len(fin) else 0
    schedule = ""
    if e_fin and e_tune < e_fin:
        rc = rank_check_table(records)
        tune = _role(records, "tune")
        prefix = "schedule_epochs" in tune.columns and bool((tune["schedule_epochs"] == e_fin).all())
        how = (f"the first {e_tune} epochs of the final runs' schedule" if prefix
               else f"{e_tune} epochs (a shorter cosine schedule of their own)")
        schedule = (f" Tuning runs train {how}, final runs {e_fin}; "
                    + (f"the short schedule orders the chosen and the matched lr as the full one does (validation "
                       f"accuracy of the final seeds) for {int(rc['agree'].sum())} of {len(rc)} variants (table "
                       "rank_check)." if len(rc) else "no variant ran two lrs at the full schedule to check its lr "
                       "order (table rank_check)."))
    return ("Tuned comparison: every variant trains at its own SGD lr, chosen on validation accuracy (a split of "
            "the training images, disjoint from the test split, which is used once per final run) from a log "
            f"grid extended past its edges, on {n_tune} tuning seed{'s' if n_tune != 1 else ''} disjoint from the "
            "final seeds. Rule: among the lrs where no tuning seed diverged, the highest mean validation accuracy "
            "over the tuning seeds; exact ties go to the lower middle of the tied lrs. Chosen lrs: "
            f"{'; '.join(parts)}.{schedule}"
            + (f" {edge} choices sit at an edge of the lrs tried (a grid limit stopped the extension)." if edge else ""))


def _divergence_note(records: pd.DataFrame, roles: tuple[str, ...]) -> str:
    d = divergence_table(records)
    d = d[d["role"].isin(roles)] if len(d) else d
    hit = d[d["diverged_runs"] > 0] if len(d) else d
    if d.empty:
        return ""
    if hit.empty:
        return "No tested run diverged."
    runs = "; ".join(f"{r.arch}/{r.variant}: {r.diverged_runs} of {r.runs}" for r in hit.itertuples(index=False))
    return (f"Diverged runs (training loss non-finite), excluded from the tests above and counted here: {runs}.")


def _itt_note(records: pd.DataFrame, which: str) -> str:
    t = claim_table(records, which, itt=True)
    if t.empty:
        return ""
    main = claim_table(records, which)
    if len(main) == len(t) and np.allclose(main["mean_diff"].to_numpy(float), t["mean_diff"].to_numpy(float)) \
            and (main["n"].to_numpy() == t["n"].to_numpy()).all():
        return "Intention to treat (diverged runs at chance): the same tests, as no run diverged."
    parts = [f"{r.arch}/{r.activation}/{r.proxy} vs {r.reference_variant} ({r.comparison}): {r.mean_diff:+.4f} "
             f"[{r.diff_low:+.4f}, {r.diff_high:+.4f}], n = {r.n}, Holm p {compare.format_p(r.p_holm)}, {r.outcome}"
             for r in t.itertuples(index=False)]
    keys = ["arch", "activation", "proxy", "comparison"]
    have = set(map(tuple, main[keys].to_numpy().tolist())) if len(main) else set()
    gone = [f"{r.arch}/{r.activation}/{r.proxy} vs {r.reference_variant} ({r.comparison})"
            for r in t.itertuples(index=False) if (r.arch, r.activation, r.proxy, r.comparison) not in have]
    dropped = (f"No seed without a diverged run is left, so the main tests lack: {'; '.join(gone)}. " if gone else "")
    return (dropped + "Intention to treat (diverged runs at chance 1 / classes, every seed kept): " + "; ".join(parts)
            + ".")


def _stopping_note(records: pd.DataFrame) -> str:
    p = plateau_table(records)
    if p.empty:
        return ""
    base = p[p["variant"] == BASELINE]
    parts = []
    for r in base.itertuples(index=False):
        if r.plateau_rule == "reference":
            check = (f"{r.reference_runs} reference runs of {int(r.reference_epochs)} epochs on the tuning seeds reach "
                     f"{r.val_reference:.4f}, {r.gap_to_reference:+.4f} [{r.gap_low:+.4f}, {r.gap_high:+.4f}] "
                     "above it")
        else:
            check = f"gain over the last {r.late_epochs} epochs {r.late_gain:+.4f}"
        parts.append(f"{r.arch}: validation {r.val_last:.4f} after epoch {r.epochs} ({check}; "
                     f"{'on' if r.on_plateau else 'not on'} the plateau by the {PLATEAU_GAIN:g} rule), "
                     f"test {r.test_acc_mean:.4f}")
    return (f"Stopping rule: a fixed epoch count; relu/plain: {'; '.join(parts)} (table plateau)." if parts else "")


def _best_note(records: pd.DataFrame) -> str:
    b = best_conventional(records)
    if b.empty:
        return ""
    return ("Best conventional variant, chosen on the tuning seeds' validation accuracy at each variant's chosen "
            "lr (never on test data): " + "; ".join(f"{r.arch}: {r.best_conventional} ({r.candidates})"
                                                     for r in b.itertuples(index=False)) + ".")


def _smoke_scale(claim: Claim) -> Claim:
    """A claim none of whose tests is powered: the verdict is inconclusive, and the claim says why."""
    t = claim.table
    if t is None or t.empty or bool(t["powered"].any()):
        return claim
    n = int(t["n"].max())
    note = (f"Smoke-scale view: with n <= {n} seeds no test can detect the relevance threshold {RELEVANCE:g} "
            "(every mde is above it), so the verdict is inconclusive unless its power allows more; the powered "
            "comparison is the standard profile.")
    was = "" if claim.verdict == "inconclusive" else f" (the rule alone would say {claim.verdict})"
    return dataclasses.replace(claim, verdict="inconclusive", rationale=f"{note}{was} {claim.rationale}")


def _not_tested(spec: ClaimSpec, design: str, why: str) -> Claim:
    return Claim(spec.key, spec.statement, "training", why, "not tested", design, rule=spec.rule, id=spec.id,
                 method=cmp.PROXY)


def claims(records: pd.DataFrame) -> list[Claim]:
    """C3 (tuned runs) and, with matched runs, B9 (matched lr), decided by ``compare.decide(RULE, ...)``."""
    design = ("ProxyGrad against the same network trained with the plain gradient, and against the best "
              "conventional variant, on every real dataset/arch, paired over seeds (same initial weights and "
              "data order), paired t-test on the final test accuracy, Holm over the claim's tests.")
    has_roles = not records.empty and "role" in records.columns
    protocol = " ".join(x for x in ((_tuning_note(records) if has_roles else ""), _stopping_note(records) if has_roles
                                    else "", _best_note(records) if has_roles else "") if x)
    out: list[Claim] = []
    for which in ("tuned", "matched"):
        spec = _spec(which)
        if which == "matched" and (not has_roles or matched_k(records) is None):
            continue
        rows = claim_rows(records, which) if has_roles else pd.DataFrame()
        if rows.empty:
            synthetic = has_roles and len(final_runs(records)) and final_runs(records)["dataset"].eq("synthetic").all()
            why = ("Only the synthetic smoke data set was run; it is no benchmark." if synthetic else
                   "no ProxyGrad runs with a conventional reference in the records")
            out.append(_not_tested(spec, f"{protocol} {design}".strip(), why))
            continue
        roles = ("final",) if which == "tuned" else ("final", "matched")
        extra = " ".join(x for x in (_divergence_note(records, roles), _itt_note(records, which)) if x)
        head = protocol if which == "tuned" else (
            f"Matched-lr comparison: every variant at lr {records['lr'][records['lr_k'] == matched_k(records)].iloc[0]:.3g} "
            f"(the profile's matched_lr), the same seeds; beside the tuned comparison (C3), it separates the backward "
            f"rule from the step size.")
        for claim in replication.evaluate(spec, rows, experiment="training", protocol=f"{head} {extra}".strip()):
            out.append(_smoke_scale(claim))
    return out


def curves(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval (t, inside [0, 1]) of validation accuracy per (dataset, arch, variant, epoch) of
    the final runs that did not diverge (``runs``: how many; ``diverged_runs``: how many were left out)."""
    out = []
    fin = _role(records, "final")
    gone = fin[fin["diverged"].astype(bool)].groupby(GROUP + ["variant"])["seed"].nunique() if len(fin) else {}
    fin = fin[~fin["diverged"].astype(bool)] if not fin.empty else fin
    for (ds, arch, v, ep), g in fin.groupby(GROUP + ["variant", "epoch"], sort=False):
        ci = stats.bounded_mean_ci(g["val_acc"].to_numpy(float))
        out.append({"dataset": ds, "arch": arch, "variant": v, "epoch": int(ep), "runs": len(g),
                    "diverged_runs": int(gone.get((ds, arch, v), 0)),
                    "val_acc_mean": ci.estimate,
                    "val_acc_low": ci.low, "val_acc_high": ci.high,
                    "train_loss_mean": float(np.nanmean(g["train_loss"].to_numpy(float)))})
    return pd.DataFrame(out)
