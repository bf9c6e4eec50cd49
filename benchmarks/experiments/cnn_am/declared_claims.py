"""The claims ``cnn-am`` declares: C2 (the declared claim method against plain over units of trained
models), B8 (the same over the certified units), B10 (each practitioners' recipe with ProxyGrad's backward
at the declared slope against the recipe alone) and B11 (each recipe against plain gradient AM), decided by
:func:`benchmarks.framework.replication.evaluate`, and its part of C1 (plain AM stops below a value the
certifier attained on a share of the certified units). See :mod:`benchmarks.experiments.cnn_am.analysis`.
"""
from __future__ import annotations

import pandas as pd

from benchmarks.framework import compare, replication, stats
from benchmarks.framework import methods as _methods
from benchmarks.framework.claims import Claim, ClaimSpec
from benchmarks.experiments.cnn_am.choices import REGRET_TARGET, lr_regret_table, tuning_choices
from benchmarks.experiments.cnn_am.unit_values import (EXPERIMENT, UNIT, large_slope_method, per_unit, primary_units,
                                                      tolerance)


#: C1's threshold: plain AM "fails" on a model when the lower end of its shortfall share is at least this.
SHORT_MIN = 0.1


def _lr_note(choices: pd.DataFrame, regret: pd.DataFrame, units: pd.DataFrame, role: str,
             compared: list[str]) -> str:
    """The claim text's account of the step sizes: the protocol, every choice stopped at a grid limit
    (``choices``: :func:`tuning_choices`), and the lr-regret summary (``regret``: :func:`lr_regret_table`)
    where the records have a sweep."""
    if role != "evaluation":
        return compare.untuned_note({str(o): list(g["lr"]) for o, g in units.groupby("optimizer", sort=False)})
    choices = choices[choices["method"].isin(compared)] if len(choices) else choices
    edge = choices[choices["at_edge"]] if len(choices) else choices
    flagged = ("; ".join(f"{r.model}/{r.optimizer}/{r.method}/{r.unit_group} at lr {r.chosen_lr:.3g}"
                         for r in edge.itertuples()) if len(edge) else "none")
    note = (f"Tuned comparison: every (model, optimizer, method) runs at its own step size, one per unit group "
            f"(the logits; the channels of each layer), chosen on tuning units of that group disjoint from the "
            f"evaluation units (a group without tuning units takes the model's pooled choice; table `tuning`); "
            f"choices stopped at a grid limit: {flagged}.")
    if len(regret):
        regret = regret[regret["method"].isin(compared)]
        low = regret[~regret["ok"]]
        note += (f" lr regret on the evaluation units (table `lr_regret`): median ratio of the gain at the chosen "
                 f"lr to the best tried lr between {regret['median_ratio'].min():.3g} and "
                 f"{regret['median_ratio'].max():.3g} over {len(regret)} (model, optimizer, method, group) cells"
                 + (f"; below {REGRET_TARGET:g} in " + "; ".join(
                     f"{r.model}/{r.optimizer}/{r.method}/{r.unit_group} ({r.median_ratio:.3g}; best single lr "
                     f"in hindsight {r.hindsight_median_ratio:.3g})"
                     for r in low.itertuples()) if len(low) else f", every one at least {REGRET_TARGET:g}") + ".")
    return note


def claim_specs(units: pd.DataFrame) -> list[tuple[ClaimSpec, pd.DataFrame]]:
    """``(spec, rows)`` of the comparative claims: C2 over the trained models' primary units, B8 over their
    certified units."""
    method = large_slope_method(units)
    claim_units, _ = primary_units(units)
    if method is None or claim_units.empty:
        return []
    c2 = ClaimSpec("C2", "slope-raises-maxima", "A large backward slope (ProxyGrad, the declared slope) raises "
                   "the maxima AM finds.", (method,), "plain", UNIT, ("model", "optimizer"), "attained",
                   summary="max")
    out = [(c2, claim_units)]
    certified = claim_units[claim_units["upper_bound"].notna()]
    if len(certified):
        b8 = ClaimSpec("B8", "beyond:certified-gaps-cnn", "On trained CNNs whose units are certified exactly, the "
                       "declared proxy narrows AM's gap to the certified maximum.", (method,), "plain", UNIT,
                       ("model", "optimizer"), "attained", summary="max")
        out.append((b8, certified))
    return out + recipe_specs(claim_units, method)


