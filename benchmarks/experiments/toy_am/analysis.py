"""Analysis of ``toy-am`` records: tables, baseline metrics and the claims they support.

Every number here is computed from the records; nothing is typed in.  The *primary* rows are the
``evaluation`` rows (every method at the step size tuned for it on disjoint tuning instances) when the
records have them, else the ``fixed`` rows (every method at one shared step size: untuned).

Tables (per family x optimizer x method, primary rows):
- ``rel_gap``: median and mean ``rel_gap`` with bootstrap 95% CIs (seeded, BCa);
- ``success``: success rate ``P(rel_gap <= tau)`` at each target with Wilson 95% CIs;
- ``vs_plain``: paired against plain AM on ``f_best`` (same instance, start and optimizer):
  Wilcoxon signed-rank, rank-biserial effect, Holm correction over all rows, win/tie/loss counts;

and, for tuned records:

- ``vs_plain_untuned``: the same on the ``fixed`` rows (labelled untuned), when both kinds exist;
- ``lr_choice``: each tuned pair's chosen lr, the range tried, whether a grid limit stopped it;
- ``lr_sensitivity``: per pair and lr of the tuning rows, the tuning score and the median attained
  fraction (families with a known optimum);
- ``anytime``: each method against plain at the budgets ``ANYTIME`` (``best@t``), plus the derived
  "best of plain and ProxyGrad at half the budget each";
- ``stuck_moved``: each method against plain on the attained fraction, split into instances where
  plain is stuck at its start value on every start and instances where it moves, at each budget.
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
INSTANCE_KEYS = ["family", "dim", "seed"]
ANYTIME = (16, 64, 256)  # the budgets (steps) of the anytime view, where the profile has them
ALPHA = 0.05
FAIL_RATE_MIN = 0.1      # AM "fails" on a family when the Wilson lower end of its failure rate >= this
SUCCESS_TARGET = 1e-3    # the target used for success/failure in the claims


def ordered(values: pd.Series) -> list[Any]:
    """Unique values in order of first appearance (the config's order)."""
    return list(dict.fromkeys(values.tolist()))


def target_columns(records: pd.DataFrame) -> dict[float, str]:
    """``{tau: column}`` for the ``steps_to_<tau>`` columns present."""
    return {float(c[len("steps_to_"):]): c for c in records.columns if c.startswith("steps_to_")}


# ---- roles -------------------------------------------------------------------------------------

def role_rows(records: pd.DataFrame, role: str) -> pd.DataFrame:
    """The rows of one role (records without a ``role`` column are all ``fixed``: one shared lr)."""
    if "role" not in records.columns:
        return records if role == "fixed" else records.iloc[0:0]
    return records[records["role"] == role]


def is_tuned(records: pd.DataFrame) -> bool:
    """True when the records hold evaluation rows (methods at tuned step sizes)."""
    return not role_rows(records, "evaluation").empty


def primary(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of the primary comparison: ``evaluation`` when present, else ``fixed`` (untuned)."""
    return role_rows(records, "evaluation") if is_tuned(records) else role_rows(records, "fixed")


def budgets(rows: pd.DataFrame) -> list[int]:
    """The anytime budgets present: those of :data:`ANYTIME` recorded as ``best@t``, and the full budget."""
    if rows.empty:
        return []
    steps = int(rows["steps"].max())
    have = {int(c[len("best@"):]) for c in rows.columns if c.startswith("best@")}
    return sorted({t for t in ANYTIME if t in have and t <= steps} | {steps})


def attained_at(rows: pd.DataFrame, t: int) -> np.ndarray:
    """The attained fraction at budget ``t``: ``(best@t - f_start) / (f_star - f_start)`` (1 when the start
    is optimal, NaN without an optimum)."""
    best, start, star = (rows[c].to_numpy(float) for c in (f"best@{t}", "f_start", "f_star"))
    scale = star - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (best - start) / np.where(scale > 0, scale, 1.0), np.where(scale <= 0, 1.0, np.nan))


def _groups(records: pd.DataFrame):
    for fam in ordered(records["family"]):
        rf = records[records["family"] == fam]
        for opt in ordered(rf["optimizer"]):
            ro = rf[rf["optimizer"] == opt]
            for m in ordered(ro["method"]):
                yield fam, opt, m, ro[ro["method"] == m]


def rel_gap_table(records: pd.DataFrame) -> pd.DataFrame:
    """Median and mean ``rel_gap`` with bootstrap 95% CIs per family, optimizer and method (primary rows)."""
    rows = []
    for fam, opt, m, g in _groups(primary(records)):
        x = g["rel_gap"].to_numpy(float)
        med = stats.bootstrap_ci(x, np.median)
        mean = stats.bootstrap_ci(x, np.mean)
        rows.append({"family": fam, "optimizer": opt, "method": m, "lr": float(g["lr"].iloc[0]), "n": len(x),
                     "median_rel_gap": med.estimate, "median_lo": med.low, "median_hi": med.high,
                     "mean_rel_gap": mean.estimate, "mean_lo": mean.low, "mean_hi": mean.high})
    return pd.DataFrame(rows)


def success_table(records: pd.DataFrame) -> pd.DataFrame:
    """Success rate ``P(rel_gap <= tau)`` with Wilson 95% CIs per family, optimizer, method and target."""
    rows = []
    for fam, opt, m, g in _groups(primary(records)):
        for tau in target_columns(records):
            k, n = int((g["rel_gap"] <= tau).sum()), len(g)
            w = stats.wilson(k, n)
            rows.append({"family": fam, "optimizer": opt, "method": m, "target": tau, "k": k, "n": n,
                         "rate": w.estimate, "lo": w.low, "hi": w.high})
    return pd.DataFrame(rows)


def paired(records: pd.DataFrame, family: str, optimizer: str, method: str, reference: str = "plain",
           column: str = "f_best") -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)``: ``column`` of ``method`` and of ``reference`` on the same (instance, start), from rows of
    one role."""
    sel = records[(records["family"] == family) & (records["optimizer"] == optimizer)]
    a = sel[sel["method"] == method].set_index(PAIR_KEYS)[column]
    b = sel[sel["method"] == reference].set_index(PAIR_KEYS)[column]
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").sort_index()
    return joined["a"].to_numpy(float), joined["b"].to_numpy(float)


def _lr_of(rows: pd.DataFrame, optimizer: str, method: str) -> float:
    lrs = rows.loc[(rows["optimizer"] == optimizer) & (rows["method"] == method), "lr"].astype(float)
    return float(lrs.iloc[0]) if len(lrs) else float("nan")


def vs_table(records: pd.DataFrame, reference: str = "plain", methods: list[str] | None = None,
             optimizers: list[str] | None = None, column: str = "f_best") -> pd.DataFrame:
    """Each method against ``reference`` on ``column``, paired (Wilcoxon); one Holm family over all rows.

    ``records`` are rows of one role (e.g. :func:`primary`); ``attained`` / ``attained_ref`` are the
    median attained fractions at the same budget, ``lr`` / ``lr_ref`` the step sizes of the two methods.
    """
    t = int(column[len("best@"):]) if column.startswith("best@") else None
    att = records.assign(_att=records["attained"] if t is None else attained_at(records, t))
    groups = dict(iter(att.groupby(["family", "optimizer"], sort=False)))
    pairs, extra = [], []
    for fam in ordered(att["family"]):
        for opt in optimizers or ordered(att.loc[att["family"] == fam, "optimizer"]):
            sel = groups.get((fam, opt))
            if sel is None:
                continue
            ref = sel[sel["method"] == reference].set_index(PAIR_KEYS)[[column, "_att"]].add_suffix("_b")
            for m in methods or ordered(sel["method"]):
                if m == reference:
                    continue
                x = sel[sel["method"] == m].set_index(PAIR_KEYS)[[column, "_att"]].add_suffix("_a")
                j = x.join(ref, how="inner").sort_index()
                if j.empty:
                    continue
                pairs.append(compare.Pair({"family": fam, "optimizer": opt, "method": m, "reference": reference},
                                          j[f"{column}_a"].to_numpy(float), j[f"{column}_b"].to_numpy(float)))
                extra.append((_lr_of(sel, opt, m), _lr_of(sel, opt, reference), float(np.median(j["_att_a"])),
                              float(np.median(j["_att_b"]))))
    df = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
    if not df.empty:
        at = df.columns.get_loc("test")
        for i, name in enumerate(("lr", "lr_ref", "attained", "attained_ref")):
            df.insert(at + i, name, [x[i] for x in extra])
        df = df.rename(columns={"statistic": "W", "effect": "rank_biserial"})
    return df


# ---- derived: best of plain and ProxyGrad at half the budget each -------------------------------

def best_of_label(proxy: str, reference: str = "plain") -> str:
    """The label of the derived method "best of ``reference`` and ``proxy`` at half the budget each"."""
    return f"best-of({reference}, {proxy}) (derived)"


def best_of_rows(rows: pd.DataFrame, proxy: str, t: int, reference: str = "plain") -> pd.DataFrame:
    """Derived rows at total budget ``t``: per start, ``max(reference best@(t/2), proxy best@(t/2))``, the
    better of two runs of ``t/2`` steps each from the same start (each at its own lr), stored as
    ``best@t`` of the method :func:`best_of_label`.  Empty when ``best@(t/2)`` was not recorded."""
    half = f"best@{t // 2}"
    if t % 2 or half not in rows.columns:
        return rows.iloc[0:0]
    keys = ["family", "optimizer", *PAIR_KEYS]
    ref = rows[rows["method"] == reference]
    prox = rows[rows["method"] == proxy][keys + [half, "lr"]]
    joined = ref.merge(prox, on=keys, suffixes=("", "_proxy"))
    out = joined[[*keys, "f_start", "f_star", "steps"]].copy()
    out["method"] = best_of_label(proxy, reference)
    out[f"best@{t}"] = np.maximum(joined[half].to_numpy(float), joined[f"{half}_proxy"].to_numpy(float))
    out["lr"] = np.nan
    return out


def _with_best_of(rows: pd.DataFrame, proxy: str | None, t: int) -> pd.DataFrame:
    if proxy is None:
        return rows
    derived = best_of_rows(rows, proxy, t)
    return pd.concat([rows, derived], ignore_index=True) if len(derived) else rows


def _big_proxy(records: pd.DataFrame) -> str | None:
    """The ProxyGrad method with the largest slope (the paper's claim), or None."""
    fields = _method_fields(records)
    proxies = fields[fields["method_kind"] == "proxy"]
    if proxies.empty:
        return None
    return str(proxies.loc[proxies["method_slope"].astype(float).idxmax(), "method"])


def anytime_table(records: pd.DataFrame, reference: str = "plain") -> pd.DataFrame:
    """Every method (and the derived best-of) against ``reference`` at each budget of :func:`budgets`
    (primary rows, column ``best@t``); one Holm family per budget."""
    rows = primary(records)
    big = _big_proxy(rows)
    parts = []
    for t in budgets(rows):
        tab = vs_table(_with_best_of(rows, big, t), reference, column=f"best@{t}")
        if not tab.empty:
            tab.insert(0, "budget", t)
            parts.append(tab)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ---- stuck / moved ------------------------------------------------------------------------------

def stuck_table(rows: pd.DataFrame, reference: str = "plain") -> pd.DataFrame:
    """Per instance and optimizer: whether ``reference`` stays at its start value on every start."""
    ref = rows[rows["method"] == reference]
    return compare.stuck_units(ref, [*INSTANCE_KEYS, "optimizer"])


def stuck_moved_table(records: pd.DataFrame, methods: list[str] | None = None, reference: str = "plain",
                      at: list[int] | None = None) -> pd.DataFrame:
    """Each method against ``reference`` on the attained fraction at each budget, separately on the
    instances where the reference is stuck on every start and on those where it moves (per optimizer,
    pooled over families; pairs = (instance, start)); one Holm family over the whole table."""
    rows = primary(records)
    if rows.empty:
        return pd.DataFrame()
    units = [*INSTANCE_KEYS, "optimizer"]
    stuck = stuck_table(rows, reference)
    parts = compare.split_stuck(rows, stuck, units)
    pairs = []
    keys = ["family", *PAIR_KEYS]
    for t in at or budgets(rows):
        for opt in ordered(rows["optimizer"]):
            for part, sel in parts.items():
                so = sel[sel["optimizer"] == opt]
                so = so.assign(_att=attained_at(so, t)) if len(so) else so.assign(_att=[])
                for m in methods or [x for x in ordered(rows["method"]) if x != reference]:
                    a = so[so["method"] == m].set_index(keys)["_att"]
                    b = so[so["method"] == reference].set_index(keys)["_att"]
                    j = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
                    if j.empty:
                        continue
                    n_inst = int(stuck[(stuck["optimizer"] == opt) & (stuck["stuck"] == (part == compare.STUCK))]
                                 .shape[0])
                    pairs.append(compare.Pair({"budget": t, "optimizer": opt, "part": part, "instances": n_inst,
                                               "method": m, "reference": reference,
                                               "attained": float(np.median(j["a"])),
                                               "attained_ref": float(np.median(j["b"]))},
                                              j["a"].to_numpy(float), j["b"].to_numpy(float)))
    df = compare.family_table(pairs, test="wilcoxon", alpha=ALPHA)
    return df.rename(columns={"statistic": "W", "effect": "rank_biserial"}) if not df.empty else df


# ---- tuning ------------------------------------------------------------------------------------

def tuning_scores(tuning: pd.DataFrame, optimizer: str, method: str) -> dict[int, float]:
    """The tuning score of each lr index of a pair (mean rank of mean f_best over tuning instances)."""
    from benchmarks.framework import tuning as _tuning

    sel = tuning[(tuning["optimizer"] == optimizer) & (tuning["method"] == method)]
    return _tuning.mean_rank_scores(sel, index="lr_index", units=INSTANCE_KEYS, value="f_best")


def _truthy(values: pd.Series) -> pd.Series:
    """A boolean column as read back from CSV (bools, or the strings "True" / "False", or empty)."""
    return values.map(lambda v: v is True or str(v).strip().lower() in ("true", "1", "1.0"))


def lr_choice_table(records: pd.DataFrame) -> pd.DataFrame:
    """Each tuned pair: the chosen lr (from the evaluation rows), the lrs tried on how many tuning
    instances, the chosen index's score, and whether it lies at an edge of the tried range or a limit."""
    ev, tu = role_rows(records, "evaluation"), role_rows(records, "tuning")
    rows = []
    for opt in ordered(ev["optimizer"]) if len(ev) else []:
        for m in ordered(ev["method"]):
            e = ev[(ev["optimizer"] == opt) & (ev["method"] == m)]
            if e.empty:
                continue
            t = tu[(tu["optimizer"] == opt) & (tu["method"] == m)]
            ks = sorted(int(k) for k in t["lr_index"].dropna().unique())
            k = int(e["lr_index"].iloc[0])
            scores = tuning_scores(tu, opt, m)
            rows.append({"optimizer": opt, "method": m, "lr": float(e["lr"].iloc[0]), "lr_index": k,
                         "lr_tried_min": float(t.loc[t["lr_index"] == ks[0], "lr"].iloc[0]) if ks else np.nan,
                         "lr_tried_max": float(t.loc[t["lr_index"] == ks[-1], "lr"].iloc[0]) if ks else np.nan,
                         "points": len(ks), "tuning_instances": int(t[INSTANCE_KEYS].drop_duplicates().shape[0]),
                         "score": scores.get(k, np.nan), "at_edge": bool(ks) and k in (ks[0], ks[-1]),
                         "at_limit": bool(_truthy(e["lr_at_limit"]).any())})
    return pd.DataFrame(rows)


def lr_sensitivity_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per tuned pair and lr tried: the tuning score, the median attained fraction over tuning rows with a
    known optimum, and whether it is the chosen lr."""
    tu = role_rows(records, "tuning")
    chosen = {(r.optimizer, r.method): r.lr_index for r in lr_choice_table(records).itertuples()}
    rows = []
    for opt in ordered(tu["optimizer"]) if len(tu) else []:
        for m in ordered(tu["method"]):
            scores = tuning_scores(tu, opt, m)
            t = tu[(tu["optimizer"] == opt) & (tu["method"] == m)]
            for k in sorted(scores):
                g = t[t["lr_index"] == k]
                att = g["attained"].to_numpy(float)
                att = att[np.isfinite(att)]
                rows.append({"optimizer": opt, "method": m, "lr_index": k, "lr": float(g["lr"].iloc[0]),
                             "score": scores[k], "median_attained": float(np.median(att)) if att.size else np.nan,
                             "chosen": chosen.get((opt, m)) == k})
    return pd.DataFrame(rows)


def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """The tables of the module docstring (the framework writes csv/md/tex)."""
    tables = {"rel_gap": rel_gap_table(records), "success": success_table(records),
              "vs_plain": vs_table(primary(records))}
    if is_tuned(records):
        fixed = role_rows(records, "fixed")
        if len(fixed):
            tables["vs_plain_untuned"] = vs_table(fixed)
        tables["lr_choice"] = lr_choice_table(records)
        tables["lr_sensitivity"] = lr_sensitivity_table(records)
        tables["anytime"] = anytime_table(records)
        tables["stuck_moved"] = stuck_moved_table(records)
    return tables


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics (all higher-is-better) per family/method/optimizer, on the primary rows.

    ``.../median_f_best_rel``: the median of ``attained = (f_best - f_start) / (f_star - f_start)``;
    ``.../success@<tau>``: the fraction of starts with ``rel_gap <= tau``.
    """
    out: dict[str, float] = {}
    taus = target_columns(records)
    for fam, opt, m, g in _groups(primary(records)):
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


def _lr_text(rows: pd.DataFrame, methods: list[str]) -> str:
    """``optimizer: method lr, ...`` of the rows' step sizes."""
    parts = []
    for opt in ordered(rows["optimizer"]):
        lrs = ", ".join(f"{m} {_lr_of(rows, opt, m):.3g}" for m in methods if np.isfinite(_lr_of(rows, opt, m)))
        parts.append(f"{opt}: {lrs}")
    return "; ".join(parts)


def _protocol(records: pd.DataFrame, methods: list[str]) -> str:
    """The first sentence of a comparison's rationale: tuned (and how) or untuned."""
    rows = primary(records)
    if not is_tuned(records):
        return compare.untuned_note({o: rows.loc[rows["optimizer"] == o, "lr"].tolist()
                                     for o in ordered(rows["optimizer"])})
    tu = role_rows(records, "tuning")
    n_tu = tu[INSTANCE_KEYS].drop_duplicates().shape[0]
    n_ev = rows[INSTANCE_KEYS].drop_duplicates().shape[0]
    limit = lr_choice_table(records)
    limit = limit[limit["method"].isin(methods) & limit["at_limit"]]
    flag = ("" if limit.empty else " A grid limit stopped the choice of " +
            ", ".join(f"{r.method} ({r.optimizer})" for r in limit.itertuples()) + ": its lr lies at the limit.")
    return (f"Tuned comparison: each method runs at its own step size per optimizer, chosen on {n_tu} tuning "
            f"instances disjoint from the {n_ev} evaluation instances (score: mean rank of f_best; "
            f"lr = {_lr_text(rows, methods)}), with equal steps, starts and gradient evaluations.{flag}")


def am_fails(records: pd.DataFrame) -> Claim:
    """Plain AM misses the certified optimum on simple ReLU and Leaky ReLU functions."""
    rows = primary(records)
    opt, tau = _main_optimizer(rows), _target(rows)
    hb = _hand_built(rows)
    hb = hb[(hb["method"] == "plain") & (hb["optimizer"] == opt)]
    out = []
    for fam in ordered(hb["family"]):
        g = hb[hb["family"] == fam]
        fails = int((g["rel_gap"] > tau).sum())
        w = stats.wilson(fails, len(g))
        out.append({"family": fam, "forward_slope": float(g["forward_slope"].iloc[0]), "lr": float(g["lr"].iloc[0]),
                    "n": len(g), "failures": fails, "fail_rate": w.estimate, "lo": w.low, "hi": w.high,
                    "median_rel_gap": float(g["rel_gap"].median()), "fails": w.low >= FAIL_RATE_MIN})
    table = pd.DataFrame(out)
    statement = "Plain activation maximization fails to find the global maximum of simple ReLU and Leaky ReLU functions."
    if table.empty:
        return Claim("am-fails", statement, "toy-am", "no hand-built families with plain AM in the records",
                     "not tested", table=table)
    relu = table[table["forward_slope"] == 0.0]
    leaky = table[table["forward_slope"] > 0.0]
    relu_f, leaky_f = int(relu["fails"].sum()), int(leaky["fails"].sum())
    how = "at its tuned lr" if is_tuned(records) else "at the shared fixed lr"
    effect = (f"plain AM ({opt}, {how} {float(table['lr'].iloc[0]):.3g}) misses the optimum (rel_gap > {tau:g}) "
              f"with a failure rate whose Wilson 95% lower end is >= {FAIL_RATE_MIN:g} on {relu_f}/{len(relu)} ReLU "
              f"and {leaky_f}/{len(leaky)} Leaky ReLU families; failure rates range "
              f"{table['fail_rate'].min():.2f}-{table['fail_rate'].max():.2f} over {int(table['n'].sum())} starts")
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


def _counts(table: pd.DataFrame) -> str:
    return f"higher in {int(table['higher'].sum())}, lower in {int(table['lower'].sum())} of {len(table)}"


def _stuck_text(records: pd.DataFrame, methods: list[str], reference: str, t: int) -> str:
    sm = stuck_moved_table(records, methods, reference, [t])
    if sm.empty:
        return ""
    parts = []
    for r in sm.itertuples():
        parts.append(f"{r.method} {r.optimizer} {r.part} ({r.instances} instances, {r.n} pairs): attained "
                     f"{r.attained:.3f} vs {r.attained_ref:.3f}, r = {r.rank_biserial:.2f}, "
                     f"Holm p = {compare.format_p(r.p_holm)}")
    return (f" Split by whether {reference} is stuck at its start value on every start of an instance "
            f"(median attained fraction at {t} steps, one Holm family): " + "; ".join(parts) + ".")


def _compare_claim(records: pd.DataFrame, key: str, statement: str, methods: list[str], reference: str,
                   better_word: str, derived_from: str | None = None) -> Claim:
    """Claim that ``methods`` beat ``reference``: per (family, optimizer) Wilcoxon (Holm) on the best value
    at the full budget, on the primary rows; the anytime view, the stuck/moved split and the untuned
    comparison are reported beside it.  ``derived_from``: the proxy of the derived best-of method."""
    rows = primary(records)
    if rows.empty:
        return Claim(key, statement, "toy-am", "no records", "not tested")
    steps = int(rows["steps"].max())
    table = vs_table(_with_best_of(rows, derived_from, steps), reference, methods, column=f"best@{steps}")
    if table.empty:
        return Claim(key, statement, "toy-am", f"no paired records of {methods} against {reference}",
                     "not tested", table=table)
    parts = []
    for m in methods:
        t = table[table["method"] == m]
        if t.empty:
            continue
        parts.append(f"{m} vs {reference} at {steps} steps: {better_word} on {int(t['higher'].sum())}/{len(t)} "
                     f"(family, optimizer) tests and lower on {int(t['lower'].sum())} (Holm p < {ALPHA}); median "
                     f"attained fraction per test {t['attained'].median():.3f} vs {t['attained_ref'].median():.3f}")
    anytime = []
    for b in budgets(rows):
        if b == steps:
            continue
        tb = vs_table(_with_best_of(rows, derived_from, b), reference, methods, column=f"best@{b}")
        if len(tb):
            anytime.append(f"at {b} steps {_counts(tb)}")
    text = "; ".join(parts)
    if anytime:
        text += ". Anytime (same lrs, own Holm family per budget): " + "; ".join(anytime)
    if derived_from is None:
        text += "." + _stuck_text(records, methods, reference, steps)
    else:
        text += (f". The derived method is the better of two runs of {steps // 2} steps from the same start "
                 f"({reference} and {derived_from}, each at its own lr), computed from the records.")
    if is_tuned(records):
        fixed = role_rows(records, "fixed")
        ft = vs_table(_with_best_of(fixed, derived_from, steps), reference, methods, column=f"best@{steps}") \
            if len(fixed) else pd.DataFrame()
        if len(ft):
            note = compare.untuned_note({o: fixed.loc[fixed["optimizer"] == o, "lr"].tolist()
                                         for o in ordered(fixed["optimizer"])})
            text += f" Secondary, untuned (table vs_plain_untuned): {_counts(ft)} tests. {note}"
    decision = compare.decide(key, table.rename(columns={"rank_biserial": "effect"}), alpha=ALPHA)
    rationale = (f"{_protocol(records, [reference, *methods] if derived_from is None else [reference, derived_from])}"
                 f" Per family and optimizer, paired Wilcoxon signed-rank on the best value within {steps} steps "
                 f"over the same instances and starts. {decision.rationale}")
    return Claim(key, statement, "toy-am", text, decision.verdict, rationale, table, rule=decision.rule)


def claims(records: pd.DataFrame) -> list[Claim]:
    """The paper's toy-function claims and the beyond-the-paper findings, each with its decision rule."""
    out = [am_fails(records)]
    rows = primary(records)
    fields = _method_fields(rows)
    big = _big_proxy(rows)
    if big is not None:
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
    switches = [str(m) for m, k in zip(fields["method"], fields["method_kind"]) if k == "switch"]
    if switches:
        out.append(_compare_claim(records, "beyond:switch",
                                  "ProxyGrad for the first quarter of the steps, then plain AM, raises the maxima "
                                  "AM finds.", switches, "plain", "higher"))
    steps = int(rows["steps"].max()) if len(rows) else 0
    if big is not None and len(best_of_rows(rows, big, steps)):
        out.append(_compare_claim(records, "beyond:best-of",
                                  f"The better of plain AM and {big} run for half the steps each beats plain AM run "
                                  f"for all the steps (equal total budget).", [best_of_label(big)], "plain",
                                  "higher", derived_from=big))
    labels = set(fields["method"])
    for row in fields[fields["method_kind"] == "network"].itertuples(index=False):
        ref = Method("proxy", float(row.method_slope)).label
        if ref in labels:
            out.append(_compare_claim(records, f"beyond:network-{float(row.method_slope):g}",
                                      f"Gradients of the proxy network ({row.method}) find higher maxima than "
                                      f"ProxyGrad's mixed gradient ({ref}).", [str(row.method)], ref, "higher"))
    return out
