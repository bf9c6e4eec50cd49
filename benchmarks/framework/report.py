"""``REPORT.md``: a report a person reads in five minutes, built from the experiments' claims.

Every number in the report comes from the records: each experiment's ``claims(records)`` makes the
effects, verdicts and tables, and this module only orders, condenses and renders them (tables via
:func:`benchmarks.framework.tables.to_markdown`). An experiment that did not run, or whose claims could
not be made, is reported as "not tested" with the reason.

Layout: a headline table first (one row per claim id, experiment and method tested: n units, the effect
with its 95% interval, the minimum detectable effect, the verdict); then one short section per claim
id that was tested, the paper's claims (``C*``) first, then the findings beyond it (``B*``): what was
tested, the decision rule in one sentence, one condensed table of at most :data:`MAX_COLUMNS` columns
(the full table written to ``claims/`` and linked), and the figures the experiments declare for the
claim (``CLAIM_FIGURES`` of their figures module: claim id -> ``(figure name pattern, caption)``), each
with a caption that says what to see; then the claims not tested; a glossary; the reproducibility
statement (what repeats bit for bit on one machine and on any CPU, the spread measured under another CPU's
kernels and the verdicts it changes, :mod:`benchmarks.framework.reproducibility`; compute per profile, the
commit of every experiment's records and whether they are one standardized result); the provenance of the
report itself.

Claim ids are stable: every paper claim and expected finding is declared, with its id, by the experiments
that test it (their manifests' ``CLAIMS``, gathered by :func:`benchmarks.framework.registry.catalogue`), so a
profile that does not test a claim still lists it, under the same id; the report knows no claim by name.
Claims with the same key from several experiments form one section with a part per experiment; the
section verdict is :func:`benchmarks.framework.compare.combined_verdict` of the parts when they tested the
same method under the same rule (else each part's verdict, named).

This module renders the claims and assembles the report; the pieces it builds on live beside it and are
re-exported here, the surface callers import: :mod:`benchmarks.framework.report_sections` (what each
experiment contributed, the sections), :mod:`benchmarks.framework.claim_tables` (a claim's headline numbers
and condensed table) and :mod:`benchmarks.framework.report_runs` (violations, reproducibility, experiments,
provenance).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.framework import registry, reproducibility
from benchmarks.framework.catalogue import Catalogue, id_order
from benchmarks.framework.claim_tables import (DROPPED, INTERVALS, MAX_COLUMNS, MDE_COLUMNS, N_COLUMNS, Headline,
                                               condense, full_table_name, headline, interval_text, pivot_family,
                                               strata)
from benchmarks.framework.claims import Claim
from benchmarks.framework.compare import RULE_TEXT, combined_verdict
from benchmarks.framework.report_runs import (render_experiments, render_provenance, render_reproducibility,
                                              render_violations, spreads_of, standardized)
from benchmarks.framework.report_sections import ExperimentResult, Section, build_sections, by_id, expected_finding
from benchmarks.framework.store import atomic_write_text
from benchmarks.framework.tables import to_markdown, write_table

PAPER = ('C. Linse, E. Barth and T. Martinetz, "Leaky ReLUs That Differ in Forward and Backward Pass '
         'Facilitate Activation Maximization in Deep Neural Networks", IJCNN 2024, '
         "doi:10.1109/IJCNN60899.2024.10650881, arXiv:2410.16958")

__all__ = ["DROPPED", "GLOSSARY", "INTERVALS", "MAX_COLUMNS", "MAX_ROWS", "MDE_COLUMNS", "N_COLUMNS", "PAPER",
           "ExperimentResult", "Headline", "Section", "build_sections", "by_id", "combined_table", "combined_verdict",
           "condense", "expected_finding", "full_table_name", "full_tables", "headline", "interval_text",
           "pivot_family", "render_claim", "render_experiments", "render_figures", "render_glossary",
           "render_headline", "render_not_tested", "render_part", "render_provenance", "render_report",
           "render_reproducibility", "render_violations", "rule_sentence", "spreads_of", "standardized", "strata",
           "table_links", "write_report"]

MAX_ROWS = 12
"""The most rows a claim section's condensed table shows (the full table is linked)."""

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("unit", "what replicates independently: {units}. Starts of one unit are summarized first (mean or best of "
             "starts); n counts units."),
    ("unit labels", "`logit=3`: output 3 of the network; `5=7`: channel 7 of layer 5 (the module named `5` in "
                    "`named_modules()`), its spatial maximum."),
    ("attained fraction", "a unit's score normalized to its reference: `(F - F_0) / (reference - F_0)` with "
                          "`F_0` the start value; the reference is the certified optimum or bound, else the "
                          "best value any method found on the unit. 1 = the optimum reached."),
    ("effect", "the claim's statistic: the mean over units of the paired difference (method minus reference) of "
               "the attained fraction{effects}. The headline shows the median test of a claim and its 95% "
               "interval (bootstrap over units)."),
    ("mde", "minimum detectable effect: the smallest difference the test detects with 80% power after Holm, "
            "in the effect's units (from the detectable d_z, the mean paired difference over its standard "
            "deviation); a detection whose mde exceeds the relevance threshold is flagged unpowered (*)."),
    ("outcome", "per test: higher / lower (Holm p < 0.05 and the interval excludes 0 and leaves the "
                "equivalence margin), equivalent (interval inside the margin), else inconclusive."),
    ("verdict", "supported, contradicted, mixed, inconclusive or not tested, by the claim's rule: `majority`, "
                "supported when higher in more than half of its tests and lower in none; `some`, higher in at "
                "least one and lower in none (the full text is under each claim)."),
    ("stuck", "a unit where the plain gradient is exactly zero at every start, decided before any method ran."),
    ("role", "which runs a record belongs to: `tuning` (step-size grid on tuning units), `evaluation` (each "
             "method at its tuned lr on disjoint units), `fixed` (one untuned lr), `baseline`, `sweep`."),
    ("methods", "`proxy-s`: ProxyGrad, forward pass unchanged, backward pass of a Leaky ReLU of negative slope "
                "s; optimizers `ascent` (x += lr * grad), `normalized` (the step over the gradient's norm), `adam`."),
)
"""Terms a reader meets in the report, each in one line; ``{units}`` and ``{effects}`` are filled from the
experiments' declarations (:func:`render_glossary`)."""



