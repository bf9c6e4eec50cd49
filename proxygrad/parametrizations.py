"""Input parametrizations ``x = param(z)`` for :func:`proxygrad.maximize` (its ``param`` argument).

With a parametrization the engine optimizes ``z`` and evaluates the original function at
``x = param(z)``, which lies in the box ``[lo, hi]^shape`` by construction.  A parametrization has

- ``check(shape)``: ``ValueError`` when per-start inputs of ``shape`` cannot be produced;
- ``initial(x0, bounds) -> z0``: a ``z`` whose image is (close to) the starts ``x0``;
- ``__call__(z, bounds, shape) -> x``: differentiable, ``[N, *shape]`` inside the box, row by row (starts never
  interact);
- ``label``: a stable name for records.

``FourierSquash(decay)`` (the Fourier basis with a squashing function of feature-visualization
libraries): for images ``[N, C, H, W]`` and ``z`` the real and imaginary parts of a 2-D real spectrum
``[N, C, H, W // 2 + 1, 2]``,

    u = irfft2(w * (z_re + i z_im), s=(H, W), norm="ortho")   with  w(f) = 1 / max(|f|, 1 / max(H, W))^decay
    x = clamp(lo + (hi - lo) * sigmoid(u), lo, hi)

(``|f|`` the frequency in cycles per pixel; ``decay = 0`` is the plain orthonormal Fourier basis).
The clamp only absorbs the last rounding of ``lo + (hi - lo) * s`` with ``s`` in ``[0, 1]``.
``initial`` inverts both maps: ``z0 = rfft2(logit(s0), norm="ortho") / w`` with
``s0 = (x0 - lo) / (hi - lo)`` kept in ``[1e-6, 1 - 1e-6]``, so ``param(z0)`` equals ``x0`` up to
that cut and rounding.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Parametrization", "FourierSquash"]

_EDGE = 1e-6


class Parametrization:
    """Base class of ``x = param(z)`` (see the module docstring)."""

    label: str

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` when per-start inputs of ``shape`` cannot be produced."""

    def initial(self, x0: Tensor, bounds: tuple[float, float]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, z: Tensor, bounds: tuple[float, float],
                 shape: tuple[int, ...]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class FourierSquash(Parametrization):
    """Images through a decaying Fourier basis and a sigmoid into the box; ``decay`` finite, ``>= 0``."""

    decay: float = 1.0

    def __post_init__(self) -> None:
        if (isinstance(self.decay, bool) or not isinstance(self.decay, numbers.Real)
                or not math.isfinite(float(self.decay)) or float(self.decay) < 0):
            raise ValueError(f"FourierSquash decay must be a finite number >= 0, got {self.decay!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"fourier_squash(decay={float(self.decay):g})"

    def check(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3:
            raise ValueError(f"FourierSquash needs images (C, H, W) per start, got shape {shape!r}")

    def _weights(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device)[:, None]
        fx = torch.fft.rfftfreq(width, dtype=torch.float64, device=device)[None, :]
        radius = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(height, width))
        return radius.pow(-float(self.decay)).to(dtype)

    def initial(self, x0: Tensor, bounds: tuple[float, float]) -> Tensor:
        lo, hi = bounds
        self.check(tuple(x0.shape[1:]))
        unit = ((x0 - lo) / (hi - lo)).clamp(_EDGE, 1.0 - _EDGE)
        spectrum = torch.fft.rfft2(torch.logit(unit), norm="ortho")
        spectrum = spectrum / self._weights(x0.shape[-2], x0.shape[-1], x0.dtype, x0.device)
        return torch.view_as_real(spectrum).contiguous()

    def __call__(self, z: Tensor, bounds: tuple[float, float], shape: tuple[int, ...]) -> Tensor:
        lo, hi = bounds
        _, height, width = shape
        if z.dim() != 5 or tuple(z.shape[-3:]) != (height, width // 2 + 1, 2):
            raise ValueError(f"FourierSquash expects z of shape [N, C, {height}, {width // 2 + 1}, 2] for "
                             f"images {shape}, got {tuple(z.shape)}")
        spectrum = torch.view_as_complex(z) * self._weights(height, width, z.dtype, z.device)
        pixels = torch.fft.irfft2(spectrum, s=(height, width), norm="ortho")
        return (lo + (hi - lo) * torch.sigmoid(pixels)).clamp(lo, hi)
