"""The report's sections about the runs rather than the claims: bound violations, reproducibility, the
experiments table (status, origin of the records, compute) and the provenance of the report itself.

:func:`standardized` decides whether the records that ran are one standardized result (one commit of a clean
tree, one suite version; :func:`benchmarks.framework.meta.not_standardized_because`).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.framework import reproducibility
from benchmarks.framework.meta import not_standardized_because
from benchmarks.framework.report_sections import ExperimentResult


def standardized(results: Sequence[ExperimentResult], code_version: str | None = None) -> tuple[bool, str]:
    """Whether the records that ran are standardized numbers: all from one commit of a clean tree and of one
    suite version (``code_version``, when given, that of the code that reads them); and the sentence that says
    so (or why not; :func:`benchmarks.framework.meta.not_standardized_because`)."""
    ran = [r for r in results if r.status == "ran"]
    if not ran:
        return False, "No experiment ran."
    why = not_standardized_because([(r.name, r.records_commit, r.records_suite_version) for r in ran], code_version)
    if why:
        return False, "**Not standardized:** " + "; ".join(why) + "."
    return True, (f"**Standardized:** every record comes from commit `{ran[0].records_commit}` of a clean tree, suite "
                  f"version {ran[0].records_suite_version}.")


def _minutes(info: dict[str, Any]) -> str:
    """Wall minutes from a run's start to its finish (``?`` when unknown)."""
    try:
        a, b = (_dt.datetime.strptime(str(info[k]), "%Y-%m-%dT%H:%M:%SZ") for k in ("started_utc", "finished_utc"))
    except (KeyError, ValueError):
        return "?"
    return f"{(b - a).total_seconds() / 60:.0f}"


def spreads_of(results: Sequence[ExperimentResult]) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each experiment's spread summaries (those that ran and have any)."""
    return {r.name: r.spreads for r in results if r.status == "ran" and r.spreads}


def render_reproducibility(results: Sequence[ExperimentResult], provenance: dict[str, Any]) -> list[str]:
    """What repeats bit for bit where, the measured spread, unstable verdicts, and whether the records are
    standardized (:func:`benchmarks.framework.reproducibility.render`)."""
    scopes = {r.name: r.cross_machine for r in results if r.status == "ran"}
    return ["## Reproducibility", "", standardized(results, provenance.get("suite_version"))[1], "",
            *reproducibility.render(scopes, spreads_of(results), str(provenance.get("profile", "?")))]


def _compute(r: ExperimentResult) -> str:
    """``<minutes> min, <cpus> CPUs (<device>)`` of a run, and its timing columns."""
    if not r.run_info:
        return ""
    info = r.run_info
    timing = ", ".join(info.get("timing_columns", ())) or "none"
    return f"{_minutes(info)} min, {info.get('cpu_count', '?')} CPUs ({info.get('device', '?')}); timing: {timing}"


def render_experiments(results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """A table of the experiments: status, the commit and suite version of its records, its compute (wall
    time from the run's start to its finish), reason and links to its tables."""
    lines = ["## Experiments", "", "| experiment | status | records from | compute | details |",
             "|:---|:---|:---|:---|:---|"]
    for r in results:
        detail = r.reason.replace("|", r"\|").replace("\n", " ")
        links = []
        for p in r.artifacts:
            if p.suffix != ".md":
                continue
            rel = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
            links.append(f"[{p.name}]({rel.as_posix()})")
        if links:
            detail = (detail + "; " if detail else "") + " ".join(links)
        origin = f"`{r.records_commit[:12]}`{' (dirty)' if r.records_commit.endswith('+dirty') else ''}, suite " \
                 f"{r.records_suite_version}" if r.records_commit else ""
        lines.append(f"| {r.name} | {'ran' if r.status == 'ran' else 'not tested (' + r.status + ')'} | {origin} | "
                     f"{_compute(r)} | {detail} |")
    return lines + [""]


def render_provenance(prov: dict[str, Any]) -> list[str]:
    """The provenance of the report itself: command, commit, date, machine, versions."""
    m = prov.get("machine", {})
    v = prov.get("versions", {})
    command = (f"`{prov['make_command']}`, which runs `{prov.get('command', 'unknown')}`"
               if prov.get("make_command") else f"`{prov.get('command', 'unknown')}`")
    return ["## Provenance", "",
            f"- **Command:** {command}; **commit** `{prov.get('git_commit', 'unknown')}`; **date (UTC)** "
            f"{prov.get('date', 'unknown')}; suite {prov.get('suite_version', 'unknown')}, profile "
            f"{prov.get('profile', '?')}",
            f"- **Machine:** {m.get('hostname', '?')}, {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs; "
            "**versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]


def render_violations(results: Sequence[ExperimentResult]) -> list[str]:
    """A section listing every experiment's bound violations, or nothing when there are none."""
    bad = [r for r in results if r.violations]
    if not bad:
        return []
    lines = ["## BOUND VIOLATIONS: records above their certified bound", "",
             "These records exceed the optimum or upper bound certified for their unit, which is impossible for "
             "a correct run; the experiments below are marked failed and their claims are not reported.", ""]
    for r in bad:
        lines += [f"### {r.name}", "", "```", *r.violations, "```", ""]
    return lines
