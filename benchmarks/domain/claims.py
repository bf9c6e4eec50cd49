"""The paper's claims, stated once: each experiment that tests one lists it among the claims of its
manifest (``CLAIMS``, :mod:`benchmarks.framework.catalogue`); the report shows each under its id in every
profile, tested or not."""
from __future__ import annotations

from benchmarks.framework.claims import ClaimDeclaration

AM_FAILS = ClaimDeclaration(
    "am-fails", "C1", "AM fails on simple ReLU and Leaky ReLU functions",
    "Activation maximization (AM) fails to find the maxima of simple functions built from ReLUs or Leaky ReLUs.",
    effect="the failure rate")
SLOPE_RAISES_MAXIMA = ClaimDeclaration(
    "slope-raises-maxima", "C2", "A large backward slope raises the maxima AM finds",
    "Leaky ReLUs with a large negative slope in the backward pass only (ProxyGrad) raise the maxima AM finds.")
PROXYGRAD_TRAINING = ClaimDeclaration(
    "training", "C3", "ProxyGrad-trained CNNs outperform conventional ones",
    "CNNs trained with ProxyGrad outperform conventionally trained CNNs on some benchmarks.",
    effect="the test-accuracy difference")

PAPER_CLAIMS: tuple[ClaimDeclaration, ...] = (AM_FAILS, SLOPE_RAISES_MAXIMA, PROXYGRAD_TRAINING)
"""The paper's claims, in its order."""
