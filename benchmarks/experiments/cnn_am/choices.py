"""The step-size choices of ``cnn-am``, made per unit group (the logits; the channels of each layer) from the
tuning records (:func:`group_choices`), as a table (:func:`tuning_choices`), and the lr-regret diagnostic on
the evaluation units' sweep (:func:`lr_regret_table`).
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.framework import tuning
from benchmarks.experiments.cnn_am.unit_values import POOLED, am_records, group_label


#: The lr-regret table's target: the median ratio of each (model, optimizer, method, unit group) should reach it.
REGRET_TARGET = 0.9


def tuning_score(value: str = "f_best") -> tuning.Score:
    """The tuning score of an lr index on a set of tuning units: per unit the best ``value`` over starts,
    ranked across indices and averaged over the units (:class:`benchmarks.framework.tuning.Score`: scale-free)."""
    return tuning.Score(value, units=("unit",), per_unit="max")


def group_scores(rows: pd.DataFrame, value: str = "f_best") -> dict[str, dict[int, float]]:
    """Tuning scores (:func:`tuning_score`) of one (model, optimizer, method) per unit group (``layer``:
    ``logits`` or a layer) and pooled over every tuning unit (:data:`POOLED`)."""
    per = rows.assign(layer=rows["layer"].map(group_label)).groupby(
        ["layer", "unit", "lr_index"], sort=False)[value].max().reset_index()
    score = tuning_score(value)
    out = {str(g): tuning.scores(part, score) for g, part in per.groupby("layer", sort=False)}
    out[POOLED] = tuning.scores(per, score)
    return out


def group_choices(rows: pd.DataFrame, grid: tuning.Grid, groups: list[str] | None = None,
                  value: str = "f_best") -> dict[str, tuning.Choice]:
    """The step-size choice of every unit group from one (model, optimizer, method)'s tuning records.

    Units of different gradient scales do not share one lr: each group (the logits; the channels of each
    layer) is tuned on its own tuning units by :func:`benchmarks.framework.tuning.choose`. ``groups``: the
    groups that need a choice (those of the evaluation units); a group without tuning units takes the
    pooled choice over all tuning units (:data:`POOLED`), which is then included."""
    scores = group_scores(rows, value)
    need = set(scores) - {POOLED} if groups is None else set(groups)
    out = {g: tuning.choose(scores[g], grid) for g in sorted(need) if g in scores}
    if need - set(out):
        out[POOLED] = tuning.choose(scores[POOLED], grid)
    return out


def tuning_choices(records: pd.DataFrame) -> pd.DataFrame:
    """Per (model, optimizer, method, unit group): the step sizes tried on the tuning units, their scores
    (mean rank over the group's tuning units of the best value over starts), the chosen lr of the group's
    evaluation units, and whether it lies at an edge of the tried range (``at_edge``: with a final choice,
    a hard limit of the grid stopped the extension; such choices are flagged in the claim text)."""
    df = am_records(records)
    tune = df[df["role"] == "tuning"]
    evaluated = df[df["role"] == "evaluation"]
    if "lr_group" not in evaluated.columns:  # records made before lrs were tuned per unit group
        evaluated = evaluated.assign(lr_group=POOLED)
    rows = []
    for (model, opt, method), g in tune.groupby(["model", "optimizer", "method"], sort=False):
        lrs = g.groupby("lr_index")["lr"].first()
        ev = evaluated[(evaluated["model"] == model) & (evaluated["optimizer"] == opt) & (evaluated["method"] == method)]
        for group, scores in group_scores(g).items():
            decided = ev[ev["lr_group"].replace("", POOLED) == group]
            if decided.empty:
                continue
            k = int(decided["lr_index"].iloc[0])
            units = g["unit"].nunique() if group == POOLED else g.loc[g["layer"].astype(str) == group, "unit"].nunique()
            rows.append({"model": model, "optimizer": opt, "method": method, "unit_group": group,
                         "tuning_units": int(units), "evaluation_units": int(decided["unit"].nunique()),
                         "lrs_tried": len(scores), "lr_low": float(lrs.min()), "lr_high": float(lrs.max()),
                         "chosen_lr": float(decided["lr"].iloc[0]), "chosen_index": k,
                         "at_edge": k in (min(scores), max(scores)),
                         "scores": "; ".join(f"{lrs[i]:.3g}: {v:.3g}" for i, v in sorted(scores.items()))})
    return pd.DataFrame(rows)


def sweep_units(records: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per (model, optimizer, method, unit, lr_index) of the ``sweep`` rows: the best ``value`` over
    starts and the best start value."""
    df = am_records(records)
    sweep = df[df["role"] == "sweep"]
    if sweep.empty:
        return pd.DataFrame()
    return sweep.groupby(["model", "optimizer", "method", "layer", "unit", "lr_index"], sort=False).agg(
        V=(value, "max"), V0=("f_start", "max"), starts=("start", "nunique"), lr=("lr", "first")).reset_index()


def lr_regret_table(records: pd.DataFrame, chosen: pd.DataFrame | None = None) -> pd.DataFrame:
    """The lr-regret table: on the evaluation units, at the full budget, per (model, optimizer, method, unit
    group), the ratio ``(F(k*) - F_0) / max_k (F(k) - F_0)`` of the gain a unit's run reaches at its chosen
    grid index ``k*`` to the largest gain at any tried index ``k`` (``F``: best value over the ``sweep``
    starts, ``F_0``: the start value). Median, minimum and n over units; units where no lr moves AM
    (largest gain 0) have no ratio and are counted apart. ``ok``: median >= :data:`REGRET_TARGET`.
    ``hindsight_lr`` / ``hindsight_median_ratio``: the one tried lr whose median ratio over the group's
    evaluation units is highest, and that median (ties: the lower lr). It is chosen on the evaluation units
    themselves, so it is no protocol, only a reading aid, and an optimistic one: it bounds what any rule that
    gives a group one lr can reach on these units. Where it stays below the target, no single lr serves the
    group's units (their best lrs differ); where it reaches the target and the chosen lr does not, the
    shortfall is the choice's (few tuning units, or units whose best lrs differ from the tuning units').
    ``chosen``: :func:`tuning_choices` of ``records`` where the caller has it already."""
    sweep = sweep_units(records, "f_best")
    if sweep.empty:
        return pd.DataFrame()
    chosen = tuning_choices(records) if chosen is None else chosen
    evaluated = am_records(records)
    evaluated = evaluated[evaluated["role"] == "evaluation"]
    rows = []
    for (model, opt, method, group), g in sweep.groupby(["model", "optimizer", "method", "layer"], sort=False):
        ev = evaluated[(evaluated["model"] == model) & (evaluated["optimizer"] == opt)
                       & (evaluated["method"] == method) & (evaluated["layer"].astype(str) == str(group))]
        if ev.empty:
            continue
        k_star = int(ev["lr_index"].iloc[0])
        wide = g.pivot_table(index="unit", columns="lr_index", values="V", aggfunc="max")
        start = g.groupby("unit")["V0"].max().reindex(wide.index)
        gain = wide.sub(start, axis=0)
        best = gain.max(axis=1)
        ratios = gain.div(best.where(best > 0), axis=0).dropna(how="all")
        ratio = ratios[k_star].dropna() if k_star in ratios.columns else pd.Series(dtype=float)
        medians = ratios.median()
        k_hind = int(medians.idxmax()) if medians.notna().any() else k_star
        decided = (str(ev["lr_group"].iloc[0]) or POOLED) if "lr_group" in ev.columns else POOLED
        pick = chosen[(chosen["model"] == model) & (chosen["optimizer"] == opt) & (chosen["method"] == method)
                      & (chosen["unit_group"] == decided)] if len(chosen) else chosen
        rows.append({"model": model, "optimizer": opt, "method": method, "unit_group": str(group),
                     "lr_decided_by": decided, "chosen_lr": float(ev["lr"].iloc[0]), "lrs_swept": int(wide.shape[1]),
                     "units": int(len(ratio)), "units_unmoved": int((best <= 0).sum()),
                     "median_ratio": float(ratio.median()) if len(ratio) else math.nan,
                     "min_ratio": float(ratio.min()) if len(ratio) else math.nan,
                     "ok": bool(len(ratio) == 0 or ratio.median() >= REGRET_TARGET),
                     "hindsight_lr": float(g.loc[g["lr_index"] == k_hind, "lr"].iloc[0])
                     if "lr" in g.columns and (g["lr_index"] == k_hind).any() else math.nan,
                     "hindsight_median_ratio": float(medians[k_hind]) if medians.notna().any() else math.nan,
                     "at_edge": bool(pick["at_edge"].any()) if len(pick) else False})
    return pd.DataFrame(rows)
