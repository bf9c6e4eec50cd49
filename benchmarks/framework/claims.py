"""A claim of the paper (or a finding beyond it) as tested by one experiment.

Experiments build these from their records (``claims(records) -> list[Claim]``); the report renders
them.  Every number in a claim comes from the records by the experiment's own code, never typed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Verdict = Literal["reproduced", "partly reproduced", "not reproduced", "not tested"]
VERDICTS: tuple[str, ...] = ("reproduced", "partly reproduced", "not reproduced", "not tested")


@dataclass(frozen=True)
class Claim:
    """One report section.

    key: stable identifier, e.g. ``"am-fails"``, ``"slope-raises-maxima"``, ``"training"``,
        or ``"beyond:<name>"`` for findings that go beyond the paper.
    statement: the claim in one sentence.
    experiment: the experiment (and profile) that tests it.
    effect: the measured effect with its CI and p-value, in words and numbers made by code.
    verdict: one of ``VERDICTS``.
    rationale: how the verdict follows from the effect (the decision rule, stated).
    table: an optional supporting table built from the records.
    rule: the name of the decision rule of :mod:`benchmarks.framework.compare` that made the verdict ("" for a claim
        decided by a rule of its own, stated in ``rationale``).
    """

    key: str
    statement: str
    experiment: str
    effect: str
    verdict: Verdict
    rationale: str = ""
    table: pd.DataFrame | None = field(default=None, compare=False)
    rule: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
