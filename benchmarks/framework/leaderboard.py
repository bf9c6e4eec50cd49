"""The leaderboard: standardized numbers to cite, computed from finished run directories' records.

``python -m benchmarks leaderboard results/quick --out results`` writes ``LEADERBOARD.md`` and
``LEADERBOARD.csv`` (full precision; the per-method and anytime aggregates as
``LEADERBOARD_methods.csv``). A directory argument is a run directory (with ``meta.json``) or a folder of
run directories (every subfolder with a ``meta.json``); every run is verified
(:func:`benchmarks.framework.store.verify_run`) before anything is written.

Three tables, all from the experiments' declared unit scores (one normalized value per unit of
replication, in [0, 1]: the attained fraction of the unit's certified optimum or bound, else of the best
value any method found on it):

- **board**: one row per (experiment, benchmark, optimizer, method): ``score``, the mean over units with
  its 95% percentile bootstrap interval (seed 0) and ``n`` units, sorted by experiment, benchmark, then
  score (best first). The ``benchmark`` id carries its version: ``<model>@<weights hash>`` where the
  experiment names the weights, else ``<family>@<suite version>`` (the suite's toy families are
  versioned with the suite).
- **aggregate**: per (experiment, optimizer) and *benchmark set* (the set of benchmarks some method of
  that experiment and optimizer was scored on: a profile may run a costly method on a few benchmarks
  only), for every method scored on each benchmark of the set, the mean of its benchmark scores over the
  set, with its 95% interval from a bootstrap that resamples units within each benchmark
  (:func:`stratified_mean_ci`). Methods are compared only within one set; a method appears once per set
  it covers.
- **anytime**: the area under the ECDF of (unit, target) pairs solved against the budget (log scale),
  COCO style (:func:`anytime_auc`): a unit is solved to target ``tau`` at budget ``t`` when its score
  from the best value within ``t`` steps (the records' ``best_at_<t>`` columns) is at
  least ``tau``, for the targets :data:`TARGETS`. Only units whose reference does not depend on the
  budget (a certified optimum or bound) enter it.

Only the runs of one role are scored (:func:`scored_runs`, column ``role``): the tuned evaluation runs
where the records have them, else the untuned fixed-lr runs; tuning and sweep runs never are.

The board states the commit of every run it scores and calls itself standardized only when all come
from one commit of a clean tree and one suite version (:func:`standardized`).

The framework knows no experiment by name: an experiment that has leaderboard scores declares, in its
protocol module (:mod:`benchmarks.framework.protocol`), ``leaderboard_scores(records) -> DataFrame`` (one row
per unit, columns ``benchmark``, ``reference``, ``optimizer``, ``method``, ``method_version``, ``value``; NaN
value: left out, counted in ``excluded``) and ``SCORE_DEFINITION`` (one sentence for the board's legend).
Experiments without them have no leaderboard rows.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import schema, store, tables
from benchmarks.framework.config import ConfigError
from benchmarks.framework.meta import not_standardized_because

NAME = "LEADERBOARD"
COLUMNS: tuple[str, ...] = ("experiment", "benchmark", "reference", "optimizer", "method", "method_version", "role",
                            "n", "score", "ci_low", "ci_high", "excluded", "suite_version", "profile", "commit")
AGGREGATE_COLUMNS: tuple[str, ...] = ("experiment", "optimizer", "benchmark_set", "method", "benchmarks", "units",
                                      "score", "ci_low", "ci_high", "anytime_auc", "anytime_pairs")
SCORED_ROLES: tuple[str, ...] = ("evaluation", "fixed")
"""The record roles a leaderboard may score, in order of preference (tuned evaluation runs, then the
untuned fixed-lr runs)."""
TARGETS: tuple[float, ...] = (0.5, 0.9, 0.99)
"""Targets of the anytime ECDF: fractions of the unit's certified reference."""
BUDGET_INDEPENDENT: tuple[str, ...] = ("optimum", "certified bound", "bound")
"""Reference kinds that do not depend on the budget (units with these enter the anytime aggregate)."""
RESAMPLES = 2000


