"""The leaderboard: standardized numbers to cite, computed from finished run directories' records.

``python -m benchmarks leaderboard results/quick --out results`` writes ``LEADERBOARD.md`` and
``LEADERBOARD.csv`` (full precision). A directory argument is a run directory (with ``meta.json``) or a
folder of run directories (every subfolder with a ``meta.json``); every run is verified
(:func:`benchmarks.framework.store.verify_run`) before anything is written.

One row per (experiment, benchmark, optimizer, method): the median over units of replication of the
normalized score (the attained fraction of the unit's reference) with its 95% CI (bootstrap BCa,
:func:`benchmarks.framework.stats.bootstrap_ci`, seed 0) over ``n`` units, with the run's suite version,
profile and commit. Only the runs of one role are scored (:func:`scored_runs`, column ``role``): the tuned
evaluation runs where the records have them, else the untuned fixed-lr runs; tuning runs (one per grid
step size, on tuning instances or units) never are, and the two roles are never pooled, so every method
is scored at one budget.

The framework knows no experiment by name: an experiment that has leaderboard scores declares
``leaderboard_scores(records) -> DataFrame`` (one row per unit, columns ``benchmark``, ``reference``,
``optimizer``, ``method``, ``method_version``, ``value``; NaN value: left out, counted in ``excluded``)
and ``SCORE_DEFINITION`` (one sentence for the board's legend). Experiments without them (``training``)
have no leaderboard rows.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.framework import stats, store, tables
from benchmarks.framework.config import ConfigError

NAME = "LEADERBOARD"
COLUMNS: tuple[str, ...] = ("experiment", "benchmark", "reference", "optimizer", "method", "method_version", "role",
                            "n", "median", "ci_low", "ci_high", "excluded", "suite_version", "profile", "commit")
SCORED_ROLES: tuple[str, ...] = ("evaluation", "fixed")
"""The record roles a leaderboard may score, in order of preference (tuned evaluation runs, then the
untuned fixed-lr runs)."""


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


def rows(out: Path) -> pd.DataFrame:
    """The leaderboard rows of one finished run directory (empty for an experiment without scores)."""
    meta = store.read_meta(out)
    score, _ = _scorer(str(meta.get("experiment")))
    if score is None:
        return pd.DataFrame(columns=list(COLUMNS))
    records, role = scored_runs(store.load_records(out))
    scores = score(records)
    result = []
    for key, g in scores.groupby(["benchmark", "reference", "optimizer", "method"], sort=False):
        values = g["value"].dropna().to_numpy(dtype=float)
        iv = stats.bootstrap_ci(values) if values.size else stats.Interval(math.nan, math.nan, math.nan)
        result.append({"experiment": meta["experiment"], **dict(zip(["benchmark", "reference", "optimizer", "method"], key)),
                       "method_version": str(g["method_version"].iloc[0]), "role": role, "n": int(values.size),
                       "median": float(iv.estimate), "ci_low": float(iv.low), "ci_high": float(iv.high),
                       "excluded": int(g["value"].isna().sum()), "suite_version": str(meta.get("suite_version")),
                       "profile": str(meta.get("profile")), "commit": str(meta.get("git_commit"))})
    return pd.DataFrame(result, columns=list(COLUMNS))


def build(paths: Iterable[Path]) -> tuple[pd.DataFrame, list[Path]]:
    """The leaderboard of the run directories ``paths`` (all verified first) and the runs it scored."""
    dirs = run_dirs(paths)
    for d in dirs:
        store.verify_run(d)
    dirs = [d for d in dirs if _scorer(str(store.read_meta(d).get("experiment")))[0] is not None]
    frames = [rows(d) for d in dirs]
    frames = [f for f in frames if len(f)]
    board = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return board, dirs


def markdown(board: pd.DataFrame, dirs: list[Path], command: str) -> str:
    """LEADERBOARD.md: the definitions, the sources (records sha256), then one table per experiment."""
    lines = ["# Leaderboard", "",
             f"Generated by `{command}` from the committed records below; do not edit by hand. "
             "Each row: the median over units of replication of the attained fraction of each unit's reference, "
             "its 95% bootstrap CI (BCa) and n units (one value per unit: its starts are summarized first).", "",
             *[f"- **{exp}**: {_scorer(exp)[1]}" for exp in dict.fromkeys(board["experiment"])],
             "- Values are the original network's, never a proxy's. Plug-in methods (named `package.module:name`) "
             "carry their `method_version`.",
             "- `role` says which runs a row scores: `evaluation`, the tuned runs (each method at the step size "
             "chosen for it on tuning instances or units disjoint from these), where the records have them; else "
             "`fixed`, the untuned runs at the profile's one step size (a number at that step size, not a "
             "method's best). Tuning runs are never scored, and the roles are never pooled.", "", "Sources:", ""]
    for d in dirs:
        meta = store.read_meta(d)
        rec = meta.get("records") or {}
        lines.append(f"- `{d.as_posix()}`: {meta.get('experiment')}, profile {meta.get('profile')}, suite "
                     f"{meta.get('suite_version')}, commit `{str(meta.get('git_commit'))[:12]}`, records sha256 "
                     f"`{str(rec.get('sha256'))[:16]}` ({rec.get('rows')} rows)")
    for exp, g in board.groupby("experiment", sort=False):
        shown = g.drop(columns=["experiment"]).assign(commit=g["commit"].str[:12])
        if not (shown["method_version"] != "").any():
            shown = shown.drop(columns=["method_version"])
        lines += ["", f"## {exp}", "", tables.to_markdown(shown.reset_index(drop=True), digits=3).rstrip()]
    return "\n".join(lines) + "\n"


def to_csv(board: pd.DataFrame) -> str:
    """CSV text of the board: floats by ``repr`` (round trip), as every record file is written."""
    records = [{c: (v.item() if hasattr(v, "item") else v) for c, v in row.items()}
               for row in board.to_dict("records")]
    return store.rows_to_csv(records) if records else ",".join(COLUMNS) + "\n"


def write(paths: Iterable[Path], out_dir: Path, command: str) -> list[Path]:
    """Write ``LEADERBOARD.md`` and ``LEADERBOARD.csv`` into ``out_dir``; returns their paths.

    ConfigError naming ``out_dir``, before any run is read, when it is an existing file or lies under one."""
    from benchmarks.framework.runner import check_out

    out_dir = check_out(Path(out_dir))
    board, dirs = build(paths)
    csv_path, md_path = out_dir / f"{NAME}.csv", out_dir / f"{NAME}.md"
    store.atomic_write_text(csv_path, to_csv(board))
    store.atomic_write_text(md_path, markdown(board, dirs, command))
    return [md_path, csv_path]
