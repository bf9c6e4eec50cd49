"""The ``cnn-am`` profile: its keys, their limits and the typed, frozen :class:`Config` that
:func:`parse_config` reads from one profile table (``benchmarks/configs/cnn-am.toml`` documents every key).
Every problem is a ``ConfigError`` naming the key and the value, raised before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from proxygrad.engine import OPTIMIZERS

from benchmarks.domain import data as _data
from benchmarks.domain import zoo
from benchmarks.framework import methods as _methods
from benchmarks.framework import plugins as _plugins
from benchmarks.framework import tuning
from benchmarks.framework.config import OMIT_DEFAULT, ConfigError, Reader
from benchmarks.framework.grids import read_grid

NAME = "cnn-am"
#: Upper limits (documented in benchmarks/configs/cnn-am.toml), validated before anything is written.
MAX_STARTS = 1024
MAX_STEPS = 100_000
MAX_LR = 10.0
MAX_SEED = 2**31 - 1
MAX_DATASET_LIMIT = 10_000_000
MAX_UNITS = 4096
MAX_NODE_LIMIT = 10_000_000
MAX_TIME_LIMIT = 7 * 24 * 3600.0


@dataclass(frozen=True)
class ModelCfg:
    """One model of the run and how its units are drawn.

    weights: ``"suite"`` (committed checkpoint), ``"imagenet"``, ``"random-init"`` or a state_dict path.
    logits / layers: the pool (class indices; every channel of each layer); ``tune_units`` /
    ``eval_units``: how many live units the draw takes for tuning and for evaluation;
    certify: bound units exactly (the first ``certify_units`` evaluation units; None = all);
    methods / optimizers: the subset of the profile's methods and optimizers this model runs (None = all of
    them), so that a costly model can carry a few of them within a profile's budget.
    """

    name: str
    weights: str
    input_size: int | None
    logits: tuple[int, ...]
    layers: tuple[str, ...]
    tune_units: int
    eval_units: int
    certify: bool
    certify_units: int | None
    methods: tuple[_methods.Method, ...] | None = field(default=None, metadata={OMIT_DEFAULT: True})
    optimizers: tuple[str, ...] | None = field(default=None, metadata={OMIT_DEFAULT: True})

    @property
    def label(self) -> str:
        """Model identifier in keys and records."""
        return self.name

    def runs(self, cfg: "Config") -> tuple[tuple[str, _methods.Method], ...]:
        """The (optimizer, method) pairs this model runs, in the profile's order."""
        return tuple((o, m) for o in cfg.optimizers if self.optimizers is None or o in self.optimizers
                     for m in cfg.methods if self.methods is None or m in self.methods)


@dataclass(frozen=True)
class Config:
    """A resolved ``cnn-am`` profile.

    ``grids``: optimizer -> its tuning grid; ``fixed_methods`` x ``fixed_optimizers``: the untuned
    comparison at ``lr`` (no fixed-lr cells when ``fixed_optimizers`` is empty); ``tune_starts``: starts per
    tuning unit; ``checkpoints``: budgets ``t`` whose best-so-far value every record carries (ends at
    ``steps``); ``sweep``: also run every tried step size on the evaluation units (``sweep_starts`` starts
    each), the diagnostic behind the lr-regret table, which never feeds a choice.
    """

    models: tuple[ModelCfg, ...]
    methods: tuple[_methods.Method, ...]
    optimizers: tuple[str, ...]
    starts: int
    steps: int
    lr: float
    seed: int
    dataset_limit: int | None
    certify_time_limit: float
    certify_node_limit: int | None
    dead_epsilon: float
    checkpoints: tuple[int, ...]
    grids: tuple[tuple[str, tuning.Grid], ...]
    fixed_methods: tuple[_methods.Method, ...]
    fixed_optimizers: tuple[str, ...] = ()
    tune_starts: int | None = None
    claim_method: str = ""
    sweep: bool = False
    sweep_starts: int = 1

    @property
    def tuning_starts(self) -> int:
        """Starts per tuning unit (the first ``tune_starts`` of the unit's starts; default all)."""
        return self.starts if self.tune_starts is None else self.tune_starts

    def grid(self, optimizer: str) -> tuning.Grid:
        return dict(self.grids)[optimizer]


