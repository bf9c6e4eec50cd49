"""Flatten a supported network into alternating affine maps and rectifiers.

The certifier sees a network as  z_1 = W_0 x + b_0,  y_l = act_l(z_l),  z_{l+1} = W_l y_l + b_l,
ending in a scalar  f = c . y_L + d,  with act_l(z) = max(z, s_l z), 0 <= s_l < 1. Every affine
layer (Linear, Conv1d/2d, average pooling, Flatten, BatchNorm in eval mode, Identity) becomes a
dense matrix on the flattened activations, read off by evaluating the layer on the unit basis, and
consecutive affine layers are multiplied together.
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
    if isinstance(model, AFFINE + RECTIFIERS):
        return [model]
    raise ValueError(
        f"unsupported layer {type(model).__name__}: the certifier accepts nn.Sequential of "
        f"{', '.join(t.__name__ for t in AFFINE + RECTIFIERS)}"
    )


def linearize(model: nn.Module, input_shape: tuple[int, ...],
              output_index: int | None = None) -> PiecewiseLinearNet:
    """The `PiecewiseLinearNet` of `model` on inputs of `input_shape`, objective output `output_index`."""
    shape = tuple(int(s) for s in input_shape)
    n = int(np.prod(shape))
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    slopes: list[float] = []
    w_cur, b_cur = np.eye(n), np.zeros(n)  # pending affine map since the last rectifier
    for layer in leaves(model):
        if isinstance(layer, RECTIFIERS):
            s = float(layer.negative_slope) if isinstance(layer, nn.LeakyReLU) else 0.0
            if not 0.0 <= s < 1.0:
                raise ValueError(f"unsupported LeakyReLU negative_slope={s}: need 0 <= s < 1")
            weights.append(w_cur)
            biases.append(b_cur)
            slopes.append(s)
            w_cur, b_cur = np.eye(w_cur.shape[0]), np.zeros(w_cur.shape[0])
            continue
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.training:
            raise ValueError(f"unsupported layer {type(layer).__name__} in training mode: "
                             "call .eval() so that it is affine")
        w_l, b_l, shape = _affine_matrix(layer, shape)
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


def _affine_matrix(layer: nn.Module, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple]:
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
