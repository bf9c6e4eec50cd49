"""Ideal-formulation cuts for rectifier units (Anderson, Huchette, Ma, Tjandraatmadja, Vielma 2020,
"Strong mixed-integer programming formulations for trained neural networks", Math. Prog. 183).

One unstable unit: inputs x_i in [L_i, U_i] (the bounds of the previous layer's variables, or the
box), pre-activation p = w . x + b, output y = act(p) = max(p, s p) with 0 <= s < 1, binary d
(d = 1: p >= 0 and y = p; d = 0: p <= 0 and y = s p). Write L~_i = L_i, U~_i = U_i where w_i >= 0
and L~_i = U_i, U~_i = L_i where w_i < 0, so that w_i L~_i <= w_i x_i <= w_i U~_i on the box.

ReLU (s = 0). For every subset I of the inputs,

    y <= sum_{i in I} w_i (x_i - L~_i (1 - d)) + (b + sum_{i not in I} w_i U~_i) d.        (*)

Valid: at d = 1 the right side is b + sum_I w_i x_i + sum_{not I} w_i U~_i >= w . x + b = y; at
d = 0 it is sum_I w_i (x_i - L~_i) >= 0 = y. Anderson et al. prove that these inequalities with
y >= p, y >= 0, 0 <= d <= 1 describe the convex hull of {(x, y, d): x in box, d in {0, 1}, y =
relu(p), p >= 0 iff d = 1}; I = {} and I = all are the big-M rows with interval bounds.

LeakyReLU (0 < s < 1). act(p) = s p + (1 - s) relu(p), an affine, in y invertible, image of the
ReLU graph: (x, r, d) -> (x, s p + (1 - s) r, d) maps the ReLU set onto the LeakyReLU set and
convex hulls onto convex hulls, so (*) for r = (y - s p) / (1 - s) is valid (and ideal) for it:

    y - s (w . x + b) <= (1 - s) [ sum_{i in I} w_i (x_i - L~_i (1 - d))
                                   + (b + sum_{i not in I} w_i U~_i) d ].

As a row:  y - sum_{i in I} w_i x_i - s sum_{i not in I} w_i x_i - (1 - s) K_I d <= s b - (1 - s)
sum_{i in I} w_i L~_i,  with K_I = b + sum_{i in I} w_i L~_i + sum_{i not in I} w_i U~_i.

Separation at a point (x*, y*, d*) of the LP relaxation is linear in the fan-in: the right side of
(*) is a sum of one term per input, w_i (x*_i - L~_i (1 - d*)) if i is in I, w_i U~_i d* if not, so
the subset taking the smaller term for every i minimises it; the cut is added when y* exceeds its
(1 - s)-scaled minimum by more than a tolerance. Every cut also gets a slack of 1e-9 (1 + sum of
|terms|) on its right side against rounding in its coefficients, so it never cuts off a point of
the exact formulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: relative violation a cut must exceed to be added
VIOLATION_TOL = 1e-6
#: relative slack on the right side of every cut (rounding of its float64 coefficients)
CUT_SLACK = 1e-9


@dataclass(frozen=True)
class UnitRows:
    """An unstable unit as the formulation holds it: input variable indices `inputs`, their
    weights `w` and bounds [lo, hi], bias `b`, slope `s`, output variable `y`, binary `d`."""

    inputs: np.ndarray
    w: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    b: float
    s: float
    y: int
    d: int

    @property
    def l_tilde(self) -> np.ndarray:
        return np.where(self.w >= 0.0, self.lo, self.hi)

    @property
    def u_tilde(self) -> np.ndarray:
        return np.where(self.w >= 0.0, self.hi, self.lo)


def most_violated(unit: UnitRows, point: np.ndarray, tol: float = VIOLATION_TOL
                  ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, float]] | None:
    """(the subset I as a bool mask, the cut row (indices, values, right side)) of the inequality
    (*) most violated at `point` (all variables of the formulation), or None when none is
    violated by more than tol (1 + |y*|)."""
    x, y, d = point[unit.inputs], float(point[unit.y]), float(np.clip(point[unit.d], 0.0, 1.0))
    lt, ut = unit.l_tilde, unit.u_tilde
    in_term = unit.w * (x - lt * (1.0 - d))
    out_term = unit.w * ut * d
    mask = in_term < out_term
    rhs_at = (1.0 - unit.s) * (float(np.where(mask, in_term, out_term).sum()) + unit.b * d)
    if y - unit.s * (float(unit.w @ x) + unit.b) - rhs_at <= tol * (1.0 + abs(y)):
        return None
    return mask, cut_row(unit, mask)


def cut_row(unit: UnitRows, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The inequality (*) of subset `mask` as (variable indices, coefficients, right side) of
    sum coef_k v_k <= rhs, right side relaxed by CUT_SLACK (see the module docstring)."""
    w, s = unit.w, unit.s
    lt, ut = unit.l_tilde, unit.u_tilde
    k = unit.b + float(np.where(mask, w * lt, w * ut).sum())
    coef_x = -np.where(mask, w, s * w)
    rhs = s * unit.b - (1.0 - s) * float((w * lt)[mask].sum())
    scale = 1.0 + abs(unit.b) + float(np.abs(w) @ (np.abs(unit.lo) + np.abs(unit.hi)))
    idx = np.concatenate([unit.inputs, [unit.y, unit.d]])
    val = np.concatenate([coef_x, [1.0, -(1.0 - s) * k]])
    return idx, val, rhs + CUT_SLACK * scale


def separate(units: list[UnitRows], point: np.ndarray, seen: set[tuple[int, bytes]]
             ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The most violated cut of every unit at `point` whose subset is not in `seen` (the
    (binary index, packed subset) of the cuts added so far, updated here)."""
    rows = []
    for unit in units:
        got = most_violated(unit, point)
        if got is None:
            continue
        key = (unit.d, np.packbits(got[0]).tobytes())
        if key in seen:
            continue
        seen.add(key)
        rows.append(got[1])
    return rows
