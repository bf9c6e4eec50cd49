"""Experiment ``cnn-am``: AM on real CNNs, plain against proxy, paired unit by unit.

This module is the experiment's manifest (:mod:`benchmarks.framework.catalogue`): the claims it sets out to
test, its unit of replication in words, and its public instances (:mod:`.public`, imported when asked for).
The protocol lives in :mod:`.experiment`; tables and claims in :mod:`.analysis`; figures in :mod:`.figures`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.domain.claims import AM_FAILS, SLOPE_RAISES_MAXIMA
from benchmarks.framework.claims import ClaimDeclaration

if TYPE_CHECKING:
    from benchmarks.framework.instances import PublicAPI

UNIT = "a CNN unit (model, unit)"
"""The unit of replication, in words (the report's glossary)."""

CLAIMS: tuple[ClaimDeclaration, ...] = (
    AM_FAILS,
    SLOPE_RAISES_MAXIMA,
    ClaimDeclaration("beyond:certified-gaps-cnn", "B8", "Certified gaps on trained CNNs",
                     "AM's gap to the certified maximum of units of trained CNNs, plain and with the proxy."),
    ClaimDeclaration("beyond:proxygrad-in-recipes", "B10", "ProxyGrad inside the practitioners' recipes",
                     "ProxyGrad's backward (the declared slope) inside a practitioner's AM recipe (Lucent's, "
                     "horama's) raises the maxima the recipe finds."),
    ClaimDeclaration("beyond:recipes-vs-gradient-am", "B11", "The practitioners' recipes against plain gradient AM",
                     "A practitioner's AM recipe (Lucent's, horama's: parametrized, transformed AM), tuned like "
                     "every method, finds higher maxima of the original network than plain gradient AM."),
)
"""The claims and findings cnn-am sets out to test (the paper's from :mod:`benchmarks.domain.claims`)."""


def public_api() -> PublicAPI:
    """cnn-am's public instances and their scoring (:data:`.public.PUBLIC`)."""
    from benchmarks.experiments.cnn_am.public import PUBLIC

    return PUBLIC
