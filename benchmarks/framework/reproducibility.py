"""The report's reproducibility statement: what repeats bit for bit where, the measured cross-machine spread,
and which verdicts are unstable under another CPU's kernels.

Bit-for-bit scope: every experiment declares it in ``CROSS_MACHINE`` (one sentence: which columns repeat on
any x86-64 CPU with the pinned versions, which only on the same CPU and library build, and what was measured
on another machine); the statement quotes it.  The framework names no experiment itself.

Spread: a reproduction folder ``DIR`` may hold perturbation measurements of its own runs,
``DIR/perturb/<experiment>/<kind>-spread/spread.json`` (``perturb EXPERIMENT --profile P --out
DIR/perturb/EXPERIMENT --reference DIR/EXPERIMENT``); :func:`find_spreads` reads those of the run's config and
:func:`spread_lines` tabulates them.  A claim whose verdict changes under a perturbation is unstable
(:func:`unstable`): the headline and the statement say so next to the verdict, which then is not a finding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.framework.config import ConfigError
from benchmarks.framework.spread import read_summary

PERTURB_DIR = "perturb"
"""The folder of a reproduction's perturbation measurements (one subfolder per experiment)."""


def find_spreads(out: Path, experiment: str, config_hash: str) -> tuple[dict[str, Any], ...]:
    """The spread summaries in ``out/perturb/<experiment>/*-spread/`` of runs of ``config_hash`` (others, made
    for another config, and unreadable files are left out), in name order."""
    found = []
    for path in sorted((Path(out) / PERTURB_DIR / experiment).glob("*-spread/spread.json")):
        try:
            doc = read_summary(path)
        except ConfigError:
            continue
        if doc.get("experiment") == experiment and doc.get("config_hash") == config_hash:
            found.append({**doc, "path": path.as_posix()})
    return tuple(found)


