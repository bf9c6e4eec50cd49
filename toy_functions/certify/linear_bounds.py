"""Pre-activation bounds of one branch-and-bound node: interval arithmetic and CROWN back-substitution.

A node of `bab` is a sub-box of activation space given by bounds [l_k, u_k] on every hidden layer's
pre-activations z_k; a split of unit j of layer k is the bound l_kj = 0 (active: z >= 0) or
u_kj = 0 (inactive: z <= 0). Every bound below is valid for all x in [lo, hi]^n whose
pre-activations respect the bounds of the earlier layers, so it may be intersected with them.

Relaxation of y = act(z) = max(z, s z) on [l, u] (0 <= s < 1):
* l >= 0: y = z;   u <= 0: y = s z   (exact);
* l < 0 < u: a_lo z <= y <= a_up z + c_up with the chord a_up = (u - s l) / (u - l),
  c_up = -(1 - s) u l / (u - l), and a_lo = 1 if u >= -l else s (CROWN's adaptive lower line;
  any a_lo in [s, 1] is valid).

All functions take a batch of B nodes: bounds [B, n_k] per hidden layer.

CROWN (Zhang et al. 2018): an upper bound of a row lam . y_k is found by replacing each y_kj by its
upper line where lam_j >= 0 and its lower line where lam_j < 0, giving lam' . z_k + const, then
z_k = W y_{k-1} + b, and so on down to the input, where max over the box of g . x + const is
g . mid + |g| . rad. Lower bounds are minus the upper bounds of -lam. The intervals step is
`bounds.interval_affine`'s formula on the rectified bounds of the previous layer.
"""

from __future__ import annotations

import numpy as np

from .bounds import leaky_relu
from .network import PiecewiseLinearNet

Bounds = list[tuple[np.ndarray, np.ndarray]]


def relaxation(l: np.ndarray, u: np.ndarray, s: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a_lo, a_up, c_up) of the linear relaxation a_lo z <= y <= a_up z + c_up of act on [l, u]
    (lower line through 0, so no lower intercept); see the module docstring."""
    unstable = (l < 0.0) & (u > 0.0)
    width = np.where(unstable, u - l, 1.0)
    a_up = np.where(l >= 0.0, 1.0, np.where(u <= 0.0, s, (u - s * l) / width))
    c_up = np.where(unstable, -(1.0 - s) * u * l / width, 0.0)
    a_lo = np.where(l >= 0.0, 1.0, np.where(u <= 0.0, s, np.where(u >= -l, 1.0, s)))
    return a_lo, a_up, c_up


def crown_upper(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
                upper: list[np.ndarray], layer: int, lam: np.ndarray, const: np.ndarray
                ) -> np.ndarray:
    """Upper bounds [B, m] of the rows of lam . y_layer + const ([m, n], [m]; y_0 = x, y_k the
    output of hidden layer k, 1-based) over each of B nodes (lower[k], upper[k]: [B, n_k]), by
    back-substitution through the nodes' relaxations."""
    batch = lower[0].shape[0]
    lam = np.broadcast_to(lam, (batch, *lam.shape))
    const = np.broadcast_to(const, (batch, len(const))).copy()
    for k in range(layer - 1, -1, -1):  # hidden layer k + 1 (0-based k)
        a_lo, a_up, c_up = relaxation(lower[k], upper[k], net.slopes[k])
        pos = lam >= 0.0
        const += np.einsum("bmn,bn->bm", np.where(pos, lam, 0.0), c_up)
        lam = lam * np.where(pos, a_up[:, None, :], a_lo[:, None, :])
        const += lam @ net.biases[k]
        lam = lam @ net.weights[k]
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return const + mid * lam.sum(-1) + rad * np.abs(lam).sum(-1)


def tighten(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
            upper: list[np.ndarray], after: np.ndarray | None = None
            ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The bounds of B nodes ([B, n_k] per hidden layer) with every layer after the first
    intersected with its interval and CROWN bounds under the layers before it, and a mask [B] of
    the nodes that hold an input (no unit with l > u). `after` [B]: node i is re-bounded only in
    the layers k > after[i] (a child split in layer k' = after[i] whose parent's bounds were
    already intersected with these bounds: its layers k <= k' would not change)."""
    lower, upper = list(lower), list(upper)
    batch = lower[0].shape[0] if lower else 1
    after = np.full(batch, -1) if after is None else np.asarray(after)
    for k in range(1, len(lower)):
        rows = np.nonzero(after < k)[0]
        if not len(rows):
            continue
        w, b, s = net.weights[k], net.biases[k], net.slopes[k - 1]
        sub_lo, sub_up = [a[rows] for a in lower[:k]], [a[rows] for a in upper[:k]]
        pl, pu = leaky_relu(sub_lo[-1], s), leaky_relu(sub_up[-1], s)
        mid, rad = (pl + pu) / 2.0, (pu - pl) / 2.0
        centre, spread = mid @ w.T + b, rad @ np.abs(w).T
        both = crown_upper(net, lo, hi, sub_lo, sub_up, k, np.vstack([w, -w]),
                           np.concatenate([b, -b]))
        n = w.shape[0]
        lower[k], upper[k] = lower[k].copy(), upper[k].copy()
        lower[k][rows] = np.maximum(lower[k][rows], np.maximum(centre - spread, -both[:, n:]))
        upper[k][rows] = np.minimum(upper[k][rows], np.minimum(centre + spread, both[:, :n]))
    ok = np.ones(batch, dtype=bool)
    for l, u in zip(lower, upper):
        ok &= ~np.any(l > u, axis=1)
    return lower, upper, ok