def _parse_model(r: Reader) -> ModelCfg:
    name = r.str("name")
    if _plugins.is_spec(name):  # a model defined outside the suite (benchmarks.domain.plugin_models)
        _plugins.model_factory(name)
    elif name not in zoo.SUITE and name not in zoo.torchvision_names():
        raise ConfigError(f"{r.where}.name: unknown model {name!r}; suite models {sorted(zoo.SUITE)}, "
                          f"a torchvision classifier or a plug-in package.module:factory")
    weights = r.str("weights", "suite" if name in zoo.SUITE else "factory" if _plugins.is_spec(name)
                    else zoo.RANDOM_INIT)
    if name in zoo.SUITE and weights == zoo.IMAGENET:
        raise ConfigError(f"{r.where}.weights: suite model {name!r} has no ImageNet weights")
    if name not in zoo.SUITE and weights == "suite":
        raise ConfigError(f"{r.where}.weights: 'suite' is only for suite models, not {name!r}")
    input_size = r.int("input_size", None, min=4)
    logits = r.list("logits", int, [], min_len=0, min=0)
    layers = r.list("layers", str, [], min_len=0)
    tune = r.int("tune_units", min=1, max=MAX_UNITS)
    evaluate = r.int("eval_units", min=1, max=MAX_UNITS)
    certify = r.bool("certify", False)
    cert_units = r.int("certify_units", None, min=0, max=MAX_UNITS)
    method_labels = r.list("methods", str, None) if "methods" in r.raw else None
    optimizers = r.list("optimizers", str, None, choices=OPTIMIZERS) if "optimizers" in r.raw else None
    r.done()
    if not logits and not layers:
        raise ConfigError(f"{r.where}: model {name!r} has no units (set logits and/or layers)")
    methods = None
    if method_labels is not None:
        try:
            methods = _methods.parse_all(method_labels)
        except ValueError as exc:
            raise ConfigError(f"{r.where}.{exc}") from exc
    return ModelCfg(name, weights, input_size, logits, layers, tune, evaluate, certify, cert_units, methods,
                    optimizers)


def _check_model_subsets(models: tuple[ModelCfg, ...], methods: tuple[_methods.Method, ...],
                         optimizers: tuple[str, ...]) -> None:
    """A model's ``methods`` / ``optimizers`` lie in the profile's and include plain (the reference)."""
    for i, m in enumerate(models):
        where = f"{NAME}.models[{i}]"
        if m.methods is not None:
            outside = [x.label for x in m.methods if x not in methods]
            if outside:
                raise ConfigError(f"{where}.methods: {outside} are not in the profile's methods "
                                  f"{[x.label for x in methods]}")
            if _methods.Method("plain") not in m.methods:
                raise ConfigError(f"{where}.methods must include 'plain' (the reference), got "
                                  f"{[x.label for x in m.methods]}")
        if m.optimizers is not None and not set(m.optimizers) <= set(optimizers):  # empty: the Reader refuses it
            raise ConfigError(f"{where}.optimizers must be a non-empty subset of the profile's optimizers "
                              f"{list(optimizers)}, got {list(m.optimizers)}")


def _parse_grids(r: Reader, optimizers: tuple[str, ...]) -> tuple[tuple[str, tuning.Grid], ...]:
    """``[<profile>.tuning]``: one grid table per optimizer (:func:`benchmarks.framework.grids.read_grid`)."""
    out = []
    for opt in optimizers:
        if opt not in r.raw:
            raise ConfigError(f"{r.where}.{opt}: the tuning grid of optimizer {opt!r} is missing "
                              f"(give {opt} = {{ low, high, per_decade, min, max }})")
        out.append((opt, read_grid(r.table(opt))))
    r.done()
    return tuple(out)


