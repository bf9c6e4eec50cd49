"""Optimized linear bounds for a batch of branch-and-bound nodes (alpha-beta-CROWN style, Xu et al.
2021, Wang et al. 2021), in torch on the CPU in float64.

A node holds valid bounds l_k <= z_k <= u_k on every hidden layer's pre-activations (a split is
l = 0 or u = 0). For a row g = lam . y_K + d (here the objective f = c . y_L + d), any multipliers
beta+_k, beta-_k >= 0 give, on the node,

    g <= g + sum_{k<K} beta+_k . (z_k - l_k) + beta-_k . (u_k - z_k),

and the right side is bounded over the box by back-substitution (CROWN, `linear_bounds`): with
lam the coefficient vector on y_k, each y_kj is replaced by y = z (l >= 0), y = s z (u <= 0), the
chord a_up z + c_up (unstable, lam_j >= 0) or alpha_j z (unstable, lam_j < 0), any alpha_j in
[s, 1]; the multipliers add beta+ - beta- to the coefficient of z_k and -beta+ . l + beta- . u to
the constant; z_k = W y_{k-1} + b; at the input max over the box of g . x + const is
g . mid + |g| . rad. So every alpha in [s, 1] and beta >= 0 gives a valid upper bound (each row
its own multipliers), and the best of them is the Lagrangian dual of the triangle LP with the
node's bounds (`node_lp`): the beta of a split unit is the dual of its split, which plain CROWN
drops. `bound` runs a fixed number of projected Adam steps (written out below, deterministic) on
the objective's alpha and beta, all nodes at once, and keeps each node's smallest bound (every
iterate is valid).

Branching scores from the same pass (BaBSR, Bunel et al. 2020): for an unstable unit, lam_j c_up_j
where lam_j >= 0 (the intercept the chord adds to the bound, which a split removes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .network import PiecewiseLinearNet

#: projected Adam steps per batch on the objective's multipliers, and their step size
STEPS = 5
LR = 0.1
#: Adam's moment decay rates and its denominator guard
BETAS, EPS = (0.9, 0.999), 1e-8


@dataclass
class Multipliers:
    """alpha[k], beta_lo[k], beta_hi[k]: [B, n_k] (or [B, M, n_k], one set per row) per hidden
    layer."""

    alpha: list[torch.Tensor]
    beta_lo: list[torch.Tensor]
    beta_hi: list[torch.Tensor]

    def rows(self, index: torch.Tensor) -> "Multipliers":
        """The multipliers of the nodes `index` (a child starts from its parent's)."""
        return Multipliers([a[index] for a in self.alpha], [b[index] for b in self.beta_lo],
                           [b[index] for b in self.beta_hi])

    def flat(self) -> list[torch.Tensor]:
        return [*self.alpha, *self.beta_lo, *self.beta_hi]


def gather(parts: list[tuple[Multipliers, int]]) -> Multipliers:
    """The rows parts[i] = (batch, row) stacked in order: one index per distinct batch."""
    sources: dict[int, int] = {}
    batches: list[Multipliers] = []
    for batch, _ in parts:
        if id(batch) not in sources:
            sources[id(batch)] = len(batches)
            batches.append(batch)
    offsets = np.cumsum([0] + [b.alpha[0].shape[0] if b.alpha else 1 for b in batches])
    index = torch.tensor([int(offsets[sources[id(b)]]) + r for b, r in parts], dtype=torch.long)
    if len(batches) == 1:
        return batches[0].rows(index)
    joined = [torch.cat(ts) for ts in zip(*(b.flat() for b in batches))]
    n = len(batches[0].alpha)
    return Multipliers(joined[:n], joined[n:2 * n], joined[2 * n:]).rows(index)


def initial(lower: list[torch.Tensor], upper: list[torch.Tensor], slopes: tuple[float, ...]
            ) -> Multipliers:
    """CROWN's start: alpha = 1 where u >= -l, else s; beta = 0."""
    alpha = [torch.where(u >= -l, 1.0, s).to(torch.float64) for l, u, s in zip(lower, upper, slopes)]
    zeros = [torch.zeros_like(l) for l in lower]
    return Multipliers(alpha, zeros, [z.clone() for z in zeros])


def backsub(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[torch.Tensor],
            upper: list[torch.Tensor], lam: torch.Tensor, const: torch.Tensor, m: Multipliers
            ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Upper bounds [B, M] of the rows lam . y_K + const (lam [B, M, n_K], y_K the output of
    hidden layer K = len(m.alpha), const [B, M]) over each node, and per hidden layer k < K the
    BaBSR scores [B, M, n_k]; multipliers [B, M, n_k] (module docstring)."""
    scores: list[torch.Tensor] = []
    for k in range(len(m.alpha) - 1, -1, -1):
        l, u, s = lower[k][:, None, :], upper[k][:, None, :], net.slopes[k]
        unstable = (l < 0.0) & (u > 0.0)
        width = torch.where(unstable, u - l, torch.ones_like(u))
        a_up = torch.where(unstable, (u - s * l) / width, torch.zeros_like(u))
        c_up = torch.where(unstable, -(1.0 - s) * u * l / width, torch.zeros_like(u))
        exact = torch.where(l >= 0.0, torch.ones_like(l), torch.full_like(l, s))
        pos = lam >= 0.0
        slope = torch.where(unstable, torch.where(pos, a_up, m.alpha[k]), exact)
        intercept = torch.where(pos, lam, torch.zeros_like(lam)) * c_up
        scores.insert(0, intercept.detach())
        const = (const + intercept.sum(-1) - (m.beta_lo[k] * l).sum(-1)
                 + (m.beta_hi[k] * u).sum(-1))
        mu = lam * slope + m.beta_lo[k] - m.beta_hi[k]
        const = const + mu @ torch.from_numpy(net.biases[k])
        lam = mu @ torch.from_numpy(net.weights[k])
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return const + mid * lam.sum(-1) + rad * lam.abs().sum(-1), scores


def _descend(evaluate: Callable[[Multipliers], torch.Tensor], start: Multipliers,
             slopes: tuple[float, ...], steps: int, lr: float
             ) -> tuple[torch.Tensor, Multipliers]:
    """`steps` projected Adam steps on the multipliers from `start` (alpha in [s, 1], beta >= 0)
    against evaluate(m) (bounds [B] or [B, M], each its own multipliers); returns the smallest
    value of every entry over all iterates and its multipliers."""
    params = [t.detach().clone().requires_grad_(True) for t in start.flat()]
    n = len(start.alpha)
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    best = best_m = None
    for step in range(steps + 1):
        m = Multipliers(params[:n], params[n:2 * n], params[2 * n:])
        value = evaluate(m)
        detached = value.detach()
        if best is None:
            best = detached.clone()
            best_m = Multipliers(*_split([p.detach().clone() for p in params], n))
        else:
            better = detached < best
            best = torch.where(better, detached, best)
            pick = better[..., None]
            best_m = Multipliers(*_split([torch.where(pick, p.detach(), q)
                                          for p, q in zip(params, best_m.flat())], n))
        if step == steps or not params:
            break
        grads = torch.autograd.grad(value.sum(), params, allow_unused=True)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads)):
                if g is None:
                    continue
                first[i].mul_(BETAS[0]).add_(g, alpha=1.0 - BETAS[0])
                second[i].mul_(BETAS[1]).addcmul_(g, g, value=1.0 - BETAS[1])
                fix1, fix2 = 1.0 - BETAS[0] ** (step + 1), 1.0 - BETAS[1] ** (step + 1)
                p.sub_(lr / fix1 * first[i] / ((second[i] / fix2).sqrt() + EPS))
            for k in range(n):
                params[k].clamp_(min=slopes[k], max=1.0)
                params[n + k].clamp_(min=0.0)
                params[2 * n + k].clamp_(min=0.0)
    return best, best_m


def _split(ts: list[torch.Tensor], n: int) -> tuple[list, list, list]:
    return ts[:n], ts[n:2 * n], ts[2 * n:]


def bound(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
          upper: list[np.ndarray], start: Multipliers, steps: int | None = None
          ) -> tuple[np.ndarray, Multipliers, list[np.ndarray]]:
    """Per node (rows of lower[k], upper[k] [B, n_k]): the smallest bound on f over `steps`
    projected Adam steps from `start`, the multipliers that gave it, and its BaBSR scores."""
    lo_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in lower]
    up_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in upper]
    batch = lower[0].shape[0] if lower else 1
    lam = torch.from_numpy(net.weights[-1]).expand(batch, 1, -1)
    const = torch.from_numpy(net.biases[-1]).expand(batch, 1)

    def evaluate(m: Multipliers) -> torch.Tensor:
        rows = Multipliers(*_split([t[:, None, :] for t in m.flat()], len(m.alpha)))
        return backsub(net, lo, hi, lo_t, up_t, lam, const, rows)[0][:, 0]

    best, best_m = _descend(evaluate, start, net.slopes, STEPS if steps is None else steps, LR)
    rows = Multipliers(*_split([t[:, None, :] for t in best_m.flat()], len(best_m.alpha)))
    with torch.no_grad():
        _, scores = backsub(net, lo, hi, lo_t, up_t, lam, const, rows)
    return best.numpy().copy(), best_m, [s[:, 0].numpy().copy() for s in scores]


def evaluate(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
             upper: list[np.ndarray], m: Multipliers) -> np.ndarray:
    """The bound on f [B] of each node from the given multipliers [B, n_k] (no steps)."""
    lo_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in lower]
    up_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in upper]
    batch = lower[0].shape[0] if lower else 1
    lam = torch.from_numpy(net.weights[-1]).expand(batch, 1, -1)
    const = torch.from_numpy(net.biases[-1]).expand(batch, 1)
    rows = Multipliers(*_split([t[:, None, :] for t in m.flat()], len(m.alpha)))
    with torch.no_grad():
        return backsub(net, lo, hi, lo_t, up_t, lam, const, rows)[0][:, 0].numpy().copy()
