"""The ``toy-am`` profile: :class:`Config` and :func:`parse_config`, which validates a raw profile once.

Every value is checked here, where it enters (ConfigError naming the key); the rest of the experiment
takes the :class:`Config` as given.  The keys are documented in ``benchmarks/configs/toy-am.toml``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxygrad.engine import OPTIMIZERS

from benchmarks.framework import methods as _methods
from benchmarks.framework import plugins as _plugins
from benchmarks.framework import tuning
from benchmarks.framework.config import ConfigError, Reader, choice
from benchmarks.framework.grids import read_grid
from benchmarks.experiments.toy_am.instances import build

NAME = "toy-am"
#: Upper limits of the sizes (documented in benchmarks/configs/toy-am.toml): a profile beyond them is
#: a typo or would not finish (``steps`` and ``starts`` bound one ``maximize`` call's time and memory).
MAX_INSTANCES = 1000
MAX_STARTS = 4096
MAX_STEPS = 100_000
MAX_SEED = 2**31 - 1
ROLES: tuple[str, ...] = ("tuning", "evaluation", "fixed", "baseline")
#: Which dims of a family entry get tuning instances: all of them, or only the largest (cheaper).
TUNING_DIMS: tuple[str, ...] = ("all", "largest")


@dataclass(frozen=True)
class Family:
    """One family entry: ``toy_functions.get(name, dim=d, seed=s, **params)`` for each dim and seed."""

    name: str
    label: str
    dims: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Optimizer:
    """An AM optimizer of ``proxygrad.maximize``: ``lr`` is the fixed step size of the untuned
    comparison (None: no fixed rows), ``grid`` the step-size grid it is tuned on (None: not tuned)."""

    name: str
    lr: float | None
    grid: tuning.Grid | None = None


@dataclass(frozen=True)
class Config:
    """The resolved ``toy-am`` profile (see ``benchmarks/configs/toy-am.toml``)."""

    families: tuple[Family, ...]
    methods: tuple[_methods.Method, ...]
    optimizers: tuple[Optimizer, ...]
    instances: int
    seed: int
    starts: int
    steps: int
    targets: tuple[float, ...]
    tuning_instances: int = 0
    tuning_dims: str = "all"
    claim_method: str = ""
    baselines: bool = False


def _family_names() -> list[str]:
    import toy_functions

    return list(toy_functions.names())


def _safe_label(text: str, where: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*", text):
        raise ConfigError(f"{where} {text!r} must use letters, digits, '_', '+', '-' only (it names files)")
    return text


def _check_family(name: str, dims: tuple[int, ...], seed: int, params: dict[str, Any], where: str) -> None:
    """Build a closed-form family at each dim to validate its parameters (cheap); for a certified
    family, whose construction solves a MILP, run the builder's own checks without solving."""
    import toy_functions
    from toy_functions import random_nets

    try:
        if _plugins.is_spec(name):  # resolved and signature-checked here; built (maybe certified) per cell
            _plugins.family_factory(name)
            return
        for dim in dims:
            if toy_functions.optimum_kind(name) == toy_functions.CERTIFIED:
                random_nets.check_params(name, dim, **params)
            else:
                build(name, dim, seed, params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} ({name}, dims={list(dims)}, params={params}): {exc}") from exc


def _optimizer(o: Reader) -> Optimizer:
    name = o.str("name", choices=OPTIMIZERS)
    lr = o.float("lr", None, min=0.0, min_exclusive=True)
    grid = read_grid(o.table("grid")) if "grid" in o.raw else None
    o.done()
    if lr is None and grid is None:
        raise ConfigError(f"{o.where} ({name}) needs a fixed lr, a tuning grid, or both")
    return Optimizer(name, lr, grid)


def parse_config(raw: dict[str, Any], *, data_dir: Any = None) -> Config:
    """Validate a raw profile into :class:`Config`; ConfigError names any bad key or value.
    (``data_dir`` is accepted like every experiment's; toy-am reads no data set.)

    Each hand-built family is built once per dim (first seed) so that unknown or bad parameters and
    dims are reported here, before anything runs (random families: parameter names only).
    """
    r = Reader(raw, NAME)
    try:
        methods = _methods.parse_all(r.list("methods", str))
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
    if _methods.Method("plain") not in methods:
        raise ConfigError(f"{NAME}.methods must include 'plain' (the reference of the paired tests)")
    recipes = [m.label for m in methods if getattr(m, "recipe", None) is not None]
    if recipes:  # the recipes act on images; toy functions take vectors
        raise ConfigError(f"{NAME}.methods: the image recipe(s) {recipes} need image inputs (C, H, W); "
                          "toy functions take vectors")
    optimizers = [_optimizer(o) for o in r.tables("optimizers")]
    if len({o.name for o in optimizers}) != len(optimizers):
        raise ConfigError(f"{NAME}.optimizers lists an optimizer twice")
    tuned = any(o.grid is not None for o in optimizers)
    cfg_seed = r.int("seed", 0, min=0, max=MAX_SEED)
    known = _family_names()
    families = []
    for fr in r.tables("families"):
        name = fr.str("name")
        name = name if _plugins.is_spec(name) else choice(name, known, f"family in {fr.where}")
        params = dict(fr.table("params", {}).raw)
        label = _safe_label(fr.str("label", _plugins.default_label(name) if _plugins.is_spec(name) else name),
                            f"{fr.where}.label")
        dims = fr.list("dims", int, min=1, max=4096)
        fr.done()
        _check_family(name, dims, cfg_seed, params, fr.where)
        families.append(Family(name, label, dims, params))
    labels = [f.label for f in families]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise ConfigError(f"{NAME}.families: label {dup!r} used twice; give each entry its own label")
    instances = r.int("instances", min=1, max=MAX_INSTANCES)
    tuning_instances = r.int("tuning_instances", 1 if tuned else 0, min=0, max=MAX_INSTANCES)
    if tuned and tuning_instances < 1:
        raise ConfigError(f"{NAME}.tuning_instances must be >= 1 when an optimizer declares a grid, "
                          f"got {tuning_instances!r}")
    if cfg_seed + instances + tuning_instances - 1 > MAX_SEED:
        raise ConfigError(f"{NAME}.seed {cfg_seed!r} + instances + tuning_instances exceeds {MAX_SEED}")
    cfg = Config(
        families=tuple(families),
        methods=methods,
        optimizers=tuple(optimizers),
        instances=instances,
        seed=cfg_seed,
        starts=r.int("starts", min=1, max=MAX_STARTS),
        steps=r.int("steps", min=1, max=MAX_STEPS),
        targets=tuple(sorted(r.list("targets", float, min=0.0, max=1.0, min_exclusive=True), reverse=True)),
        tuning_instances=tuning_instances if tuned else 0,
        tuning_dims=r.str("tuning_dims", "all", choices=TUNING_DIMS),
        claim_method=_claim_method(r.str("claim_method", ""), methods),
        baselines=r.bool("baselines", False),
    )
    r.done()
    return cfg


def _claim_method(label: str, methods: tuple[_methods.Method, ...]) -> str:
    try:
        return _methods.claim_method(label, methods)
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from exc