def scored_runs(records: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows a leaderboard scores and their role: the first role of :data:`SCORED_ROLES` present in the
    records' ``role`` column (records without that column are scored whole, role ``"all"``). Tuning runs
    are never scored: their best value over a grid of step sizes is tuned on the very instance it reports."""
    if "role" not in records.columns:
        return records, "all"
    roles = records["role"].astype(str)
    for role in SCORED_ROLES:
        if (roles == role).any():
            return records[roles == role], role
    return records.iloc[0:0], SCORED_ROLES[0]


def versions(records: pd.DataFrame) -> pd.Series:
    """The ``method_version`` column as strings ("" for built-in methods or records without it)."""
    if "method_version" not in records.columns:
        return pd.Series([""] * len(records), index=records.index)
    return records["method_version"].fillna("").astype(str)


def benchmark_id(benchmark: str, suite_version: str) -> str:
    """The versioned benchmark id: ``name (suite:<hash>)`` or ``name (<hash>)`` becomes ``name@<hash>``; a
    name without a version gets the suite version of its records, ``name@<version>``."""
    m = re.fullmatch(r"(.+?) \((?:[a-z]+:)?([^()\s]+)\)", benchmark)
    return f"{m.group(1)}@{m.group(2)}" if m else f"{benchmark}@{suite_version}"


def _scorer(experiment: str) -> tuple[Callable[[pd.DataFrame], pd.DataFrame] | None, str]:
    """The experiment's ``leaderboard_scores`` and ``SCORE_DEFINITION``, or ``(None, "")``."""
    from benchmarks.framework import registry

    if experiment not in registry.EXPERIMENTS:
        return None, ""
    try:
        module = registry.load(experiment)
    except registry.ExperimentUnavailable:
        return None, ""
    return getattr(module, "leaderboard_scores", None), str(getattr(module, "SCORE_DEFINITION", ""))


def run_dirs(paths: Iterable[Path]) -> list[Path]:
    """The run directories named by ``paths`` (each a run directory or a folder of them), in order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / store.META).is_file():
            out.append(p)
        elif p.is_dir() and any((d / store.META).is_file() for d in sorted(p.iterdir())):
            out += [d for d in sorted(p.iterdir()) if (d / store.META).is_file()]
        else:
            raise ConfigError(f"{p} is neither a run directory (no {store.META}) nor a folder of run directories")
    return out


def mean_ci(values: np.ndarray, *, seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """The mean of ``values`` with its 95% percentile bootstrap interval (NaN interval for one value)."""
    v = np.asarray(values, float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    return float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def stratified_mean_ci(groups: list[np.ndarray], *, seed: int = 0,
                       resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """The mean over groups of each group's mean, with a 95% percentile interval from a bootstrap that
    resamples the units within every group (the groups, here benchmarks, are fixed)."""
    groups = [np.asarray(g, float) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boot = np.zeros(resamples)
    for g in groups:
        boot += g[rng.integers(0, g.size, size=(resamples, g.size))].mean(axis=1)
    boot /= len(groups)
    return (float(np.mean([g.mean() for g in groups])), float(np.quantile(boot, 0.025)),
            float(np.quantile(boot, 0.975)))


def unit_scores(records: pd.DataFrame, experiment: str, suite_version: str) -> pd.DataFrame:
    """The experiment's declared unit scores of the scored role, with the versioned benchmark id, each
    clipped to [0, 1] (a value outside is a reference error: ValueError naming it)."""
    score, _ = _scorer(experiment)
    if score is None:
        return pd.DataFrame()
    scores = score(records).copy()
    bad = scores["value"].notna() & ((scores["value"] < -1e-9) | (scores["value"] > 1 + 1e-9))
    if bad.any():
        r = scores[bad].iloc[0]
        raise ValueError(f"{experiment}: score {r['value']!r} of {r['benchmark']}/{r['method']} lies outside [0, 1]")
    scores["value"] = scores["value"].clip(0.0, 1.0)
    scores["benchmark"] = [benchmark_id(str(b), suite_version) for b in scores["benchmark"]]
    return scores


def rows(out: Path) -> pd.DataFrame:
    """The board rows of one finished run directory (empty for an experiment without scores)."""
    meta = store.read_meta(out)
    experiment, version = str(meta.get("experiment")), str(meta.get("suite_version"))
    if _scorer(experiment)[0] is None:
        return pd.DataFrame(columns=list(COLUMNS))
    records, role = scored_runs(store.load_records(out))
    scores = unit_scores(records, experiment, version)
    result = []
    for key, g in scores.groupby(["benchmark", "reference", "optimizer", "method"], sort=False):
        est, lo, hi = mean_ci(g["value"].dropna().to_numpy(dtype=float))
        result.append({"experiment": experiment, **dict(zip(["benchmark", "reference", "optimizer", "method"], key)),
                       "method_version": str(g["method_version"].iloc[0]), "role": role,
                       "n": int(g["value"].notna().sum()), "score": est, "ci_low": lo, "ci_high": hi,
                       "excluded": int(g["value"].isna().sum()), "suite_version": version,
                       "profile": str(meta.get("profile")), "commit": str(meta.get("git_commit"))})
    return pd.DataFrame(result, columns=list(COLUMNS))


def sort_board(board: pd.DataFrame) -> pd.DataFrame:
    """The board sorted by experiment, benchmark, then score (best first), then optimizer and method."""
    if board.empty:
        return board
    return board.sort_values(["experiment", "benchmark", "score", "optimizer", "method"],
                             ascending=[True, True, False, True, True], kind="stable").reset_index(drop=True)


def anytime_budgets(records: pd.DataFrame) -> dict[int, str]:
    """``{budget: column}`` of the records' anytime columns (``best_at_<t>``, :mod:`.schema`), ``t >= 1``."""
    return {t: c for t, c in schema.budget_columns(records.columns).items() if t >= 1}


def at_budget(records: pd.DataFrame, column: str) -> pd.DataFrame:
    """The records as if every run had stopped at the budget of ``column``: ``f_best`` is the best value
    within that budget, and a per-record ``attained`` is recomputed from it where the records carry the
    reference ``f_star`` (``(f_best - f_start) / (f_star - f_start)``, 1 where the start is optimal)."""
    out = records.copy()
    out["f_best"] = out[column]
    if {"attained", "f_star", "f_start"} <= set(out.columns):
        best, start, star = (out[c].to_numpy(float) for c in ("f_best", "f_start", "f_star"))
        scale = star - start
        with np.errstate(invalid="ignore", divide="ignore"):
            out["attained"] = np.where(scale > 0, (best - start) / np.where(scale > 0, scale, 1.0), 1.0)
    return out


def anytime_auc(solved: np.ndarray, budgets: list[int]) -> float:
    """Area under the ECDF of solved (unit, target) pairs against ``log2(budget)``, normalized to [0, 1].

    ``solved``: boolean ``[pairs, budgets]``. The ECDF at a budget is the fraction of pairs solved; the
    area is the trapezoid rule over log2 budgets divided by their range (one budget: the fraction)."""
    if solved.size == 0:
        return math.nan
    frac = solved.mean(axis=0)
    if len(budgets) == 1:
        return float(frac[0])
    x = np.log2(np.asarray(budgets, float))
    return float(np.sum((frac[1:] + frac[:-1]) / 2.0 * np.diff(x)) / (x[-1] - x[0]))


ANYTIME_COLUMNS: tuple[str, ...] = ("experiment", "benchmark", "optimizer", "method", "anytime_auc", "anytime_pairs")


def anytime_rows(out: Path) -> pd.DataFrame:
    """Per (experiment, benchmark, optimizer, method) of one run: the anytime AUC over its budget-independent
    units (none: no row). The AUC is linear in the ECDF, so the AUC of several benchmarks' pairs pooled is the
    pair-weighted mean of theirs (:func:`pooled_anytime`)."""
    meta = store.read_meta(out)
    experiment, version = str(meta.get("experiment")), str(meta.get("suite_version"))
    records, _ = scored_runs(store.load_records(out))
    budgets = anytime_budgets(records)
    if _scorer(experiment)[0] is None or not budgets:
        return pd.DataFrame(columns=list(ANYTIME_COLUMNS))
    keys = ["benchmark", "reference", "optimizer", "method"]
    per_budget = []
    for t, column in budgets.items():
        s = unit_scores(at_budget(records, column), experiment, version)
        s = s[s["reference"].isin(BUDGET_INDEPENDENT)]
        per_budget.append(s.assign(_unit=s.groupby(keys, sort=False).cumcount()).set_index([*keys, "_unit"])["value"]
                          .rename(t))
    wide = pd.concat(per_budget, axis=1).dropna()
    result = []
    for (benchmark, opt, method), g in wide.groupby(level=["benchmark", "optimizer", "method"], sort=False):
        values = g.to_numpy(float)
        solved = np.concatenate([values >= tau for tau in TARGETS], axis=0)
        result.append({"experiment": experiment, "benchmark": benchmark, "optimizer": opt, "method": method,
                       "anytime_auc": anytime_auc(solved, list(budgets)), "anytime_pairs": int(solved.shape[0])})
    return pd.DataFrame(result, columns=list(ANYTIME_COLUMNS))


def pooled_anytime(anytime: pd.DataFrame) -> tuple[float, int]:
    """``(AUC, pairs)`` of the pairs of ``anytime``'s rows pooled: the pair-weighted mean of their AUCs
    (exact: the ECDF, and with it the trapezoid area, is linear in the solved pairs); ``(nan, 0)`` without pairs."""
    pairs = anytime["anytime_pairs"].to_numpy(float)
    if not pairs.sum():
        return math.nan, 0
    return float((anytime["anytime_auc"].to_numpy(float) * pairs).sum() / pairs.sum()), int(pairs.sum())


def benchmark_sets(have: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The distinct benchmark sets among ``have`` (method -> the benchmarks it was scored on), each sorted,
    largest set first (then by name)."""
    return sorted({tuple(sorted(b)) for b in have.values()}, key=lambda s: (-len(s), s))


def set_label(benchmarks: tuple[str, ...], everything: tuple[str, ...]) -> str:
    """A benchmark set in words: ``all <n>`` when it is every benchmark of its (experiment, optimizer),
    else its benchmarks' names without their versions."""
    if benchmarks == everything:
        return f"all {len(benchmarks)}"
    return ", ".join(b.split("@")[0] for b in benchmarks)


def aggregate(board: pd.DataFrame, unit_values: dict[tuple[str, str, str, str], np.ndarray],
              anytime: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, optimizer, benchmark set, method): the mean benchmark score over the set's benchmarks
    for every method scored on all of them, with its stratified bootstrap interval, and the anytime AUC over
    the set's budget-independent units (:func:`benchmark_sets`)."""
    result = []
    for (exp, opt), g in board.groupby(["experiment", "optimizer"], sort=False):
        methods = list(dict.fromkeys(g["method"]))
        have = {m: set(g.loc[g["method"] == m, "benchmark"]) for m in methods}
        everything = tuple(sorted(set(g["benchmark"])))
        for bench_set in benchmark_sets(have):
            for m in methods:
                if not set(bench_set) <= have[m]:
                    continue
                groups = [unit_values[(exp, b, opt, m)] for b in bench_set]
                est, lo, hi = stratified_mean_ci(groups)
                a = anytime[(anytime["experiment"] == exp) & (anytime["optimizer"] == opt)
                            & (anytime["method"] == m) & anytime["benchmark"].isin(bench_set)]
                auc, pairs = pooled_anytime(a)
                result.append({"experiment": exp, "optimizer": opt, "benchmark_set": set_label(bench_set, everything),
                               "method": m, "benchmarks": len(bench_set), "units": int(sum(len(x) for x in groups)),
                               "score": est, "ci_low": lo, "ci_high": hi, "anytime_auc": auc, "anytime_pairs": pairs})
    out = pd.DataFrame(result, columns=list(AGGREGATE_COLUMNS))
    if not len(out):
        return out
    out["_set"] = -out["benchmarks"]
    return out.sort_values(["experiment", "optimizer", "_set", "benchmark_set", "score"],
                           ascending=[True, True, True, True, False], kind="stable").drop(columns="_set").reset_index(drop=True)


def _unit_values(dirs: list[Path]) -> dict[tuple[str, str, str, str], np.ndarray]:
    """``(experiment, benchmark, optimizer, method) -> unit scores`` of the runs (scored role)."""
    out: dict[tuple[str, str, str, str], np.ndarray] = {}
    for d in dirs:
        meta = store.read_meta(d)
        exp = str(meta.get("experiment"))
        s = unit_scores(scored_runs(store.load_records(d))[0], exp, str(meta.get("suite_version")))
        for (b, opt, m), g in s.groupby(["benchmark", "optimizer", "method"], sort=False):
            out[(exp, str(b), str(opt), str(m))] = g["value"].dropna().to_numpy(float)
    return out


def standardized(dirs: list[Path], code_version: str | None = None) -> tuple[bool, str]:
    """Whether the scored runs are one standardized result: one commit of a clean tree and one suite
    version (``code_version``, when given, that of the code that scores them); and the sentence that says
    so (or why not; :func:`benchmarks.framework.meta.not_standardized_because`)."""
    metas = [store.read_meta(d) for d in dirs]
    if not metas:
        return False, "No run was scored."
    runs = [(str(m.get("experiment")), m.get("git_commit"), m.get("suite_version")) for m in metas]
    why = not_standardized_because(runs, code_version, verb="scored")
    if why:
        return False, "**Not standardized:** " + "; ".join(why) + ". Do not cite these rows as one result."
    return True, (f"**Standardized:** every scored record comes from commit `{runs[0][1]}` of a clean tree, "
                  f"suite version {runs[0][2]}.")


def build(paths: Iterable[Path]) -> tuple[pd.DataFrame, list[Path]]:
    """The sorted board of the run directories ``paths`` (all verified first) and the runs it scored."""
    dirs = run_dirs(paths)
    for d in dirs:
        store.verify_run(d)
    dirs = [d for d in dirs if _scorer(str(store.read_meta(d).get("experiment")))[0] is not None]
    frames = [f for f in (rows(d) for d in dirs) if len(f)]
    board = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return sort_board(board), dirs


def build_aggregate(board: pd.DataFrame, dirs: list[Path]) -> pd.DataFrame:
    """The per-method aggregate and anytime table of a board built by :func:`build` from ``dirs``."""
    frames = [f for f in (anytime_rows(d) for d in dirs) if len(f)]
    anytime = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ANYTIME_COLUMNS))
    return aggregate(board, _unit_values(dirs), anytime)