def _esc(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _tested_parts(group: list[Section]) -> list[tuple[Section, str, Claim]]:
    return [(s, name, c) for s in group for name, c in s.parts]


def render_headline(groups: list[tuple[str, list[Section]]],
                    unstable: dict[tuple[str, str, str], str] | None = None) -> list[str]:
    """The headline table: one row per claim id, experiment and method tested (one row for a claim that
    nothing tested); a verdict that changes under a perturbation (``unstable``: (experiment, claim id, method)
    -> what it becomes, :func:`benchmarks.framework.reproducibility.unstable`) is marked unstable."""
    unstable = unstable or {}
    lines = ["## Headline", "",
             "| id | claim | experiment | method | n units | effect [95% CI] | mde | verdict |",
             "|:---|:---|:---|:---|:---|:---|---:|:---|"]
    for cid, group in groups:
        rows = [(s, name, c) for s, name, c in _tested_parts(group) if c.verdict != "not tested"]
        if not rows:
            lines.append(f"| {cid} | {_esc(group[0].title)} | | | | | | not tested |")
            continue
        for s, name, c in rows:
            h = headline(c)
            lines.append(f"| {cid} | {_esc(s.title)} | {name} | {_esc(c.method) or 'n/a'} | {h.n} | "
                         f"{_esc(h.effect)} | {h.mde} | **{c.verdict}**{_unstable_note(unstable, name, cid, c)} |")
    return lines + ["", "Effect: the claim's statistic (see the glossary), the median of its tests where it has "
                    "several, with that test's 95% interval. In the claims' tables each cell is `difference [95% CI] "
                    "outcome`; `*` marks a test whose mde exceeds the relevance threshold (unpowered).", ""]


def _unstable_note(unstable: dict[tuple[str, str, str], str], name: str, cid: str, c: Claim) -> str:
    what = unstable.get((name, cid, c.method))
    return "" if what is None else f" (unstable: {_esc(what)} under another CPU's kernels; not a finding)"


def rule_sentence(claim: Claim) -> str:
    """The decision rule of a claim in one sentence."""
    if claim.rule in RULE_TEXT:
        return f"Rule `{claim.rule}` over the tests: {RULE_TEXT[claim.rule]}."
    for sentence in re.split(r"(?<=\.)\s+", claim.rationale):
        if "supported when" in sentence:
            return sentence
    return claim.rationale.split(". ")[0].rstrip(".") + "." if claim.rationale else "No rule stated."


def render_figures(cid: str, results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """The figures the experiments declare for claim ``cid``, each an image with its caption below."""
    lines: list[str] = []
    k = 0
    for r in results:
        for fid, caption, path in r.claim_figures:
            if fid != cid:
                continue
            k += 1
            rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
            lines += [f"![{cid} figure {k}: {path.stem}]({rel.as_posix()})<br>"
                      f"*Figure {cid}.{k} ({r.name}, `{path.stem}`).* {caption}", ""]
    return lines


def combined_table(claims: Sequence[Claim]) -> pd.DataFrame | None:
    """One table for the tested claims of one experiment in one section: their family tables stacked
    (one Holm family, a method column tells them apart), else the first claim's table."""
    tables = [c.table for c in claims if c.table is not None and not c.table.empty]
    if not tables:
        return None
    if len(tables) > 1 and all("method" in t.columns and "outcome" in t.columns for t in tables):
        return pd.concat(tables, ignore_index=True)
    return tables[0]


def render_part(cid: str, name: str, claims: Sequence[Claim], links: dict[tuple[str, str, str], str],
                statement: str, unstable: dict[tuple[str, str, str], str] | None = None) -> list[str]:
    """Lines of one experiment's tested claims in a section: the verdict of each method tested (marked when
    unstable, see :func:`render_headline`), what was tested, the decision rule in one sentence, the protocol
    (folded), one condensed table, and links to the full tables."""
    first = claims[0]
    verdicts = "; ".join(f"{c.method + ' ' if c.method else ''}**{c.verdict}**"
                         f"{_unstable_note(unstable or {}, name, cid, c)}" for c in claims)
    full = [links[k] for c in claims if (k := (cid, name, c.method)) in links]
    linked = ", ".join(f"[{Path(x).name}]({x})" for x in full)
    as_tested = f" As tested: {first.statement}" if first.statement != statement else ""
    lines = [f"**{name}**: {verdicts}.{as_tested} Decision: {rule_sentence(first)}"
             + (f" Full table{'s' if len(full) > 1 else ''}: {linked}." if linked else "")]
    why = list(dict.fromkeys([*(f"Measured: {_esc(c.effect)}" for c in claims if c.effect),
                              *(_esc(c.rationale) for c in claims if c.rationale)]))
    if why:
        lines.append("<details><summary>Every test in words, and how it was tested (protocol, lrs, budget, "
                     "power)</summary>" + " <br> ".join(why) + "</details>")
    table = combined_table(claims)
    if table is not None:
        small = condense(table)
        lines += ["", to_markdown(small.head(MAX_ROWS), digits=3).rstrip("\n")]
        if len(small) > MAX_ROWS:
            lines.append(f"(first {MAX_ROWS} of {len(small)} rows)")
    return lines + [""]


def render_claim(cid: str, group: list[Section], results: Sequence[ExperimentResult], root: Path | None,
                 links: dict[tuple[str, str, str], str]) -> list[str]:
    """One section per claim id: the claim, its verdict, each experiment's tested claims, the figures."""
    title = group[0].title.split(" (")[0] if len(group) > 1 else group[0].title
    verdicts = "; ".join(f"{s.title}: {s.verdict}" for s in group) if len(group) > 1 else group[0].verdict
    lines = [f"### {cid}: {title}", f"**Claim.** {group[0].statement} **Verdict: {verdicts}.**", ""]
    flips = reproducibility.unstable(spreads_of(results))
    parts: dict[str, list[Claim]] = {}
    for s in group:
        for name, claim in s.parts:
            parts.setdefault(name, []).append(claim)
    for name, claims in parts.items():
        tested = [c for c in claims if c.verdict != "not tested"]
        if tested:
            lines += render_part(cid, name, tested, links, group[0].statement, flips)
        else:
            lines += [f"*{name}: not tested ({_esc(claims[0].rationale)}).*", ""]
    return lines + render_figures(cid, results, root)


def render_not_tested(groups: list[tuple[str, list[Section]]]) -> list[str]:
    """One line per claim that nothing tested, with the reasons."""
    lines = []
    for cid, group in groups:
        if any(s.tested for s in group):
            continue
        why = "; ".join(dict.fromkeys(_esc(c.rationale) for s in group for _, c in s.parts))
        lines.append(f"- **{cid}** {group[0].title}: {why}")
    return ["## Not tested in this profile", "", *lines, ""] if lines else []


def render_glossary(catalogue: Catalogue) -> list[str]:
    """The glossary: one line per term, the units of replication and the claims' effects from ``catalogue``."""
    fill = {"units": ", ".join(catalogue.units), "effects": catalogue.effects()}
    return ["## Glossary", "", *[f"- **{term}**: {text.format(**fill)}" for term, text in GLOSSARY], ""]


def full_tables(results: Sequence[ExperimentResult]) -> dict[str, pd.DataFrame]:
    """Every tested claim part's full table, by the file stem it is written under in ``claims/``."""
    out = {}
    for r in results:
        for c in r.claims:
            if c.verdict != "not tested" and c.table is not None and not c.table.empty:
                out[full_table_name(c.id or c.key, r.name, c.method)] = c.table
    return out


def table_links(results: Sequence[ExperimentResult]) -> dict[tuple[str, str, str], str]:
    """``(claim id, experiment, method) -> claims/<stem>.md`` for every full table of :func:`full_tables`."""
    return {(c.id or c.key, r.name, c.method): f"claims/{full_table_name(c.id or c.key, r.name, c.method)}.md"
            for r in results for c in r.claims
            if c.verdict != "not tested" and c.table is not None and not c.table.empty}


def render_report(results: Sequence[ExperimentResult], provenance: dict[str, Any], root: Path | None = None,
                  catalogue: Catalogue | None = None) -> str:
    """The whole ``REPORT.md`` text (links relative to ``root``, the reproduction's output directory), with the
    claims the experiments declare (``catalogue``, default: the registered experiments')."""
    catalogue = catalogue or registry.catalogue()
    groups = by_id(build_sections(results, catalogue))
    links = table_links(results)
    tested = [(cid, g) for cid, g in groups if any(s.tested for s in g)]
    version = provenance.get("suite_version", "unknown")
    lines = [f"# proxygrad-bench {version}: reproduction report (profile `{provenance.get('profile', '?')}`)", "",
             f"Claims of {PAPER}, tested claim by claim (C = the paper's claims, B = findings beyond it; ids are "
             "stable across profiles and releases). Every number below is computed from the records by the "
             f"suite's code. {standardized(results, version)[1]}", ""]
    lines += render_violations(results)
    lines += render_headline(groups, reproducibility.unstable(spreads_of(results)))
    for heading, paper in (("## Claims of the paper", True), ("## Beyond the paper", False)):
        part = [(cid, g) for cid, g in tested if (id_order(cid)[0] == 0) == paper]
        if part:
            lines += [heading, ""]
        for cid, group in part:
            lines += render_claim(cid, group, results, root, links)
    lines += render_not_tested(groups)
    lines += render_glossary(catalogue)
    lines += render_reproducibility(results, provenance)
    lines += render_experiments(results, root)
    lines += render_provenance(provenance)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(out: Path, results: Sequence[ExperimentResult], provenance: dict[str, Any]) -> Path:
    """Write every claim part's full table to ``out/claims/`` and ``out/REPORT.md``; returns the report's path."""
    out = Path(out)
    for stem, table in full_tables(results).items():
        write_table(table, out / "claims", stem)
    path = out / "REPORT.md"
    atomic_write_text(path, render_report(results, provenance, out))
    return path
