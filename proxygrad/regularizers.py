"""Image regularizers R for activation maximization (all off by default in ``maximize``).

``maximize`` updates ``x <- P(R(x + lr * d))`` with ``P`` the projection to the box and ``R`` the
regularizers applied in the given order after gradient step ``t`` (0-based). Each acts on images
``[N, C, H, W]`` (any input with at least 3 dims; the last two are height and width) and treats
every start alone, so a batch of starts gives the same result as separate runs.

- ``Jitter(pixels)``: ``x <- roll(x, (dy, dx))`` over the last two dims with ``dy, dx`` drawn
  uniformly from ``{-pixels, ..., pixels}`` by the run's seeded generator, one shift for all starts.
- ``Blur(sigma, every=4)``: after steps ``t`` with ``(t + 1) % every == 0``, ``x <- g_sigma * x``,
  a separable Gaussian filter (radius ``ceil(3 sigma)``, reflect padding), channel by channel.
- ``L2Decay(decay)``: ``x <- (1 - decay) x``, the step of the penalty ``decay / (2 lr) * ||x||^2``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


class Regularizer:
    """Base class: ``r(x, step, generator) -> x'`` applied after the gradient update of ``step``."""

    label: str

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` when inputs of per-start shape ``shape`` cannot be regularized."""
        if len(shape) < 3:
            raise ValueError(f"{self.label} needs image inputs [C, H, W] per start, got shape {tuple(shape)}")

    def __call__(self, x: Tensor, step: int, generator: torch.Generator) -> Tensor:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Jitter(Regularizer):
    """Random roll of the image by ``(dy, dx)``, each uniform in ``{-pixels, ..., pixels}``."""

    pixels: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.pixels, bool) or not isinstance(self.pixels, int) or self.pixels < 0:
            raise ValueError(f"Jitter pixels must be an int >= 0, got {self.pixels!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"jitter(pixels={self.pixels})"

    def __call__(self, x: Tensor, step: int, generator: torch.Generator) -> Tensor:
        shift = torch.randint(-self.pixels, self.pixels + 1, (2,), generator=generator).tolist()
        return torch.roll(x, shifts=(shift[0], shift[1]), dims=(-2, -1))


def gaussian_kernel1d(sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Normalized kernel ``k_i ∝ exp(-i^2 / (2 sigma^2))`` for ``i = -r..r``, ``r = ceil(3 sigma)``."""
    radius = max(int(math.ceil(3.0 * sigma)), 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets ** 2) / (2.0 * sigma ** 2))
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


@dataclass(frozen=True)
class Blur(Regularizer):
    """Gaussian blur with standard deviation ``sigma`` (pixels) after every ``every``-th step."""

    sigma: float = 0.5
    every: int = 4

    def __post_init__(self) -> None:
        if (isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float))
                or not math.isfinite(self.sigma) or self.sigma <= 0):
            raise ValueError(f"Blur sigma must be a finite number > 0, got {self.sigma!r}")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"Blur every must be an int >= 1, got {self.every!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"blur(sigma={float(self.sigma):g},every={self.every})"

    def check(self, shape: tuple[int, ...]) -> None:
        super().check(shape)
        radius = max(int(math.ceil(3.0 * self.sigma)), 1)
        if min(shape[-2:]) <= radius:
            raise ValueError(f"{self.label} needs height and width > {radius}, got shape {tuple(shape)}")

    def __call__(self, x: Tensor, step: int, generator: torch.Generator) -> Tensor:
        if (step + 1) % self.every != 0:
            return x
        kernel = gaussian_kernel1d(float(self.sigma), x.dtype, x.device)
        radius = (kernel.numel() - 1) // 2
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        planes = x.reshape(-1, 1, h, w)
        planes = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
        planes = F.conv2d(planes, kernel.view(1, 1, 1, -1))
        planes = F.conv2d(planes, kernel.view(1, 1, -1, 1))
        return planes.reshape(*lead, h, w)


@dataclass(frozen=True)
class L2Decay(Regularizer):
    """Shrink ``x <- (1 - decay) x`` with ``0 <= decay < 1``."""

    decay: float = 0.01

    def __post_init__(self) -> None:
        if (isinstance(self.decay, bool) or not isinstance(self.decay, (int, float))
                or not 0.0 <= float(self.decay) < 1.0):
            raise ValueError(f"L2Decay decay must be in [0, 1), got {self.decay!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"l2_decay(decay={float(self.decay):g})"

    def check(self, shape: tuple[int, ...]) -> None:
        """Any shape works: the decay is elementwise."""

    def __call__(self, x: Tensor, step: int, generator: torch.Generator) -> Tensor:
        return x * (1.0 - float(self.decay))
