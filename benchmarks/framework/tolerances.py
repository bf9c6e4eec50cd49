"""The tolerances of a regression baseline (:mod:`benchmarks.framework.baseline`): validated, resolved per
metric, and calibrated to a measured spread.

``tolerance`` (default :data:`DEFAULT_TOLERANCE`, a number in :data:`TOLERANCE_RANGE`) applies to every
metric unless the baseline has ``tolerances``, one absolute tolerance per metric, resolved from
``tolerance_rules`` ``{statistic: {"abs": a, "rel": r}}`` as ``max(a, r * |baseline value|)``
(:func:`resolve_tolerances`).  :func:`calibrate` raises the rules to :data:`SPREAD_MARGIN` times the
spread that ``perturb`` measured (:mod:`benchmarks.framework.spread`), says per statistic where its
tolerance came from, and lists the metrics that a perturbation alone moved by more than their declared
tolerance as ``unchecked``.  Each ``check_*`` function validates one entry of a baseline file (ConfigError
naming the file and the entry).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.framework.config import ConfigError
from benchmarks.framework.spread import statistic

DEFAULT_TOLERANCE = 0.05
#: Calibrated tolerance = this factor times the largest metric difference measured under a perturbation: the
#: perturbation is one other kernel set; another CPU may round the other way, and as far again.
SPREAD_MARGIN = 2.0
TOLERANCE_RANGE: tuple[float, float] = (0.0, 0.5)
#: The keys of a tolerance rule.
RULE_KEYS: tuple[str, ...] = ("abs", "rel")


def is_number(x: Any) -> bool:
    """Whether ``x`` is an int or a float (a bool is not a number here, though Python counts it as one)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_tolerance(tol: Any, path: Path) -> float:
    """``tol`` as a float when it is a number in :data:`TOLERANCE_RANGE` (ConfigError naming it otherwise)."""
    lo, hi = TOLERANCE_RANGE
    if not is_number(tol) or not lo <= tol <= hi:
        raise ConfigError(f"{path}: tolerance must be a number in [{lo:g}, {hi:g}] (the metrics are fractions "
                          f"in [0, 1]), got {tol!r}")
    return float(tol)


def check_rules(rules: Any, path: Path) -> dict[str, dict[str, float]]:
    """``tolerance_rules`` when it is a table ``{statistic: {"abs": a, "rel": r}}`` of finite numbers
    ``a >= 0`` and ``0 <= r <= 0.5`` (at least one of the two); ConfigError naming the entry otherwise."""
    if not isinstance(rules, dict):
        raise ConfigError(f"{path}: 'tolerance_rules' must be a table of statistic -> {{abs, rel}}, got {rules!r}")
    out: dict[str, dict[str, float]] = {}
    for stat, rule in rules.items():
        if not isinstance(rule, dict) or not rule or set(rule) - set(RULE_KEYS):
            raise ConfigError(f"{path}: tolerance rule {stat!r} must be a table with 'abs' and/or 'rel', got {rule!r}")
        for k, v in rule.items():
            hi = TOLERANCE_RANGE[1] if k == "rel" else math.inf
            if not is_number(v) or not math.isfinite(v) or not 0 <= v <= hi:
                raise ConfigError(f"{path}: tolerance rule {stat!r}: {k} must be a finite number in [0, {hi:g}], "
                                  f"got {v!r}")
        out[stat] = {k: float(v) for k, v in rule.items()}
    return out


def resolve_tolerances(metrics: Mapping[str, float], rules: Mapping[str, Mapping[str, float]],
                       default: float) -> dict[str, float]:
    """One absolute tolerance per metric: ``max(abs, rel * |value|)`` of its statistic's rule, else ``default``."""
    out = {}
    for key, value in metrics.items():
        rule = rules.get(statistic(key))
        out[key] = default if rule is None else max(rule.get("abs", 0.0), rule.get("rel", 0.0) * abs(value))
    return out


