"""Network surgery for the certifier: the unit to certify as a scalar-output `nn.Sequential`.

A unit is a logit (output `index` of the model) or a channel (`index` of the top-level layer
`layer`, its activation averaged over positions: f = (1/HW) sum_p a_{index, p}). For a channel, the
model is cut after `layer`, every channel but `index` of the last convolution is dropped when only
per-channel layers (rectifiers, average and max pooling, Identity) follow it (the kept channel's values are
unchanged, so the MILP needs binaries for its units only), and a Linear head with weight 1/HW on the
channel's positions is appended.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .network import leaves

PER_CHANNEL = (nn.ReLU, nn.LeakyReLU, nn.AvgPool2d, nn.MaxPool2d, nn.Identity)


def check_certifiable(model: nn.Module) -> None:
    """Raise ValueError naming the first layer the certifier cannot encode; None if all can be.

    Accepted: nn.Sequential (nested) of Linear, Conv1d/2d, average pooling, Flatten, Identity,
    BatchNorm in eval mode, ReLU and LeakyReLU with 0 <= negative_slope < 1, MaxPool2d with
    padding 0, dilation 1 and ceil_mode off.
    """
    for layer in leaves(model):
        if isinstance(layer, nn.MaxPool2d) and (
                layer.padding not in (0, (0, 0)) or layer.dilation not in (1, (1, 1))
                or layer.ceil_mode or layer.return_indices):
            raise ValueError(f"unsupported MaxPool2d(padding={layer.padding}, dilation="
                             f"{layer.dilation}, ceil_mode={layer.ceil_mode}): the certifier "
                             "needs padding 0, dilation 1")
        if isinstance(layer, nn.LeakyReLU) and not 0.0 <= float(layer.negative_slope) < 1.0:
            raise ValueError(f"unsupported LeakyReLU negative_slope={layer.negative_slope}: "
                             "need 0 <= s < 1")
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.training:
            raise ValueError(f"unsupported layer {type(layer).__name__} in training mode: "
                             "call .eval() so that it is affine")


def only_channel(layers: list[nn.Module], c: int) -> tuple[list[nn.Module], int]:
    """Drop every channel but `c` of the last conv when only per-channel layers follow it.

    Returns (layers, channel index): channel `c` of the output becomes channel 0 of the pruned
    network, with the same values; otherwise the layers unchanged and `c`.
    """
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    conv = convs[-1] if convs else None
    if conv is None or conv.groups != 1:
        return layers, c
    at = max(i for i, m in enumerate(layers) if m is conv)
    if not all(isinstance(m, PER_CHANNEL) for m in layers[at + 1:]):
        return layers, c
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < conv.out_channels:
        raise ValueError(f"channel {c!r} does not exist: the layer has channels 0..{conv.out_channels - 1}")
    one = nn.Conv2d(conv.in_channels, 1, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode,
                    dtype=conv.weight.dtype, device=conv.weight.device)
    with torch.no_grad():
        one.weight.copy_(conv.weight[c:c + 1])
        if conv.bias is not None:
            one.bias.copy_(conv.bias[c:c + 1])
    return layers[:at] + [one] + layers[at + 1:], 0


def unit_network(model: nn.Sequential, input_shape: tuple[int, ...], kind: str, layer: str | None,
                 index: int) -> tuple[nn.Sequential, int]:
    """(network, output index) whose output `index` is the unit (`kind` "logit" or "channel").

    Logits: the model itself and `index`. Channels: the model up to the top-level layer `layer`,
    then (for a map output) Flatten and a Linear head averaging channel `index` (output 0).
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"the certifier needs an nn.Sequential model, got {type(model).__name__}")
    if kind == "logit":
        return model, index
    if kind != "channel":
        raise ValueError(f"kind must be 'logit' or 'channel', got {kind!r}")
    names = [n for n, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"certification needs a top-level layer of the model, got {layer!r}; known {names}")
    layers, index = only_channel(list(model.children())[: names.index(layer) + 1], index)
    prefix = nn.Sequential(*layers)
    param = next(model.parameters(), None)
    with torch.no_grad():
        out = prefix(torch.zeros(1, *input_shape, dtype=param.dtype if param is not None else None,
                                 device=param.device if param is not None else None))
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < out.shape[1]:
        raise ValueError(f"{'output' if out.dim() == 2 else 'channel'} {index!r} of layer {layer!r} does not "
                         f"exist: it has 0..{out.shape[1] - 1}")
    if out.dim() == 2:
        return prefix, index
    c, hw = out.shape[1], int(np.prod(out.shape[2:]))
    head = nn.Linear(c * hw, 1, dtype=out.dtype, device=out.device)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[0, index * hw:(index + 1) * hw] = 1.0 / hw
    return nn.Sequential(*prefix, nn.Flatten(), head), 0
