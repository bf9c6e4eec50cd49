"""The claims of ``toy-am``, declared as data and decided by :func:`benchmarks.framework.replication.evaluate`.

C1 (plain AM fails, a rule of its own: :func:`am_fails`), C2 (the declared ``claim_method`` against
plain), and beyond the paper straight-through, each peer rule, annealing, switching, the network
ablation, the derived best-of and the gradient-free baselines, each tested against its reference, one
Holm family per claim (:func:`claim_specs`).  The unit of replication is the instance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.framework import compare, replication
from benchmarks.framework.claims import Claim, ClaimSpec
from benchmarks.framework.methods import Method, has_trait
from benchmarks.experiments.toy_am.rows import (BEST_BASELINE, EXPERIMENT, INSTANCE_KEYS, SCORE, STRATA, UNIT,
                                                attained_at, baseline_rows, best_of_label, best_of_rows, big_proxy,
                                                gradient_rows, is_tuned, lr_of, method_fields, ordered, primary,
                                                role_rows, success_target, with_best_of)
from benchmarks.experiments.toy_am.tables import lr_choice_table

FAIL_RATE_MIN = 0.1      # AM "fails" on a family when the lower end of its instances' failure rate >= this
AM_FAILS_RULE = (f"Unit of replication: the instance (its failure rate over starts). A family counts as failed when "
                 f"the 95% bootstrap lower end (over instances) of the mean failure rate is at least "
                 f"{FAIL_RATE_MIN:g}; supported when at least one ReLU and one Leaky ReLU family fail, mixed when only "
                 f"one kind does, contradicted when none does.")
"""How C1 is decided here: the two kinds of family (ReLU, Leaky ReLU) are the groups of
:func:`benchmarks.framework.compare.coverage_verdict`, each counting its failed families."""


def claim_specs(records: pd.DataFrame) -> list[ClaimSpec]:
    """The comparative claims this experiment tests on ``records`` (methods present in them)."""
    rows = gradient_rows(records)
    if rows.empty:
        return []
    fields = method_fields(rows)
    kinds = dict(zip(fields["method"].astype(str), fields["method_kind"].astype(str)))
    labels = set(kinds)

    def spec(cid: str, key: str, statement: str, methods: list[str], reference: str = "plain") -> ClaimSpec | None:
        methods = [m for m in methods if m in labels | {best_of_label(str(big_proxy(rows)))}]
        return ClaimSpec(cid, key, statement, tuple(methods), reference, UNIT, STRATA, SCORE) if methods else None

    big = big_proxy(rows)
    specs = [
        spec("C2", "slope-raises-maxima", "A large backward slope (ProxyGrad, the declared slope) raises the maxima "
             "AM finds.", [big] if big else []),
        spec("B1", "beyond:straight-through", "Straight-through (backward slope 1, a fully linear backward pass) "
             "raises the maxima AM finds.", [m for m, k in kinds.items() if k == "proxy" and
                                            float(fields.set_index("method").loc[m, "method_slope"]) == 1.0]),
        spec("B2", "beyond:peers", "Other backward rules (Lucid's redirected ReLU, SUGAR's B-SiLU and NeLU) raise "
             "the maxima AM finds.", [m for m, k in kinds.items() if has_trait(k, "peer")]),
        spec("B3", "beyond:anneal", "Annealing the backward slope down to the forward slope raises the maxima AM "
             "finds.", [m for m, k in kinds.items() if k == "anneal"]),
        spec("B4", "beyond:switch", "ProxyGrad for the first quarter of the steps, then plain AM, raises the "
             "maxima AM finds.", [m for m, k in kinds.items() if k == "switch"]),
    ]
    if big is not None and len(best_of_rows(rows, big, int(rows["steps"].max()))):
        specs.append(spec("B5", "beyond:best-of", f"The better of plain AM and {big} run for half the steps each "
                          f"beats plain AM run for all the steps (equal total budget).", [best_of_label(big)]))
    for r in fields[fields["method_kind"] == "network"].itertuples(index=False):
        ref = Method("proxy", float(r.method_slope)).label
        if ref in labels:
            specs.append(ClaimSpec("B6", f"beyond:network-{float(r.method_slope):g}", f"Gradients of the proxy "
                                   f"network ({r.method}) find higher maxima than ProxyGrad's mixed gradient ({ref}).",
                                   (str(r.method),), ref, UNIT, STRATA, SCORE))
    if not role_rows(records, "baseline").empty:
        specs.append(ClaimSpec("B7", "beyond:baselines", "Gradient AM beats the strongest gradient-free baseline "
                               "(uniform random search, random corners, the linearized gradient's corner) at equal "
                               "forward evaluations.", tuple(m for m in ("plain", big) if m), BEST_BASELINE, UNIT,
                               STRATA, SCORE))
    return [s for s in specs if s is not None]


def _claim_rows(records: pd.DataFrame, spec: ClaimSpec) -> pd.DataFrame:
    rows = gradient_rows(records)
    big = big_proxy(rows)
    if spec.reference == BEST_BASELINE:
        return pd.concat([rows, baseline_rows(records)], ignore_index=True)
    if big is not None and best_of_label(big) in spec.methods:
        return with_best_of(rows, big, int(rows["steps"].max())).pipe(
            lambda r: r.assign(attained=np.where(r["method"] == best_of_label(big),
                                                 attained_at(r, int(rows["steps"].max())), r[SCORE])))
    return rows


def claim_tables(records: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"claim_<id>": the claim's Holm family}`` for every declared comparative claim."""
    out = {}
    for spec in claim_specs(records):
        t = replication.claim_table(spec, _claim_rows(records, spec))
        if len(t):
            out[f"claim_{spec.id}" + (f"_{spec.key.rpartition('-')[2]}" if spec.id == "B6" else "")] = t
    return out


