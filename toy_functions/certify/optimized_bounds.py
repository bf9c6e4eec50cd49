"""Optimized linear bounds on the objective for a batch of branch-and-bound nodes (alpha-beta-CROWN
style, Xu et al. 2021, Wang et al. 2021), in numpy float64 with the gradient written out.

A node holds valid bounds l_k <= z_k <= u_k on every hidden layer's pre-activations (a split is
l = 0 or u = 0). For f = c . y_L + d, any multipliers beta+_k, beta-_k >= 0 give, on the node,

    f <= f + sum_k beta+_k . (z_k - l_k) + beta-_k . (u_k - z_k),

and the right side is bounded over the box by back-substitution (CROWN, `linear_bounds`): with
lam_k the coefficient vector on y_k (lam_{L-1} = c), each y_kj is replaced by y = z (l >= 0),
y = s z (u <= 0), the chord a_up z + c_up (unstable, lam_j >= 0) or alpha_j z (unstable, lam_j < 0),
any alpha_j in [s, 1]: with slope_k the line's slope,

    mu_k = lam_k * slope_k + beta+_k - beta-_k,   const += relu(lam_k) . c_up - beta+_k . l_k
            + beta-_k . u_k + mu_k . b_k,          lam_{k-1} = W_k^T mu_k,

and at the input max over the box of g . x + const (g = lam_{-1}) is g . mid + |g| . rad. So every
alpha in [s, 1] and beta >= 0 gives a valid upper bound, and the best of them is the Lagrangian
dual of the node's triangle LP with its splits (`node_lp`).

Gradient (reverse pass; a subgradient at the kinks): dg = mid + rad sign(g); for k = 0, 1, ...:
dmu_k = b_k + W_k dlam_{k-1} (dlam_{-1} = dg), d alpha_k = dmu_k lam_k on the unstable units with
lam < 0, d beta+_k = dmu_k - l_k, d beta-_k = u_k - dmu_k, dlam_k = dmu_k slope_k + c_up [lam_k >= 0].
`bound` runs a fixed number of projected Adam steps on alpha and beta from the given start, all
nodes at once, and keeps each node's smallest bound (every iterate is valid); a node whose bound
reaches the caller's cutoff (the incumbent plus the gap: the node is closed) leaves the batch at
that step; the arithmetic is deterministic.

Branching scores from the same pass (BaBSR, Bunel et al. 2020): for an unstable unit, lam_j c_up_j
where lam_j >= 0 (the intercept the chord adds to the bound, which a split removes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import PiecewiseLinearNet

#: projected Adam steps per batch, and their step size
STEPS = 20
LR = 0.1
#: Adam's moment decay rates and its denominator guard
BETAS, EPS = (0.9, 0.999), 1e-8


@dataclass
class Multipliers:
    """alpha[k], beta_lo[k], beta_hi[k]: [B, n_k] per hidden layer."""

    alpha: list[np.ndarray]
    beta_lo: list[np.ndarray]
    beta_hi: list[np.ndarray]

    def flat(self) -> list[np.ndarray]:
        return [*self.alpha, *self.beta_lo, *self.beta_hi]

    @staticmethod
    def of(flat: list[np.ndarray]) -> "Multipliers":
        n = len(flat) // 3
        return Multipliers(flat[:n], flat[n:2 * n], flat[2 * n:])


def gather(parts: list[tuple[Multipliers, int]]) -> Multipliers:
    """The rows parts[i] = (batch, row) stacked in order (a child starts from its parent's)."""
    sources: dict[int, tuple[Multipliers, list[int], list[int]]] = {}
    for i, (batch, row) in enumerate(parts):
        sources.setdefault(id(batch), (batch, [], []))
        sources[id(batch)][1].append(i)
        sources[id(batch)][2].append(row)
    first = parts[0][0].flat()
    out = [np.empty((len(parts), *a.shape[1:])) for a in first]
    for batch, at, rows in sources.values():
        for o, a in zip(out, batch.flat()):
            o[at] = a[rows]
    return Multipliers.of(out)


def initial(lower: list[np.ndarray], upper: list[np.ndarray], slopes: tuple[float, ...]
            ) -> Multipliers:
    """CROWN's start: alpha = 1 where u >= -l, else s; beta = 0."""
    alpha = [np.where(u >= -l, 1.0, s) for l, u, s in zip(lower, upper, slopes)]
    zeros = [np.zeros_like(l) for l in lower]
    return Multipliers(alpha, zeros, [z.copy() for z in zeros])


@dataclass(frozen=True)
class _Layer:
    """The relaxation of one hidden layer of every node: bounds, unstable mask, chord a_up z +
    c_up (0 off the unstable units) and the exact slope of the stable units."""

    l: np.ndarray
    u: np.ndarray
    unstable: np.ndarray
    a_up: np.ndarray
    c_up: np.ndarray
    exact: np.ndarray


def _layers(net: PiecewiseLinearNet, lower: list[np.ndarray], upper: list[np.ndarray]
            ) -> list[_Layer]:
    out = []
    for l, u, s in zip(lower, upper, net.slopes):
        unstable = (l < 0.0) & (u > 0.0)
        width = np.where(unstable, u - l, 1.0)
        a_up = np.where(unstable, (u - s * l) / width, 0.0)
        c_up = np.where(unstable, -(1.0 - s) * u * l / width, 0.0)
        out.append(_Layer(l, u, unstable, a_up, c_up, np.where(l >= 0.0, 1.0, s)))
    return out


def _forward(net: PiecewiseLinearNet, lo: float, hi: float, layers: list[_Layer], m: Multipliers
             ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """(the bound [B], per hidden layer (lam_k, lam_k >= 0, slope_k), g) (module docstring)."""
    batch = layers[0].l.shape[0] if layers else 1
    lam = np.broadcast_to(net.weights[-1][0], (batch, net.weights[-1].shape[1]))
    const = np.full(batch, float(net.biases[-1][0]))
    tape: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [None] * len(layers)  # type: ignore
    for k in range(len(layers) - 1, -1, -1):
        r = layers[k]
        pos = lam >= 0.0
        slope = np.where(r.unstable, np.where(pos, r.a_up, m.alpha[k]), r.exact)
        mu = lam * slope + m.beta_lo[k] - m.beta_hi[k]
        const = (const + (np.maximum(lam, 0.0) * r.c_up).sum(-1) - (m.beta_lo[k] * r.l).sum(-1)
                 + (m.beta_hi[k] * r.u).sum(-1) + mu @ net.biases[k])
        tape[k] = (lam, pos, slope)
        lam = mu @ net.weights[k]
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return const + mid * lam.sum(-1) + rad * np.abs(lam).sum(-1), tape, lam


def _gradient(net: PiecewiseLinearNet, lo: float, hi: float, layers: list[_Layer],
              tape: list[tuple[np.ndarray, np.ndarray, np.ndarray]], g: np.ndarray,
              transposed: list[np.ndarray]) -> list[np.ndarray]:
    """The gradient of each node's bound in (alpha, beta+, beta-), flat (module docstring);
    transposed[k]: W_k^T, C-contiguous (numpy's product with a transposed view is far slower)."""
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    dlam = mid + rad * np.sign(g)
    n = len(layers)
    grads: list[np.ndarray] = [None] * (3 * n)  # type: ignore
    for k, r in enumerate(layers):
        lam, pos, slope = tape[k]
        dmu = net.biases[k] + dlam @ transposed[k]
        grads[k] = np.where(r.unstable & ~pos, dmu * lam, 0.0)
        grads[n + k] = dmu - r.l
        grads[2 * n + k] = r.u - dmu
        dlam = dmu * slope + np.where(pos, r.c_up, 0.0)
    return grads


def _project(flat: list[np.ndarray], slopes: tuple[float, ...]) -> None:
    """alpha_k into [s_k, 1], beta into [0, inf), in place."""
    n = len(slopes)
    for k in range(n):
        np.clip(flat[k], slopes[k], 1.0, out=flat[k])
        np.maximum(flat[n + k], 0.0, out=flat[n + k])
        np.maximum(flat[2 * n + k], 0.0, out=flat[2 * n + k])


def _rows(layers: list[_Layer], arrays: list[list[np.ndarray]], keep: np.ndarray
          ) -> tuple[list[_Layer], list[list[np.ndarray]]]:
    """The layers and each list of [B, ...] arrays restricted to the rows `keep`."""
    sub = [_Layer(*(getattr(r, f)[keep] for f in ("l", "u", "unstable", "a_up", "c_up", "exact")))
           for r in layers]
    return sub, [[a[keep] for a in group] for group in arrays]


def bound(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
          upper: list[np.ndarray], start: Multipliers, steps: int | None = None,
          cutoff: float = -np.inf) -> tuple[np.ndarray, Multipliers, list[np.ndarray]]:
    """Per node (rows of lower[k], upper[k] [B, n_k]): the smallest bound on f over `steps`
    (default STEPS) projected Adam steps from `start`, the multipliers that gave it, and its
    BaBSR scores [B, n_k] per hidden layer. A node whose bound reaches `cutoff` (<=) stops
    there (it is closed; its later steps would only lower a bound nobody reads); the steps of
    the others do not depend on it (every operation is row by row)."""
    steps = STEPS if steps is None else steps
    full = _layers(net, lower, upper)
    layers = full
    transposed = [np.ascontiguousarray(w.T) for w in net.weights]
    params = [np.array(a, dtype=np.float64) for a in start.flat()]
    out_p = [p.copy() for p in params]
    out = np.full(params[0].shape[0] if params else 1, np.inf)
    rows = np.arange(len(out))
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    best, best_p = None, None
    for step in range(steps + 1):
        value, tape, g = _forward(net, lo, hi, layers, Multipliers.of(params))
        if best is None:
            best, best_p = value, [p.copy() for p in params]
        else:
            better = value < best
            best = np.where(better, value, best)
            for p, q in zip(params, best_p):
                np.copyto(q, p, where=better[:, None])
        if step == steps or not params:
            break
        done = best <= cutoff
        if done.any():
            out[rows[done]] = best[done]
            for o, q in zip(out_p, best_p):
                o[rows[done]] = q[done]
            keep = ~done
            rows, best, g = rows[keep], best[keep], g[keep]
            tape = [tuple(a[keep] for a in t) for t in tape]
            layers, (params, best_p, first, second) = _rows(layers, [params, best_p, first,
                                                                     second], keep)
            if not len(rows):
                break
        _adam(params, _gradient(net, lo, hi, layers, tape, g, transposed), first, second, step)
        _project(params, net.slopes)
    out[rows] = best
    for o, q in zip(out_p, best_p):
        o[rows] = q
    best_m = Multipliers.of(out_p)
    _, tape, _ = _forward(net, lo, hi, full, best_m)
    scores = [np.maximum(lam, 0.0) * r.c_up for (lam, _, _), r in zip(tape, full)]
    return out, best_m, scores


def _adam(params: list[np.ndarray], grads: list[np.ndarray], first: list[np.ndarray],
          second: list[np.ndarray], step: int) -> None:
    """One Adam step (bias-corrected, rate LR, decay BETAS) on params, in place."""
    fix1, fix2 = 1.0 - BETAS[0] ** (step + 1), 1.0 - BETAS[1] ** (step + 1)
    for p, d, m1, m2 in zip(params, grads, first, second):
        m1 *= BETAS[0]
        m1 += (1.0 - BETAS[0]) * d
        m2 *= BETAS[1]
        m2 += (1.0 - BETAS[1]) * d * d
        p -= (LR / fix1) * m1 / (np.sqrt(m2 / fix2) + EPS)
