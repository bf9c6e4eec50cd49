"""The report's sections: what each experiment contributed, and its claims grouped by key and by claim id.

An :class:`ExperimentResult` is one experiment's contribution to a report (its claims when it ran, else why it
is not tested). :func:`build_sections` groups the claims of all results by key into :class:`Section` s, in the
order of the declared claims (:class:`benchmarks.framework.catalogue.Catalogue`), adding a "not tested" part
with the reason for every experiment that declares a claim but produced none; :func:`by_id` groups the
sections by claim id. A section's verdict is :func:`benchmarks.framework.compare.combined_verdict` of its
parts when they are the same test (:attr:`Section.mergeable`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.framework import registry
from benchmarks.framework.catalogue import BEYOND, Catalogue, id_order
from benchmarks.framework.claims import Claim
from benchmarks.framework.compare import combined_verdict


@dataclass(frozen=True)
class ExperimentResult:
    """What one experiment contributed: its claims when it ran, else why it is not tested.

    status: ``"ran"``, ``"unavailable"`` (module, data or profile missing) or ``"failed"``.
    violations: lines naming the records above their certified bound (:mod:`benchmarks.framework.bounds`); an
    experiment with any is ``"failed"`` and the report opens with them.
    claim_figures: ``(claim id, caption, PNG path)`` of the figures the experiment declares for its claims.
    run_info: ``meta.json`` facts about the run: ``started_utc``, ``finished_utc``, ``cpu_count``, ``device``,
    ``timing_columns`` (the record columns that measure time and so do not repeat).
    cross_machine: the experiment's ``CROSS_MACHINE`` sentence (what repeats bit for bit where, and what was
    measured on another machine); spreads: the spread summaries of perturbation runs of its config
    (:func:`benchmarks.framework.reproducibility.find_spreads`).
    """

    name: str
    status: str
    reason: str = ""
    claims: tuple[Claim, ...] = ()
    artifacts: tuple[Path, ...] = field(default=(), compare=False)
    violations: tuple[str, ...] = ()
    records_commit: str = ""
    records_suite_version: str = ""
    claim_figures: tuple[tuple[str, str, Path], ...] = field(default=(), compare=False)
    run_info: dict[str, Any] = field(default_factory=dict, compare=False)
    cross_machine: str = ""
    spreads: tuple[dict[str, Any], ...] = field(default=(), compare=False)

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
    expected_id: str = ""

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
        """The claim id of the section (the first part's that has one, else the expected id)."""
        return next((claim.id for _, claim in self.parts if claim.id), self.expected_id)

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

    @property
    def tested(self) -> bool:
        """True when some part was tested."""
        return any(c.verdict != "not tested" for _, c in self.parts)


def _not_tested(result: ExperimentResult | None, name: str) -> str:
    """Why experiment ``name`` contributed no claim to a section that expects one."""
    if result is None:
        return f"experiment {name!r} is not part of this reproduction"
    if result.status != "ran":
        return f"experiment {name!r} was not tested: {result.reason}"
    return f"experiment {name!r} ran but produced no claim with this key"


def expected_finding(key: str,
                     catalogue: Catalogue | None = None) -> tuple[str, str, str, str, tuple[str, ...]] | None:
    """``(expected key, id, title, statement, experiments)`` of the paper claim or expected finding that
    ``key`` is (or is a ``-<variant>`` of) in ``catalogue`` (default: the registered experiments'), else None.
    A variant's title names the variant."""
    return (catalogue or registry.catalogue()).expected(key)


def build_sections(results: Sequence[ExperimentResult], catalogue: Catalogue | None = None) -> list[Section]:
    """Group the experiments' claims by key into sections: the paper's claims in id order, then every
    finding beyond it in the order the experiments produced them, then the expected findings no experiment
    produced, then any other key. ``catalogue``: the declared claims (default: the registered experiments').

    A paper claim or expected finding gets a "not tested" part, with the reason, for every experiment
    that declares it but produced no claim with its key (or a variant of it).
    """
    catalogue = catalogue or registry.catalogue()
    paper = [d.key for d in catalogue.paper]
    by_name = {r.name: r for r in results}
    grouped: dict[str, list[tuple[str, Claim]]] = {}
    for r in results:
        for claim in r.claims:
            grouped.setdefault(claim.key, []).append((r.name, claim))
    covered = {e[0] for e in map(catalogue.expected, grouped) if e is not None}
    order = [*paper, *(k for k in grouped if k.startswith(BEYOND)),
             *(d.key for d in catalogue.beyond if d.key not in covered),
             *(k for k in grouped if k not in paper and not k.startswith(BEYOND))]
    sections = []
    for key in order:
        parts = grouped.get(key, [])
        found = catalogue.expected(key)
        cid, title, statement, testers = ("", catalogue.title(key), "", ()) if found is None else found[1:]
        if parts and key not in paper:
            statement = parts[0][1].statement  # a finding is stated the way its experiment tested it
        have = {name for name, _ in parts}
        parts = parts + [(name, Claim(key, statement, name, "no measurement", "not tested",
                                      _not_tested(by_name.get(name), name), id=cid))
                         for name in testers if name not in have]
        sections.append(Section(key, title, statement, tuple(parts), cid))
    return sections


def by_id(sections: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    """Sections grouped by claim id (variants of one finding, e.g. one per peer rule, share an id), in id
    order; sections without an id keep their own group, after the others."""
    groups: dict[str, list[Section]] = {}
    for s in sections:
        groups.setdefault(s.id or s.key, []).append(s)
    return sorted(groups.items(), key=lambda kv: id_order(kv[0]))
