"""A rigorous bound on the rounding error of a network's floating-point forward pass over a box.

The certifier bounds max f over the box for f in exact arithmetic (the model's weights, read
exactly into float64). An AM run evaluates f in the model's dtype (float32), whose value at a point
can exceed the exact one by rounding. `rounding_margin` returns E with

    |fl(f)(x) - f(x)| <= E   for every x in [lo, hi]^n,

so  fl(f)(x) <= max f + E <= U + E  for a certified bound U.

Model of the arithmetic (u = unit roundoff of the dtype: 2^-24 for float32, 2^-53 for float64):
every product and every sum of an affine layer is rounded to the dtype, in any order of summation
(direct or GEMM convolution, BLAS, FMA or not); not valid for TF32 tensor cores or Winograd / FFT
convolution. For a sum of n rounded products and a bias, Higham's bound (Accuracy and Stability of
Numerical Algorithms, Lemma 3.1 and (3.5)) gives, with gamma_n = n u / (1 - n u),

    |fl(a . y + c) - (a . y + c)| <= gamma_{n+1} (|a| . |y| + |c|),   n = number of nonzero a_j,

since zero products add nothing. Layer by layer, with e the bound on |y_hat - y| of the layer's
input, m >= |y| the exact magnitude from interval arithmetic, and the affine layer y -> A y + c:

    e' = |A| e + gamma_{n+1} (|A| (m + e) + |c|)          (Linear, Conv, average pooling: the sum
                                                           then one division, n + 1 roundings)
    e' = |A| e + gamma_8 (|A| (m + e) + |A| |mu| + |beta|)   (BatchNorm: scale w / sqrt(var + eps)
                                                           and shift, at most 8 roundings a term)
    e' = e                                               (ReLU, Flatten, Identity: exact)
    e' = e + s u (m + e)                                 (LeakyReLU: the product s z; 1-Lipschitz)
    e' = max over the window of e                        (MaxPool2d: max is exact, 1-Lipschitz
                                                           in the max norm)

starting from e = 0 at the input (the input is a point of the box in the dtype, exact). E is e of
the objective output, multiplied by 1 + 1e-6 to cover the float64 evaluation of these formulas
(each of their few thousand float64 operations errs by at most 2^-53 relative), then rounded up
to 8 significant bits (`round_up`). The float64 sum U + E of a certificate errs by at most one
ulp of U, far below the 1e-6 E of slack, so fl(f)(x) <= fl(U + E) holds as computed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .network import AFFINE, MAX_POOLS, affine_matrix, pool_windows, leaves

#: Relative slack for evaluating the bound itself in float64.
FLOAT64_SLACK = 1e-6


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2 of a floating dtype (2^-24 for float32, 2^-53 for float64)."""
    if not dtype.is_floating_point:
        raise ValueError(f"rounding_margin needs a floating dtype, got {dtype}")
    return float(torch.finfo(dtype).eps) / 2.0


def gamma(n: np.ndarray | int, u: float) -> np.ndarray:
    """gamma_n = n u / (1 - n u) (Higham); ValueError when n u >= 1/2 (no useful bound)."""
    nu = np.asarray(n, dtype=np.float64) * u
    if np.any(nu >= 0.5):
        raise ValueError(f"a sum of {int(np.max(n))} terms is too long for a rounding bound at u={u}")
    return nu / (1.0 - nu)


def rounding_margin(model: nn.Module, input_shape: tuple[int, ...], box: tuple[float, float],
                    output_index: int = 0, dtype: torch.dtype | None = None) -> float:
    """E >= |fl(f)(x) - f(x)| over the box for output `output_index` of `model` evaluated in
    `dtype` (default: the model's parameter dtype); see the module docstring for the formula."""
    if dtype is None:
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float64
    u = unit_roundoff(dtype)
    shape = tuple(int(s) for s in input_shape)
    n = int(np.prod(shape))
    lo, hi = np.full(n, float(box[0])), np.full(n, float(box[1]))
    err = np.zeros(n)
    for layer in leaves(model):
        if isinstance(layer, nn.ReLU):
            lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
            continue
        if isinstance(layer, nn.LeakyReLU):
            s = float(layer.negative_slope)
            mag = np.maximum(np.abs(lo), np.abs(hi))
            err = err + s * u * (mag + err)
            lo, hi = np.where(lo >= 0, lo, s * lo), np.where(hi >= 0, hi, s * hi)
            continue
        if isinstance(layer, MAX_POOLS):
            windows, shape = pool_windows(layer, shape)
            idx = np.array(windows)
            lo, hi, err = lo[idx].max(axis=1), hi[idx].max(axis=1), err[idx].max(axis=1)
            continue
        if not isinstance(layer, AFFINE):  # leaves() admits only the kinds handled here
            raise ValueError(f"no rounding bound for layer {type(layer).__name__}")
        w, b, shape = affine_matrix(layer, shape)
        a = np.abs(w)
        mag = np.maximum(np.abs(lo), np.abs(hi))
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if layer.running_mean is None:
                raise ValueError("no rounding bound for BatchNorm without running statistics")
            per = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            mean = np.repeat(np.abs(layer.running_mean.detach().to(torch.float64).numpy()), per)
            beta = (np.repeat(np.abs(layer.bias.detach().to(torch.float64).numpy()), per)
                    if layer.affine else 0.0)
            err_new = a @ err + gamma(8, u) * (a @ (mag + err) + a @ mean + beta)
        else:
            terms = np.count_nonzero(w, axis=1)
            err_new = a @ err + gamma(terms + 1, u) * (a @ (mag + err) + np.abs(b))
        mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
        centre, spread = w @ mid + b, a @ rad
        lo, hi, err = centre - spread, centre + spread, err_new
    flat = err.reshape(-1)
    if not 0 <= output_index < flat.size:
        raise ValueError(f"output_index={output_index!r} is not in [0, {flat.size})")
    return round_up(float(flat[output_index]) * (1.0 + FLOAT64_SLACK))


def round_up(value: float, bits: int = 8) -> float:
    """The smallest multiple of 2^(e - bits) >= value, 2^(e-1) <= value < 2^e: the margin keeps
    `bits` significant bits, so a last-bit difference in the float64 evaluation of the formula
    (another BLAS summation order) almost never changes it."""
    if value <= 0.0:
        return 0.0
    _, e = math.frexp(value)
    q = math.ldexp(1.0, e - bits)
    return math.ceil(value / q) * q