def _main_optimizer(records: pd.DataFrame) -> str:
    opts = ordered(records["optimizer"])
    return "ascent" if "ascent" in opts else opts[0]


def _hand_built(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of families whose optimum is closed-form (as each family declares)."""
    import toy_functions

    kinds = {n: toy_functions.optimum_kind(n) if n in toy_functions.names() else None  # plug-ins: not the suite's
             for n in records["family_name"].astype(str).unique()}
    return records[records["family_name"].astype(str).map(kinds) == toy_functions.CLOSED_FORM]


def _lr_text(rows: pd.DataFrame, methods: list[str]) -> str:
    """``optimizer: method lr, ...`` of the rows' step sizes."""
    parts = []
    for opt in ordered(rows["optimizer"]):
        lrs = ", ".join(f"{m} {lr_of(rows, opt, m):.3g}" for m in methods if np.isfinite(lr_of(rows, opt, m)))
        if lrs:
            parts.append(f"{opt}: {lrs}")
    return "; ".join(parts)


def _protocol(records: pd.DataFrame, methods: list[str]) -> str:
    """The first sentences of a comparison's rationale: tuned (and how) or untuned, and every at-limit choice."""
    rows = gradient_rows(records)
    if not is_tuned(records):
        return compare.untuned_note({o: rows.loc[rows["optimizer"] == o, "lr"].tolist()
                                     for o in ordered(rows["optimizer"])})
    tu = role_rows(records, "tuning")
    n_tu = tu[INSTANCE_KEYS].drop_duplicates().shape[0]
    n_ev = rows[INSTANCE_KEYS].drop_duplicates().shape[0]
    limit = lr_choice_table(records)
    limit = limit[limit["method"].isin(methods) & limit["at_limit"]]
    flag = (" No choice of these methods stopped at a grid limit." if limit.empty else
            " AT A GRID LIMIT (its best lr may lie beyond the grid): " +
            ", ".join(f"{r.method} ({r.optimizer}, lr {r.lr:.3g})" for r in limit.itertuples()) + ".")
    return (f"Tuned comparison: each method runs at its own step size per optimizer, chosen on {n_tu} tuning "
            f"instances disjoint from the {n_ev} evaluation instances (score: mean rank of f_best; "
            f"lr = {_lr_text(rows, methods)}), with equal steps, starts and gradient evaluations.{flag}")


def am_fails(records: pd.DataFrame) -> Claim:
    """Plain AM misses the certified optimum on simple ReLU and Leaky ReLU functions (unit: the instance)."""
    rows = gradient_rows(records)
    opt, tau = _main_optimizer(rows), success_target(rows)
    hb = _hand_built(rows)
    hb = hb[(hb["method"] == "plain") & (hb["optimizer"] == opt)]
    statement = "Plain activation maximization fails to find the global maximum of simple ReLU and Leaky ReLU functions."
    fails = replication.unit_values(hb.assign(_fail=(hb["rel_gap"] > tau).astype(float)), unit=UNIT,
                                    by=["family"], score="_fail")
    out = []
    for fam in ordered(fails["family"]) if len(fails) else []:
        v = fails.loc[fails["family"] == fam, "value"].to_numpy(float)
        lo, hi = compare.mean_interval(v)
        g = hb[hb["family"] == fam]
        out.append({"family": fam, "forward_slope": float(g["forward_slope"].iloc[0]), "lr": float(g["lr"].iloc[0]),
                    "instances": len(v), "fail_rate": float(v.mean()), "fail_low": lo, "fail_high": hi,
                    "mean_attained": float(g["attained"].mean()), "fails": lo >= FAIL_RATE_MIN})
    table = pd.DataFrame(out)
    if table.empty:
        return Claim("am-fails", statement, EXPERIMENT, "no hand-built families with plain AM in the records",
                     "not tested", table=table, id="C1", method="plain")
    relu = table[table["forward_slope"] == 0.0]
    leaky = table[table["forward_slope"] > 0.0]
    relu_f, leaky_f = int(relu["fails"].sum()), int(leaky["fails"].sum())
    how = "at its tuned lr" if is_tuned(records) else "at the shared fixed lr"
    effect = (f"plain AM ({opt}, {how}) misses the optimum (rel_gap > {tau:g}) on a fraction of the starts of each "
              f"instance whose mean over instances has a 95% bootstrap lower end >= {FAIL_RATE_MIN:g} on "
              f"{relu_f}/{len(relu)} ReLU and {leaky_f}/{len(leaky)} Leaky ReLU families; per family: " +
              "; ".join(f"{r.family} {r.fail_rate:.2f} [{r.fail_low:.2f}, {r.fail_high:.2f}] over {r.instances} "
                        f"instances" for r in table.itertuples()))
    verdict = compare.coverage_verdict([relu_f, leaky_f])
    return Claim("am-fails", statement, EXPERIMENT, effect, verdict, AM_FAILS_RULE, table, id="C1", method="plain")


def claims(records: pd.DataFrame) -> list[Claim]:
    """C1 and every declared comparative claim (:func:`claim_specs`), each method its own verdict line."""
    out = [am_fails(records)]
    steps = int(primary(records)["steps"].max()) if len(primary(records)) else 0
    for spec in claim_specs(records):
        protocol = _protocol(records, [spec.reference, *spec.methods])
        protocol += f" Budget: {steps} steps from the same starts per instance."
        if spec.id == "B5":
            protocol += (" The derived method is the better of two runs of half the steps from the same start "
                         "(plain and the claim method, each at the lr tuned for the full budget).")
        if spec.id == "B7":
            protocol += (" The baselines use the AM runs' forward evaluations (steps + 1 per start); the strongest "
                         "of the three is taken per start, after the fact, which favours them.")
        out += replication.evaluate(spec, _claim_rows(records, spec), experiment=EXPERIMENT, protocol=protocol)
    return out
