"""The model zoo: the suite's own Fashion-MNIST checkpoints and torchvision classifiers, by name.

``load(name, weights)`` returns a ``ZooModel``: the network in eval mode with frozen parameters, the
input preprocessing that is part of the AM objective ``f`` (AM always works on inputs in [-1, 1]),
the input shape, the rectifiers' forward slope, and a ``weights_label`` that every record carries.

- Suite models (``SUITE``) are trained by ``python -m benchmarks.domain.train_models`` on inputs in [-1, 1]
  (identity preprocessing); their checkpoints live in ``results/models/<name>.pt`` next to a manifest
  ``<name>.json`` (sha256, test accuracy, training config); loading verifies the sha256.
- torchvision classifiers (``torchvision.models.list_models``) take ``weights="imagenet"`` (the
  architecture's DEFAULT weights through torchvision's own mechanism), a path to a local state_dict,
  or ``None`` / ``"random-init"`` (seeded random initialisation, labelled ``"random-init"``).
  Their preprocessing maps [-1, 1] to ImageNet-normalised input.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Where the committed suite checkpoints live.
MODELS_DIR = Path(__file__).resolve().parents[2] / "results" / "models"
#: Label of randomly initialised weights; every record of such a model carries it.
RANDOM_INIT = "random-init"
IMAGENET = "imagenet"


class WeightsError(ValueError):
    """Weights cannot be found, fetched, verified or loaded; the message says what to do."""


@dataclass(frozen=True)
class SuiteModel:
    """A network the suite trains itself, with its training recipe.

    ``train_limit``: number of training images used (the first ones of the training split; ``None`` = all).
    ``width``: base channel count of the architectures that take one (``models.build``'s ``width``);
    ``None`` (the default) leaves it out of the build arguments and of the recipe.
    """

    name: str
    arch: str
    activation: str = "relu"
    negative_slope: float = 0.01
    input_size: int = 28
    dataset: str = "fashion-mnist"
    in_channels: int = 1
    num_classes: int = 10
    epochs: int = 2
    lr: float = 0.05
    batch_size: int = 128
    seed: int = 0
    train_limit: int | None = None
    width: int | None = None

    @property
    def forward_slope(self) -> float:
        """Negative-side slope of the rectifiers: 0 for ReLU, ``negative_slope`` for Leaky ReLU."""
        return float(self.negative_slope) if self.activation == "leaky" else 0.0

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``benchmarks.domain.models.build`` for this network."""
        kwargs: dict[str, Any] = {"activation": self.activation, "num_classes": self.num_classes,
                                  "in_channels": self.in_channels, "input_size": self.input_size,
                                  "negative_slope": self.negative_slope}
        if self.width is not None:
            kwargs["width"] = self.width
        return kwargs

    def training_config(self) -> dict[str, Any]:
        """The recipe as a JSON-able dict (written into the manifest); ``width`` only when set."""
        config = asdict(self)
        if self.width is None:
            del config["width"]
        return config


SUITE: dict[str, SuiteModel] = {
    "fmnist-vgg-relu": SuiteModel("fmnist-vgg-relu", "vgg_small", activation="relu",
                                  epochs=2, lr=0.05, batch_size=64, seed=0, train_limit=None),
    "fmnist-vgg-leaky": SuiteModel("fmnist-vgg-leaky", "vgg_small", activation="leaky", negative_slope=0.01,
                                   epochs=2, lr=0.05, batch_size=64, seed=0, train_limit=None),
    "fmnist-tiny8": SuiteModel("fmnist-tiny8", "tiny8", activation="relu", input_size=8,
                               epochs=4, lr=0.05, batch_size=128, seed=0, train_limit=None),
    "fmnist-tiny14": SuiteModel("fmnist-tiny14", "tiny14", activation="relu", input_size=14,
                                epochs=4, lr=0.05, batch_size=128, seed=0, train_limit=None),
    "fmnist-cert14": SuiteModel("fmnist-cert14", "cert14", activation="relu", input_size=14,
                                epochs=4, lr=0.05, batch_size=128, seed=0, train_limit=None),
    # Deep batch-norm networks (SGD momentum 0.9, weight decay 5e-4, cosine schedule; trained on a CPU
    # with torch's default 2 intra-op threads, which the committed bytes depend on).
    "fmnist-resnet-relu": SuiteModel("fmnist-resnet-relu", "resnet18_small", activation="relu", width=16,
                                     epochs=7, lr=0.1, batch_size=128, seed=0, train_limit=None),
    "fmnist-vggbn-relu": SuiteModel("fmnist-vggbn-relu", "vgg11_bn_small", activation="relu", width=16,
                                    epochs=10, lr=0.1, batch_size=128, seed=0, train_limit=None),
    "fmnist-vggbn-leaky": SuiteModel("fmnist-vggbn-leaky", "vgg11_bn_small", activation="leaky",
                                     negative_slope=0.01, width=16,
                                     epochs=10, lr=0.1, batch_size=128, seed=0, train_limit=None),
}


@dataclass
class ZooModel:
    """A loaded network ready for AM.

    The AM objective is ``f(x) = unit(model(preprocess(x)))`` for ``x`` in ``[-1, 1]^input_shape``.
    ``dataset``: the data set whose test split lives in the same input domain (for the dataset
    maximum), or ``None`` when the suite has no such data (torchvision models: ImageNet is not shipped).
    """

    name: str
    model: nn.Module
    preprocess: nn.Module | None
    input_shape: tuple[int, ...]
    forward_slope: float
    weights_label: str
    source: str
    sha256: str | None = None
    dataset: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """False for randomly initialised weights."""
        return self.weights_label != RANDOM_INIT


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_path(name: str, models_dir: str | Path | None = None) -> Path:
    """``<models_dir>/<name>.pt``."""
    return Path(models_dir or MODELS_DIR) / f"{name}.pt"


def manifest_path(name: str, models_dir: str | Path | None = None) -> Path:
    """``<models_dir>/<name>.json``."""
    return Path(models_dir or MODELS_DIR) / f"{name}.json"


def read_manifest(name: str, models_dir: str | Path | None = None) -> dict[str, Any]:
    """The manifest of suite model ``name``; ``WeightsError`` saying how to create it when missing."""
    path = manifest_path(name, models_dir)
    if not path.is_file():
        raise WeightsError(f"no manifest {path} for suite model {name!r}; "
                           f"train it with `python -m benchmarks.domain.train_models --only {name}`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"manifest {path} of suite model {name!r} is damaged ({exc}); restore the "
                           f"committed file (git checkout -- {path.name}) or retrain with "
                           f"`python -m benchmarks.domain.train_models --only {name}`") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise WeightsError(f"manifest {path} of suite model {name!r} is damaged: it holds no sha256 "
                           f"string; restore the committed file or retrain the model")
    return manifest


def torchvision_names() -> list[str]:
    """Classification architectures torchvision can build by name."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def names() -> list[str]:
    """Every loadable model name: suite models first, then torchvision classifiers."""
    return list(SUITE) + torchvision_names()


def build_suite(name: str) -> nn.Module:
    """Untrained suite network ``name`` (architecture only)."""
    from benchmarks.domain import models

    spec = _suite_spec(name)
    return models.build(spec.arch, **spec.build_kwargs())


def _suite_spec(name: str) -> SuiteModel:
    if name not in SUITE:
        raise ValueError(f"unknown suite model {name!r}; known: {sorted(SUITE)}")
    return SUITE[name]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file
        raise WeightsError(f"cannot read weights file {str(path)!r}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {str(path)!r} holds a {type(state).__name__}, not a state_dict")
    return state


def _load_into(model: nn.Module, path: Path) -> None:
    state = _read_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"weights file {str(path)!r} does not fit the architecture: {exc}") from exc


def _finish(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def rectifier_slope(model: nn.Module) -> float:
    """Negative-side slope of the network's rectifier modules (0.0 for ReLU-only networks).

    Raises ``ValueError`` if LeakyReLU modules with different slopes are mixed.
    """
    slopes = {float(m.negative_slope) for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    if len(slopes) > 1:
        raise ValueError(f"mixed LeakyReLU slopes {sorted(slopes)} in one network")
    return slopes.pop() if slopes else 0.0


def load_suite(name: str, weights: str | Path | None = None, *,
               models_dir: str | Path | None = None, seed: int = 0) -> ZooModel:
    """Suite model ``name`` with its committed checkpoint (sha256 verified), a local state_dict, or
    ``"random-init"``: the architecture's initialisation under ``torch.manual_seed(seed)`` (drawn in a
    forked RNG, so the result depends on ``seed`` only, never on the caller's random state)."""
    spec = _suite_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_suite(name)
    if weights is None:
        path = checkpoint_path(name, models_dir)
        if not path.is_file():
            raise WeightsError(f"checkpoint {path} of suite model {name!r} is missing; "
                               f"train it with `python -m benchmarks.domain.train_models --only {name}`")
        manifest = read_manifest(name, models_dir)
        digest = sha256_file(path)
        if digest != manifest.get("sha256"):
            raise WeightsError(f"checkpoint {path} has sha256 {digest}, manifest says "
                               f"{manifest.get('sha256')}; retrain or restore the committed file")
        _load_into(model, path)
        label, info = f"suite:{digest[:12]}", {"test_accuracy": manifest.get("test_accuracy")}
    elif weights == RANDOM_INIT:
        label, digest, info = RANDOM_INIT, None, {}
    else:
        path = Path(weights)
        _load_into(model, path)
        digest = sha256_file(path)
        label, info = f"file:{path.name}:{digest[:12]}", {}
    return ZooModel(name=name, model=_finish(model), preprocess=None,
                    input_shape=(spec.in_channels, spec.input_size, spec.input_size),
                    forward_slope=spec.forward_slope, weights_label=label, source="suite",
                    sha256=digest, dataset=spec.dataset, info=info)


def load_torchvision(name: str, weights: str | Path | None = None, *, input_size: int = 224,
                     seed: int = 0) -> ZooModel:
    """torchvision classifier ``name`` with ImageNet weights, a local state_dict, or random init.

    Random initialisation is seeded by ``seed``. ``input_size`` is the side of the square RGB input.
    """
    import torchvision

    from proxygrad.objectives import imagenet_preprocess

    known = torchvision_names()
    if name not in known:
        raise ValueError(f"unknown model {name!r}; suite models: {sorted(SUITE)}; "
                         f"torchvision classifiers: {', '.join(known)}")
    if not isinstance(input_size, int) or input_size < 16:
        raise ValueError(f"input_size must be an int >= 16, got {input_size!r}")
    extra: dict[str, Any] = {"init_weights": True} if name in ("googlenet", "inception_v3") else {}
    digest = None
    if weights == IMAGENET:
        enum = torchvision.models.get_model_weights(name).DEFAULT
        try:
            model = torchvision.models.get_model(name, weights=enum)
        except Exception as exc:  # offline: URLError / OSError / RuntimeError from the hub
            raise WeightsError(
                f"cannot fetch the ImageNet weights {enum} of {name!r} ({type(exc).__name__}: {exc}); "
                f"without network access download {enum.url} elsewhere and give its path as the model's "
                f"weights (weights = \"PATH\" in the cnn-am profile's model table; "
                f"zoo.load({name!r}, weights=PATH) from Python), "
                f"or place it in torch's hub cache ({torch.hub.get_dir()}/checkpoints)") from exc
        label = f"imagenet:{enum}"
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = torchvision.models.get_model(name, weights=None, **extra)
        if weights is None or weights == RANDOM_INIT:
            label = RANDOM_INIT
        else:
            path = Path(weights)
            _load_into(model, path)
            digest = sha256_file(path)
            label = f"file:{path.name}:{digest[:12]}"
    return ZooModel(name=name, model=_finish(model), preprocess=imagenet_preprocess(),
                    input_shape=(3, input_size, input_size), forward_slope=rectifier_slope(model),
                    weights_label=label, source="torchvision", sha256=digest, dataset=None)


def load(name: str, weights: str | Path | None = None, *, input_size: int | None = None,
         seed: int = 0, models_dir: str | Path | None = None) -> ZooModel:
    """Load model ``name`` (a ``SUITE`` key or a torchvision classifier) with ``weights``.

    Suite models: ``weights=None`` is the committed checkpoint; torchvision models: ``None`` is
    random init (labelled ``"random-init"``), ``"imagenet"`` the DEFAULT ImageNet weights.
    A path loads a local state_dict into either kind.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    from benchmarks.framework import plugins

    if plugins.is_spec(name):  # a model defined outside the suite: benchmarks.domain.plugin_models
        from benchmarks.domain import plugin_models

        fields = plugin_models.load(name, weights, seed=seed)
        return ZooModel(**fields, forward_slope=rectifier_slope(fields["model"]))
    if name in SUITE:
        if input_size not in (None, SUITE[name].input_size):
            raise ValueError(f"suite model {name!r} has input size {SUITE[name].input_size}, "
                             f"got input_size={input_size!r}")
        if weights == IMAGENET:
            raise ValueError(f"suite model {name!r} has no ImageNet weights; use None or a path")
        return load_suite(name, weights, models_dir=models_dir, seed=seed)
    return load_torchvision(name, weights, input_size=224 if input_size is None else input_size, seed=seed)


def resolve_layer(model: nn.Module, layer: str) -> nn.Module:
    """The submodule called ``layer``; ``ValueError`` naming it and listing the known layers."""
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        known = [n for n in modules if n]
        shown = ", ".join(known[:60]) + (" ..." if len(known) > 60 else "")
        raise ValueError(f"unknown layer {layer!r} in {type(model).__name__}; layers: {shown}")
    return modules[layer]


def layer_channels(zm: ZooModel, layer: str) -> int:
    """Number of channels (dim 1) of ``layer``'s output for one input of ``zm.input_shape``."""
    module = resolve_layer(zm.model, layer)
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        with torch.no_grad():
            x = torch.zeros(1, *zm.input_shape, device=next(zm.model.parameters()).device)
            zm.model(zm.preprocess(x) if zm.preprocess is not None else x)
    finally:
        handle.remove()
    if not seen or not isinstance(seen[0], torch.Tensor) or seen[0].dim() < 2:
        raise ValueError(f"layer {layer!r} has no tensor output with a channel dimension")
    return int(seen[0].shape[1])
