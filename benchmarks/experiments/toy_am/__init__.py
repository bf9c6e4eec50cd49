"""Experiment ``toy-am``: AM on toy ReLU functions with derived or certified optima.

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

UNIT = "a toy instance (family, dim, seed)"
"""The unit of replication, in words (the report's glossary)."""

CLAIMS: tuple[ClaimDeclaration, ...] = (
    AM_FAILS,
    SLOPE_RAISES_MAXIMA,
    ClaimDeclaration("beyond:straight-through", "B1", "Straight-through (backward slope 1)",
                     "Straight-through (a fully linear backward pass) compared with plain AM."),
    ClaimDeclaration("beyond:peers", "B2", "Peer backward rules",
                     "Peer backward rules (Lucid's redirected ReLU, SUGAR's B-SiLU and NeLU) compared with plain AM, "
                     "each rule its own verdict."),
    ClaimDeclaration("beyond:anneal", "B3", "Annealed backward slope",
                     "Annealing the backward slope towards the forward slope during AM, compared with plain AM."),
    ClaimDeclaration("beyond:switch", "B4", "Proxy first, then plain (switch)",
                     "ProxyGrad for the first quarter of the steps, then plain AM, compared with plain AM."),
    ClaimDeclaration("beyond:best-of", "B5", "Best of plain and ProxyGrad at equal budget (derived)",
                     "The better of plain AM and ProxyGrad at half the steps each, compared with plain AM."),
    ClaimDeclaration("beyond:network", "B6", "Network ablation",
                     "The proxy in both passes (a leaky network) compared with the backward-only proxy."),
    ClaimDeclaration("beyond:baselines", "B7", "Gradient AM against gradient-free baselines",
                     "Gradient AM against random search and the linearized gradient's corner at equal forward "
                     "evaluations."),
)
"""The claims and findings toy-am sets out to test (the paper's from :mod:`benchmarks.domain.claims`)."""


def public_api() -> PublicAPI:
    """toy-am's public instances and their scoring (:data:`.public.PUBLIC`)."""
    from benchmarks.experiments.toy_am.public import PUBLIC

    return PUBLIC
