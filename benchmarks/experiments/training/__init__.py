"""Experiment ``training``: CNNs trained with ProxyGrad and peer rules against ReLU.

This module is the experiment's manifest (:mod:`benchmarks.framework.catalogue`): the claims it sets out to
test and its unit of replication in words; it gives out no public instances.
The protocol lives in :mod:`.experiment`; tables and claims in :mod:`.analysis`; figures in :mod:`.figures`.
"""
from __future__ import annotations

from benchmarks.domain.claims import PROXYGRAD_TRAINING
from benchmarks.framework.claims import ClaimDeclaration

UNIT = "a training seed"
"""The unit of replication, in words (the report's glossary)."""

CLAIMS: tuple[ClaimDeclaration, ...] = (
    PROXYGRAD_TRAINING,
    ClaimDeclaration("beyond:training-matched-lr", "B9", expected=False),
)
"""The claims and findings training sets out to test (the paper's from :mod:`benchmarks.domain.claims`); B9,
every variant at one matched step size, only in profiles that set ``matched_lr``."""
