"""Calibrating regression tolerances to a measured cross-machine spread (``baseline --update --spread``).

A baseline's tolerance of a metric is ``max(abs, rel * |value|)`` of its statistic's rule
(:func:`resolve_tolerances`).  :func:`calibrate` raises the rules to what another CPU's float kernels were
measured to move the metrics by (``spread.json`` of ``perturb``, :mod:`benchmarks.framework.spread`), and
separates the metrics such a move makes uncheckable; :mod:`benchmarks.framework.baseline` documents the
contract and writes the result into the baseline file.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.framework.config import ConfigError
from benchmarks.framework.spread import statistic

#: Calibrated tolerance = this factor times the largest metric difference measured under a perturbation: the
#: perturbation is one other kernel set; another CPU may round the other way, and as far again.
SPREAD_MARGIN = 2.0


def resolve_tolerances(metrics: Mapping[str, float], rules: Mapping[str, Mapping[str, float]],
                       default: float) -> dict[str, float]:
    """One absolute tolerance per metric: ``max(abs, rel * |value|)`` of its statistic's rule, else ``default``."""
    out = {}
    for key, value in metrics.items():
        rule = rules.get(statistic(key))
        out[key] = default if rule is None else max(rule.get("abs", 0.0), rule.get("rel", 0.0) * abs(value))
    return out


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
    ``SPREAD_MARGIN`` times the declared one.

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
        stable = [moved[k] for k in ours if k not in unchecked]
        d = max(stable, default=0.0)
        floor = SPREAD_MARGIN * d
        said = "; ".join(f"{int(doc['statistics'][stat]['differing'])} of {int(doc['statistics'][stat]['n'])} "
                         f"metrics moved under perturbation {doc.get('perturbation', '?')} ({name})"
                         for doc, name in measured)
        said += (f", by at most {d:.3g} among the checked ones" + (
            f" ({sum(k in unchecked for k in ours)} moved more than their declared tolerance and are unchecked)"
            if any(k in unchecked for k in ours) else ""))
        for key, value in ours.items():
            if key not in unchecked and floor > 0.5 * max(1.0, abs(value)):
                raise ConfigError(f"statistic {stat!r} moves by {d:.3g} under the perturbation ({said}): its "
                                  f"calibrated tolerance {floor:.3g} exceeds half of metric {key!r}'s scale, so no "
                                  f"regression check of {experiment}/{profile} holds across machines")
        if any(tol < floor for key, tol in declared.items() if key not in unchecked):
            out[stat] = {**(rule or {}), "abs": floor}
            source[stat] = (f"{base}, raised to abs {floor:.3g} = {SPREAD_MARGIN:g} x the largest spread measured: "
                            + said)
        else:
            source[stat] = f"{base}, which covers {SPREAD_MARGIN:g} x the largest spread measured: " + said
    return out, source, dict(sorted(unchecked.items()))


def check_unchecked(unchecked: Any, path: Path) -> dict[str, str]:
    """``unchecked`` when it is a table ``{metric: why}`` of non-empty strings (ConfigError naming the entry
    otherwise)."""
    if not isinstance(unchecked, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                  for k, v in unchecked.items()):
        raise ConfigError(f"{path}: 'unchecked' must be a table of metric -> reason, got {unchecked!r}")
    return dict(unchecked)
