"""The practitioners' activation-maximization recipes as built-in methods: Lucent-style and horama-style.

Written in the suite's own code from the recipes' published defaults (nothing vendored); every default
below names the public source it follows. A recipe is a frozen value (:class:`Lucent`, :class:`Horama`)
and :func:`run` runs it on ``f`` with the suite's contract (the same as ``proxygrad.maximize``):

For starts ``i = 1..N``, images of shape ``(C, H, W)`` and the box ``[lo, hi]``, a recipe optimizes a
spectrum ``z`` through its parametrization ``s = P(z)`` in the recipe's own image space ``[a, b]``;
the image the suite scores is the *adapter* ``A`` of it,

    x = A(s) = clamp(lo + (hi - lo) (s - a) / (b - a), lo, hi)         (in the box [lo, hi]^(C x H x W))

and each step ``t = 0..T-1`` is

    v_t = f(x_t)                                  the ORIGINAL f at x_t = A(P(z_t)), plain forward (trace[t])
    g_t = d/dz sum_k f(A(tau_{t,k}(P(z))))        at z_t, one transformed gradient forward per crop k
                                                  (``crops`` = 1 by default: one per step, as every
                                                  other method), under the ProxyGrad rule when given
    z_{t+1} = the optimizer's step from z_t along g_t (ascent, normalized, adam or a factory)

and ``trace[T] = f(x_T)``. ``tau_{t,k}`` are the recipe's random transforms of step ``t``, drawn from one
explicit ``torch.Generator('cpu').manual_seed(seed)`` (never the global RNG), the same draw for every start,
so a start runs the same alone as in a batch. Values are recorded only from the plain forward of the
untransformed image: never a transformed copy, never the proxy's value; ``best_value == f(best_input)``.
The transformed inputs the gradient forward sees may leave the box (horama's noise); the scored images never.

Budget: ``grad_evals = T * crops`` gradient forwards (equal to every other method's ``T`` at ``crops = 1``);
``forward_evals`` also counts the plain forward of every step. With the ProxyGrad rule ``r``
(``backward_slope``) the gradient forward runs inside one ``proxygrad.proxify`` scope (``rectifier_mode``
for a plain callable): the rule holds only during the gradient forward, so the forward value is the
network's own and only the backward changes (the paper's rule inside a practitioner's pipeline).

Starts. A recipe starts from its own published initial distribution, with the noise taken from the
suite's start ``x0`` (uniform in the box, seeded per unit): ``e = Phi^-1((x0 - lo) / (hi - lo))`` (clipped
to ``[1e-6, 1 - 1e-6]``) is i.i.d. standard normal per pixel, and ``z0 = sqrt(2) sd rfft2(e, ortho)`` (real
and imaginary parts): each component about ``N(0, sd^2)``, as the recipes draw their spectra. So every
variant of a recipe (plain or ProxyGrad) starts at the same image, a function of the suite's start alone;
the recipes' starts differ from the other methods' (their parametrizations cannot produce an arbitrary
image: horama's standardizes it), which the records show in ``f_start``.

Adapters (the record's ``method_adapter`` column, :func:`adapter_label`): the recipe's image space ``[a, b]``
is mapped affinely onto the box (Lucent ``[0, 1]``; horama ``values_range``); Lucent's final resize to
the network's input size takes the place of its upsampling to 224 pixels; colour (de)correlation applies
to 3-channel images only (the recipes' own rule for other channel counts in Lucent; horama supports RGB
only), so 1-channel images have none.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Lucid's / Lucent's colour-correlation square root (ImageNet), ``lucent/optvis/param/color.py``
#: (``color_correlation_svd_sqrt``), normalized by its largest column norm as Lucent does.
_LUCENT_COLOR = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
#: horama's colour-recorrelation matrix, ``horama/common.py`` (``recorrelate_colors``): pixel row vector
#: times this matrix.
_HORAMA_COLOR = ((0.56282854, 0.58447580, 0.58447580), (0.19482528, 0.00000000, -0.19482528),
                 (0.04329450, -0.10823626, 0.06494176))
_EDGE = 1e-6
_STD_EPS = 1e-4  # horama's standardize: (t - mean) / (std + 1e-4)

OPTIMIZERS: tuple[str, ...] = ("ascent", "normalized", "adam")


def _real(name: str, value: Any, *, low: float | None = None, low_open: bool = False,
          high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return v


def _integer(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


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


@dataclass(frozen=True)
class Lucent:
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
    resize bilinearly (``align_corners=True``) to the network's ``H x W``. Optimizer: Adam, lr 0.05 in
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

    name = "lucent"

    def __post_init__(self) -> None:
        _real("Lucent sd", self.sd, low=0.0, low_open=True)
        _real("Lucent decay", self.decay, low=0.0)
        _real("Lucent magic", self.magic, low=0.0, low_open=True)
        _integer("Lucent pad", self.pad, 0)
        _real("Lucent pad_value", self.pad_value, low=0.0, high=1.0)
        _integer("Lucent jitter", self.jitter, 1)
        _integer("Lucent jitter_after", self.jitter_after, 1)
        for field, values in (("scales", self.scales), ("angles", self.angles)):
            if not isinstance(values, tuple) or not values:
                raise ValueError(f"Lucent {field} must be a non-empty tuple of numbers, got {values!r}")
            for v in values:
                _real(f"Lucent {field} entry", v, low=0.0 if field == "scales" else None,
                      low_open=field == "scales")

    @property
    def space(self) -> tuple[float, float]:
        """The recipe's image space ``[a, b]``."""
        return (0.0, 1.0)

    def check(self, shape: tuple[int, ...]) -> None:
        _check_images(shape, "the Lucent recipe")
        if self.jitter > shape[-2] + 2 * self.pad or self.jitter > shape[-1] + 2 * self.pad:
            raise ValueError(f"Lucent jitter={self.jitter} exceeds the padded image of shape {tuple(shape)}")

    def color_note(self, channels: int) -> str:
        return "colour decorrelation" if channels == 3 else f"no colour decorrelation (C={channels})"

    def initial(self, noise: Tensor) -> Tensor:
        """``z0 = sqrt(2) sd rfft2(noise, ortho)`` as ``[N, C, H, W // 2 + 1, 2]`` (see the module doc)."""
        spectrum = torch.fft.rfft2(noise, norm="ortho") * (math.sqrt(2.0) * float(self.sd))
        return torch.view_as_real(spectrum).contiguous()

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
        y = F.pad(s, (self.pad,) * 4, mode="constant", value=float(self.pad_value))
        d = torch.randint(0, self.jitter, (2,), generator=generator).tolist()
        y = _translate(y, d[0], d[1])
        factor = float(self.scales[int(torch.randint(0, len(self.scales), (1,), generator=generator))])
        side_h, side_w = y.shape[-2:]
        new_h, new_w = math.ceil(factor * side_h), math.ceil(factor * side_w)
        y = F.interpolate(y, size=(new_h, new_w), mode="bilinear", align_corners=True)
        ph, pw = max(0, math.ceil((side_h - new_h) / 2)), max(0, math.ceil((side_w - new_w) / 2))
        y = F.pad(y, (pw, pw, ph, ph))
        angle = float(self.angles[int(torch.randint(0, len(self.angles), (1,), generator=generator))])
        y = _rotate(y, angle)
        d = torch.randint(0, self.jitter_after, (2,), generator=generator).tolist()
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
class Horama:
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
    (``noise = 0.05``; one noise field per step, shared by the starts). horama draws 6 crops per step
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

    name = "horama"
    sd = 1.0

    def __post_init__(self) -> None:
        _real("Horama decay", self.decay, low=0.0)
        if not isinstance(self.values_range, tuple) or len(self.values_range) != 2:
            raise ValueError(f"Horama values_range must be a pair (a, b), got {self.values_range!r}")
        a = _real("Horama values_range[0]", self.values_range[0])
        if _real("Horama values_range[1]", self.values_range[1]) <= a:
            raise ValueError(f"Horama values_range must have a < b, got {self.values_range!r}")
        if not isinstance(self.box, tuple) or len(self.box) != 2:
            raise ValueError(f"Horama box must be a pair (low, high), got {self.box!r}")
        lo = _real("Horama box[0]", self.box[0], low=0.0, low_open=True)
        if _real("Horama box[1]", self.box[1], high=1.0) < lo:
            raise ValueError(f"Horama box must have low <= high <= 1, got {self.box!r}")
        _real("Horama center_sd", self.center_sd, low=0.0)
        _real("Horama noise", self.noise, low=0.0)
        _integer("Horama crops", self.crops, 1)

    @property
    def space(self) -> tuple[float, float]:
        return (float(self.values_range[0]), float(self.values_range[1]))

    def check(self, shape: tuple[int, ...]) -> None:
        _check_images(shape, "the horama recipe")

    def color_note(self, channels: int) -> str:
        return "colour recorrelation" if channels == 3 else f"no colour recorrelation (C={channels})"

    def initial(self, noise: Tensor) -> Tensor:
        spectrum = torch.fft.rfft2(noise, norm="ortho") * (math.sqrt(2.0) * float(self.sd))
        return torch.view_as_real(spectrum).contiguous()

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
        centre = 0.5 + float(self.center_sd) * torch.randn(2, generator=generator, dtype=torch.float64)
        side = float(self.box[1]) + (float(self.box[1]) - float(self.box[0])) * float(
            torch.rand(1, generator=generator, dtype=torch.float64))
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


