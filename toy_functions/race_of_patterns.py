"""`race_of_patterns`: K patterns race; the one that wins from typical starts is not the global one.

Patterns p_0, ..., p_{K-1} are distinct sign vectors in {-1, +1}^d (K = `n_patterns`, K <= 2^d).
With t_k(x) = p_k . x / d in [-1, 1] (t_k = 1 exactly at x = p_k) the pattern scores are affine:
    global  g_0(x) = (1 + margin) - a (1 - t_0(x))     (a = `steepness`),
    lures   g_k(x) = 1 - 0.5 (1 - t_k(x))               (k >= 1).
At the centre of the box the lures score 0.5 and the global pattern 1 + margin - a (lower for
a > 0.5 + margin), so a start has to lie close to p_0 for the global pattern to lead the race.

The network combines the scores with the pairwise node m(a, b) = b + act(a - b), act(z) = max(z, s z)
(s = negative_slope), in a balanced tree whose first argument always carries g_0. Each node is one
hidden layer of ReLU/LeakyReLU units: [a - b, b, -b] -> act(a - b) + (act(b) - act(-b)) / (1 + s),
and act(b) - act(-b) = (1 + s) b, so the node computes b + act(a - b) exactly; an unpaired score c
passes as (act(c) - act(-c)) / (1 + s) = c. With s = 0, m(a, b) = max(a, b) and f = max_k g_k.

Derivation of the optimum. (i) m(a, b) <= max(a, b): if a >= b it is a; else b + s (a - b) <= b.
(ii) m is nondecreasing in a (act' in {s, 1}) and in b (1 - act' >= 0). By induction over the tree
f(x) <= max_k g_k(x) <= max_k max_box g_k = max(1 + margin, 1) = 1 + margin (each g_k is maximal,
over the box, at x = p_k where t_k = 1). (iii) At x = p_0 every node on g_0's path gets a = g_0(p_0)
= 1 + margin and b <= max of lure scores <= 1 < a, so it returns a: f(p_0) = 1 + margin.
Hence optimum = 1 + margin, argmax = p_0, for every slope s. f is convex (m is convex and
nondecreasing, the leaves are affine), so the maximum is also the best vertex of the box.

Failure mode. Gradient ascent follows the leading pattern, and each pattern's corner is a local
maximum; the global basin is the small cap near p_0 (in 2-D: a corner triangle), the lure basins
cover the rest. `margin` sets how much higher the global pattern is.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (CLOSED_FORM, ClosedForm, ToyFunction, check_float, check_int, check_negative_slope,
                   generator, linear, random_signs, rectifier)

OPTIMUM_KIND = CLOSED_FORM  # derived in the module docstring
DEFAULTS = {"n_patterns": 2, "margin": 0.1, "steepness": 3.0, "negative_slope": 0.0}


def build(dim: int, seed: int, *, n_patterns: int, margin: float, steepness: float,
          negative_slope: float, name: str) -> ToyFunction:
    """The race-of-patterns function described in the module docstring."""
    k = check_int("n_patterns", n_patterns, 2, 64)
    if dim < 63 and k > 2 ** dim:
        raise ValueError(f"n_patterns={k} exceeds the 2^dim = {2 ** dim} distinct sign patterns")
    margin = check_float("margin", margin, 0.0, 100.0, low_open=True)
    a = check_float("steepness", steepness, 0.0, 100.0, low_open=True)
    s = check_negative_slope(negative_slope)
    g = generator(seed)
    patterns: list[torch.Tensor] = []
    while len(patterns) < k:
        p = random_signs(dim, g)
        if all(not torch.equal(p, q) for q in patterns):
            patterns.append(p)
    pat = torch.stack(patterns)
    # scores g = W x + c
    slopes = torch.tensor([a] + [0.5] * (k - 1), dtype=torch.float64)
    weight = pat * (slopes / dim)[:, None]
    bias = torch.tensor([1.0 + margin - a] + [0.5] * (k - 1), dtype=torch.float64)
    net = nn.Sequential(*_max_tree(weight, bias, s))
    return ToyFunction(
        net,
        name=name,
        params={"dim": dim, "seed": seed, "n_patterns": k, "margin": margin, "steepness": a,
                "negative_slope": s},
        input_shape=(dim,),
        optimum=1.0 + margin,
        argmax=pat[0],
        certificate=ClosedForm("f <= max_k g_k <= 1 + margin (pairwise node b + act(a - b) <= "
                               "max(a, b), monotone); equality at x = p_0"),
        forward_slope=s,
    )


def _max_tree(weight: torch.Tensor, bias: torch.Tensor, s: float) -> list[nn.Module]:
    """Layers computing the pairwise-node tree over the affine scores `weight @ x + bias`.

    The current scores are v = A h + c (h: the previous layer's output). A level maps v to hidden
    pre-activations P v and then to the next scores Q act(P v); the last level ends in a Linear.
    """
    a_mat, c_vec = weight, bias
    layers: list[nn.Module] = []
    while True:
        n = a_mat.shape[0]
        rows: list[torch.Tensor] = []
        q_rows: list[torch.Tensor] = []
        e = torch.eye(n, dtype=torch.float64)
        for i in range(0, n, 2):
            if i + 1 < n:
                rows += [e[i] - e[i + 1], e[i + 1], -e[i + 1]]
                q_rows.append(torch.tensor([1.0, 1.0 / (1 + s), -1.0 / (1 + s)], dtype=torch.float64))
            else:
                rows += [e[i], -e[i]]
                q_rows.append(torch.tensor([1.0 / (1 + s), -1.0 / (1 + s)], dtype=torch.float64))
        p_mat = torch.stack(rows)
        q_mat = torch.block_diag(*q_rows)
        layers += [linear(p_mat @ a_mat, p_mat @ c_vec), rectifier(s)]
        if q_mat.shape[0] == 1:
            layers.append(linear(q_mat, torch.zeros(1, dtype=torch.float64)))
            return layers
        a_mat, c_vec = q_mat, torch.zeros(q_mat.shape[0], dtype=torch.float64)