def recipe_specs(claim_units: pd.DataFrame, claim_method: str) -> list[tuple[ClaimSpec, pd.DataFrame]]:
    """B10 and B11 over the primary units of the models where the practitioners' recipes ran: per recipe (a
    variant of each), the recipe with ProxyGrad's backward at the declared claim slope against the recipe
    alone (B10), and the recipe alone against plain gradient AM (B11), on the same units, optimizer by
    optimizer, at each method's own tuned step sizes."""
    slope = _methods.parse(claim_method).slope
    labels = set(claim_units["method"])
    out = []
    for recipe in dict.fromkeys(_methods.RECIPE_KINDS.values()):
        with_proxy = _methods.Method(f"{recipe}-proxy", slope).label if slope is not None else None
        if recipe not in labels:
            continue
        if with_proxy in labels:
            spec = ClaimSpec("B10", f"beyond:proxygrad-in-recipes-{recipe}", f"ProxyGrad's backward at slope "
                             f"{slope:g} inside {recipe}'s recipe raises the maxima the recipe finds.", (with_proxy,),
                             recipe, UNIT, ("model", "optimizer"), "attained", summary="max")
            out.append((spec, claim_units[claim_units["method"].isin([recipe, with_proxy])]))
        spec = ClaimSpec("B11", f"beyond:recipes-vs-gradient-am-{recipe}", f"{recipe}'s recipe, tuned like every "
                         "method, finds higher maxima of the original network than plain gradient AM.", (recipe,),
                         "plain", UNIT, ("model", "optimizer"), "attained", summary="max")
        models = set(claim_units.loc[claim_units["method"] == recipe, "model"])
        out.append((spec, claim_units[claim_units["method"].isin([recipe, "plain"])
                                      & claim_units["model"].isin(models)]))
    return out


def claim_shortfall(units: pd.DataFrame) -> Claim:
    """The cnn-am part of C1: plain AM stops below a value the certifier attained (``incumbent``) on a share
    of the certified units of each trained model (unit: the network unit, best of starts; Wilson 95%
    interval over units, per model and optimizer). Supported when that share's lower end is at least
    ``SHORT_MIN`` on every certified model for some optimizer; mixed on some; else contradicted."""
    statement = ("Plain activation maximization fails to find the global maximum of units of trained CNNs "
                 "(certified exactly).")
    claim_units, _ = primary_units(units)
    plain = claim_units[(claim_units["method"] == "plain") & claim_units["upper_bound"].notna()]
    if plain.empty:
        return Claim("am-fails", statement, EXPERIMENT, "no certified trained units in the records", "not tested",
                     id="C1", method="plain")
    rows, by_model = [], {}
    for (model, opt), g in plain.groupby(["model", "optimizer"], sort=False):
        short = int((g["gap_lower"] > tolerance(g["incumbent"])).sum())
        w = stats.wilson(short, len(g))
        rows.append({"model": model, "optimizer": opt, "units": len(g), "short": short, "rate": w.estimate,
                     "low": w.low, "high": w.high, "mean_attained": float(g["attained"].mean())})
        by_model[model] = by_model.get(model, False) or w.low >= SHORT_MIN
    table = pd.DataFrame(rows)
    hit = sum(by_model.values())
    verdict = compare.coverage_verdict(list(by_model.values()))
    effect = "; ".join(f"{r.model} ({r.optimizer}): below the certifier's value on {r.short}/{r.units} units "
                       f"({r.rate:.2f} [{r.low:.2f}, {r.high:.2f}]), mean attained fraction of the bound "
                       f"{r.mean_attained:.3f}" for r in table.itertuples())
    rationale = (f"Unit of replication: the certified unit (best of starts). A model counts when, for some "
                 f"optimizer, the Wilson 95% lower end of the share of units where plain AM stays below a value "
                 f"the certifier attained is at least {SHORT_MIN:g}; supported when every certified model counts "
                 f"({hit} of {len(by_model)}), mixed when some do, contradicted when none does.")
    return Claim("am-fails", statement, EXPERIMENT, effect, verdict, rationale, table, id="C1", method="plain")


def claims(records: pd.DataFrame) -> list[Claim]:
    """C1 (this experiment's part), C2 and B8."""
    units = per_unit(records)
    out = [claim_shortfall(units)]
    specs = claim_specs(units)
    if not specs:
        why = ("no trained model in the records" if primary_units(units)[0].empty else
               "no declared claim_method in the records")
        out.append(Claim("slope-raises-maxima", "A large backward slope raises the maxima AM finds.", EXPERIMENT,
                         why, "not tested", "needs plain and the declared proxy method on a trained network",
                         id="C2"))
    choices = tuning_choices(records) if specs else pd.DataFrame()
    regret = lr_regret_table(records, choices) if specs else pd.DataFrame()
    for spec, rows in specs:
        role = str(rows["role"].iloc[0])
        steps = f"{int(records['steps'].max())} steps" if "steps" in records.columns else "the records' steps"
        protocol = (f"{_lr_note(choices, regret, rows, role, [spec.reference, *spec.methods])} Trained models only; the full budget of "
                    f"{steps}; units normalized to their reference (the certified bound, "
                    f"else the best value found on the unit) before anything is pooled.")
        out += replication.evaluate(spec, rows, experiment=EXPERIMENT, protocol=protocol)
    return out