def check_tolerances(tolerances: Any, metrics: dict[str, float], path: Path) -> dict[str, float]:
    """Per-metric ``tolerances``: one finite number per metric, at least 0 and at most half of
    ``max(1, |value|)`` (a larger one lets almost any value pass); ConfigError naming the entry otherwise."""
    if not isinstance(tolerances, dict):
        raise ConfigError(f"{path}: 'tolerances' must be a table of metric -> tolerance, got {tolerances!r}")
    missing = sorted(set(metrics) - set(tolerances))
    if missing:
        raise ConfigError(f"{path}: 'tolerances' has no entry for the metric(s) {missing[:5]}; rebuild the file "
                          f"with `baseline EXPERIMENT --profile P --update`")
    for key in sorted(set(tolerances) - set(metrics)):
        raise ConfigError(f"{path}: 'tolerances' names {key!r}, which is not one of its metrics")
    for key, tol in tolerances.items():
        hi = 0.5 * max(1.0, abs(metrics[key]))
        if not is_number(tol) or not math.isfinite(tol) or not 0 <= tol <= hi:
            raise ConfigError(f"{path}: the tolerance of metric {key!r} must be a number in [0, {hi:g}] (half of "
                              f"max(1, |value|)), got {tol!r}")
    return {k: float(v) for k, v in tolerances.items()}


def _text_table(value: Any, path: Path, entry: str, keys: str, values: str) -> dict[str, str]:
    """``value`` when it is a table of non-empty strings (ConfigError naming ``entry`` of ``path`` otherwise)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise ConfigError(f"{path}: '{entry}' must be a table of {keys} -> {values}, got {value!r}")
    return dict(value)


def check_source(source: Any, path: Path) -> dict[str, str]:
    """``tolerance_source`` when it is a table ``{statistic: sentence}`` of non-empty strings (ConfigError
    naming the entry otherwise)."""
    return _text_table(source, path, "tolerance_source", "statistic", "sentence")


def moves(doc: Mapping[str, Any], stat: str, keys: Sequence[str]) -> dict[str, float]:
    """How far each metric ``keys`` (of statistic ``stat``) moved in the spread ``doc`` (inf: present in one run
    only); a summary without ``metrics_moved`` gives every metric the statistic's largest difference."""
    largest = doc["statistics"][stat]["max_abs"]
    largest = math.inf if largest is None else float(largest)
    if "metrics_moved" not in doc:
        return {k: largest for k in keys}
    moved = doc["metrics_moved"]
    return {k: (0.0 if k not in moved else math.inf if moved[k] is None else float(moved[k])) for k in keys}


