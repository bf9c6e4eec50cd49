"""CNN architectures for the CNN and training harnesses.

Every rectifier is its own ``nn.ReLU`` / ``nn.LeakyReLU`` module object (never an inline ``F.relu``
and never one module reused), so a named layer is one rectifier and ``proxify`` sees every call.

Architectures (``build``):
- ``small_cnn``: conv(8, 3x3) - act - maxpool 2 - conv(16, 3x3) - act - maxpool 2 - linear 64 - act -
  linear; practical on a CPU.
- ``vgg_small``: VGG-style for 28x28: [conv 32, conv 32, pool, conv 64, conv 64, pool] - linear 256 - act -
  linear; ``batch_norm=True`` adds BatchNorm2d after each conv.
- ``tiny8``: for 8x8 inputs and exact certification: conv(4, 3x3, no padding) - act - avgpool 2 -
  flatten - linear 16 - act - linear; only Conv2d / Linear / rectifier / AvgPool2d / Flatten.
- ``tiny14``: for 14x14 inputs and exact certification with max-pooling: conv(2, 2x2, stride 2) - act -
  maxpool 2 - conv(8, 2x2) - act - maxpool 2 - flatten - linear.
- ``cert14``: for 14x14 inputs and exact certification of a network a person would train: conv(8, 2x2,
  stride 2) - act - flatten - linear 32 - act - linear (non-overlapping first-layer windows, no pooling).
- ``deep_cnn``: seven rectified layers without batch norm: [conv 8, conv 8, pool, conv 16, conv 16, pool,
  conv 16, conv 16] - linear 64 - act - linear (He initialization).
- ``resnet18_cifar``: ResNet-18 for 32x32 inputs (3x3 stem, no stem pooling, BasicBlocks 64-128-256-512).
- ``vgg11_cifar``: VGG-11 with BatchNorm for 32x32 inputs, global average pool, linear classifier.
- ``resnet18_small``: ``resnet18_cifar`` with base width ``width`` (default 16) for small grey inputs.
- ``vgg11_bn_small``: VGG-11-BN's conv sequence with widths ``width * (1, 2, 4, 4, 8, 8, 8, 8)`` and
  ceil-mode pools for 28x28, global average pool, linear classifier.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from proxygrad.checks import check_number

ARCHS: tuple[str, ...] = ("small_cnn", "vgg_small", "tiny8", "resnet18_cifar", "vgg11_cifar")
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky")


def _rectifier_factory(activation: str, negative_slope: float) -> Callable[[], nn.Module]:
    if activation == "relu":
        return nn.ReLU
    return lambda: nn.LeakyReLU(negative_slope)


def _small_cnn(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    side = s // 2 // 2
    return nn.Sequential(
        nn.Conv2d(c, 8, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * side * side, 64), act(), nn.Linear(64, k),
    )


def _vgg_small(act: Callable[[], nn.Module], c: int, k: int, s: int, batch_norm: bool = False) -> nn.Module:
    layers: list[nn.Module] = []
    for pair in ((c, 32), (32, 32), None, (32, 64), (64, 64), None):
        if pair is None:
            layers.append(nn.MaxPool2d(2))
            continue
        width_in, width = pair
        layers.append(nn.Conv2d(width_in, width, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(act())
    side = s // 2 // 2
    layers += [nn.Flatten(), nn.Linear(64 * side * side, 256), act(), nn.Linear(256, k)]
    return nn.Sequential(*layers)


def _tiny8(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    side = (s - 2) // 2
    return nn.Sequential(
        nn.Conv2d(c, 4, 3), act(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(4 * side * side, 16), act(), nn.Linear(16, k),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: ``act2(bn2(conv2(act1(bn1(conv1(x))))) + shortcut(x))``."""

    def __init__(self, cin: int, cout: int, stride: int, act: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = act()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: 3x3 stem, four stages of two BasicBlocks, global average pool, linear.

    ``width`` is the stem's and first stage's channel count; the stages have ``w, 2w, 4w, 8w`` channels.
    """

    def __init__(self, act: Callable[[], nn.Module], in_channels: int, num_classes: int, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = act()
        stages, cin = [], width
        for cout, stride in ((width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)):
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride, act), BasicBlock(cout, cout, 1, act)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.pool(x)))


def _vgg11(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    layers: list[nn.Module] = []
    side, cin = s, c
    for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if width == "M":
            if side >= 2:  # inputs smaller than 32x32 skip the pools that would empty the map
                layers.append(nn.MaxPool2d(2))
                side //= 2
            continue
        layers += [nn.Conv2d(cin, int(width), 3, padding=1, bias=False), nn.BatchNorm2d(int(width)), act()]
        cin = int(width)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, k)]
    return nn.Sequential(*layers)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": _small_cnn,
    "vgg_small": _vgg_small,
    "tiny8": _tiny8,
    "resnet18_cifar": lambda act, c, k, s, **_: ResNet18(act, c, k),
    "vgg11_cifar": _vgg11,
}
_MIN_INPUT = {"small_cnn": 4, "vgg_small": 4, "tiny8": 4, "resnet18_cifar": 1, "vgg11_cifar": 1}


def build(
    arch: str,
    *,
    activation: str = "relu",
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    negative_slope: float = 0.01,
    batch_norm: bool = False,
    width: int | None = None,
) -> nn.Module:
    """Build an untrained network ``[N, in_channels, input_size, input_size] -> [N, num_classes]``.

    ``activation="relu"`` uses ``max(0, x)``; ``"leaky"`` uses ``max(0, x) + negative_slope * min(0, x)``.
    Initialization is PyTorch's default for each layer and so follows the global RNG; use
    ``build_seeded`` for a seeded network. ``batch_norm`` applies to ``vgg_small`` only (the CIFAR
    networks always have BatchNorm; ``small_cnn`` and ``tiny8`` never). ``width`` is the base channel
    count of ``resnet18_small`` and ``vgg11_bn_small`` (``None``: 16) and must be ``None`` for the others.
    """
    if arch not in _BUILDERS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    check_number("negative_slope", negative_slope, min=0)
    check_number("num_classes", num_classes, integer=True, min=1)
    check_number("in_channels", in_channels, integer=True, min=1)
    check_number("input_size", input_size, integer=True, min=1)
    if input_size < _MIN_INPUT[arch]:
        raise ValueError(f"input_size {input_size} is too small for {arch} (at least {_MIN_INPUT[arch]})")
    act = _rectifier_factory(activation, float(negative_slope))
    if width is not None:
        if arch not in _WIDTH_ARCHS:
            raise ValueError(f"width = {width!r} applies to {', '.join(_WIDTH_ARCHS)} only, not to {arch!r}")
        check_number("width", width, integer=True, min=1)
        return _BUILDERS[arch](act, in_channels, num_classes, input_size, width=int(width))
    return _BUILDERS[arch](act, in_channels, num_classes, input_size, batch_norm=bool(batch_norm))


def build_seeded(seed: int, arch: str, **kwargs: Any) -> nn.Module:
    """``build(arch, **kwargs)`` under ``torch.manual_seed(seed)``, leaving the global RNG untouched.

    The same seed gives bit-identical initial weights, whatever the training method (paired design).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(arch, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- tiny14 (certifiable)
def _tiny14(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    """``tiny14``: for 14x14 inputs and exact certification with max-pooling: conv(2, 2x2, stride 2)
    - act - maxpool 2 - conv(8, 2x2) - act - maxpool 2 - flatten - linear; only Conv2d / Linear /
    rectifier / MaxPool2d (padding 0) / Flatten. Sides: s -> s // 2 -> halved -> minus 1 -> halved
    (14 -> 7 -> 3 -> 2 -> 1). The first convolution's windows do not overlap, so each of its
    outputs reads its own 2x2 input patch: the MILP of a unit needs few binaries (one per
    rectifier or max-pool comparison whose bounds straddle zero) and its relaxation stays tight
    enough to prove the channel units at the quick profile's node limit."""
    side = ((s // 2) // 2 - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c, 2, 2, stride=2), act(), nn.MaxPool2d(2),
        nn.Conv2d(2, 8, 2), act(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * side * side, k),
    )


ARCHS = ARCHS + ("tiny14",)
_BUILDERS["tiny14"] = _tiny14
_MIN_INPUT["tiny14"] = 12


# --------------------------------------------------------------------------- cert14 (certifiable, trained)
def _cert14(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    """``cert14``: for 14x14 inputs, certifiable and trained to a useful accuracy: conv(8, 2x2, stride 2)
    - act - flatten - linear 32 - act - linear; only Conv2d / Linear / rectifier / Flatten. The
    convolution's windows do not overlap (each output reads its own 2x2 patch), so a channel unit
    ``(1/P) sum_p relu(w . x_p + b)`` is a sum of independent 4-pixel problems, and a hidden unit of the
    linear layer sums the channels' patches with its own weights: the MILP's binaries are the first-layer
    rectifiers (8 per patch) and, for a logit, the 32 hidden ones. Sides: s -> s // 2 (14 -> 7)."""
    side = s // 2
    return nn.Sequential(
        nn.Conv2d(c, 8, 2, stride=2), act(), nn.Flatten(),
        nn.Linear(8 * side * side, 32), act(), nn.Linear(32, k),
    )


ARCHS = ARCHS + ("cert14",)
_BUILDERS["cert14"] = _cert14
_MIN_INPUT["cert14"] = 2


# ------------------------------------------------------------------------------- deep_cnn (appended)
def _deep_cnn(act: Callable[[], nn.Module], c: int, k: int, s: int, **_: Any) -> nn.Module:
    """``deep_cnn``: a deeper plain CNN without batch norm (where rectifiers die more easily):
    [conv 8, conv 8, pool, conv 16, conv 16, pool, conv 16, conv 16] (3x3, padding 1) - linear 64 - act -
    linear; seven rectifiers, about 4x the cost of ``small_cnn``.  He initialization (weights
    ``N(0, 2 / fan_in)``, biases 0; drawn from the global RNG, so ``build_seeded`` fixes it): with PyTorch's
    default initialization this plain stack stays at chance for the first epochs."""
    layers: list[nn.Module] = []
    for pair in ((c, 8), (8, 8), None, (8, 16), (16, 16), None, (16, 16), (16, 16)):
        if pair is None:
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [nn.Conv2d(pair[0], pair[1], 3, padding=1), act()]
    side = s // 2 // 2
    layers += [nn.Flatten(), nn.Linear(16 * side * side, 64), act(), nn.Linear(64, k)]
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


ARCHS = ARCHS + ("deep_cnn",)
_BUILDERS["deep_cnn"] = _deep_cnn
_MIN_INPUT["deep_cnn"] = 4


# ------------------------------------------------------- deep batch-norm networks for 28x28 (appended)
def _resnet18_small(act: Callable[[], nn.Module], c: int, k: int, s: int, width: int = 16,
                    **_: Any) -> nn.Module:
    """``resnet18_small``: the ResNet-18 family adapted to small grey inputs (e.g. 1x28x28): 3x3 stem
    conv (``width`` channels) + BN + act, four stages of two BasicBlocks with ``w, 2w, 4w, 8w`` channels
    (strides 1, 2, 2, 2: sides 28, 14, 7, 4), global average pool, linear.  Every rectifier is its own
    module: the stem's ``act1`` and ``layerS.B.act1`` / ``layerS.B.act2`` in each of the eight blocks
    (17 in all).  Width 16: 0.70 M parameters."""
    return ResNet18(act, c, k, width=width)


def _vgg11_bn_small(act: Callable[[], nn.Module], c: int, k: int, s: int, width: int = 16,
                    **_: Any) -> nn.Module:
    """``vgg11_bn_small``: VGG-11's convolution sequence with BatchNorm, widths ``w, 2w, 4w, 4w, 8w, 8w,
    8w, 8w`` (VGG-11's 64..512 scaled by ``w / 64``), each conv 3x3 (padding 1, no bias) - BN - act; the
    five max-pools (2x2, ``ceil_mode``, so an odd side rounds up) after convs 1, 2, 4, 6 and 8, but a pool
    that would take the map below 1x1 is skipped; then global average pool and a linear classifier.
    For 28x28 the sides are 28, 14, 7, 4, 2, 1; eight rectifiers.  Width 16: 0.58 M parameters."""
    layers: list[nn.Module] = []
    side, cin = s, c
    for factor in (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"):
        if factor == "M":
            if side >= 2:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                side = (side + 1) // 2
            continue
        cout = int(factor) * width
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), act()]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, k)]
    return nn.Sequential(*layers)


_WIDTH_ARCHS: tuple[str, ...] = ("resnet18_small", "vgg11_bn_small")
ARCHS = ARCHS + _WIDTH_ARCHS
_BUILDERS["resnet18_small"] = _resnet18_small
_BUILDERS["vgg11_bn_small"] = _vgg11_bn_small
_MIN_INPUT["resnet18_small"] = 1
_MIN_INPUT["vgg11_bn_small"] = 1