def _sources(dirs: list[Path]) -> list[str]:
    lines = []
    for d in dirs:
        meta = store.read_meta(d)
        rec = meta.get("records") or {}
        lines.append(f"- `{d.as_posix()}`: {meta.get('experiment')}, profile {meta.get('profile')}, suite "
                     f"{meta.get('suite_version')}, commit `{meta.get('git_commit')}`, records sha256 "
                     f"`{str(rec.get('sha256'))[:16]}` ({rec.get('rows')} rows)")
    return lines


def markdown(board: pd.DataFrame, agg: pd.DataFrame, dirs: list[Path], command: str) -> str:
    """LEADERBOARD.md: provenance and definitions, the per-method aggregate, then one board per experiment."""
    from benchmarks.framework.meta import suite_version

    lines = ["# Leaderboard", "",
             f"proxygrad-bench {suite_version()}. Generated by `{command}` from the records below; do not edit by "
             "hand.", "", standardized(dirs, suite_version())[1], "",
             "**Score**: per unit of replication one normalized value in [0, 1], the attained fraction of the "
             "unit's certified optimum or bound, else of the best value any method found on the unit; a row's "
             "score is the mean over units with its 95% bootstrap interval (units resampled) and n units.", "",
             *[f"- **{exp}**: {_scorer(exp)[1]}" for exp in dict.fromkeys(board["experiment"])],
             "- Benchmark ids carry their version: `model@<weights sha256 prefix>`, `family@<suite version>`.",
             "- `role`: `evaluation` = each method at the step size tuned for it on disjoint tuning units; "
             "`fixed` = the profile's one untuned step size. Tuning runs are never scored; roles are never pooled.",
             f"- **Aggregate**: per method and optimizer, the mean of its benchmark scores over a benchmark set, with "
             f"a 95% interval resampling units within each benchmark. A set (`benchmark_set`) is the benchmarks some "
             f"method was scored on (`all <n>`: every benchmark of the experiment and optimizer); every method scored "
             f"on all of a set's benchmarks has a row for it, and methods are compared only within one set. "
             f"**Anytime AUC**: the area under the ECDF of (unit, target) pairs solved against log2(budget), targets "
             f"{', '.join(f'{t:g}' for t in TARGETS)} of the reference, over units with a certified reference only "
             "(COCO style; 1 = every target met at the smallest budget).", "", "Sources:", "", *_sources(dirs),
             "", "## Per-method aggregate", ""]
    lines.append(tables.to_markdown(agg, digits=3).rstrip() if len(agg) else "No scored runs.")
    for exp, g in board.groupby("experiment", sort=False):
        shown = g.drop(columns=["experiment", "suite_version", "profile"]).assign(commit=g["commit"].str[:12])
        if not (shown["method_version"] != "").any():
            shown = shown.drop(columns=["method_version"])
        lines += ["", f"## {exp}", "", tables.to_markdown(shown.reset_index(drop=True), digits=3).rstrip()]
    return "\n".join(lines) + "\n"