Recipe = Lucent | Horama
#: The recipes by name (a method kind's recipe: :mod:`benchmarks.framework.methods`).
RECIPES: dict[str, Recipe] = {"lucent": Lucent(), "horama": Horama()}


def adapter_label(recipe: Recipe, shape: tuple[int, ...], bounds: tuple[float, float]) -> str:
    """What the adapter does for images of ``shape`` in the box ``bounds`` (the records' ``method_adapter``)."""
    a, b = recipe.space
    lo, hi = bounds
    parts = [f"{recipe.name} image space [{a:g},{b:g}] -> box [{lo:g},{hi:g}] (affine)",
             recipe.color_note(int(shape[0]))]
    if isinstance(recipe, Lucent):
        parts.append(f"transformed image resized to {shape[1]}x{shape[2]}")
    parts.append("own start from the suite's start noise")
    return "; ".join(parts)


def start_noise(x0: Tensor, bounds: tuple[float, float]) -> Tensor:
    """``Phi^-1((x0 - lo) / (hi - lo))`` clipped to ``[1e-6, 1 - 1e-6]``: standard normal per pixel for uniform ``x0``."""
    lo, hi = bounds
    unit = ((x0 - lo) / (hi - lo)).clamp(_EDGE, 1.0 - _EDGE)
    return math.sqrt(2.0) * torch.erfinv(2.0 * unit - 1.0)


