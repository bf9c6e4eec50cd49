"""Models defined outside the suite, by import path: ``zoo.load("package.module:factory", weights)``.

The factory (see :func:`benchmarks.framework.plugins.model_factory`) is called with no argument, under the
global torch RNG seeded by ``seed`` (so a randomly initialised factory is reproducible), and returns

- an ``nn.Module`` with an ``input_shape`` attribute (``(C, H, W)``; no preprocessing), or
- a tuple ``(module, preprocess, input_shape)``: ``preprocess`` is ``None`` or a module mapping the suite's
  domain ``[-1, 1]^input_shape`` to the module's input (part of the AM objective, as for torchvision models;
  :mod:`benchmarks.domain.adapters` has the usual ones).

``weights``: ``None`` or ``"factory"`` keeps the factory's own parameters; a path loads a local ``state_dict``
(strictly); anything else is a PluginError (exit 2). Layers are named as in ``module.named_modules()``. The model's ``weights_label`` (the records'
``weights`` column) is ``plugin:<version>`` or ``plugin:<version>:file:<name>:<sha256[:12]>``, with the
plug-in's version (:func:`benchmarks.framework.plugins.version`); its ``source`` is ``"plugin"``. The suite
has no data set in a plug-in model's domain, so its records carry no dataset maximum.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.framework import plugins

FACTORY = "factory"


def _unpack(spec: str, built: Any) -> tuple[nn.Module, nn.Module | None, tuple[int, ...]]:
    if isinstance(built, nn.Module):
        shape = getattr(built, "input_shape", None)
        if shape is None:
            raise plugins.PluginError(f"plug-in model {spec!r} returned an nn.Module without input_shape; return "
                                      f"(module, preprocess, input_shape) or set module.input_shape")
        module, preprocess = built, None
    elif isinstance(built, tuple) and len(built) == 3 and isinstance(built[0], nn.Module):
        module, preprocess, shape = built
        if preprocess is not None and not callable(preprocess):
            raise plugins.PluginError(f"plug-in model {spec!r}: preprocess must be None or callable, "
                                      f"got {type(preprocess).__name__}")
    else:
        raise plugins.PluginError(f"plug-in model {spec!r} returned {type(built).__name__}, not an nn.Module or "
                                  f"(nn.Module, preprocess, input_shape)")
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise plugins.PluginError(f"plug-in model {spec!r}: input_shape must be a tuple of ints, got {shape!r}") from None
    if len(shape) < 1 or any(s < 1 for s in shape):
        raise plugins.PluginError(f"plug-in model {spec!r}: input_shape must be positive ints, got {shape!r}")
    if preprocess is not None and not isinstance(preprocess, nn.Module):
        preprocess = _Wrapped(preprocess)
    return module, preprocess, shape


class _Wrapped(nn.Module):
    """A plain callable preprocess as a module (so ``.to(device)`` works on it)."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _load_state_dict(spec: str, module: nn.Module, path: Path) -> str:
    """Load the ``state_dict`` at ``path`` into ``module`` (strictly); its sha256. PluginError naming the file."""
    if not path.is_file():
        raise plugins.PluginError(f"plug-in model {spec!r}: weights file {str(path)!r} does not exist (the weights "
                                  f"of a plug-in model are {FACTORY!r}, the factory's own, or a state_dict path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        module.load_state_dict(state, strict=True)
    except Exception as exc:  # a corrupt or foreign file, or one that does not fit
        raise plugins.PluginError(f"plug-in model {spec!r}: cannot load weights file {str(path)!r}: {exc}") from exc
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(spec: str, weights: str | Path | None = None, *, seed: int = 0) -> dict[str, Any]:
    """The fields of the ``ZooModel`` of the model plug-in ``spec`` (see the module doc), without
    ``forward_slope`` (``zoo.load`` adds it); PluginError naming the spec or the weights file."""
    factory = plugins.model_factory(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = factory()
    module, preprocess, shape = _unpack(spec, built)
    version = plugins.version(spec)
    label, digest = f"plugin:{version}", None
    if weights not in (None, FACTORY):
        path = Path(weights)
        digest = _load_state_dict(spec, module, path)
        label = f"{label}:file:{path.name}:{digest[:12]}"
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    if preprocess is not None:
        preprocess.eval()
    return {"name": spec, "model": module, "preprocess": preprocess, "input_shape": shape, "weights_label": label,
            "source": "plugin", "sha256": digest, "dataset": None, "info": {"plugin_version": version}}
