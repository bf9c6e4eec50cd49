"""Pre-activation bounds for the certifier: interval arithmetic, tightened by LP.

Interval step: for z = W y + b with y in [l, u], centre m = (l + u) / 2 and radius r = (u - l) / 2
give z in [W m + b - |W| r, W m + b + |W| r] (exact for the first layer over a box).
Rectifier: act(z) = max(z, s z) is nondecreasing, so y in [act(l_z), act(u_z)].
LP step: max / min of z_j over the LP relaxation of the earlier layers (the big-M formulation with
its binaries relaxed to [0, 1]) is a valid and usually much tighter bound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def interval_affine(w: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of W y + b over the box lo <= y <= hi."""
    mid = (lo + hi) / 2.0
    rad = (hi - lo) / 2.0
    centre = w @ mid + b
    spread = np.abs(w) @ rad
    return centre - spread, centre + spread


def leaky_relu(z: np.ndarray, slope: float) -> np.ndarray:
    """act(z) = max(z, s z) elementwise (0 <= s < 1)."""
    return np.where(z >= 0.0, z, slope * z)


def check_box(bounds: Any) -> tuple[float, float]:
    """(lo, hi) as floats from a pair of finite numbers with lo < hi; else ValueError naming it."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lo, hi) of numbers, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    return lo, hi
