"""``REPORT.md``: the paper's claims and the findings beyond it, one section each, from the experiments' claims.

Every number in the report comes from the records: each experiment's ``claims(records)`` makes the
effects, verdicts and tables, and this module only orders and renders them (tables via
:func:`benchmarks.framework.tables.to_markdown`).  An experiment that did not run, or whose claims could not be
made, is reported as "not tested" with the reason.

Section order: the three paper claims of :data:`PAPER_CLAIMS`, then every ``beyond:*`` finding in the
order the experiments produced them, then the expected findings of :data:`BEYOND_EXPECTED` that no
experiment produced (as "not tested"), then any other key.  A produced key matches an expected finding
``e`` when it is ``e`` or ``e-<variant>`` (e.g. ``beyond:network-0.5`` is a variant of
``beyond:network``).  Claims with the same key from several
experiments form one section with a part per experiment; the section verdict is
:func:`combined_verdict` of the parts when they tested the same method under the same rule (else each
part's verdict, named).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.framework.claims import VERDICTS, Claim
from benchmarks.framework.store import atomic_write_text
from benchmarks.framework.tables import to_markdown

PAPER = ('C. Linse, E. Barth and T. Martinetz, "Leaky ReLUs That Differ in Forward and Backward Pass '
         'Facilitate Activation Maximization in Deep Neural Networks", IJCNN 2024, '
         "doi:10.1109/IJCNN60899.2024.10650881, arXiv:2410.16958")

PAPER_CLAIMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "am-fails": ("AM fails on simple ReLU and Leaky ReLU functions",
                 "Activation maximization (AM) fails to find the maxima of simple functions built from ReLUs "
                 "or Leaky ReLUs.", ("toy-am", "cnn-am")),
    "slope-raises-maxima": ("A large backward slope raises the maxima AM finds",
                            "Leaky ReLUs with a large negative slope in the backward pass only (ProxyGrad) "
                            "raise the maxima AM finds.", ("toy-am", "cnn-am")),
    "training": ("ProxyGrad-trained CNNs outperform conventional ones",
                 "CNNs trained with ProxyGrad outperform conventionally trained CNNs on some benchmarks.",
                 ("training",)),
}
"""Paper claim key -> (title, the claim in one sentence, the experiments that test it)."""

BEYOND_EXPECTED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "beyond:straight-through": ("Straight-through (backward slope 1)",
                                "Straight-through (a fully linear backward pass) compared with plain AM.",
                                ("toy-am",)),
    "beyond:peers": ("Peer backward rules",
                     "Peer backward rules (Lucid's redirected ReLU, SUGAR's B-SiLU and NeLU) compared with plain "
                     "AM, each rule its own verdict.", ("toy-am",)),
    "beyond:baselines": ("Gradient AM against gradient-free baselines",
                         "Gradient AM against random search and the linearized gradient's corner at equal forward "
                         "evaluations.", ("toy-am",)),
    "beyond:anneal": ("Annealed backward slope",
                         "Annealing the backward slope towards the forward slope during AM, compared with a "
                         "constant slope.", ("toy-am",)),
    "beyond:network": ("Network ablation",
                                "The proxy in both passes (a leaky network) compared with the backward-only "
                                "proxy.", ("toy-am",)),
    "beyond:certified-gaps-cnn": ("Certified gaps on trained CNNs",
                                  "AM's gap to the certified maximum of units of trained CNNs, plain and "
                                  "with the proxy.", ("cnn-am",)),
}
"""Findings beyond the paper that the suite sets out to test: key -> (title, topic, experiments)."""


FINDING_TITLES: dict[str, str] = {
    "beyond:switch": "Proxy first, then plain (switch)",
    "beyond:best-of": "Best of plain and ProxyGrad at equal budget (derived)",
}
"""Section titles of findings that an experiment may produce but no profile is expected to (no "not
tested" part is added for them)."""


@dataclass(frozen=True)
class ExperimentResult:
    """What one experiment contributed: its claims when it ran, else why it is not tested.

    status: ``"ran"``, ``"unavailable"`` (module, data or profile missing) or ``"failed"``.
    violations: lines naming the records above their certified bound (:mod:`benchmarks.framework.bounds`); an
    experiment with any is ``"failed"`` and the report opens with them.
    """

    name: str
    status: str
    reason: str = ""
    claims: tuple[Claim, ...] = ()
    artifacts: tuple[Path, ...] = field(default=(), compare=False)
    violations: tuple[str, ...] = ()
    records_commit: str = ""
    records_suite_version: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("ran", "unavailable", "failed"):
            raise ValueError(f"status must be 'ran', 'unavailable' or 'failed', got {self.status!r}")


@dataclass(frozen=True)
class Section:
    """One report section: key, title, the claim in one sentence, and its parts ``(experiment, claim)``."""

    key: str
    title: str
    statement: str
    parts: tuple[tuple[str, Claim], ...]

    @property
    def mergeable(self) -> bool:
        """True when one verdict may stand for every tested part: they tested the same method under the
        same named decision rule. Parts that differ in either, or are decided by rules of their own, are
        reported per experiment."""
        tested = [claim for _, claim in self.parts if claim.verdict != "not tested"]
        rules = {claim.rule for claim in tested}
        methods = {claim.method for claim in tested}
        return len(tested) <= 1 or (len(rules) == 1 and "" not in rules and len(methods) == 1)

    @property
    def id(self) -> str:
        """The claim id of the section (the first part's that has one)."""
        return next((claim.id for _, claim in self.parts if claim.id), "")

    @property
    def verdict(self) -> str:
        """The section's verdict: :func:`combined_verdict` of its parts when they are the same test
        (:attr:`mergeable`), else each experiment's verdict, named."""
        if self.mergeable:
            return combined_verdict([claim.verdict for _, claim in self.parts])
        return "per experiment: " + self.part_verdicts

    @property
    def part_verdicts(self) -> str:
        """``"<experiment>: <verdict>; ..."`` over the parts, in order."""
        return "; ".join(f"{name}: {c.verdict}" for name, c in self.parts)


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for several parts: "not tested" parts are left out; equal verdicts stay; different
    verdicts among the tested parts give "mixed"; nothing tested gives "not tested"."""
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {v!r}")
    tested = {v for v in verdicts if v != "not tested"}
    if not tested:
        return "not tested"
    return tested.pop() if len(tested) == 1 else "mixed"


def _not_tested(result: ExperimentResult | None, name: str) -> str:
    """Why experiment ``name`` contributed no claim to a section that expects one."""
    if result is None:
        return f"experiment {name!r} is not part of this reproduction"
    if result.status != "ran":
        return f"experiment {name!r} was not tested: {result.reason}"
    return f"experiment {name!r} ran but produced no claim with this key"


def expected_finding(key: str) -> tuple[str, str, str, tuple[str, ...]] | None:
    """``(expected key, title, statement, experiments)`` of the paper claim or expected finding that
    ``key`` is (or is a ``-<variant>`` of), else None.  A variant's title names the variant."""
    if key in PAPER_CLAIMS:
        return (key, *PAPER_CLAIMS[key])
    for base, (title, statement, testers) in BEYOND_EXPECTED.items():
        if key == base:
            return base, title, statement, testers
        if key.startswith(base + "-"):
            return base, f"{title} ({key[len(base) + 1:]})", statement, testers
    return None


def build_sections(results: Sequence[ExperimentResult]) -> list[Section]:
    """Group the experiments' claims by key into ordered sections (see the module docstring).

    A paper claim or expected finding gets a "not tested" part, with the reason, for every experiment
    that should test it but produced no claim with its key (or a variant of it).
    """
    by_name = {r.name: r for r in results}
    grouped: dict[str, list[tuple[str, Claim]]] = {}
    for r in results:
        for claim in r.claims:
            grouped.setdefault(claim.key, []).append((r.name, claim))
    covered = {e[0] for e in map(expected_finding, grouped) if e is not None}
    order = [*PAPER_CLAIMS, *(k for k in grouped if k.startswith("beyond:")),
             *(k for k in BEYOND_EXPECTED if k not in covered),
             *(k for k in grouped if k not in PAPER_CLAIMS and not k.startswith("beyond:"))]
    sections = []
    for key in order:
        parts = grouped.get(key, [])
        found = expected_finding(key)
        title, statement, testers = (FINDING_TITLES.get(key, key.removeprefix("beyond:").replace("-", " ")), "", ()) \
            if found is None else found[1:]
        if parts and key not in PAPER_CLAIMS:
            statement = parts[0][1].statement  # a finding is stated the way its experiment tested it
        have = {name for name, _ in parts}
        parts = parts + [(name, Claim(key, statement, name, "no measurement", "not tested",
                                      _not_tested(by_name.get(name), name)))
                         for name in testers if name not in have]
        sections.append(Section(key, title, statement, tuple(parts)))
    return sections


def render_part(claim: Claim, heading: str | None, statement: str = "") -> list[str]:
    """Markdown lines for one claim: experiment, its statement when it differs from the section's
    ``statement``, effect, verdict, decision rule and table."""
    lines = [heading, ""] if heading else []
    lines.append(f"- **Tested by:** {claim.experiment}")
    if claim.statement != statement:
        lines.append(f"- **As tested:** {claim.statement}")
    lines += [
        f"- **Measured effect:** {claim.effect}",
        f"- **Verdict:** {claim.verdict}",
    ]
    if claim.rationale:
        lines.append(f"- **Decision rule:** {claim.rationale}")
    if claim.table is not None and not claim.table.empty:
        lines += ["", to_markdown(claim.table).rstrip("\n")]
    return lines + [""]


def render_section(number: int, section: Section) -> list[str]:
    """Markdown lines for one section (a sub-heading per part when there are several)."""
    several = len(section.parts) > 1
    per_part = f" ({section.part_verdicts})" if several and section.mergeable else ""
    tag = f"{section.id}: " if section.id else ""
    lines = [f"### {number}. {tag}{section.title}", "", f"**Claim.** {section.statement}", "",
             f"**Verdict: {section.verdict}**{per_part}", ""]
    for name, claim in section.parts:
        lines += render_part(claim, f"#### Part {name}" if several else None, section.statement)
    return lines


def render_provenance(prov: dict[str, Any]) -> list[str]:
    """The provenance block: command, commit, machine, versions, date."""
    m = prov.get("machine", {})
    v = prov.get("versions", {})
    return [
        "## Provenance", "",
        (f"- **Command:** `{prov['make_command']}`, which runs `{prov.get('command', 'unknown')}`"
         if prov.get("make_command") else f"- **Command:** `{prov.get('command', 'unknown')}`"),
        f"- **Commit:** `{prov.get('git_commit', 'unknown')}`",
        f"- **Machine:** {m.get('hostname', '?')}, {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs",
        "- **Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- **Suite version:** {prov.get('suite_version', 'unknown')}",
        f"- **Profile:** {prov.get('profile', '?')}",
        f"- **Date (UTC):** {prov.get('date', 'unknown')}",
        "",
    ]


def standardized(results: Sequence[ExperimentResult]) -> tuple[bool, str]:
    """Whether the records that ran are standardized numbers: all from one commit of a clean tree and of one
    suite version; and the sentence that says so (or why not)."""
    ran = [r for r in results if r.status == "ran"]
    if not ran:
        return False, "No experiment ran."
    commits = {r.records_commit for r in ran}
    versions = {r.records_suite_version for r in ran}
    why = []
    if any(not c or c == "unknown" or c.endswith("+dirty") for c in commits):
        why.append("some records were made from a tree with uncommitted changes (or an unknown commit): "
                   + ", ".join(f"{r.name} `{r.records_commit or 'unknown'}`" for r in ran))
    elif len(commits) > 1:
        why.append("the records come from different commits: "
                   + ", ".join(f"{r.name} `{r.records_commit[:12]}`" for r in ran))
    if len(versions) > 1:
        why.append("the records come from different suite versions: "
                   + ", ".join(f"{r.name} {r.records_suite_version}" for r in ran))
    if why:
        return False, "**Not standardized:** " + "; ".join(why) + "."
    return True, (f"**Standardized:** every record comes from commit `{commits.pop()}` of a clean tree, suite "
                  f"version {versions.pop()}.")


def render_experiments(results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """A table of the experiments: status, the commit and suite version of its records, reason and links."""
    lines = ["## Experiments", "", standardized(results)[1], "",
             "| experiment | status | records from | details |", "|:---|:---|:---|:---|"]
    for r in results:
        detail = r.reason.replace("|", r"\|").replace("\n", " ")
        links = []
        for p in r.artifacts:
            rel = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
            links.append(f"[{p.name}]({rel.as_posix()})")
        if links:
            detail = (detail + "; " if detail else "") + " ".join(links)
        origin = f"`{r.records_commit[:12]}`{' (dirty)' if r.records_commit.endswith('+dirty') else ''}, suite " \
                 f"{r.records_suite_version}" if r.records_commit else ""
        lines.append(f"| {r.name} | {'ran' if r.status == 'ran' else 'not tested (' + r.status + ')'} | {origin} | "
                     f"{detail} |")
    return lines + [""]


def render_figures(results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """The figures of every experiment embedded as Markdown images (PNG artifacts, relative to ``root``),
    so the report reads on its own; nothing when no experiment wrote a figure."""
    lines: list[str] = []
    for r in results:
        pngs = [p for p in r.artifacts if p.suffix == ".png"]
        if not pngs:
            continue
        lines += [f"### Figures of {r.name}", ""]
        for p in pngs:
            rel = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
            lines += [f"![{r.name}: {p.stem.replace('_', ' ')}]({rel.as_posix()})", ""]
    return ["## Figures", "", *lines] if lines else []


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


def render_report(results: Sequence[ExperimentResult], provenance: dict[str, Any], root: Path | None = None) -> str:
    """The whole ``REPORT.md`` text (links relative to ``root``, the reproduction's output directory)."""
    sections = build_sections(results)
    paper = [s for s in sections if s.key in PAPER_CLAIMS]
    beyond = [s for s in sections if s.key not in PAPER_CLAIMS]
    lines = [f"# proxygrad-bench reproduction report (profile `{provenance.get('profile', '?')}`)", "",
             f"Claims of {PAPER}, tested claim by claim. Every number and table below is computed from "
             "the records of this run by the suite's code.", ""]
    lines += render_violations(results)
    lines += render_provenance(provenance)
    lines += ["## Summary", "", "| # | id | finding | verdict |", "|---:|:---|:---|:---|"]
    lines += [f"| {i} | {s.id} | {s.title} | {s.verdict}"
              f"{f' ({s.part_verdicts})' if s.mergeable and len(s.parts) > 1 and s.verdict == 'mixed' else ''} |"
              for i, s in enumerate(sections, 1)]
    lines += [""]
    lines += render_experiments(results, root)
    lines += render_figures(results, root)
    lines += ["## Claims of the paper", ""]
    for i, s in enumerate(paper, 1):
        lines += render_section(i, s)
    lines += ["## Beyond the paper", ""]
    for i, s in enumerate(beyond, len(paper) + 1):
        lines += render_section(i, s)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(out: Path, results: Sequence[ExperimentResult], provenance: dict[str, Any]) -> Path:
    """Write ``out/REPORT.md`` atomically; returns its path."""
    path = Path(out) / "REPORT.md"
    atomic_write_text(path, render_report(results, provenance, Path(out)))
    return path
