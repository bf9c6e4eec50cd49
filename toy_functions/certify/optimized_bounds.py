"""Optimized linear bounds on the objective for a batch of branch-and-bound nodes (alpha-beta-CROWN
style, Xu et al. 2021, Wang et al. 2021), in torch on the CPU in float64.

A node holds valid bounds l_k <= z_k <= u_k on every hidden layer's pre-activations (a split is
l = 0 or u = 0). For f = c . y_L + d, any multipliers beta+_k, beta-_k >= 0 give, on the node,

    f <= f + sum_k beta+_k . (z_k - l_k) + beta-_k . (u_k - z_k),

and the right side is bounded over the box by back-substitution (CROWN, `linear_bounds`): with
lam the coefficient vector on y_k, each y_kj is replaced by y = z (l >= 0), y = s z (u <= 0), the
chord a_up z + c_up (unstable, lam_j >= 0) or alpha_j z (unstable, lam_j < 0), any alpha_j in
[s, 1]; the multipliers add beta+ - beta- to the coefficient of z_k and -beta+ . l + beta- . u to
the constant; z_k = W y_{k-1} + b; at the input max over the box of g . x + const is
g . mid + |g| . rad. So every alpha in [s, 1] and beta >= 0 gives a valid upper bound, and the
best of them is the Lagrangian dual of the node's triangle LP with its splits (`node_lp`).
`bound` runs a fixed number of projected Adam steps on alpha and beta, all nodes at once, and
keeps each node's smallest bound (every iterate is valid); the steps are deterministic.

Branching scores from the same pass (BaBSR, Bunel et al. 2020): for an unstable unit, lam_j c_up_j
where lam_j >= 0 (the intercept the chord adds to the bound, which a split removes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .network import PiecewiseLinearNet

#: projected Adam steps per batch, and their step size
STEPS = 5
LR = 0.1


@dataclass
class Multipliers:
    """alpha[k], beta_lo[k], beta_hi[k]: [B, n_k] per hidden layer."""

    alpha: list[torch.Tensor]
    beta_lo: list[torch.Tensor]
    beta_hi: list[torch.Tensor]

    def rows(self, index: torch.Tensor) -> "Multipliers":
        """The multipliers of the nodes `index` (a child starts from its parent's)."""
        return Multipliers([a[index] for a in self.alpha], [b[index] for b in self.beta_lo],
                           [b[index] for b in self.beta_hi])


def initial(lower: list[torch.Tensor], upper: list[torch.Tensor], slopes: tuple[float, ...]
            ) -> Multipliers:
    """CROWN's start: alpha = 1 where u >= -l, else s; beta = 0."""
    alpha = [torch.where(u >= -l, 1.0, s).to(torch.float64) for l, u, s in zip(lower, upper, slopes)]
    zeros = [torch.zeros_like(l) for l in lower]
    return Multipliers(alpha, zeros, [z.clone() for z in zeros])


def _objective_bound(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[torch.Tensor],
                     upper: list[torch.Tensor], m: Multipliers, weights: list[torch.Tensor],
                     biases: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(the upper bound of f per node [B], per hidden layer the BaBSR scores [B, n_k])."""
    batch = lower[0].shape[0] if lower else 1
    lam = weights[-1][0].expand(batch, -1)
    const = biases[-1][0].expand(batch).clone()
    scores: list[torch.Tensor] = []
    for k in range(len(lower) - 1, -1, -1):
        l, u, s = lower[k], upper[k], net.slopes[k]
        unstable = (l < 0.0) & (u > 0.0)
        width = torch.where(unstable, u - l, torch.ones_like(u))
        a_up = torch.where(unstable, (u - s * l) / width, torch.zeros_like(u))
        c_up = torch.where(unstable, -(1.0 - s) * u * l / width, torch.zeros_like(u))
        exact = torch.where(l >= 0.0, torch.ones_like(l), torch.full_like(l, s))
        pos = lam >= 0.0
        slope = torch.where(unstable, torch.where(pos, a_up, m.alpha[k]), exact)
        intercept = torch.where(pos, lam, torch.zeros_like(lam)) * c_up
        scores.insert(0, intercept.detach())
        const = const + intercept.sum(-1) - (m.beta_lo[k] * l).sum(-1) + (m.beta_hi[k] * u).sum(-1)
        mu = lam * slope + m.beta_lo[k] - m.beta_hi[k]
        const = const + mu @ biases[k]
        lam = mu @ weights[k]
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return const + mid * lam.sum(-1) + rad * lam.abs().sum(-1), scores


def bound(net: PiecewiseLinearNet, lo: float, hi: float, lower: list[np.ndarray],
          upper: list[np.ndarray], start: Multipliers, steps: int = STEPS
          ) -> tuple[np.ndarray, Multipliers, list[np.ndarray]]:
    """Per node (rows of lower[k], upper[k] [B, n_k]): the smallest bound on f over `steps`
    projected Adam steps from `start`, the multipliers that gave it, and its BaBSR scores."""
    weights = [torch.from_numpy(w) for w in net.weights]
    biases = [torch.from_numpy(b) for b in net.biases]
    lo_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in lower]
    up_t = [torch.from_numpy(np.ascontiguousarray(a)) for a in upper]
    params = [t.clone().requires_grad_(True) for t in start.alpha + start.beta_lo + start.beta_hi]
    n = len(lower)
    opt = torch.optim.Adam(params, lr=LR) if params and steps else None
    best, best_m, best_scores = None, start, None
    for step in range(steps + 1):
        m = Multipliers(params[:n], params[n:2 * n], params[2 * n:])
        value, scores = _objective_bound(net, lo, hi, lo_t, up_t, m, weights, biases)
        detached = value.detach()
        if best is None:
            best, best_m, best_scores = detached.clone(), _copy(m), scores
        else:
            better = detached < best
            best = torch.where(better, detached, best)
            best_m = _merge(better, m, best_m)
            best_scores = [torch.where(better[:, None], s, t) for s, t in zip(scores, best_scores)]
        if opt is None or step == steps:
            break
        opt.zero_grad()
        value.sum().backward()
        opt.step()
        with torch.no_grad():
            for k in range(n):
                params[k].clamp_(min=net.slopes[k], max=1.0)
                params[n + k].clamp_(min=0.0)
                params[2 * n + k].clamp_(min=0.0)
    return best.numpy().copy(), best_m, [s.numpy().copy() for s in best_scores]


def _copy(m: Multipliers) -> Multipliers:
    return Multipliers([a.detach().clone() for a in m.alpha],
                       [b.detach().clone() for b in m.beta_lo],
                       [b.detach().clone() for b in m.beta_hi])


def _merge(better: torch.Tensor, new: Multipliers, old: Multipliers) -> Multipliers:
    pick = better[:, None]
    return Multipliers([torch.where(pick, a.detach(), b) for a, b in zip(new.alpha, old.alpha)],
                       [torch.where(pick, a.detach(), b) for a, b in zip(new.beta_lo, old.beta_lo)],
                       [torch.where(pick, a.detach(), b) for a, b in zip(new.beta_hi, old.beta_hi)])