def calibrate(rules: Mapping[str, Mapping[str, float]] | None, default: float, spread_docs: Sequence[dict[str, Any]],
              metrics: Mapping[str, float], *, experiment: str, profile: str, cfg_hash: str,
              names: Sequence[str]) -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, str]]:
    """Tolerance rules raised to :data:`SPREAD_MARGIN` times the spread measured in ``spread_docs`` (read from
    the files ``names``), one sentence per statistic of ``metrics`` saying where its tolerance came from, and the
    metrics left unchecked: ``{metric: why}``.

    A metric that moved under a perturbation by more than its declared tolerance (the rule's, or ``default``)
    is unchecked: another CPU alone changes it by more than the change the check is meant to catch (e.g. a mean
    accuracy over runs of which one diverges on one CPU and not on another).  The other metrics of a statistic
    get ``abs >= SPREAD_MARGIN * d``, ``d`` their largest move, so their tolerance is at most
    ``SPREAD_MARGIN`` times the declared one. A statistic whose rule is relative (``rel > 0``: values of different
    scales, such as activations) is calibrated in the same relative terms: ``d`` is the largest move divided by
    the metric's scale ``max(1, |value|)``, and a raised rule gets ``abs`` and ``rel`` of at least
    ``SPREAD_MARGIN * d``, so each metric's tolerance is at least twice its own scale times ``d``.

    ConfigError (naming the file) for a spread of another experiment, profile or config, and (naming the
    statistic) where the calibrated tolerance of a metric would exceed half of ``max(1, |value|)``."""
    for doc, name in zip(spread_docs, names):
        if (doc.get("experiment"), doc.get("profile"), doc.get("config_hash")) != (experiment, profile, cfg_hash):
            raise ConfigError(f"{name} is a spread of {doc.get('experiment')}/{doc.get('profile')} (config hash "
                              f"{str(doc.get('config_hash'))[:12]}), not of {experiment}/{profile} ({cfg_hash[:12]})")
    out = {k: dict(v) for k, v in (rules or {}).items()}
    source: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    for stat in sorted({statistic(m) for m in metrics}):
        rule = out.get(stat)
        base = (f"rule {json.dumps(rule, sort_keys=True)} (max(abs, rel * |baseline|))" if rule is not None
                else f"the file-wide tolerance {default:g}")
        measured = [(doc, name) for doc, name in zip(spread_docs, names) if stat in doc.get("statistics", {})]
        if not measured:
            source[stat] = base + "; no spread measured"
            continue
        ours = {k: v for k, v in metrics.items() if statistic(k) == stat}
        declared = resolve_tolerances(ours, {stat: rule} if rule is not None else {}, default)
        moved = {k: 0.0 for k in ours}
        for doc, name in measured:
            for key, move in moves(doc, stat, list(ours)).items():
                if move > declared[key] and key not in unchecked:
                    unchecked[key] = (f"moved by {move:.3g} under perturbation {doc.get('perturbation', '?')} "
                                      f"({name}), more than its declared tolerance {declared[key]:.3g}: not "
                                      f"checkable across machines")
                moved[key] = max(moved[key], move)
        relative = bool(rule and rule.get("rel", 0.0) > 0.0)
        scale = {k: max(1.0, abs(v)) if relative else 1.0 for k, v in ours.items()}
        stable = [moved[k] / scale[k] for k in ours if k not in unchecked]
        d = max(stable, default=0.0)
        floor = SPREAD_MARGIN * d
        said = "; ".join(f"{int(doc['statistics'][stat]['differing'])} of {int(doc['statistics'][stat]['n'])} "
                         f"metrics moved under perturbation {doc.get('perturbation', '?')} ({name})"
                         for doc, name in measured)
        said += (f", by at most {d:.3g}{' of max(1, |value|)' if relative else ''} among the checked ones" + (
            f" ({sum(k in unchecked for k in ours)} moved more than their declared tolerance and are unchecked)"
            if any(k in unchecked for k in ours) else ""))
        for key, value in ours.items():
            if key not in unchecked and floor * scale[key] > 0.5 * max(1.0, abs(value)):
                raise ConfigError(f"statistic {stat!r} moves by {d:.3g} under the perturbation ({said}): its "
                                  f"calibrated tolerance {floor * scale[key]:.3g} exceeds half of metric {key!r}'s "
                                  f"scale, so no regression check of {experiment}/{profile} holds across machines")
        if any(tol < floor * scale[key] for key, tol in declared.items() if key not in unchecked):
            if relative:
                out[stat] = {**rule, "abs": max(rule.get("abs", 0.0), floor), "rel": max(rule["rel"], floor)}
                source[stat] = (f"{base}, raised to abs and rel {floor:.3g} = {SPREAD_MARGIN:g} x the largest "
                                f"relative spread measured: " + said)
            else:
                out[stat] = {**(rule or {}), "abs": floor}
                source[stat] = (f"{base}, raised to abs {floor:.3g} = {SPREAD_MARGIN:g} x the largest spread "
                                f"measured: " + said)
        else:
            source[stat] = f"{base}, which covers {SPREAD_MARGIN:g} x the largest spread measured: " + said
    return out, source, dict(sorted(unchecked.items()))


def check_unchecked(unchecked: Any, path: Path) -> dict[str, str]:
    """``unchecked`` when it is a table ``{metric: why}`` of non-empty strings (ConfigError naming the entry
    otherwise)."""
    return _text_table(unchecked, path, "unchecked", "metric", "reason")
