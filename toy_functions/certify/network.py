"""Flatten a supported network into alternating affine maps and rectifiers.

The certifier sees a network as  z_1 = W_0 x + b_0,  y_l = act_l(z_l),  z_{l+1} = W_l y_l + b_l,
ending in a scalar  f = c . y_L + d,  with act_l(z) = max(z, s_l z), 0 <= s_l < 1. Every affine
layer (Linear, Conv1d/2d, average pooling, Flatten, BatchNorm in eval mode, Identity) becomes a
dense matrix on the flattened activations, read off by evaluating the layer on the unit basis, and
consecutive affine layers are multiplied together.

A rectifier directly followed by MaxPool2d is moved after it (`pool_first`: act is nondecreasing,
so max act(v_i) = act(max v_i)). MaxPool2d (no padding, dilation 1) is rewritten exactly into rectifier layers of slope 0, given a
box for the input: the inputs of a window are reduced pairwise, max(a, b) = b + relu(a - b), and
an unpaired value (and b) passes a layer as v = relu(v + M) - M with M = 1 + |lower interval bound
of v| so that v + M > 0 over the box: a passing unit is stable and needs no binary, and a
difference unit needs one only when the bounds of a and b overlap (a dominated input costs
nothing). A window of k inputs takes ceil(log2 k) such layers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..base import ToyFunction

AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
          nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity, nn.BatchNorm1d, nn.BatchNorm2d)
RECTIFIERS = (nn.ReLU, nn.LeakyReLU)
MAX_POOLS = (nn.MaxPool2d,)


@dataclass(frozen=True)
class PiecewiseLinearNet:
    """weights[l], biases[l]: the affine map into layer l + 1 (the last one has one row, the
    objective); slopes[l]: the negative slope of the rectifier of hidden layer l + 1."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    slopes: tuple[float, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        """The hidden layer sizes."""
        return tuple(w.shape[0] for w in self.weights[:-1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        """f at the rows of x [N, n_in] (float64), for checks independent of torch."""
        y = x
        for w, b, s in zip(self.weights[:-1], self.biases[:-1], self.slopes):
            z = y @ w.T + b
            y = np.where(z >= 0.0, z, s * z)
        return (y @ self.weights[-1].T + self.biases[-1])[:, 0]


def leaves(model: nn.Module) -> list[nn.Module]:
    """The layers of `model` in call order: Sequential containers (and a `.net` Sequential of a
    toy function) are opened; any other container or layer kind raises ValueError naming it."""
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in leaves(child)]
    if isinstance(model, ToyFunction):
        return leaves(model.net)
    if isinstance(model, AFFINE + RECTIFIERS + MAX_POOLS):
        return [model]
    raise ValueError(
        f"unsupported layer {type(model).__name__}: the certifier accepts nn.Sequential of "
        f"{', '.join(t.__name__ for t in AFFINE + RECTIFIERS + MAX_POOLS)}"
    )


def linearize(model: nn.Module, input_shape: tuple[int, ...],
              output_index: int | None = None, box: tuple[float, float] | None = None
              ) -> PiecewiseLinearNet:
    """The `PiecewiseLinearNet` of `model` on inputs of `input_shape`, objective output `output_index`.

    `box` (lo, hi): the input box, needed only to rewrite MaxPool2d (the result is exact on it).
    """
    shape = tuple(int(s) for s in input_shape)
    n = int(np.prod(shape))
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    slopes: list[float] = []
    w_cur, b_cur = np.eye(n), np.zeros(n)  # pending affine map since the last rectifier
    for layer in pool_first(leaves(model)):
        if isinstance(layer, RECTIFIERS):
            s = float(layer.negative_slope) if isinstance(layer, nn.LeakyReLU) else 0.0
            if not 0.0 <= s < 1.0:
                raise ValueError(f"unsupported LeakyReLU negative_slope={s}: need 0 <= s < 1")
            weights.append(w_cur)
            biases.append(b_cur)
            slopes.append(s)
            w_cur, b_cur = np.eye(w_cur.shape[0]), np.zeros(w_cur.shape[0])
            continue
        if isinstance(layer, MAX_POOLS):
            if box is None:
                raise ValueError("linearize needs the input box to rewrite MaxPool2d")
            windows, shape = pool_windows(layer, shape)
            w_cur, b_cur = _max_layers(windows, w_cur, b_cur, weights, biases, slopes, box)
            continue
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.training:
            raise ValueError(f"unsupported layer {type(layer).__name__} in training mode: "
                             "call .eval() so that it is affine")
        w_l, b_l, shape = affine_matrix(layer, shape)
        w_cur, b_cur = w_l @ w_cur, w_l @ b_cur + b_l
    n_out = w_cur.shape[0]
    if output_index is None:
        if n_out != 1:
            raise ValueError(f"output_index is required for a network with {n_out} outputs")
        output_index = 0
    if isinstance(output_index, bool) or not isinstance(output_index, int) or \
            not 0 <= output_index < n_out:
        raise ValueError(f"output_index={output_index!r} is not in [0, {n_out})")
    weights.append(w_cur[output_index:output_index + 1])
    biases.append(b_cur[output_index:output_index + 1])
    return PiecewiseLinearNet(tuple(weights), tuple(biases), tuple(slopes))


def pool_first(layers: list[nn.Module]) -> list[nn.Module]:
    """`layers` with every rectifier that is directly followed by a MaxPool2d moved after it.

    act is nondecreasing, so max_i act(v_i) = act(max_i v_i): the network is the same function,
    and the MILP needs one rectifier per window instead of one per input (k times fewer units).
    """
    out = list(layers)
    moved = True
    while moved:
        moved = False
        for i in range(len(out) - 1):
            if isinstance(out[i], RECTIFIERS) and isinstance(out[i + 1], MAX_POOLS):
                out[i], out[i + 1] = out[i + 1], out[i]
                moved = True
    return out


def affine_matrix(layer: nn.Module, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(W, b, output shape) with layer(y) = W y + b on flattened y of the given shape (float64)."""
    n = int(np.prod(shape))
    if isinstance(layer, nn.Linear):
        if shape != (layer.in_features,):
            raise ValueError(f"layer Linear({layer.in_features}, {layer.out_features}) does not "
                             f"accept inputs of shape {shape}")
        w = layer.weight.detach().to(torch.float64).numpy().copy()
        b = (layer.bias.detach().to(torch.float64).numpy().copy() if layer.bias is not None
             else np.zeros(layer.out_features))
        return w, b, (layer.out_features,)
    layer64 = copy.deepcopy(layer).to(torch.float64).eval()
    with torch.no_grad():
        try:
            zero = layer64(torch.zeros((1, *shape), dtype=torch.float64))
            basis = layer64(torch.eye(n, dtype=torch.float64).reshape(n, *shape))
        except RuntimeError as exc:
            raise ValueError(f"layer {type(layer).__name__} does not accept inputs of shape "
                             f"{shape}: {exc}") from exc
    b = zero.reshape(-1).numpy().astype(np.float64)
    w = (basis.reshape(n, -1) - zero.reshape(1, -1)).T.numpy().astype(np.float64)
    return np.ascontiguousarray(w), b, tuple(zero.shape[1:])