def _changed(doc: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(claim id, method, reference verdict, perturbed verdict)`` of every changed verdict of a summary."""
    return [(str(c.get("claim", "?")), str(c.get("method", "")), str(c.get("reference", "?")), str(c.get("run", "?")))
            for c in doc.get("verdicts", {}).get("changed", []) if isinstance(c, dict)]


def unstable(spreads: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[tuple[str, str, str], str]:
    """``(experiment, claim id, method) -> "avx2: mixed; ..."``: the claims whose verdict changed under a
    perturbation, and what it became there, from the spread summaries of each experiment."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for name, docs in spreads.items():
        for doc in docs:
            for cid, method, _, after in _changed(doc):
                out.setdefault((name, cid, method), []).append(f"{doc.get('perturbation', '?')}: {after}")
    return {k: "; ".join(v) for k, v in out.items()}


def _largest(doc: Mapping[str, Any]) -> str:
    """The experiment's outcome columns (rows differing, largest relative difference), the record column with the
    most differing rows, and the one with the largest relative difference (with its absolute difference: a
    relative difference of near-zero values can be large), of a summary."""
    cols = doc.get("columns_differing", {})
    outcomes = "; ".join(f"`{c}` {v.get('differing')} rows"
                         + (f" ({v['max_rel']:.2g} rel., {v['max_abs']:.2g} abs.)" if v.get("max_rel") else "")
                         for c, v in doc.get("outcome_columns", {}).items())
    if not cols:
        return outcomes or "none"
    most = max(cols, key=lambda c: cols[c].get("differing", 0))
    rel = {c: v["max_rel"] for c, v in cols.items() if v.get("max_rel") is not None}
    text = f"most rows: `{most}` ({cols[most].get('differing')})"
    if rel:
        big = max(rel, key=lambda c: rel[c])
        absolute = cols[big].get("max_abs")
        text += (f"; largest: `{big}` ({rel[big]:.2g} rel."
                 + ("" if absolute is None else f", {absolute:.2g} abs.") + ")")
    return (outcomes + "; " if outcomes else "") + text


def spread_lines(spreads: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """A table of the measured spreads: one row per experiment and perturbation."""
    rows = [(name, doc) for name, docs in spreads.items() for doc in docs]
    if not rows:
        return []
    lines = ["| experiment | perturbation | rows compared (only in one run) | columns differing | differences | "
             "metrics moved (largest) | verdicts changed |", "|:---|:---|---:|:---|:---|:---|:---|"]
    for name, doc in rows:
        r = doc.get("rows", {})
        diff = doc.get("columns_differing", {})
        n_cols = len(diff) + len(doc.get("columns_identical", []))
        stats = doc.get("statistics", {})
        moved = sum(int(s.get("differing", 0)) for s in stats.values())
        total = sum(int(s.get("n", 0)) for s in stats.values())
        largest = max((float(s.get("max_abs") or 0.0) for s in stats.values()), default=0.0)
        changed = _changed(doc)
        verdicts = ("none" if not changed else
                    "; ".join(f"{c}{' ' + m if m else ''}: {a} -> {b}" for c, m, a, b in changed))
        lines.append(f"| {name} | {doc.get('perturbation', '?')} | {r.get('compared', '?')} "
                     f"({int(r.get('only_reference', 0)) + int(r.get('only_run', 0))}) | {len(diff)} of {n_cols} | "
                     f"{_largest(doc)} | {moved} of {total} ({largest:.3g}) | {verdicts} |")
    return lines + [""]


def render(scopes: Mapping[str, str], spreads: Mapping[str, Sequence[Mapping[str, Any]]], profile: str) -> list[str]:
    """The statement's lines after the standardization sentence: bit-for-bit scope per experiment, the
    measured spread (or how to measure it), unstable verdicts, and how ``check`` is calibrated."""
    lines = ["- **Bit for bit on one machine:** records are a pure function of code, config and the machine's "
             "float kernels: the same commit and profile rerun on the same CPU with the same library build (one "
             "torch thread per cell) give the same records in every column but the timing columns named below (a "
             "cold and a warm cache agree: `tests/test_cache_independence.py`); every table and figure here is "
             f"rebuilt from them by `python -m benchmarks reproduce --profile {profile} --out DIR --report-only`.",
             "- **On another machine:** the libraries choose float kernels by the CPU's instruction set "
             "(oneDNN's convolutions, MKL's matrix products), so a CPU of another type rounds differently, "
             "and AM and training amplify it."]
    lines += [f"  - **{name}:** {text}" for name, text in scopes.items() if text]
    table = spread_lines(spreads)
    how = ("`python -m benchmarks perturb EXPERIMENT --profile P --out DIR/perturb/EXPERIMENT --reference "
           "DIR/EXPERIMENT --kind avx2` reruns an experiment on this machine under another CPU's kernels "
           "(`benchmarks/framework/perturbation.py`) and writes the spread tables")
    if table:
        lines += [f"- **Measured spread under another CPU's kernels** ({how}): the record columns that differ, "
                  "the one with the most differing rows and the one with the largest relative difference, the "
                  "summary metrics that moved and the verdicts that changed.", "", *table]
    else:
        lines += [f"- **Spread:** not measured for these records; {how}.", ""]
    flips = unstable(spreads)
    if flips:
        lines += ["- **Unstable verdicts:** " + "; ".join(f"{cid}{' ' + method if method else ''} ({name}) under {what}"
                                                         for (name, cid, method), what in flips.items())
                  + ". They are marked unstable in the headline and are not findings."]
    elif table:
        lines += ["- **Verdicts:** none changes under the perturbations measured."]
    lines += ["- **Regression checks:** `python -m benchmarks check` compares a rerun with the committed baseline; "
              "each baseline's `tolerance_source` says where each tolerance came from (the declared rule, raised "
              "where needed to twice the spread measured under another CPU's kernels), and its `unchecked` lists the "
              "metrics that a perturbation alone moved by more than their declared tolerance (skipped by `check`, "
              "with a note).", ""]
    return lines