def parse_config(raw: dict, *, data_dir: str | Path | None = None, require_data: bool = True) -> Config:
    """Validate a raw profile table into a ``Config`` (``ConfigError`` naming the key and value).

    The test set of every suite model's data set must be found (in ``data_dir`` or the data module's
    default places): ``dataset_max`` (and with it the dead-unit rule) is part of the records, so a
    missing data set stops the run before anything is written. ``require_data=False`` skips that
    check, for callers that read only the models (a certificate needs the weights, not the data).
    """
    r = Reader(raw, NAME)
    models = tuple(_parse_model(m) for m in r.tables("models"))
    for i, m in enumerate(models):
        dataset = zoo.SUITE[m.name].dataset if m.name in zoo.SUITE else None
        if dataset is not None and require_data:
            try:
                _data.require(dataset, data_dir)
            except _data.DataMissingError as exc:
                raise ConfigError(f"{NAME}.models[{i}] = {m.name!r} needs the data set {dataset!r} "
                                  f"(its dataset_max), which is not on this machine: {exc}") from exc
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{NAME}.models lists a model twice: {labels}")
    method_labels, fixed_labels = r.list("methods", str), r.list("fixed_methods", str, ["plain"])
    claim_label = r.str("claim_method", "")
    try:
        names = _methods.parse_all(method_labels)
        fixed = _methods.parse_all(fixed_labels, key="fixed_methods")
        claim = _methods.claim_method(claim_label, names)
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
    if _methods.Method("plain") not in names:
        raise ConfigError(f"{NAME}.methods must include 'plain' (the reference), got {[m.label for m in names]}")
    if not set(fixed) <= set(names) or _methods.Method("plain") not in fixed:
        raise ConfigError(f"{NAME}.fixed_methods must include 'plain' and lie in methods, got "
                          f"{[m.label for m in fixed]}")
    optimizers = r.list("optimizers", str, ["adam"], choices=OPTIMIZERS)
    fixed_optimizers = r.list("fixed_optimizers", str, list(optimizers), min_len=0, choices=optimizers)
    _check_model_subsets(models, names, optimizers)
    starts = r.int("starts", min=1, max=MAX_STARTS)
    steps = r.int("steps", min=1, max=MAX_STEPS)
    checkpoints = r.list("checkpoints", int, [steps], min=1, max=steps)
    cfg = Config(
        models=models, methods=names, optimizers=optimizers,
        starts=starts, steps=steps,
        lr=r.float("lr", min=0.0, min_exclusive=True, max=MAX_LR), seed=r.int("seed", 0, min=0, max=MAX_SEED),
        dataset_limit=r.int("dataset_limit", None, min=1, max=MAX_DATASET_LIMIT),
        certify_time_limit=r.float("certify_time_limit", 60.0, min=0.0, min_exclusive=True, max=MAX_TIME_LIMIT),
        certify_node_limit=r.int("certify_node_limit", None, min=1, max=MAX_NODE_LIMIT),
        dead_epsilon=r.float("dead_epsilon", min=0.0),
        checkpoints=tuple(sorted(set(checkpoints) | {steps})),
        grids=_parse_grids(r.table("tuning"), optimizers), fixed_methods=fixed,
        fixed_optimizers=fixed_optimizers, tune_starts=r.int("tune_starts", starts, min=1, max=starts),
        claim_method=claim,
        sweep=r.bool("sweep", False), sweep_starts=r.int("sweep_starts", 1, min=1, max=starts),
    )
    r.done()
    return cfg


def has_recipes(cfg: Config) -> bool:
    """True when ``cfg`` lists a practitioners' recipe method: its records carry ``method_adapter`` (how the
    recipe's image space is mapped into the box, :func:`benchmarks.framework.recipes.adapter_label`; empty
    for the other methods). Runs without recipes keep their columns unchanged."""
    return any(getattr(m, "recipe", None) is not None for m in cfg.methods)
