"""Adapters for peers' conventions: 3-channel ``[0, 1]`` images and Lucent-style layer names.

The suite's input domain is the box ``[-1, 1]^(C x H x W)`` of a model's ``input_shape`` (``C = 1`` for the
suite's Fashion-MNIST models, 3 for torchvision ones). Feature-visualization libraries (Lucent, horama)
work on RGB images in ``[0, 1]``.

- :func:`rgb_to_domain`: ``[N, 3, H', W']`` in ``[0, 1]`` -> ``[N, *input_shape]`` in ``[-1, 1]``:
  resize to ``(H, W)`` (bilinear with antialiasing: non-negative weights summing to 1, so values stay in
  ``[0, 1]``), then the channel mean for ``C = 1`` (kept for ``C = 3``), then ``x -> 2 x - 1``.
- :func:`domain_to_rgb`: the way back, ``[N, C, H, W]`` in ``[-1, 1]`` -> ``[N, 3, H', W']`` in ``[0, 1]``:
  ``x -> (x + 1) / 2``, the channel replicated for ``C = 1``, resized to ``size`` when given.
  For ``C = 1``, ``rgb_to_domain(domain_to_rgb(x))`` is ``x`` up to rounding (same size).
- :class:`UnitRGB`: the preprocess module ``[-1, 1]`` -> ``[0, 1]`` RGB for a model that expects RGB in
  ``[0, 1]`` (a plug-in model factory returns it as its ``preprocess``).
- Lucent names layers by ``named_modules()`` with ``.`` replaced by ``_`` (``features.8`` is ``features_8``)
  and objectives as ``"layer:channel"``, with ``"labels"`` for the output. :func:`lucent_layer` maps such a
  name to the module name the suite uses, and :func:`lucent_objective` gives the suite's objective for a
  Lucent objective string. The values differ only in the reduction: Lucent's ``channel`` objective is the
  loss ``-mean over batch and positions``; the suite's is per image, the mean over positions (``[N]``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def _check_images(x: Tensor, channels: Sequence[int], lo: float, hi: float, what: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] not in channels:
        raise ValueError(f"{what} must be a tensor [N, {'|'.join(map(str, channels))}, H, W], "
                         f"got {getattr(x, 'shape', x)!r}")
    if not bool(torch.isfinite(x).all()) or bool((x < lo).any()) or bool((x > hi).any()):
        raise ValueError(f"{what} must lie in [{lo}, {hi}]")


def _resize(x: Tensor, size: Sequence[int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return nn.functional.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def rgb_to_domain(images: Tensor, input_shape: Sequence[int]) -> Tensor:
    """RGB images in ``[0, 1]`` as inputs of the suite's domain ``[-1, 1]^input_shape`` (see the module doc)."""
    _check_images(images, (3,), 0.0, 1.0, "images")
    c, h, w = (int(s) for s in input_shape)
    if c not in (1, 3):
        raise ValueError(f"input_shape must have 1 or 3 channels, got {tuple(input_shape)!r}")
    x = _resize(images, (h, w)).clamp(0.0, 1.0)
    if c == 1:
        x = x.mean(dim=1, keepdim=True)
    return (2.0 * x - 1.0).clamp(-1.0, 1.0)


def domain_to_rgb(x: Tensor, size: Sequence[int] | None = None) -> Tensor:
    """Inputs of the suite's domain ``[N, C, H, W]`` in ``[-1, 1]`` as RGB images in ``[0, 1]``."""
    _check_images(x, (1, 3), -1.0, 1.0, "inputs")
    rgb = ((x + 1.0) / 2.0).clamp(0.0, 1.0)
    if rgb.shape[1] == 1:
        rgb = rgb.expand(-1, 3, -1, -1)
    return rgb if size is None else _resize(rgb, size).clamp(0.0, 1.0)


class UnitRGB(nn.Module):
    """``pre(x) = (x + 1) / 2`` with a 1-channel input replicated to 3: the suite's domain to ``[0, 1]`` RGB."""

    def forward(self, x: Tensor) -> Tensor:
        rgb = (x + 1.0) / 2.0
        return rgb.expand(-1, 3, -1, -1) if rgb.shape[1] == 1 else rgb


def lucent_layer(model: nn.Module, name: str) -> str:
    """The ``named_modules()`` name of the layer Lucent calls ``name`` (``"features_8"`` -> ``"features.8"``);
    a name that already is a module name is returned as is. ValueError naming it when none or several match."""
    names = [n for n, _ in model.named_modules() if n]
    if name in names:
        return name
    hits = [n for n in names if n.replace(".", "_") == name]
    if len(hits) != 1:
        shown = ", ".join(n.replace(".", "_") for n in names[:40])
        raise ValueError(f"layer {name!r}: {'no' if not hits else 'several'} modules match "
                         f"({hits or 'Lucent names: ' + shown})")
    return hits[0]


def lucent_objective(model: nn.Module, objective: str, *, preprocess: nn.Module | None = None) -> nn.Module:
    """The suite's objective for a Lucent objective string ``"layer:channel"`` (``"labels:k"``: logit ``k``)."""
    from proxygrad import objectives

    layer, sep, index = objective.rpartition(":")
    if not sep or not index.isdigit():
        raise ValueError(f"objective {objective!r} must be 'layer:channel' (Lucent's form)")
    if layer == "labels":
        return objectives.logit(model, int(index), preprocess=preprocess)
    return objectives.channel(model, lucent_layer(model, layer), int(index), preprocess=preprocess)
