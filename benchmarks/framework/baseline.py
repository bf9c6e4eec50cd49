"""Regression baselines: committed summary metrics of a profile, and the check against them.

A baseline ``results/baselines/<experiment>-<profile>.json`` holds the experiment's
``summarize(records)`` metrics for that profile, the identity of what it was made for (``experiment``,
``profile``, ``config_hash``) and its tolerances.  Every metric is "higher is better" (attained
fractions, success rates, attained activations, accuracies), so ``check`` flags a regression when
``current < baseline - tolerance``, when a metric disappears, or when it becomes NaN.  Metrics may only
be rewritten on purpose, with ``baseline --update``, which prints the diff.

Identity: ``check`` refuses, before anything is run (ConfigError, exit 2, naming both), a baseline made
for another experiment, another profile or another config of the profile (its config hash differs from
the one the profile now parses to), and a baseline that does not record all three.  ``baseline --update``
refuses to overwrite a file made for another experiment or profile (a changed config is what it is for).

Tolerances (validated, resolved and calibrated in :mod:`benchmarks.framework.tolerances`): ``tolerance``
(default :data:`DEFAULT_TOLERANCE`) applies to every metric, unless the file has ``tolerances``, one
absolute tolerance per metric, written by ``--update`` from ``tolerance_rules``:
``{statistic: {"abs": a, "rel": r}}`` per statistic (a metric's last path component without its
``@...`` suffix, e.g. ``median_F``), resolved as ``max(a, r * |baseline value|)``; a metric whose
statistic has no rule gets ``tolerance``.  The rules are those already in the file (kept by ``--update``,
like ``tolerance``), else the experiment's declared ``BASELINE_TOLERANCES`` (same shape), else none; the
README lists the rules of the committed baselines.

Calibration to another machine's spread (``baseline --update --spread FILE``): ``FILE`` is a ``spread.json`` of
``perturb`` (:mod:`benchmarks.framework.spread`) measured on the same experiment, profile and config; per
statistic its largest absolute metric difference ``d`` raises the rule's ``abs`` to at least
:data:`SPREAD_MARGIN` ``* d`` (a statistic without a rule gets ``{"abs": max(tolerance, SPREAD_MARGIN * d)}``),
so that ``check`` passes where only the CPU's float kernels differ.  ``tolerance_source`` (one sentence per
statistic) says where each statistic's tolerance came from: the declared or file rule, and the spread file,
its perturbation and the measured ``d``; ``--update`` without ``--spread`` keeps it, like the rules.  A metric
that moved under a perturbation by more than its declared tolerance (the spread's ``metrics_moved``) is not
checkable across machines: it goes to ``unchecked`` (``{metric: why}``) instead of widening its statistic's
tolerance for every other metric, ``d`` is taken over the checked metrics only, and ``check`` skips it with a
note naming it and its value; ``--update`` without ``--spread`` keeps the list.  A spread whose calibrated
tolerance would still exceed half a metric's scale is refused (ConfigError naming the statistic): no regression
check of that profile can hold across machines.

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

from collections.abc import Mapping, Sequence

from benchmarks.framework import bounds, store
from benchmarks.framework.config import ConfigError, config_hash, load_profile
from benchmarks.framework.meta import REPO_ROOT, suite_version
from benchmarks.framework.spread import read_summary
from benchmarks.framework.tolerances import (DEFAULT_TOLERANCE, RULE_KEYS, SPREAD_MARGIN, TOLERANCE_RANGE, calibrate,
                                             check_rules, check_source, check_tolerance, check_tolerances,
                                             check_unchecked, is_number, resolve_tolerances)

BASELINE_DIR = REPO_ROOT / "results" / "baselines"


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


def profile_hash(experiment: str, profile: str, *, config_file: Path | None = None,
                 data_dir: Path | None = None) -> str:
    """The config hash the profile parses to now (nothing is run; ConfigError for a bad profile)."""
    from benchmarks.framework.registry import load

    module = load(experiment)
    return config_hash(module.parse_config(load_profile(experiment, profile, config_file=config_file),
                                           data_dir=data_dir))


IDENTITY: tuple[str, ...] = ("experiment", "profile", "config_hash")
"""What a baseline file records about the run it was made from."""


def check_identity(doc: dict[str, Any], path: Path, experiment: str, profile: str, cfg_hash: str, *,
                   config: bool = True) -> None:
    """ConfigError naming both when the baseline ``doc`` (read from ``path``) is not of ``experiment``,
    ``profile`` and (with ``config``) config hash ``cfg_hash``, or does not say what it is of."""
    missing = [k for k in IDENTITY if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise ConfigError(f"{path} does not record the {', '.join(missing)} it was made for, so it cannot be "
                          f"told to be a baseline of {experiment}/{profile}; rebuild it with `baseline "
                          f"{experiment} --profile {profile} --update`")
    if (doc["experiment"], doc["profile"]) != (experiment, profile):
        raise ConfigError(f"{path} is a baseline of {doc['experiment']}/{doc['profile']} (config hash "
                          f"{doc['config_hash'][:12]}), not of {experiment}/{profile} (config hash {cfg_hash[:12]}); "
                          f"give the baseline of {experiment}/{profile}")
    if config and doc["config_hash"] != cfg_hash:
        raise ConfigError(f"{path} is a baseline of {experiment}/{profile} under config hash "
                          f"{doc['config_hash'][:12]}, but the profile now has config hash {cfg_hash[:12]} (its "
                          f"config changed); run `baseline {experiment} --profile {profile} --update` if that "
                          f"was on purpose")


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


def check_metrics(metrics: Any, path: Path) -> dict[str, float]:
    """The baseline's metrics when they are a non-empty table of finite numbers (ConfigError otherwise)."""
    if not isinstance(metrics, dict):
        raise ConfigError(f"{path}: no 'metrics' table")
    if not metrics:
        raise ConfigError(f"{path}: 'metrics' is empty: a baseline must check at least one metric; "
                          f"rebuild it with `baseline EXPERIMENT --profile P --update`")
    for key, value in metrics.items():
        if not is_number(value) or not math.isfinite(value):
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
    if "tolerance_rules" in doc:
        check_rules(doc["tolerance_rules"], path)
    if "tolerance_source" in doc:
        check_source(doc["tolerance_source"], path)
    if "unchecked" in doc:
        extra = set(check_unchecked(doc["unchecked"], path)) - set(doc["metrics"])
        if extra:
            raise ConfigError(f"{path}: 'unchecked' names metrics the baseline does not have: {sorted(extra)[:5]}")
    if require_metrics:
        metrics = check_metrics(doc["metrics"], path)
        if "tolerances" in doc:
            check_tolerances(doc["tolerances"], metrics, path)
    return doc


