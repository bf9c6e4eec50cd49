"""Claims as data: an experiment declares each claim it sets out to test before any record exists
(:class:`ClaimDeclaration`, in its manifest), each test of a claim (:class:`ClaimSpec`), and the framework turns
the spec and the records into a :class:`Claim` (:func:`benchmarks.framework.replication.evaluate`).

Every number in a claim comes from the records by the framework's code, never typed. One claim tests
one or more declared methods against one reference; each method gets its own verdict line (its own
:class:`Claim`), and all the claim's tests form one Holm family.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from benchmarks.framework.compare import MARGIN, RELEVANCE, RULE_TEXT

Verdict = Literal["supported", "contradicted", "mixed", "inconclusive", "not tested"]
#: The four verdicts of a decision rule, and the status of a claim that nothing tested.
VERDICTS: tuple[str, ...] = ("supported", "contradicted", "mixed", "inconclusive", "not tested")
#: How starts of one unit are summarized into the unit's value before any test (declared per claim).
SUMMARIES: tuple[str, ...] = ("mean", "max")


@dataclass(frozen=True)
class ClaimDeclaration:
    """A claim or finding an experiment sets out to test, stated before any record exists (the report lists
    it under its id in every profile, tested or not).

    key: the section key of the claims that test it (:class:`ClaimSpec`); a key ``"<key>-<variant>"`` that an
        experiment produces (one per peer rule, say) is a variant of it.
    id: its stable id (a letter and a number: ``C`` for the paper's claims, ``B`` for findings beyond it).
    title: the section title ("" for the key in words).
    statement: the claim in one sentence, as the paper or the suite states it.
    effect: what the claim's effect measures when it is not the mean paired difference of the attained
        fraction (the report's glossary names it), else "".
    expected: whether the experiment's profiles are expected to test it (the report then shows a "not
        tested" part, with the reason, for an experiment that did not); False for a finding that only some
        profiles make.
    """

    key: str
    id: str
    title: str = ""
    statement: str = ""
    effect: str = ""
    expected: bool = True

    def __post_init__(self) -> None:
        if not self.key or not self.id[:1].isalpha() or not self.id[1:].isdigit():
            raise ValueError(f"a claim declaration needs a key and an id of a letter and a number, got "
                             f"{self.key!r}, {self.id!r}")


@dataclass(frozen=True)
class ClaimSpec:
    """The declaration of one claim.

    id: stable identifier across reports (a letter and a number: C = the paper's claims, B = beyond it).
    key: section key (a paper claim's name, ``"beyond:<finding>"`` for a finding beyond it); claims of several
        experiments with
        the same key share a section, and are merged into one verdict only when they test the same method
        under the same rule.
    statement: the claim in one sentence.
    methods: the methods under test (record labels), each with its own verdict.
    reference: the method they are compared with.
    unit: the columns that identify a unit of replication (e.g. family, dim, seed).
    strata: the columns that split the claim into tests (e.g. family, optimizer); one test per stratum
        and method, over the units of that stratum.
    score: the normalized per-row score column (attained fraction of the unit's reference).
    summary: how the rows (starts) of one unit and method become the unit's value: ``"mean"`` or ``"max"``.
    rule: the decision rule (:data:`benchmarks.framework.compare.RULE_TEXT`).
    margin / relevance: equivalence margin and relevance threshold, in score units.
    test: ``"wilcoxon"`` or ``"t"``.
    """

    id: str
    key: str
    statement: str
    methods: tuple[str, ...]
    reference: str
    unit: tuple[str, ...]
    strata: tuple[str, ...]
    score: str
    summary: str = "mean"
    rule: str = "majority"
    margin: float = MARGIN
    relevance: float = RELEVANCE
    test: str = "wilcoxon"

    def __post_init__(self) -> None:
        if self.summary not in SUMMARIES:
            raise ValueError(f"summary must be one of {SUMMARIES}, got {self.summary!r}")
        if self.rule not in RULE_TEXT:
            raise ValueError(f"rule must be one of {sorted(RULE_TEXT)}, got {self.rule!r}")
        if self.reference in self.methods:
            raise ValueError(f"claim {self.id}: the reference {self.reference!r} is also a method under test")


@dataclass(frozen=True)
class Claim:
    """One verdict line of a report section.

    key: the section key (see :class:`ClaimSpec`); id: the claim's stable id.
    statement: the claim in one sentence.
    experiment: the experiment (and profile) that tests it.
    effect: the measured effect with its interval and p-value, in words and numbers made by code.
    verdict: one of ``VERDICTS``.
    rationale: how the verdict follows from the effect (the decision rule, n and power, stated).
    table: the claim's test rows for this method (its slice of the claim's Holm family).
    rule: the decision rule that made the verdict ("" for a claim decided by a rule of its own, stated in
        ``rationale``); method: the method under test ("" when the claim is not a comparison).
    """

    key: str
    statement: str
    experiment: str
    effect: str
    verdict: Verdict
    rationale: str = ""
    table: pd.DataFrame | None = field(default=None, compare=False)
    rule: str = ""
    id: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
