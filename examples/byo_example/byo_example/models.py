"""A model outside the suite: a small ReLU CNN on 1 x 8 x 8 inputs in [-1, 1].

Its weights are drawn by the factory from a fixed generator (seed 1234), so every call returns the same
network; a project would load its trained weights here (or give a state_dict path as the weights).
"""
from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE = (1, 8, 8)


def tiny_cnn() -> tuple[nn.Module, None, tuple[int, int, int]]:
    """``(module, preprocess, input_shape)``: Conv(1, 4, 3, pad 1) - ReLU - Conv(4, 4, 3, stride 2, pad 1) -
    ReLU - Flatten - Linear(64, 10); no preprocessing (the suite's domain [-1, 1] is the model's)."""
    g = torch.Generator().manual_seed(1234)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net, None, INPUT_SHAPE