def compare(baseline: dict[str, float], current: dict[str, float],
            tolerance: float | Mapping[str, float]) -> tuple[list[str], list[str]]:
    """Return ``(regressions, notes)`` as text lines.

    Regression: a baseline metric missing now, NaN now where it was a number, or
    ``current < baseline - tolerance`` (``tolerance``: one for all metrics, or one per metric).
    Notes: new metrics and improvements beyond the tolerance.
    """
    regressions, notes = [], []
    for key in sorted(baseline):
        old = baseline[key]
        tol = tolerance if not isinstance(tolerance, Mapping) else tolerance[key]
        if key not in current:
            regressions.append(f"{key}: missing (baseline {old!r})")
            continue
        new = current[key]
        if old is None or (isinstance(old, float) and math.isnan(old)):
            continue
        if math.isnan(new):
            regressions.append(f"{key}: NaN (baseline {old:.6g})")
        elif new < old - tol:
            regressions.append(f"{key}: {new:.6g} < baseline {old:.6g} - tolerance {tol:g}")
        elif new > old + tol:
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


def _name(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as committed files name each other)."""
    p = Path(path).resolve()
    return p.relative_to(REPO_ROOT).as_posix() if p.is_relative_to(REPO_ROOT) else Path(path).as_posix()


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
    check_identity(doc, path, experiment, profile,
                   profile_hash(experiment, profile, config_file=config_file, data_dir=data_dir))
    m = measurement or measure(experiment, profile, progress=progress, config_file=config_file, data_dir=data_dir)
    tolerance = float(doc.get("tolerance", DEFAULT_TOLERANCE))
    unchecked = doc.get("unchecked", {})
    base = {k: v for k, v in check_metrics(doc["metrics"], path).items() if k not in unchecked}
    per_metric = doc.get("tolerances")
    regressions, notes = compare(base, {k: v for k, v in m.metrics.items() if k not in unchecked},
                                 tolerance if per_metric is None else per_metric)
    lines = ([f"REGRESSION {r}" for r in regressions] + [f"note: {n}" for n in notes]
             + [f"note: {k}: unchecked ({why}); now {m.metrics.get(k, math.nan):.6g}, baseline {doc['metrics'][k]:.6g}"
                for k, why in sorted(unchecked.items())])
    ok = not regressions
    rule = f"tolerance {tolerance:g}" if per_metric is None else "per-metric tolerances"
    lines.append(f"{'OK' if ok else 'FAILED'}: {experiment}/{profile}: {len(base)} metrics checked against "
                 f"{path} with {rule}" + (f" ({len(unchecked)} unchecked: unstable across machines)" if unchecked
                                          else "") + f", {len(regressions)} regression(s)")
    return ok, lines


def update(experiment: str, profile: str, *, base_dir: Path | None = None, progress: bool = False,
           write: bool = True, measurement: Measurement | None = None, path: Path | None = None,
           config_file: Path | None = None, data_dir: Path | None = None,
           spread: Sequence[Path] = (), from_run: Path | None = None) -> tuple[Path, list[str]]:
    """Measure the profile and (if ``write``) rewrite its baseline; returns the path and the diff lines.
    ``path`` and ``config_file`` as in :func:`check`; ``spread``: ``spread.json`` files whose measured spread
    the tolerances are calibrated to (:func:`calibrate`; read and validated before anything is run);
    ``from_run``: the finished run ``measurement`` was summarized from, named in ``generated_by``."""
    spread_docs = [read_summary(Path(s)) for s in spread]
    path = Path(path) if path is not None else baseline_path(experiment, profile, base_dir)
    old: dict[str, Any] = read(path, require_metrics=False) if path.is_file() else {"metrics": {}}
    # a changed config is what --update is for; another experiment or profile is not (a file that does not
    # say what it is of, written before baselines recorded it, is rewritten)
    if path.is_file() and all(isinstance(old.get(k), str) and old.get(k) for k in IDENTITY):
        check_identity(old, path, experiment, profile,
                       profile_hash(experiment, profile, config_file=config_file, data_dir=data_dir), config=False)
    m = measurement or measure(experiment, profile, progress=progress, config_file=config_file, data_dir=data_dir)
    old_metrics = {k: (float(v) if is_number(v) else math.nan) for k, v in old["metrics"].items()}
    lines = diff(old_metrics, m.metrics)
    if write:
        bad = [k for k, v in m.metrics.items() if not math.isfinite(v)]
        if bad or not m.metrics:
            raise ConfigError(f"not writing {path}: the measurement has "
                              + (f"non-finite metrics {bad[:5]}" if bad else "no metrics")
                              + "; a baseline holds finite numbers only")
    if write:
        from benchmarks.framework.registry import load

        tolerance = old.get("tolerance", DEFAULT_TOLERANCE)
        rules = old.get("tolerance_rules", getattr(load(experiment), "BASELINE_TOLERANCES", None))
        if rules is not None:
            rules = check_rules(rules, path)
        source = old.get("tolerance_source")
        unchecked = {k: v for k, v in old.get("unchecked", {}).items() if k in m.metrics}
        if spread_docs:
            rules, source, unchecked = calibrate(rules, float(tolerance), spread_docs, m.metrics,
                                                 experiment=experiment, profile=profile, cfg_hash=m.config_hash,
                                                 names=[_name(s) for s in spread])
        rules_doc: dict[str, Any] = {}
        if rules:
            rules_doc = {"tolerance_rules": rules,
                         "tolerances": dict(sorted(resolve_tolerances(m.metrics, rules, float(tolerance)).items()))}
        if source:
            rules_doc["tolerance_source"] = dict(sorted(source.items()))
        if unchecked:
            rules_doc["unchecked"] = unchecked
        doc = {
            "experiment": experiment,
            "profile": profile,
            "config_hash": m.config_hash,
            "suite_version": suite_version(),
            "tolerance": tolerance,
            "direction": "higher is better for every metric; check fails when current < baseline - tolerance"
                         + ("" if "tolerance_rules" not in rules_doc else
                            " (the metric's entry in 'tolerances', resolved from "
                            "'tolerance_rules' as max(abs, rel * |baseline|); 'tolerance' where no rule applies)"),
            **rules_doc,
            "generated_by": f"python -m benchmarks baseline {experiment} --profile {profile} --update"
                            + ("" if from_run is None else f" --from {_name(from_run)}")
                            + ("" if config_file is None else f" --config {Path(config_file).name}"
                               f" --baseline {path.name}") + ("" if data_dir is None else " --data DIR")
                            + "".join(f" --spread {_name(s)}" for s in spread),
            "metrics": dict(sorted(m.metrics.items())),
        }
        store.atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path, lines


__all__ = ["BASELINE_DIR", "DEFAULT_TOLERANCE", "IDENTITY", "Measurement", "RULE_KEYS", "SPREAD_MARGIN",
           "TOLERANCE_RANGE", "baseline_path", "calibrate", "check", "check_identity", "check_metrics", "check_rules",
           "check_source", "check_tolerance", "check_tolerances", "compare", "diff", "measure", "measurement_from_run",
           "profile_hash", "read", "resolve_tolerances", "update"]
