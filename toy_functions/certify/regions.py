"""Activation regions: on the set where every unit keeps a fixed side, the network is affine.

For a pattern a (a_j = 1: z_j >= 0, a_j = 0: z_j <= 0) let D_l = diag(a_j + s_l (1 - a_j)). Then
z_1 = W_0 x + b_0 and z_{l+1} = W_l D_l z_l + b_l are affine in x, the region is the polyhedron
{x in box : z_j(x) >= 0 for a_j = 1, z_j(x) <= 0 for a_j = 0}, and the maximum of f over it is one
LP. The maximum over all regions is the global maximum (brute force for tiny nets); the LP of the
region of a given point is a local polish that never decreases f.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linprog

from .network import PiecewiseLinearNet


def pattern_of(net: PiecewiseLinearNet, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The activation pattern (z >= 0 per hidden unit, one bool array per layer) at point x [n_in]."""
    pats = []
    y = x
    for w, b, s in zip(net.weights[:-1], net.biases[:-1], net.slopes):
        z = w @ y + b
        pats.append(z >= 0.0)
        y = np.where(z >= 0.0, z, s * z)
    return tuple(pats)


def region_lp(net: PiecewiseLinearNet, pattern: tuple[np.ndarray, ...], lo: float, hi: float
              ) -> tuple[float, np.ndarray] | None:
    """(max of f over the region of `pattern` within [lo, hi]^n, a maximiser), or None if empty."""
    n_in = net.weights[0].shape[1]
    m, c = np.eye(n_in), np.zeros(n_in)  # y = m x + c
    a_rows, b_rows = [], []
    for w, b, s, act in zip(net.weights[:-1], net.biases[:-1], net.slopes, pattern):
        zm, zc = w @ m, w @ c + b
        sign = np.where(act, -1.0, 1.0)  # active: -z <= 0, inactive: z <= 0
        a_rows.append(sign[:, None] * zm)
        b_rows.append(-sign * zc)
        d = np.where(act, 1.0, s)
        m, c = d[:, None] * zm, d * zc
    fm = net.weights[-1] @ m
    fc = float((net.weights[-1] @ c + net.biases[-1])[0])
    res = linprog(-fm[0], A_ub=np.vstack(a_rows) if a_rows else None,
                  b_ub=np.concatenate(b_rows) if b_rows else None,
                  bounds=[(lo, hi)] * n_in, method="highs")
    if res.status != 0:
        return None
    return -res.fun + fc, np.clip(res.x, lo, hi)


def brute_force_maximum(net: PiecewiseLinearNet, lo: float, hi: float) -> tuple[float, np.ndarray]:
    """max of f over the box by one LP per non-empty activation region (tiny nets only).

    Regions are enumerated depth first, unit by unit; a partial pattern whose polyhedron is empty
    (one feasibility LP) is not extended, so only non-empty regions reach the final LP.
    """
    sizes = net.widths
    if sum(sizes) > 24:
        raise ValueError(f"brute force over {sum(sizes)} units is too big (at most 24)")
    n_in = net.weights[0].shape[1]
    best: list[tuple[float, np.ndarray]] = []

    def feasible(a_rows: list[np.ndarray], b_rows: list[float]) -> bool:
        res = linprog(np.zeros(n_in), A_ub=np.array(a_rows), b_ub=np.array(b_rows),
                      bounds=[(lo, hi)] * n_in, method="highs")
        return res.status == 0

    def visit(layer: int, done: list[np.ndarray], current: list[bool], m: np.ndarray,
              c: np.ndarray, a_rows: list[np.ndarray], b_rows: list[float]) -> None:
        if layer == len(sizes):
            got = region_lp(net, tuple(done), lo, hi)
            if got is not None and (not best or got[0] > best[0][0]):
                best[:] = [got]
            return
        w, b = net.weights[layer], net.biases[layer]
        j = len(current)
        zm, zc = w[j] @ m, float(w[j] @ c + b[j])
        for active in (False, True):
            sign = -1.0 if active else 1.0  # active: -z <= 0, inactive: z <= 0
            rows, rhs = a_rows + [sign * zm], b_rows + [-sign * zc]
            if not feasible(rows, rhs):
                continue
            pattern = current + [active]
            if len(pattern) < sizes[layer]:
                visit(layer, done, pattern, m, c, rows, rhs)
            else:
                act = np.array(pattern)
                d = np.where(act, 1.0, net.slopes[layer])
                zm_all, zc_all = w @ m, w @ c + b
                visit(layer + 1, done + [act], [], d[:, None] * zm_all, d * zc_all, rows, rhs)

    visit(0, [], [], np.eye(n_in), np.zeros(n_in), [], [])
    return best[0]


def ascent_incumbent(net: PiecewiseLinearNet, lo: float, hi: float, *, n_starts: int = 256,
                     steps: int = 100, n_polish: int = 4, seed: int = 0,
                     deadline: float | None = None) -> tuple[float, np.ndarray]:
    """A good (not proven) maximiser: multi-start projected sign-gradient ascent, then the LP of the
    activation region (`region_lp`) at the best few distinct end points.

    Deterministic (fixed seed) unless `deadline` (time.perf_counter()) cuts the ascent or the
    polishing short. Returns (f(x), x) with f evaluated by `net.forward`; used as the MILP's
    starting cutoff, so its quality affects speed, never correctness.
    """
    n_in = net.weights[0].shape[1]
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=(n_starts, n_in))
    x[0] = (lo + hi) / 2.0
    c = net.weights[-1][0]
    for t in range(steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        masks = []
        y = x
        for w, b, s in zip(net.weights[:-1], net.biases[:-1], net.slopes):
            z = y @ w.T + b
            m = np.where(z >= 0.0, 1.0, s)
            masks.append(m)
            y = z * m
        g = np.broadcast_to(c, y.shape)
        for w, m in zip(reversed(net.weights[:-1]), reversed(masks)):
            g = (g * m) @ w
        x = np.clip(x + 0.05 * (hi - lo) * (1.0 - t / steps) * np.sign(g), lo, hi)
    values = net.forward(x)
    best_v, best_x = float(values.max()), x[int(np.argmax(values))].copy()
    seen: set[bytes] = set()
    for i in np.argsort(-values, kind="stable"):
        if deadline is not None and time.perf_counter() > deadline:
            break
        pattern = pattern_of(net, x[i])
        k = b"".join(np.packbits(p).tobytes() for p in pattern)
        if k in seen:
            continue
        seen.add(k)
        got = region_lp(net, pattern, lo, hi)
        if got is not None:
            v = float(net.forward(got[1][None])[0])
            if v > best_v:
                best_v, best_x = v, got[1]
        if len(seen) >= n_polish:
            break
    return best_v, best_x
