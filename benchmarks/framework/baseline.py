"""Regression baselines: committed summary metrics of a profile, and the check against them.

A baseline ``results/baselines/<experiment>-<profile>.json`` holds the experiment's
``summarize(records)`` metrics for that profile, the config hash they came from and a tolerance.
Every metric is "higher is better" (attained fractions, success rates), so ``check`` flags a
regression when ``current < baseline - tolerance``, when a metric disappears, or when it becomes NaN.
Metrics may only be rewritten on purpose, with ``baseline --update``, which prints the diff.

A baseline is validated before anything is re-run (ConfigError naming the file and the bad entry):
``metrics`` must be a non-empty table of finite numbers (no null, NaN, infinity, string or bool), and
``tolerance`` a number in :data:`TOLERANCE_RANGE` ``= [0, 0.5]``: the metrics are fractions in [0, 1],
so a tolerance of 0.5 or more would let almost any value pass.  ``baseline --update`` writes only
finite metrics and refuses a measurement with none.
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.framework import bounds, store
from benchmarks.framework.meta import suite_version
from benchmarks.framework.config import ConfigError, config_hash, load_profile
from benchmarks.framework.meta import REPO_ROOT

BASELINE_DIR = REPO_ROOT / "results" / "baselines"
DEFAULT_TOLERANCE = 0.05
TOLERANCE_RANGE: tuple[float, float] = (0.0, 0.5)


@dataclass(frozen=True)
class Measurement:
    """Metrics of one fresh run of a profile and the hash of the config that produced them."""

    metrics: dict[str, float]
    config_hash: str


def baseline_path(experiment: str, profile: str, base_dir: Path | None = None) -> Path:
    """``<base_dir>/<experiment>-<profile>.json`` (default base: results/baselines)."""
    return Path(base_dir or BASELINE_DIR) / f"{experiment}-{profile}.json"


def measure(experiment: str, profile: str, *, progress: bool = False, keep: Path | None = None,
            config_file: Path | None = None, data_dir: Path | None = None) -> Measurement:
    """Run ``experiment`` at ``profile`` (of ``config_file``, default the suite's own profiles) into a
    temporary directory (or ``keep``) and summarize it."""
    from benchmarks.framework.registry import load
    from benchmarks.framework.runner import run

    module = load(experiment)
    cfg = module.parse_config(load_profile(experiment, profile, config_file=config_file), data_dir=data_dir)
    with tempfile.TemporaryDirectory(prefix=f"check-{experiment}-") as tmp:
        out = Path(keep) if keep is not None else Path(tmp) / "run"
        run(module, cfg, out, profile=profile, progress=progress, data_dir=data_dir)
        metrics = {k: float(v) for k, v in module.summarize(store.load_records(out)).items()}
    return Measurement(metrics, config_hash(cfg))


def measurement_from_run(out: Path, experiment: str, profile: str, *, config_file: Path | None = None,
                         data_dir: Path | None = None) -> Measurement:
    """Summarize a finished run directory instead of re-running the profile.

    The run must be of ``experiment``, finished, and made with the profile's current config
    (same config hash); otherwise ConfigError says which does not match.
    """
    from benchmarks.framework.registry import load

    module = load(experiment)
    cfg_hash = config_hash(module.parse_config(load_profile(experiment, profile, config_file=config_file),
                                               data_dir=data_dir))
    meta = store.read_meta(out)
    if meta.get("experiment") != experiment or meta.get("config_hash") != cfg_hash:
        raise ConfigError(f"{out} is a run of {meta.get('experiment')!r} with config hash "
                          f"{str(meta.get('config_hash'))[:12]}, not of {experiment}/{profile} ({cfg_hash[:12]})")
    if not meta.get("finished_utc"):
        raise ConfigError(f"{out} is not finished; complete it with `run ... --resume` first")
    records = store.load_records(out)
    bounds.check(records, module, str(out))
    metrics = {k: float(v) for k, v in module.summarize(records).items()}
    return Measurement(metrics, cfg_hash)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_tolerance(tol: Any, path: Path) -> float:
    """``tol`` as a float when it is a number in :data:`TOLERANCE_RANGE` (ConfigError naming it otherwise)."""
    lo, hi = TOLERANCE_RANGE
    if not _is_number(tol) or not lo <= tol <= hi:
        raise ConfigError(f"{path}: tolerance must be a number in [{lo:g}, {hi:g}] (the metrics are fractions "
                          f"in [0, 1]), got {tol!r}")
    return float(tol)


def check_metrics(metrics: Any, path: Path) -> dict[str, float]:
    """The baseline's metrics when they are a non-empty table of finite numbers (ConfigError otherwise)."""
    if not isinstance(metrics, dict):
        raise ConfigError(f"{path}: no 'metrics' table")
    if not metrics:
        raise ConfigError(f"{path}: 'metrics' is empty: a baseline must check at least one metric; "
                          f"rebuild it with `baseline EXPERIMENT --profile P --update`")
    for key, value in metrics.items():
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(f"{path}: metric {key!r} has the value {value!r}; every baseline metric must be "
                              f"a finite number")
    return {k: float(v) for k, v in metrics.items()}


def read(path: Path, *, require_metrics: bool = True) -> dict[str, Any]:
    """A baseline file as a dict, validated (ConfigError naming the file and the bad entry).

    ``require_metrics=False`` (used by ``--update``, which rewrites them) checks only the tolerance and
    that ``metrics`` is a table.
    """
    if not Path(path).is_file():
        raise ConfigError(f"no baseline at {path}; create it with `baseline EXPERIMENT --profile P --update`")
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise ConfigError(f"{path}: no 'metrics' table")
    check_tolerance(doc.get("tolerance", DEFAULT_TOLERANCE), path)
    if require_metrics:
        check_metrics(doc["metrics"], path)
    return doc


def compare(baseline: dict[str, float], current: dict[str, float], tolerance: float) -> tuple[list[str], list[str]]:
    """Return ``(regressions, notes)`` as text lines.

    Regression: a baseline metric missing now, NaN now where it was a number, or
    ``current < baseline - tolerance``.  Notes: new metrics and improvements beyond the tolerance.
    """
    regressions, notes = [], []
    for key in sorted(baseline):
        old = baseline[key]
        if key not in current:
            regressions.append(f"{key}: missing (baseline {old!r})")
            continue
        new = current[key]
        if old is None or (isinstance(old, float) and math.isnan(old)):
            continue
        if math.isnan(new):
            regressions.append(f"{key}: NaN (baseline {old:.6g})")
        elif new < old - tolerance:
            regressions.append(f"{key}: {new:.6g} < baseline {old:.6g} - tolerance {tolerance:g}")
        elif new > old + tolerance:
            notes.append(f"{key}: improved to {new:.6g} (baseline {old:.6g})")
    for key in sorted(set(current) - set(baseline)):
        notes.append(f"{key}: new metric {current[key]:.6g}")
    return regressions, notes


def diff(old: dict[str, float], new: dict[str, float]) -> list[str]:
    """Lines ``- key: old`` / ``+ key: new`` for every metric that changed, appeared or vanished."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        same = a is not None and b is not None and (a == b or (_isnan(a) and _isnan(b)))
        if same:
            continue
        if a is not None:
            lines.append(f"- {key}: {a!r}")
        if b is not None:
            lines.append(f"+ {key}: {b!r}")
    return lines


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def check(experiment: str, profile: str, *, base_dir: Path | None = None, progress: bool = False,
          measurement: Measurement | None = None, path: Path | None = None, config_file: Path | None = None,
          data_dir: Path | None = None) -> tuple[bool, list[str]]:
    """Re-run the profile and compare with its baseline; returns ``(ok, report lines)``.

    ``path``: the baseline file (default ``results/baselines/<experiment>-<profile>.json``);
    ``config_file``: a TOML file of profiles (default the suite's own), e.g. another project's, which
    keeps both files in its own repository."""
    path = Path(path) if path is not None else baseline_path(experiment, profile, base_dir)
    doc = read(path)
    m = measurement or measure(experiment, profile, progress=progress, config_file=config_file, data_dir=data_dir)
    tolerance = float(doc.get("tolerance", DEFAULT_TOLERANCE))
    base = check_metrics(doc["metrics"], path)
    regressions, notes = compare(base, m.metrics, tolerance)
    lines = []
    if doc.get("config_hash") != m.config_hash:
        lines.append(f"note: the {profile} config changed since {path.name} was made; "
                     f"run `baseline {experiment} --profile {profile} --update` if that was on purpose")
    lines += [f"REGRESSION {r}" for r in regressions] + [f"note: {n}" for n in notes]
    ok = not regressions
    lines.append(f"{'OK' if ok else 'FAILED'}: {experiment}/{profile}: {len(base)} metrics checked against "
                 f"{path} with tolerance {tolerance:g}, {len(regressions)} regression(s)")
    return ok, lines


def update(experiment: str, profile: str, *, base_dir: Path | None = None, progress: bool = False,
           write: bool = True, measurement: Measurement | None = None, path: Path | None = None,
           config_file: Path | None = None, data_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Measure the profile and (if ``write``) rewrite its baseline; returns the path and the diff lines.
    ``path`` and ``config_file`` as in :func:`check`."""
    path = Path(path) if path is not None else baseline_path(experiment, profile, base_dir)
    old: dict[str, Any] = read(path, require_metrics=False) if path.is_file() else {"metrics": {}}
    m = measurement or measure(experiment, profile, progress=progress, config_file=config_file, data_dir=data_dir)
    old_metrics = {k: (float(v) if _is_number(v) else math.nan) for k, v in old["metrics"].items()}
    lines = diff(old_metrics, m.metrics)
    if write:
        bad = [k for k, v in m.metrics.items() if not math.isfinite(v)]
        if bad or not m.metrics:
            raise ConfigError(f"not writing {path}: the measurement has "
                              + (f"non-finite metrics {bad[:5]}" if bad else "no metrics")
                              + "; a baseline holds finite numbers only")
    if write:
        doc = {
            "experiment": experiment,
            "profile": profile,
            "config_hash": m.config_hash,
            "suite_version": suite_version(),
            "tolerance": old.get("tolerance", DEFAULT_TOLERANCE),
            "direction": "higher is better for every metric; check fails when current < baseline - tolerance",
            "generated_by": f"python -m benchmarks baseline {experiment} --profile {profile} --update"
                            + ("" if config_file is None else f" --config {Path(config_file).name}"
                               f" --baseline {path.name}"),
            "metrics": dict(sorted(m.metrics.items())),
        }
        store.atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path, lines