def to_csv(board: pd.DataFrame, columns: tuple[str, ...] = COLUMNS) -> str:
    """CSV text of a table: floats by ``repr`` (round trip), as every record file is written."""
    records = [{c: (v.item() if hasattr(v, "item") else v) for c, v in row.items()}
               for row in board.to_dict("records")]
    return store.rows_to_csv(records) if records else ",".join(columns) + "\n"


def write(paths: Iterable[Path], out_dir: Path, command: str) -> list[Path]:
    """Write ``LEADERBOARD.md``, ``LEADERBOARD.csv`` and ``LEADERBOARD_methods.csv`` into ``out_dir``; returns
    their paths.

    ConfigError naming ``out_dir``, before any run is read, when it is an existing file or lies under one."""
    from benchmarks.framework.runner import check_out

    out_dir = check_out(Path(out_dir))
    board, dirs = build(paths)
    agg = build_aggregate(board, dirs)
    csv_path, md_path, agg_path = out_dir / f"{NAME}.csv", out_dir / f"{NAME}.md", out_dir / f"{NAME}_methods.csv"
    store.atomic_write_text(csv_path, to_csv(board))
    store.atomic_write_text(agg_path, to_csv(agg, AGGREGATE_COLUMNS))
    store.atomic_write_text(md_path, markdown(board, agg, dirs, command))
    return [md_path, csv_path, agg_path]