def _optimizer(optimizer: Any, variable: Tensor, lr: float) -> tuple[str, torch.optim.Optimizer | None]:
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS} or a callable params -> "
                             f"torch.optim.Optimizer, got {optimizer!r}")
        return optimizer, (torch.optim.Adam([variable], lr=lr, maximize=True) if optimizer == "adam" else None)
    if callable(optimizer):
        built = optimizer([variable])
        if not isinstance(built, torch.optim.Optimizer):
            raise ValueError(f"the optimizer factory must return a torch.optim.Optimizer, got {type(built).__name__}")
        return f"factory({getattr(optimizer, '__qualname__', type(optimizer).__name__)})", built
    raise ValueError(f"optimizer must be one of {OPTIMIZERS} or a callable, got {optimizer!r}")


def _values(out: Any, n: int) -> Tensor:
    if isinstance(out, Tensor) and out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if not isinstance(out, Tensor) or tuple(out.shape) != (n,) or not torch.is_floating_point(out):
        raise ValueError(f"f must map [N, *shape] to [N] floating values with N={n}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return out


def _reference(f: Any) -> Tensor | None:
    if isinstance(f, nn.Module):
        for t in list(f.parameters()) + list(f.buffers()):
            if torch.is_floating_point(t):
                return t
    return None


@contextlib.contextmanager
def _eval_mode(f: Any):
    saved = [(m, m.training) for m in f.modules()] if isinstance(f, nn.Module) else []
    for m, _ in saved:
        m.training = False
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


def run(recipe: Recipe, f: Callable[[Tensor], Tensor], x0: Tensor | None = None, *, steps: int, lr: float,
        optimizer: Any = "adam", seed: int = 0, backward_slope: Any = None, bounds: tuple[float, float] = (-1.0, 1.0),
        starts: int = 1, shape: Any = None, callback: Callable[..., None] | None = None, device: Any = None,
        dtype: torch.dtype | None = None, progress: bool = False) -> Any:
    """Run ``recipe`` on ``f`` from the suite's starts ``x0`` (or ``starts`` uniform starts of ``shape`` drawn
    as ``maximize`` draws them) for ``steps`` steps; a ``proxygrad.AMResult`` whose every value is the
    original ``f`` at an image in the box (see the module doc). ``backward_slope``: ``None`` (the recipe's
    own autograd gradient) or a ProxyGrad rule (a float slope or a ``BackwardRule``) for the gradient forward.
    ``progress`` is accepted for ``maximize``'s signature and ignored. ValueError naming a bad argument.
    """
    from proxygrad import AMResult, proxify, rectifier_mode, rules
    from proxygrad.engine import NonFiniteError

    if not isinstance(recipe, (Lucent, Horama)):
        raise ValueError(f"recipe must be a Lucent or Horama value, got {recipe!r}")
    steps = _integer("steps", steps, 1)
    seed = _integer("seed", seed, 0)
    lr = _real("lr", lr, low=0.0, low_open=True)
    if not callable(f):
        raise ValueError(f"f must be an nn.Module or a callable, got {type(f).__name__}")
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lo, hi), got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
    rule = None if backward_slope is None else rules.as_rule(backward_slope)
    ref = _reference(f)
    dtype = dtype or (ref.dtype if ref is not None else x0.dtype if isinstance(x0, Tensor) else torch.float32)
    device = torch.device(device or (ref.device if ref is not None else x0.device if isinstance(x0, Tensor) else "cpu"))
    if x0 is None:
        if shape is None:
            raise ValueError("give x0 or shape")
        from benchmarks.framework.am_function import starts as _starts

        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        x0 = _starts(f, _integer("starts", starts, 1), shape, seed, (lo, hi), dtype, device)
    if not isinstance(x0, Tensor) or x0.dim() < 2 or x0.shape[0] < 1:
        raise ValueError(f"x0 must be a tensor [N, *shape], got {getattr(x0, 'shape', x0)!r}")
    x0 = x0.detach().to(device=device, dtype=dtype)
    if not bool(torch.isfinite(x0).all()) or bool((x0 < lo).any()) or bool((x0 > hi).any()):
        raise ValueError(f"x0 must lie in the box [{lo}, {hi}]")
    n, shape = int(x0.shape[0]), tuple(x0.shape[1:])
    recipe.check(shape)
    a, b = recipe.space

    def adapt(s: Tensor) -> Tensor:
        return lo + (hi - lo) * (s - a) / (b - a)

    def scored(z: Tensor) -> Tensor:
        return adapt(recipe.image(z, shape)).clamp(lo, hi)

    variable = recipe.initial(start_noise(x0, (lo, hi))).detach().clone()
    label, torch_opt = _optimizer(optimizer, variable, lr)
    negate = torch_opt is not None and not torch_opt.defaults.get("maximize", False)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    crops = int(getattr(recipe, "crops", 1))
    trace = torch.empty((steps + 1, n), dtype=dtype, device=device)
    best_value = torch.full((n,), -math.inf, dtype=dtype, device=device)
    best_input = torch.empty_like(x0)
    best_step = torch.zeros(n, dtype=torch.int64, device=device)
    expand = (n,) + (1,) * len(shape)
    grad_evals = forward_evals = 0

    def record(t: int, v: Tensor, at: Tensor) -> None:
        nonlocal best_value, best_input, best_step
        finite = torch.isfinite(v)
        if not bool(finite.all()):
            start = int((~finite).nonzero()[0, 0])
            raise NonFiniteError("value of f", t, start, float(v[start]))
        trace[t] = v
        improved = v > best_value
        best_value = torch.where(improved, v, best_value)
        best_step = torch.where(improved, torch.full_like(best_step, t), best_step)
        best_input = torch.where(improved.view(expand), at, best_input)
        if callback is not None:
            callback(t, at.clone(), v.clone())

    scope = None
    if rule is not None:
        scope = proxify(f, rule, mode="mixed") if isinstance(f, nn.Module) else rectifier_mode(rule, "mixed")
        scope.use(None)
    start_time = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_eval_mode(f))
        if scope is not None:
            stack.enter_context(scope)
        for t in range(steps):
            z_in = variable.detach().requires_grad_(True)
            s = recipe.image(z_in, shape)
            total = None
            for k in range(crops):
                inputs = adapt(recipe.transform(s, generator, k))
                if scope is not None:
                    scope.use(rule)
                try:
                    out = _values(f(inputs), n)
                finally:
                    if scope is not None:
                        scope.use(None)
                total = out.sum() if total is None else total + out.sum()
            (grad,) = torch.autograd.grad(total, z_in, allow_unused=True)
            grad = torch.zeros_like(z_in) if grad is None else grad
            grad_evals += crops
            x_t = adapt(s.detach()).clamp(lo, hi)
            with torch.no_grad():
                value = _values(f(x_t), n)
            forward_evals += crops + 1
            record(t, value, x_t)
            if not bool(torch.isfinite(grad).all()):
                start = int((~torch.isfinite(grad.reshape(n, -1)).all(dim=1)).nonzero()[0, 0])
                raise NonFiniteError("gradient", t, start, math.nan)
            with torch.no_grad():
                if torch_opt is not None:
                    variable.grad = -grad if negate else grad
                    torch_opt.step()
                    variable.grad = None
                elif label == "normalized":
                    norm = grad.reshape(n, -1).norm(dim=1).view((n,) + (1,) * (grad.dim() - 1))
                    variable = variable + lr * torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1), 0)
                else:
                    variable = variable + lr * grad
        with torch.no_grad():
            final = scored(variable.detach())
            value = _values(f(final), n)
        forward_evals += 1
        record(steps, value, final)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    config = {"steps": steps, "lr": lr, "optimizer": label, "backward_slope": None if rule is None else rule.label,
              "proxy": "mixed" if rule is not None else None, "recipe": repr(recipe),
              "adapter": adapter_label(recipe, shape, (lo, hi)), "crops": crops, "bounds": [lo, hi], "starts": n,
              "shape": list(shape), "seed": seed, "x0": "recipe start from the suite's start noise",
              "dtype": str(dtype).replace("torch.", ""), "device": str(device)}
    return AMResult(best_value=best_value, best_input=best_input, best_step=best_step, value=value.clone(),
                    final_input=final, trace=trace, grad_evals=grad_evals, forward_evals=forward_evals,
                    seconds=time.perf_counter() - start_time, config=config)