def pool_windows(layer: nn.MaxPool2d, shape: tuple[int, ...]) -> tuple[list[list[int]], tuple]:
    """The flat input indices of each output of `layer` (in output order) and the output shape."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    (kh, kw), (sh, sw) = pair(layer.kernel_size), pair(layer.stride or layer.kernel_size)
    if pair(layer.padding) != (0, 0) or pair(layer.dilation) != (1, 1) or layer.ceil_mode \
            or layer.return_indices:
        raise ValueError(f"unsupported MaxPool2d(padding={layer.padding}, dilation={layer.dilation}, "
                         f"ceil_mode={layer.ceil_mode}): the certifier needs padding 0, dilation 1")
    if len(shape) != 3:
        raise ValueError(f"layer MaxPool2d needs inputs of shape (C, H, W), got {shape}")
    c, h, w = shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"layer MaxPool2d({layer.kernel_size}) does not accept inputs of shape {shape}")
    windows = [[(ch * h + i * sh + di) * w + j * sw + dj for di in range(kh) for dj in range(kw)]
               for ch in range(c) for i in range(oh) for j in range(ow)]
    return windows, (c, oh, ow)


def _interval(weights: list[np.ndarray], biases: list[np.ndarray], slopes: list[float],
              w_cur: np.ndarray, b_cur: np.ndarray, box: tuple[float, float]) -> np.ndarray:
    """Lower interval bounds of w_cur y + b_cur over the box, through the layers so far."""
    n_in = (weights[0] if weights else w_cur).shape[1]
    lo, hi = np.full(n_in, float(box[0])), np.full(n_in, float(box[1]))
    for w, b, s in zip(weights, biases, slopes):
        mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
        zl, zu = w @ mid + b - np.abs(w) @ rad, w @ mid + b + np.abs(w) @ rad
        lo, hi = np.where(zl >= 0, zl, s * zl), np.where(zu >= 0, zu, s * zu)
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return w_cur @ mid + b_cur - np.abs(w_cur) @ rad


def _max_layers(windows: list[list[int]], w_cur: np.ndarray, b_cur: np.ndarray,
                weights: list[np.ndarray], biases: list[np.ndarray], slopes: list[float],
                box: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Append the ReLU layers computing the max of each window of v = w_cur y + b_cur; returns
    the pending affine map (the window maxima as an affine function of the last layer)."""
    groups = [list(win) for win in windows]  # per window: rows of (w_cur, b_cur) still to reduce
    while any(len(g) > 1 for g in groups):
        low = _interval(weights, biases, slopes, w_cur, b_cur, box)
        rows_w, rows_b, outs = [], [], []  # outs: per window, list of (list of (unit, coef), const)
        for g in groups:
            reduced = []
            for k in range(0, len(g) - 1, 2):
                a, b = g[k], g[k + 1]
                m = 1.0 + abs(float(low[b]))
                # unit u1 = relu(v_a - v_b), unit u2 = relu(v_b + M): max = u1 + u2 - M
                rows_w += [w_cur[a] - w_cur[b], w_cur[b]]
                rows_b += [b_cur[a] - b_cur[b], b_cur[b] + m]
                reduced.append(([len(rows_w) - 2, len(rows_w) - 1], -m))
            if len(g) % 2:
                v = g[-1]
                m = 1.0 + abs(float(low[v]))
                rows_w.append(w_cur[v])
                rows_b.append(b_cur[v] + m)
                reduced.append(([len(rows_w) - 1], -m))
            outs.append(reduced)
        weights.append(np.array(rows_w))
        biases.append(np.array(rows_b))
        slopes.append(0.0)
        n_units = len(rows_w)
        new_w, new_b, new_groups = [], [], []
        for reduced in outs:
            idx = []
            for units, const in reduced:
                row = np.zeros(n_units)
                row[units] = 1.0
                new_w.append(row)
                new_b.append(const)
                idx.append(len(new_w) - 1)
            new_groups.append(idx)
        w_cur, b_cur, groups = np.array(new_w), np.array(new_b), new_groups
    order = [g[0] for g in groups]
    return w_cur[order], b_cur[order]
