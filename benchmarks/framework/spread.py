"""The spread between two runs of one experiment and config: how far their records, metrics and verdicts differ.

Two runs of the same commit and profile agree bit for bit on one machine; on another CPU (or under a
perturbation that makes this one run another CPU's kernels, :mod:`benchmarks.framework.perturbation`) float
results may round differently and AM or training may amplify that.  :func:`compare_runs` measures it:

- **records** (:func:`column_spread`): rows are aligned by the experiment's ``ROW_KEY`` columns (the columns
  that say what a row is, not what it measured), duplicates by their order; the timing columns and the key
  columns are not compared.  Per remaining column: the rows compared, the rows that differ (NaN equals NaN),
  and for numeric columns the median and the maximum relative difference ``|a - b| / max(|a|, |b|)`` over
  the differing rows and the maximum absolute difference.  Rows present in one run only (a numeric
  difference that changed, e.g., an lr choice and so which rows exist) are counted, not compared.
- **metrics** (:func:`metric_spread`): the experiment's ``summarize`` of both runs, metric by metric, and per
  statistic (:func:`statistic`: a metric's last path component without its ``@...`` suffix) the largest
  absolute and relative difference: the spread that regression tolerances are calibrated to
  (``baseline --spread``).  The summary's ``metrics_moved`` lists every metric that moved and by how much
  (``null``: present in one run only), so that a calibration can tell the metrics that move more than their
  declared tolerance (not checkable across machines) from the rest; a summary without it (written before
  it existed) is read as if every metric of a statistic had moved by the statistic's largest difference.
- **outcomes**: the experiment's ``OUTCOME_COLUMNS`` (what a reader looks at first: attained values,
  accuracies) are named in the summary whether they differ or not.
- **verdicts** (:func:`verdict_changes`): the experiment's ``claims`` of both runs, one row per claim id and
  method, with both verdicts and whether they differ.

:func:`write` stores the three tables (CSV, Markdown, LaTeX) and ``spread.json``, the machine-readable summary
that the baseline calibration and the report read (:func:`read_summary`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import store
from benchmarks.framework.config import ConfigError
from benchmarks.framework.tables import write_table

SUMMARY = "spread.json"
SUMMARY_FORMAT = 1
#: Row-order column added to the key so that rows with equal key values align by their order.
OCCURRENCE = "_occurrence"


@dataclass(frozen=True)
class Spread:
    """The comparison of a run with a reference run of the same experiment and config."""

    experiment: str
    profile: str | None
    config_hash: str
    columns: pd.DataFrame
    metrics: pd.DataFrame
    verdicts: pd.DataFrame
    rows: dict[str, int]
    outcome: tuple[str, ...] = ()


def relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / max(|a|, |b|)``, 0 where both are 0."""
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1.0), 0.0)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def align(ref: pd.DataFrame, other: pd.DataFrame, key: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows of both runs side by side (columns suffixed ``_ref`` / ``_new``), joined on the key columns both
    have plus the order of equal keys; and the row counts ``{"reference", "run", "compared", "only_reference",
    "only_run"}``."""
    cols = [c for c in key if c in ref.columns and c in other.columns]
    a, b = ref.copy(), other.copy()
    for df in (a, b):
        for c in cols:  # NaN keys join as one value
            df[c] = df[c].astype(str)
        df[OCCURRENCE] = df.groupby(cols, sort=False, dropna=False).cumcount() if cols else np.arange(len(df))
    on = [*cols, OCCURRENCE]
    joined = a.merge(b, on=on, how="outer", suffixes=("_ref", "_new"), indicator=True)
    both = joined[joined["_merge"] == "both"]
    counts = {"reference": len(ref), "run": len(other), "compared": len(both),
              "only_reference": int((joined["_merge"] == "left_only").sum()),
              "only_run": int((joined["_merge"] == "right_only").sum())}
    return both.drop(columns="_merge"), counts


def column_spread(ref: pd.DataFrame, other: pd.DataFrame, key: tuple[str, ...],
                  skip: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per compared column, the most differing first: ``column, rows, differing, share, median_rel,
    max_rel, max_abs`` (the last three over the differing rows of a numeric column, empty otherwise); see the
    module docstring."""
    joined, counts = align(ref, other, key)
    out = []
    for c in ref.columns:
        if c in key or c in skip or c not in other.columns:
            continue
        x, y = joined[f"{c}_ref"], joined[f"{c}_new"]
        same = (x == y).fillna(False).astype(bool) | (x.isna() & y.isna())
        n_diff = int((~same).sum())
        row: dict[str, Any] = {"column": c, "rows": len(joined), "differing": n_diff,
                               "share": n_diff / len(joined) if len(joined) else math.nan,
                               "median_rel": math.nan, "max_rel": math.nan, "max_abs": math.nan}
        if n_diff and _numeric(x) and _numeric(y):
            xa, ya = x[~same].to_numpy(float), y[~same].to_numpy(float)
            finite = np.isfinite(xa) & np.isfinite(ya)
            if finite.any():
                rel = relative_difference(xa[finite], ya[finite])
                row.update(median_rel=float(np.median(rel)), max_rel=float(rel.max()),
                           max_abs=float(np.abs(xa[finite] - ya[finite]).max()))
        out.append(row)
    table = pd.DataFrame(out, columns=["column", "rows", "differing", "share", "median_rel", "max_rel", "max_abs"])
    return table.sort_values("differing", ascending=False, kind="stable").reset_index(drop=True), counts


def statistic(metric: str) -> str:
    """The statistic of a metric name: its last path component without an ``@...`` suffix
    (``fam/m/opt/success@0.1`` -> ``success``); regression tolerances are declared per statistic."""
    return metric.rsplit("/", 1)[-1].split("@", 1)[0]


def metric_spread(ref: dict[str, float], other: dict[str, float]) -> pd.DataFrame:
    """One row per metric of either run: ``metric, statistic, reference, run, abs_diff, rel_diff``
    (NaN where a metric is missing in one run)."""
    rows = []
    for m in sorted(set(ref) | set(other)):
        a, b = float(ref.get(m, math.nan)), float(other.get(m, math.nan))
        finite = math.isfinite(a) and math.isfinite(b)
        same = a == b or (math.isnan(a) and math.isnan(b))
        d = abs(a - b) if finite else (0.0 if same else math.nan)
        scale = max(abs(a), abs(b))
        rel = (d / scale if scale > 0 else 0.0) if finite else (0.0 if same else math.nan)
        rows.append({"metric": m, "statistic": statistic(m), "reference": a, "run": b, "abs_diff": d, "rel_diff": rel})
    return pd.DataFrame(rows, columns=["metric", "statistic", "reference", "run", "abs_diff", "rel_diff"])


def statistic_spread(metrics: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per statistic: ``{"n": metrics, "differing": metrics that changed, "max_abs": ..., "max_rel": ...}``
    (a metric missing in one run counts as differing with an infinite difference)."""
    out: dict[str, dict[str, float]] = {}
    for stat, g in metrics.groupby("statistic", sort=True):
        d = g["abs_diff"].fillna(math.inf)
        r = g["rel_diff"].fillna(math.inf)
        out[str(stat)] = {"n": int(len(g)), "differing": int((d != 0).sum()),
                          "max_abs": float(d.max()), "max_rel": float(r.max())}
    return out


def verdict_changes(ref_claims: list[Any], other_claims: list[Any]) -> pd.DataFrame:
    """One row per (claim id, method) of either run: both verdicts and ``changed``."""
    def index(claims: list[Any]) -> dict[tuple[str, str], str]:
        return {(c.id or c.key, c.method): c.verdict for c in claims}

    a, b = index(ref_claims), index(other_claims)
    rows = [{"claim": k[0], "method": k[1], "reference": a.get(k, "absent"), "run": b.get(k, "absent"),
             "changed": a.get(k, "absent") != b.get(k, "absent")} for k in sorted(set(a) | set(b))]
    return pd.DataFrame(rows, columns=["claim", "method", "reference", "run", "changed"])


def _claims(module: ModuleType, records: pd.DataFrame) -> list[Any]:
    return list(module.claims(records))


def compare_runs(module: ModuleType, reference: Path, run: Path) -> Spread:
    """The spread of ``run`` against ``reference``: two finished runs of ``module`` with one config hash
    (ConfigError naming both otherwise, before anything is computed)."""
    metas = {}
    for d in (reference, run):
        meta = store.read_meta(d)
        if meta.get("experiment") != module.NAME:
            raise ConfigError(f"{d} is a run of {meta.get('experiment')!r}, not of {module.NAME!r}")
        if not meta.get("finished_utc"):
            raise ConfigError(f"{d} is not finished; complete it with `run ... --resume` first")
        metas[d] = meta
    h_ref, h_run = metas[reference].get("config_hash"), metas[run].get("config_hash")
    if h_ref != h_run:
        raise ConfigError(f"{reference} (config hash {str(h_ref)[:12]}) and {run} (config hash {str(h_run)[:12]}) "
                          f"are runs of different configs; compare runs of one config")
    ref, new = store.load_records(reference), store.load_records(run)
    key = tuple(getattr(module, "ROW_KEY", ()))
    columns, rows = column_spread(ref, new, key, tuple(module.TIMING_COLUMNS))
    metrics = metric_spread({k: float(v) for k, v in module.summarize(ref).items()},
                            {k: float(v) for k, v in module.summarize(new).items()})
    verdicts = verdict_changes(_claims(module, ref), _claims(module, new))
    return Spread(module.NAME, metas[run].get("profile"), str(h_run), columns, metrics, verdicts, rows,
                  tuple(getattr(module, "OUTCOME_COLUMNS", ())))


def summary(s: Spread, **extra: Any) -> dict[str, Any]:
    """The JSON summary of a spread (``extra``: what was perturbed, the runs compared)."""
    cols = s.columns

    def entry(r: Any) -> dict[str, Any]:
        return {"differing": int(r.differing), "rows": int(r.rows),
                "max_rel": None if math.isnan(r.max_rel) else float(r.max_rel),
                "max_abs": None if math.isnan(r.max_abs) else float(r.max_abs)}

    return {
        "format": SUMMARY_FORMAT,
        "experiment": s.experiment,
        "profile": s.profile,
        "config_hash": s.config_hash,
        **extra,
        "rows": s.rows,
        "columns_differing": {r.column: entry(r) for r in cols.itertuples() if r.differing},
        "outcome_columns": {r.column: entry(r) for r in cols.itertuples() if r.column in s.outcome},
        "columns_identical": [str(c) for c in cols.loc[cols["differing"] == 0, "column"]],
        "statistics": statistic_spread(s.metrics),
        "metrics_moved": {str(r.metric): (None if math.isnan(r.abs_diff) else float(r.abs_diff))
                          for r in s.metrics.itertuples() if not r.abs_diff == 0.0},
        "verdicts": {"compared": int(len(s.verdicts)),
                     "changed": [{"claim": str(r.claim), "method": str(r.method), "reference": str(r.reference),
                                  "run": str(r.run)} for r in s.verdicts.itertuples() if r.changed]},
    }


def _finite_or_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite_or_none(v) for v in x]
    return x


def write(s: Spread, out: Path, **extra: Any) -> list[Path]:
    """Write ``out/{columns,metrics,verdicts}.{csv,md}`` and ``out/spread.json``; returns the paths."""
    out = Path(out)
    paths: list[Path] = []
    for name, table in (("columns", s.columns), ("metrics", s.metrics), ("verdicts", s.verdicts)):
        paths += list(write_table(table, out, name))
    path = out / SUMMARY
    store.atomic_write_text(path, json.dumps(_finite_or_none(summary(s, **extra)), indent=2, sort_keys=True,
                                             allow_nan=False) + "\n")
    return paths + [path]


def read_summary(path: Path) -> dict[str, Any]:
    """A ``spread.json`` as a dict (ConfigError naming the file when it is not one)."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no spread summary at {path}; make one with "
                          f"`perturb EXPERIMENT --profile P --out DIR`") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT or not isinstance(doc.get("statistics"), dict):
        raise ConfigError(f"{path} is not a spread summary (format {SUMMARY_FORMAT} with 'statistics')")
    return doc
