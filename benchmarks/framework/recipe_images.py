"""The practitioners' recipes as frozen values: :class:`Lucent` and :class:`Horama`, each an image
parametrization ``s = P(z)`` in the recipe's own image space, its published initial spectrum and its random
transforms, with the published defaults and the sources they follow. :mod:`benchmarks.framework.recipes`
runs them under the suite's contract.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from proxygrad.checks import check_number

#: Lucid's / Lucent's colour-correlation square root (ImageNet), ``lucent/optvis/param/color.py``
#: (``color_correlation_svd_sqrt``), normalized by its largest column norm as Lucent does.
_LUCENT_COLOR = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
#: horama's colour-recorrelation matrix, ``horama/common.py`` (``recorrelate_colors``): pixel row vector
#: times this matrix.
_HORAMA_COLOR = ((0.56282854, 0.58447580, 0.58447580), (0.19482528, 0.00000000, -0.19482528),
                 (0.04329450, -0.10823626, 0.06494176))
_STD_EPS = 1e-4  # horama's standardize: (t - mean) / (std + 1e-4)


def _initial_spectrum(noise: Tensor, sd: float) -> Tensor:
    """``z0 = sqrt(2) sd rfft2(noise, ortho)`` as ``[N, C, H, W // 2 + 1, 2]`` (real and imaginary parts):
    each component about ``N(0, sd^2)`` for standard normal ``noise``."""
    spectrum = torch.fft.rfft2(noise, norm="ortho") * (math.sqrt(2.0) * sd)
    return torch.view_as_real(spectrum).contiguous()


def _frequency_weights(height: int, width: int, decay: float, dtype: torch.dtype, device: Any) -> Tensor:
    """``w(f) = 1 / max(|f|, 1 / max(H, W))^decay`` on the ``rfft2`` grid ``[H, W // 2 + 1]``."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    radius = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(height, width))
    return radius.pow(-decay).to(dtype=dtype, device=device)


def _mix_colors(u: Tensor, matrix: Tensor) -> Tensor:
    """``u'[c] = sum_k u[k] matrix[k, c]`` at every pixel of ``u [N, 3, H, W]``."""
    return torch.einsum("nkhw,kc->nchw", u, matrix)


def _translate(x: Tensor, dy: int, dx: int) -> Tensor:
    """Shift the content of ``x`` by ``(dy, dx) >= 0`` pixels (down, right), zeros entering."""
    h, w = x.shape[-2:]
    return F.pad(x, (dx, 0, dy, 0))[..., :h, :w]


def _check_images(shape: tuple[int, ...], label: str) -> None:
    if len(shape) != 3 or min(shape[-2:]) < 2:
        raise ValueError(f"{label} needs images (C, H, W) with H, W >= 2 per start, got shape {tuple(shape)}")


class _SpectrumRecipe:
    """What both recipes share: a start spectrum drawn from the suite's start noise at the recipe's ``sd``,
    and the colour step they take on 3-channel images only."""

    sd: float
    colour_step: str

    def initial(self, noise: Tensor) -> Tensor:
        """The initial spectrum from the start noise (:func:`_initial_spectrum` at this recipe's ``sd``)."""
        return _initial_spectrum(noise, float(self.sd))

    def color_note(self, channels: int) -> str:
        """What the recipe does with colour on ``channels``-channel images (the adapter label's part)."""
        return self.colour_step if channels == 3 else f"no {self.colour_step} (C={channels})"


@dataclass(frozen=True)
class Lucent(_SpectrumRecipe):
    """Lucent's default ``render_vis`` recipe (torch-lucent, ``greentfrapp/lucent``).

    Parametrization (``lucent/optvis/param/images.py`` ``image``: ``fft=True``, ``decorrelate=True``;
    ``spatial.py`` ``fft_image``: ``decay_power=1``, ``sd=0.01``, the division by the "magic" 4;
    ``color.py`` ``to_valid_rgb``: colour decorrelation, then a sigmoid), for ``z`` the real and
    imaginary parts of an ``rfft2`` spectrum ``[N, C, H, W // 2 + 1, 2]``:

        u = irfft2(w * z, s=(H, W), norm="ortho") / magic,    w(f) = 1 / max(|f|, 1 / max(H, W))^decay
        s = sigmoid(D u)          (D: the normalized colour-correlation matrix for C = 3, else identity)

    so ``s`` lies in ``[0, 1]`` (the recipe's space). Transforms (``lucent/optvis/transform.py``
    ``standard_transforms``), applied to ``s`` in this order, one random draw per step for all starts:
    pad by ``pad`` pixels with ``pad_value``; translate by ``(dy, dx)`` uniform in ``{0..jitter-1}``
    (zeros entering); rescale by a factor drawn from ``scales`` (bilinear, ``align_corners=True``, to
    ``ceil(factor * side)``, then zero-padded by ``max(0, ceil((side - new) / 2))`` per edge); rotate by
    an angle (degrees) drawn from ``angles`` about the centre (bilinear, zeros outside); translate by
    ``{0..jitter_after-1}``; then (adapter, in place of Lucent's upsampling to 224 pixels in ``render.py``)
    resize bilinearly (``align_corners=True``) to the network's ``H x W``.

    Sizes in pixels. Lucent's pixel sizes (``pad`` 12, ``jitter`` 8, ``jitter_after`` 4) were set for its
    default image of ``reference_side = 128`` pixels (``render.py``: ``param.image(128)``, then upsampled to
    224). On an image of side ``S = min(H, W)`` they are scaled by ``r = min(1, S / reference_side)``
    (:meth:`sizes`): ``pad' = round(r pad)``, ``jitter' = max(1, round(r jitter))``, ``jitter_after' =
    max(1, round(r jitter_after))``, so a 28-pixel image is padded by 3 and jittered by {0, 1} then not at
    all, as a 128-pixel image is by 12, {0..7} and {0..3}; images of 128 pixels and more keep the published
    sizes. ``reference_side = None`` keeps the published pixel sizes on every image. Scales and angles are
    relative already. Optimizer: Adam, lr 0.05 in
    ``render.py`` (the suite runs its own optimizer axis and lr grid). Lucent's odd-width spectrum keeps
    one more column; here the spectrum is always ``W // 2 + 1`` wide (the same images for even ``W``).
    """

    sd: float = 0.01
    decay: float = 1.0
    magic: float = 4.0
    pad: int = 12
    pad_value: float = 0.5
    jitter: int = 8
    scales: tuple[float, ...] = tuple(1.0 + (i - 5) / 50.0 for i in range(11))
    angles: tuple[float, ...] = tuple(float(a) for a in range(-10, 11)) + (0.0,) * 5
    jitter_after: int = 4
    reference_side: int | None = 128

    name = "lucent"
    colour_step = "colour decorrelation"

    def __post_init__(self) -> None:
        check_number("Lucent sd", self.sd, min=0.0, min_exclusive=True)
        check_number("Lucent decay", self.decay, min=0.0)
        check_number("Lucent magic", self.magic, min=0.0, min_exclusive=True)
        check_number("Lucent pad", self.pad, integer=True, min=0)
        check_number("Lucent pad_value", self.pad_value, min=0.0, max=1.0)
        check_number("Lucent jitter", self.jitter, integer=True, min=1)
        check_number("Lucent jitter_after", self.jitter_after, integer=True, min=1)
        if self.reference_side is not None:
            check_number("Lucent reference_side", self.reference_side, integer=True, min=1)
        for field, values in (("scales", self.scales), ("angles", self.angles)):
            if not isinstance(values, tuple) or not values:
                raise ValueError(f"Lucent {field} must be a non-empty tuple of numbers, got {values!r}")
            for v in values:
                check_number(f"Lucent {field} entry", v, min=0.0 if field == "scales" else None,
                             min_exclusive=field == "scales")

    @property
    def space(self) -> tuple[float, float]:
        """The recipe's image space ``[a, b]``."""
        return (0.0, 1.0)

    def sizes(self, height: int, width: int) -> tuple[int, int, int]:
        """``(pad, jitter, jitter_after)`` in pixels on an ``height x width`` image (see the class doc)."""
        if self.reference_side is None:
            return int(self.pad), int(self.jitter), int(self.jitter_after)
        r = min(1.0, min(height, width) / float(self.reference_side))
        return (int(round(r * self.pad)), max(1, int(round(r * self.jitter))),
                max(1, int(round(r * self.jitter_after))))

    def size_note(self, height: int, width: int) -> str:
        """The pixel sizes used on ``height x width`` images (the adapter label's part)."""
        pad, jitter, after = self.sizes(height, width)
        if (pad, jitter, after) == (self.pad, self.jitter, self.jitter_after):
            return f"published transform sizes (pad {pad}, jitter {jitter}, {after})"
        return (f"transform sizes scaled by {min(height, width)}/{self.reference_side} "
                f"(pad {pad}, jitter {jitter}, {after})")

    def check(self, shape: tuple[int, ...]) -> None:
        _check_images(shape, "the Lucent recipe")
        pad, jitter, _ = self.sizes(shape[-2], shape[-1])
        if jitter > shape[-2] + 2 * pad or jitter > shape[-1] + 2 * pad:
            raise ValueError(f"Lucent jitter={jitter} exceeds the padded image of shape {tuple(shape)}")

    def image(self, z: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``s = P(z)`` in ``[0, 1]`` (see the class doc)."""
        channels, height, width = shape
        w = _frequency_weights(height, width, float(self.decay), z.dtype, z.device)
        u = torch.fft.irfft2(torch.view_as_complex(z) * w, s=(height, width), norm="ortho") / float(self.magic)
        if channels == 3:
            m = torch.tensor(_LUCENT_COLOR, dtype=torch.float64)
            m = (m / m.norm(dim=0).max()).T  # Lucent multiplies pixel rows by the normalized matrix's transpose
            u = _mix_colors(u, m.to(dtype=u.dtype, device=u.device))
        return torch.sigmoid(u)

    def transform(self, s: Tensor, generator: torch.Generator, k: int) -> Tensor:
        """The randomly transformed ``s`` the gradient forward sees (one draw per call), resized to ``s``'s size."""
        height, width = s.shape[-2:]
        pad, jitter, jitter_after = self.sizes(height, width)
        y = F.pad(s, (pad,) * 4, mode="constant", value=float(self.pad_value))
        d = torch.randint(0, jitter, (2,), generator=generator).tolist()
        y = _translate(y, d[0], d[1])
        factor = float(self.scales[int(torch.randint(0, len(self.scales), (1,), generator=generator))])
        side_h, side_w = y.shape[-2:]
        new_h, new_w = math.ceil(factor * side_h), math.ceil(factor * side_w)
        y = F.interpolate(y, size=(new_h, new_w), mode="bilinear", align_corners=True)
        ph, pw = max(0, math.ceil((side_h - new_h) / 2)), max(0, math.ceil((side_w - new_w) / 2))
        y = F.pad(y, (pw, pw, ph, ph))
        angle = float(self.angles[int(torch.randint(0, len(self.angles), (1,), generator=generator))])
        y = _rotate(y, angle)
        d = torch.randint(0, jitter_after, (2,), generator=generator).tolist()
        y = _translate(y, d[0], d[1])
        return F.interpolate(y, size=(height, width), mode="bilinear", align_corners=True)


def _rotate(x: Tensor, degrees: float) -> Tensor:
    """``x`` rotated by ``degrees`` about its centre ``((W-1)/2, (H-1)/2)``: bilinear, zeros outside."""
    if degrees == 0.0:
        return x
    n, _, h, w = x.shape
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # output pixel p samples the input at R(-a) (p - centre) + centre, in align_corners=True coordinates
    theta = torch.tensor([[c, s * (h - 1) / (w - 1), 0.0], [-s * (w - 1) / (h - 1), c, 0.0]],
                         dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


@dataclass(frozen=True)
class Horama(_SpectrumRecipe):
    """horama's Fourier feature-visualization recipe (``serre-lab/Horama``, ``horama/fourier_fv.py``
    ``fourier`` and ``horama/common.py``).

    Parametrization (``fourier_preconditionner``, ``get_fft_scale``): with ``std(.)`` the standardization
    ``(t - mean(t)) / (std(t) + 1e-4)`` over one start's whole tensor (horama's ``standardize``; here per
    start, so starts stay independent), ``z`` the real and imaginary parts of ``[N, C, H, W // 2 + 1]``,

        u = std(irfft2(std(z) * w(f) * sqrt(H W), s=(H, W)))        w(f) = 1 / max(|f|, 1 / max(H, W))^decay
        s = a + (b - a) sigmoid(M u)       (M: horama's colour recorrelation for C = 3, else identity)

    with ``decay = 1.5`` and ``[a, b] = values_range = (-2.5, 2.5)`` (the recipe's space). Transform
    (``common.py`` ``optimization_step``), one draw per step for all starts and per crop: a square crop
    centred at ``(0.5 + 0.15 n_x, 0.5 + 0.15 n_y)`` (fractions of the side, ``n`` standard normal) of side
    fraction ``box[1] + (box[1] - box[0]) u`` (``u`` uniform, as horama's code draws it: in
    ``[0.25, 0.30]`` for ``box = (0.20, 0.25)``), resized bilinearly to ``H x W`` at the bin centres
    (``torchvision.ops.roi_align`` there, zeros outside), plus ``noise * n + noise * (u - 0.5)`` per pixel
    (``noise = 0.05``; one noise field per step, shared by the starts).

    Crop geometry (the adapter). horama's crop fractions are fractions of its own canvas of ``image_size =
    1280`` pixels, and each crop is resized to the network's ``model_input_size = 224`` pixels (``fourier``'s
    defaults): a crop spans ``0.25..0.30 x 1280 / 224 = 1.43..1.71`` network inputs, so the network sees the
    canvas zoomed out by 1.4-1.7x, and the centre moves with a standard deviation of ``0.15 x 1280 / 224 =
    0.86`` network inputs. In the suite the canvas is the network's input (the scored image), so the adapter
    keeps that geometry relative to the network's input: side and centre shift, in units of the suite's image
    side, are horama's fractions times ``r = image_size / model_input_size`` (:meth:`crop_geometry`), zeros
    around the image. ``image_size == model_input_size`` keeps horama's fractions as fractions of the suite's
    image (a crop of 0.25-0.30 of a 28-pixel image zooms in 3.3-4x: the network never sees the whole
    image). horama draws 6 crops per step
    (``crops_per_iteration``); the suite's default ``crops = 1`` keeps one gradient forward per step, the
    budget of every other method (``crops > 1`` counts ``crops`` gradient forwards per step). horama's
    initial spectrum is complex ``N(0, 1)`` (scale-free after ``std``) and its optimizer NAdam with lr 1.0
    (the suite runs its own optimizer axis and lr grid).
    """

    decay: float = 1.5
    values_range: tuple[float, float] = (-2.5, 2.5)
    box: tuple[float, float] = (0.20, 0.25)
    center_sd: float = 0.15
    noise: float = 0.05
    crops: int = 1
    image_size: int = 1280
    model_input_size: int = 224

    name = "horama"
    colour_step = "colour recorrelation"
    sd = 1.0

    def __post_init__(self) -> None:
        check_number("Horama decay", self.decay, min=0.0)
        if not isinstance(self.values_range, tuple) or len(self.values_range) != 2:
            raise ValueError(f"Horama values_range must be a pair (a, b), got {self.values_range!r}")
        a = check_number("Horama values_range[0]", self.values_range[0])
        if check_number("Horama values_range[1]", self.values_range[1]) <= a:
            raise ValueError(f"Horama values_range must have a < b, got {self.values_range!r}")
        if not isinstance(self.box, tuple) or len(self.box) != 2:
            raise ValueError(f"Horama box must be a pair (low, high), got {self.box!r}")
        lo = check_number("Horama box[0]", self.box[0], min=0.0, min_exclusive=True)
        if check_number("Horama box[1]", self.box[1], max=1.0) < lo:
            raise ValueError(f"Horama box must have low <= high <= 1, got {self.box!r}")
        check_number("Horama center_sd", self.center_sd, min=0.0)
        check_number("Horama noise", self.noise, min=0.0)
        check_number("Horama crops", self.crops, integer=True, min=1)
        check_number("Horama image_size", self.image_size, integer=True, min=1)
        check_number("Horama model_input_size", self.model_input_size, integer=True, min=1)

    def crop_geometry(self) -> tuple[float, float, float]:
        """``(low, high, centre_sd)``: the crop's side range and its centre's standard deviation, in units of
        the suite's image side (horama's fractions times ``image_size / model_input_size``; see the class doc)."""
        r = float(self.image_size) / float(self.model_input_size)
        return (r * float(self.box[1]), r * (2.0 * float(self.box[1]) - float(self.box[0])), r * float(self.center_sd))

    def size_note(self, height: int, width: int) -> str:
        """The crop geometry used (the adapter label's part)."""
        low, high, sd = self.crop_geometry()
        if self.image_size == self.model_input_size:
            return f"published crop fractions of the image (side {low:.3g}-{high:.3g}, centre sd {sd:.3g})"
        return (f"crop of {low:.3g}-{high:.3g} image sides, centre sd {sd:.3g} (horama's fractions x "
                f"{self.image_size}/{self.model_input_size}, zeros around the image)")

    @property
    def space(self) -> tuple[float, float]:
        return (float(self.values_range[0]), float(self.values_range[1]))

    def check(self, shape: tuple[int, ...]) -> None:
        _check_images(shape, "the horama recipe")

    def image(self, z: Tensor, shape: tuple[int, ...]) -> Tensor:
        channels, height, width = shape
        spectrum = torch.view_as_complex(z)
        n = spectrum.shape[0]
        flat = spectrum.reshape(n, -1)
        centred = flat - flat.mean(dim=1, keepdim=True)
        std = torch.sqrt((centred.abs() ** 2).sum(dim=1, keepdim=True) / (flat.shape[1] - 1))
        spectrum = (centred / (std + _STD_EPS)).reshape(spectrum.shape)
        w = _frequency_weights(height, width, float(self.decay), z.dtype, z.device) * math.sqrt(height * width)
        u = torch.fft.irfft2(spectrum * w, s=(height, width))
        flat = u.reshape(n, -1)
        u = ((flat - flat.mean(dim=1, keepdim=True)) / (flat.std(dim=1, keepdim=True) + _STD_EPS)).reshape(u.shape)
        if channels == 3:
            u = _mix_colors(u, torch.tensor(_HORAMA_COLOR, dtype=u.dtype, device=u.device))
        a, b = self.space
        return a + (b - a) * torch.sigmoid(u)

    def transform(self, s: Tensor, generator: torch.Generator, k: int) -> Tensor:
        n, channels, height, width = s.shape
        low, high, centre_sd = self.crop_geometry()
        centre = 0.5 + centre_sd * torch.randn(2, generator=generator, dtype=torch.float64)
        side = low + (high - low) * float(torch.rand(1, generator=generator, dtype=torch.float64))
        # roi_align (aligned=False): output bin i samples the input index y1 + (i + 0.5) (y2 - y1) / H
        rows = (float(centre[1]) - side / 2 + (torch.arange(height, dtype=torch.float64) + 0.5) * side / height) * height
        cols = (float(centre[0]) - side / 2 + (torch.arange(width, dtype=torch.float64) + 0.5) * side / width) * width
        gy = 2.0 * rows / (height - 1) - 1.0
        gx = 2.0 * cols / (width - 1) - 1.0
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
        grid = grid.to(dtype=s.dtype, device=s.device).expand(n, height, width, 2)
        y = F.grid_sample(s, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        gauss = torch.randn((channels, height, width), generator=generator, dtype=s.dtype)
        uniform = torch.rand((channels, height, width), generator=generator, dtype=s.dtype) - 0.5
        return y + (float(self.noise) * (gauss + uniform)).to(s.device)
