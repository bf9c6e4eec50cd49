"""`bumps`: ReLU-built flat-topped tents (mesas) of different heights in a 2-D latent plane:
classic local maxima.

Latent coordinates. The input coordinates are split into q = min(d, 2) blocks B_1, B_2 and
t_a(x) = (1 / |B_a|) sum_{i in B_a} sigma_i x_i with random signs sigma_i. The box [-1, 1]^d maps
onto the whole square [-1, 1]^q, and a latent point p is reached by x_i = sigma_i p_a (i in B_a).
For d = 2, t = x up to signs, so the 2-D instance shows the bumps directly.

Bumps. K = `n_bumps` centres c_k are drawn uniformly in [-0.8, 0.8]^q. Bump k reaches
R_k = rho / 2 * min_{j != k} ||c_k - c_j||_1 (rho = `coverage` in (0, 1]); a share phi = `plateau`
of the reach is a flat top: per-axis half-width e_k = phi R_k / q, and the slope runs over
r_k = (1 - phi) R_k. With the dead-zone distance D_k(t) = sum_a max(|t_a - c_ka| - e_k, 0) (the L1
distance from t to the top square P_k) the bump is u_k(t) = 1 - D_k(t) / r_k, and
f(x) = sum_k h_k act(u_k(t(x))), act(z) = max(z, s z), s = negative_slope. D_k < r_k implies
||t - c_k||_1 < R_k, so the supports {u_k > 0} are disjoint (R_j + R_k <= ||c_j - c_k||_1).
Raw heights H_k = 1 + gap * rank_k / (K - 1) rank the bumps by the distance of c_k from the origin
(nearest lowest); they are scaled, h_k = lam H_k with lam = min_k r_k / H_k, so the steepest slope
h_k / r_k is 1 (per latent L1 unit) and gradient ascent with a moderate step can land on a top.
The network: first hidden layer act(t_a - c_ka - e_k), act(c_ka - t_a - e_k), whose sum is
(1 - s) max(|t_a - c_ka| - e_k, 0) - 2 s e_k (so D_k is exact after rescaling); second hidden layer
u_k; output sum_k h_k act(u_k).

Derivation of the optimum. Write act(u) = max(u, 0) + s min(u, 0).
* s = 0: at most one u_k is positive anywhere, so f = h_k u_k <= h_k, with equality on the top
  square P_k; optimum = max_k h_k = lam (1 + gap), argmax = the centre of the highest bump.
* 0 < s < 1: where u_k > 0 the other u_j are <= 0, so f = G_k(t) := h_k u_k + s sum_{j != k} h_j u_j.
  For t outside P_k let p be its per-axis clip onto P_k: D_k(t) = ||t - p||_1, u_k(p) = 1 and
  u_j(t) <= u_j(p) + ||t - p||_1 / r_j (D_j is 1-Lipschitz in L1), so
  G_k(t) <= G_k(p) - ||t - p||_1 (h_k / r_k - s sum_{j != k} h_j / r_j) <= G_k(p) under the
  condition h_k / r_k > s sum_{j != k} h_j / r_j (checked; else ValueError). On P_k,
  G_k = h_k + s sum_{j != k} h_j - s sum_a phi_ka(t_a) with the convex piecewise-linear
  phi_ka(tau) = sum_{j != k} (h_j / r_j) max(|tau - c_ja| - e_j, 0), separable over the axes; its
  minimum over the interval [c_ka - e_k, c_ka + e_k] is at an end or a breakpoint c_ja +- e_j
  inside it, so F_k = max_{P_k} G_k is a finite maximum over those candidates. Where every
  u_j <= 0, f = s sum_j h_j u_j <= 0. Hence optimum = max_k F_k when positive (checked), attained at
  the maximizing point of P_k.

Failure mode. Gradient ascent climbs the bump whose support it starts in and stops on its top
(zero gradient there); with s = 0 starts outside every support get a zero gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (CLOSED_FORM, ClosedForm, ToyFunction, check_float, check_int, check_negative_slope,
                   generator, linear, random_signs, rectifier)

OPTIMUM_KIND = CLOSED_FORM  # derived in the module docstring
DEFAULTS = {"n_bumps": 3, "gap": 0.25, "coverage": 0.9, "plateau": 0.5, "negative_slope": 0.0}


def build(dim: int, seed: int, *, n_bumps: int, gap: float, coverage: float, plateau: float,
          negative_slope: float, name: str) -> ToyFunction:
    """The bumps function described in the module docstring."""
    k = check_int("n_bumps", n_bumps, 2, 32)
    gap = check_float("gap", gap, 0.0, 100.0, low_open=True)
    rho = check_float("coverage", coverage, 0.0, 1.0, low_open=True)
    phi = check_float("plateau", plateau, 0.0, 1.0, high_open=True)
    s = check_negative_slope(negative_slope)
    g = generator(seed)
    q = min(dim, 2)
    sigma = random_signs(dim, g)
    blocks = [list(range(0, (dim + 1) // 2)), list(range((dim + 1) // 2, dim))][:q]
    proj = torch.zeros(q, dim, dtype=torch.float64)  # t = proj @ x
    for a, block in enumerate(blocks):
        proj[a, block] = sigma[block] / len(block)
    centres = (torch.rand(k, q, generator=g, dtype=torch.float64) * 2.0 - 1.0) * 0.8
    dist = torch.cdist(centres, centres, p=1.0) + torch.diag(torch.full((k,), float("inf")))
    if float(dist.min()) <= 0.0:
        raise ValueError(f"seed={seed} gives coinciding bump centres; choose another seed")
    reach = rho / 2.0 * dist.min(dim=1).values
    run = (1.0 - phi) * reach
    half = phi * reach / q
    order = torch.argsort(centres.abs().sum(dim=1), stable=True)
    raw = torch.empty(k, dtype=torch.float64)
    raw[order] = 1.0 + gap * torch.arange(k, dtype=torch.float64) / (k - 1)
    heights = raw * float((run / raw).min())
    best, optimum, top = _optimum(centres, half, run, heights, s)
    argmax = torch.zeros(dim, dtype=torch.float64)
    for a, block in enumerate(blocks):
        argmax[block] = sigma[block] * top[a]
    # layer 1: act(t_a - c_ka - e_k), act(c_ka - t_a - e_k) for every bump k and latent axis a
    w1 = torch.cat([torch.cat([proj, -proj]) for _ in range(k)])
    b1 = torch.cat([torch.cat([-centres[j] - half[j], centres[j] - half[j]]) for j in range(k)])
    # layer 2: u_k = 1 - (sum of its 2q units + 2 q s e_k) / ((1 - s) r_k)
    w2 = torch.block_diag(*[torch.full((1, 2 * q), -1.0 / (float(run[j]) * (1.0 - s)),
                                       dtype=torch.float64) for j in range(k)])
    b2 = 1.0 - 2.0 * q * s * half / ((1.0 - s) * run)
    net = nn.Sequential(linear(w1, b1), rectifier(s), linear(w2, b2), rectifier(s),
                        linear(heights.reshape(1, k), torch.zeros(1, dtype=torch.float64)))
    return ToyFunction(
        net,
        name=name,
        params={"dim": dim, "seed": seed, "n_bumps": k, "gap": gap, "coverage": rho,
                "plateau": phi, "negative_slope": s},
        input_shape=(dim,),
        optimum=optimum,
        argmax=argmax,
        certificate=ClosedForm(f"disjoint flat-topped L1 bumps in latent t; s = 0: the highest top; "
                               f"s > 0: best point of each top under the leaky tails (bump {best})"),
        forward_slope=s,
    )


def _optimum(centres: torch.Tensor, half: torch.Tensor, run: torch.Tensor, heights: torch.Tensor,
             s: float) -> tuple[int, float, torch.Tensor]:
    """(best bump, optimum, latent argmax) by the closed form of the module docstring."""
    k, q = centres.shape
    ratio = heights / run
    if s > 0.0:
        for j in range(k):
            if not float(ratio[j]) > s * float(ratio.sum() - ratio[j]):
                raise ValueError(f"negative_slope={s} too large for these bumps: the leaky tails "
                                 f"outweigh bump {j}'s slope (h/r = {float(ratio[j]):.4g})")
    values, tops = [], []
    for i in range(k):
        others = [j for j in range(k) if j != i]
        point = centres[i].clone()
        penalty = 0.0
        for a in range(q):
            lo, hi = float(centres[i, a] - half[i]), float(centres[i, a] + half[i])

            def phi_a(tau: float) -> float:
                return sum(float(ratio[j]) * max(abs(tau - float(centres[j, a])) - float(half[j]), 0.0)
                           for j in others)

            cands = [lo, float(centres[i, a]), hi] + [
                float(centres[j, a]) + sign * float(half[j]) for j in others for sign in (-1.0, 1.0)]
            cands = [c for c in cands if lo <= c <= hi]
            best_tau = min(cands, key=lambda c: (phi_a(c), abs(c - float(centres[i, a]))))
            point[a] = best_tau
            penalty += phi_a(best_tau)
        value = float(heights[i]) + s * (float(heights.sum() - heights[i]) - penalty)
        values.append(value)
        tops.append(point)
    best = max(range(k), key=lambda i: values[i])
    if not values[best] > 0.0:
        raise ValueError(f"negative_slope={s} leaves no positive bump value; lower it")
    return best, values[best], tops[best]
