"""The claims of ``training``, decided by :func:`benchmarks.framework.replication.evaluate`.

Claims (:mod:`.comparisons`): ``C3`` on the tuned runs (ProxyGrad against the same network trained with the
plain gradient, and against the best conventional variant), ``B9`` on the matched runs (every variant at one
lr).  A claim none of whose tests is powered (every mde above the relevance threshold) is a smoke-scale
view: its verdict is ``inconclusive``, and its text says so.  The notes that open a claim's rationale
(tuning, stopping rule, best conventional variant, divergence, intention to treat) are written here.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication
from benchmarks.framework.claims import Claim, ClaimSpec
from benchmarks.experiments.training import comparisons as cmp
from benchmarks.experiments.training.plateau import PLATEAU_GAIN, plateau_table
from benchmarks.experiments.training.rank_check import rank_check_table
from benchmarks.experiments.training.runs import GROUP, final_runs, last_rows, matched_k, matched_runs, role_rows
from benchmarks.experiments.training.selection import best_conventional
from benchmarks.experiments.training.stability import divergence_table
from benchmarks.experiments.training.tables import BASELINE, chosen_lrs

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


def _tuning_note(records: pd.DataFrame) -> str:
    lrs = chosen_lrs(records)
    if lrs.empty:
        return "No tuning records."
    parts = [f"{r.arch}/{r.variant}: " + ("failed (every lr diverged)" if r.failed else f"{r.lr:.3g}")
             for r in lrs.itertuples(index=False)]
    edge = int(lrs["at_edge"].sum())
    tune = last_rows(role_rows(records, "tune"))
    n_tune = int(tune.groupby(GROUP + ["variant", "lr_k"])["seed"].nunique().min()) if len(tune) else 0
    fin = role_rows(records, "final")
    e_tune, e_fin = int(role_rows(records, "tune")["epoch"].max()), int(fin["epoch"].max()) if len(fin) else 0
    schedule = ""
    if e_fin and e_tune < e_fin:
        rc = rank_check_table(records)
        tune = role_rows(records, "tune")
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


def stopping_note(records: pd.DataFrame) -> str:
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
    note = (f"Smoke-scale view: with n <= {n} seeds no test can detect the relevance threshold {cmp.RELEVANCE:g} "
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
    protocol = " ".join(x for x in ((_tuning_note(records) if has_roles else ""), stopping_note(records) if has_roles
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
