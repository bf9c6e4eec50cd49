"""Experiment ``training``: CNNs trained with a ProxyGrad backward rule against conventional training.

A cell is one training run ``(dataset, arch, variant, seed)``. Every variant of a seed starts from the
same initial weights (``build_seeded(seed, ...)``; the ReLU and Leaky ReLU networks share their weights,
which do not depend on the rectifier) and sees the same batches (data order seeded by ``seed``), so
variants are compared in a paired design over seeds.

Methods (``methods`` in the profile):
- ``relu``: ReLU network, plain gradient.
- ``leaky``: LeakyReLU(``leaky_slope``) network, plain gradient.
- ``proxygrad``: ReLU network, backward rule ``slope(s)`` (forward slope 0), one variant per ``s`` in
  ``backward_slopes``.
- ``proxygrad-leaky``: LeakyReLU(``leaky_slope``) network with backward rule ``slope(s)``, per ``s``.
- ``sugar-bsilu`` / ``sugar-nelu``: ReLU network, SUGAR's B-SiLU / NeLU derivative on the negative side.

Rows: one per epoch with the columns of ``benchmarks.domain.training.train`` plus the cell's identity, the
rule's label and ``synthetic`` (True only for the generated smoke data set).
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.domain import data as _data
from benchmarks.domain import models as _models
from benchmarks.framework import methods as _methods
from benchmarks.framework.config import ConfigError, Reader
from benchmarks.experiments.training.analysis import analyze, claims, summarize
from benchmarks.experiments.training.figures import figures
from benchmarks.framework.runner import Cell, RunContext

NAME = "training"
METHODS: tuple[str, ...] = ("relu", "leaky", "proxygrad", "proxygrad-leaky", "sugar-bsilu", "sugar-nelu")
PROXY_METHODS: tuple[str, ...] = ("proxygrad", "proxygrad-leaky")
BASELINE = "relu"
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
#: Certified bounds (benchmarks.framework.bounds): none, training records have no certified optimum.
BOUNDS: dict = {}
#: Wall-time columns: the only ones that are not a pure function of the config.
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)
#: Upper limits (documented in benchmarks/configs/training.toml), validated before anything is written.
MAX_BACKWARD_SLOPE = 10.0
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536
MAX_SEEDS = 100
MAX_SEED = 2**31 - 1
MAX_LIMIT = 10_000_000
MAX_LR = 10.0


@dataclass(frozen=True)
class Config:
    """A validated ``training`` profile (see ``benchmarks/configs/training.toml``)."""

    datasets: tuple[str, ...]
    archs: tuple[str, ...]
    methods: tuple[str, ...]
    backward_slopes: tuple[float, ...]
    leaky_slope: float
    seeds: tuple[int, ...]
    epochs: int
    lr: float
    batch_size: int
    momentum: float
    weight_decay: float
    lr_schedule: str
    train_limit: int | None
    test_limit: int | None
    checkpoint: bool


def parse_config(raw: dict[str, Any], *, data_dir: str | Path | None = None) -> Config:
    """Validate a raw profile table into a :class:`Config` (ConfigError naming the bad key/value).

    ``train_limit`` / ``test_limit`` = 0 (or absent) means the whole split. Every data set must be
    found (in ``data_dir`` or the data module's default places), so a missing one stops the run
    before anything is written.
    """
    r = Reader(raw, NAME)
    cfg = Config(
        datasets=r.list("datasets", str, choices=_data.DATASETS),
        archs=r.list("archs", str, choices=_models.ARCHS),
        methods=r.list("methods", str, choices=METHODS),
        backward_slopes=r.list("backward_slopes", float, (), min_len=0, min=0.0, min_exclusive=True,
                               max=MAX_BACKWARD_SLOPE),
        leaky_slope=r.float("leaky_slope", 0.01, min=0.0, max=1.0, min_exclusive=True),
        seeds=r.list("seeds", int, min=0, max=MAX_SEED),
        epochs=r.int("epochs", min=1, max=MAX_EPOCHS),
        lr=r.float("lr", min=0.0, min_exclusive=True, max=MAX_LR),
        batch_size=r.int("batch_size", min=1, max=MAX_BATCH_SIZE),
        momentum=r.float("momentum", 0.9, min=0.0, max=0.999),
        weight_decay=r.float("weight_decay", 5e-4, min=0.0, max=1.0),
        lr_schedule=r.str("lr_schedule", "cosine", choices=LR_SCHEDULES),
        train_limit=r.int("train_limit", 0, min=0, max=MAX_LIMIT) or None,
        test_limit=r.int("test_limit", 0, min=0, max=MAX_LIMIT) or None,
        checkpoint=r.bool("checkpoint", True),
    )
    r.done()
    if len(cfg.seeds) > MAX_SEEDS:
        raise ConfigError(f"{NAME}.seeds lists {len(cfg.seeds)} seeds; at most {MAX_SEEDS}")
    for i, ds in enumerate(cfg.datasets):
        try:
            _data.require(ds, data_dir)
        except _data.DataMissingError as exc:
            raise ConfigError(f"{NAME}.datasets[{i}] = {ds!r} is not on this machine: {exc}") from exc
    if BASELINE not in cfg.methods:
        raise ConfigError(f"{NAME}.methods must include the baseline {BASELINE!r} (paired tests are against it)")
    if any(m in PROXY_METHODS for m in cfg.methods) and not cfg.backward_slopes:
        raise ConfigError(f"{NAME}.backward_slopes must list at least one slope for methods {PROXY_METHODS}")
    return cfg


def variants(cfg: Config) -> list[tuple[str, float | None]]:
    """``(method, backward_slope)`` per variant, in config order (slope None for non-proxy methods)."""
    out: list[tuple[str, float | None]] = []
    for m in cfg.methods:
        out += [(m, s) for s in cfg.backward_slopes] if m in PROXY_METHODS else [(m, None)]
    return out


def variant_name(method: str, backward_slope: float | None) -> str:
    """Record label of a variant, e.g. ``relu`` or ``proxygrad(s=0.3)``."""
    return method if backward_slope is None else f"{method}(s={backward_slope:g})"


def cells(cfg: Config) -> list[Cell]:
    """One cell per (dataset, arch, variant, seed), in that nesting order."""
    out = []
    for ds in cfg.datasets:
        for arch in cfg.archs:
            for method, s in variants(cfg):
                for seed in cfg.seeds:
                    tag = method if s is None else f"{method}-s{s:g}"
                    out.append(Cell(f"{ds}.{arch}.{tag}.seed{seed}",
                                    {"dataset": ds, "arch": arch, "method": method, "backward_slope": s,
                                     "seed": seed}))
    return out


#: The AM method (one vocabulary for AM and training) of each training method's backward pass.
BACKWARD: dict[str, str] = {"relu": "plain", "leaky": "plain", "proxygrad": "proxy", "proxygrad-leaky": "proxy",
                            "sugar-bsilu": "bsilu", "sugar-nelu": "nelu"}


def method_of(method: str, backward_slope: float | None) -> _methods.Method:
    """The :class:`~benchmarks.framework.methods.Method` of a training method's backward pass (``proxygrad`` with
    slope ``s`` is ``proxy-s``; ``relu`` and ``leaky`` train with the plain gradient)."""
    kind = BACKWARD[method]
    return _methods.Method(kind, float(backward_slope) if kind == "proxy" else None)  # type: ignore[arg-type]


def rule_of(method: str, backward_slope: float | None) -> Any:
    """The ``proxygrad`` backward rule of a method (None: conventional training)."""
    return method_of(method, backward_slope).maximize_kwargs(0.0, 1)["backward_slope"]


def activation_of(method: str) -> str:
    """The forward rectifier of a method's network: ``leaky`` or ``relu``."""
    return "leaky" if method in ("leaky", "proxygrad-leaky") else "relu"


def run_cell(cfg: Config, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
    """Train one network; return its per-epoch rows (the attained accuracies are of the network itself).

    With ``cfg.checkpoint`` and a run directory, the run checkpoints every epoch under
    ``out_dir/checkpoints/<key>/`` and resumes from there; the checkpoint is removed once the cell is done.
    """
    from benchmarks.domain import training

    p = cell.params
    ds, arch, method, s, seed = p["dataset"], p["arch"], p["method"], p["backward_slope"], p["seed"]
    train_set = _data.load(ds, "train", ctx.data_dir, limit=cfg.train_limit)
    test_set = _data.load(ds, "test", ctx.data_dir, limit=cfg.test_limit)
    channels, size, _ = _data.image_shape(ds)
    model = _models.build_seeded(seed, arch, activation=activation_of(method), num_classes=_data.num_classes(ds),
                                 in_channels=channels, input_size=size, negative_slope=cfg.leaky_slope)
    if ctx.device != "cpu":
        model = model.to(ctx.device)
        train_set = type(train_set)(*(t.to(ctx.device) for t in train_set.tensors))
        test_set = type(test_set)(*(t.to(ctx.device) for t in test_set.tensors))
    ckpt_dir: Path | None = None
    if cfg.checkpoint and ctx.out_dir is not None:
        ckpt_dir = Path(ctx.out_dir) / "checkpoints" / cell.key
    rule = rule_of(method, s)
    history = training.train(model, train_set, test_set, rule=rule, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, seed=seed, momentum=cfg.momentum,
                             weight_decay=cfg.weight_decay, lr_schedule=cfg.lr_schedule,
                             checkpoint_dir=ckpt_dir, progress=ctx.progress)
    if ckpt_dir is not None:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    activation = activation_of(method)
    base = {**method_of(method, s).columns(), "training_method": method,
            "dataset": ds, "synthetic": ds == "synthetic", "arch": arch,
            "variant": variant_name(method, s), "activation": activation,
            "forward_slope": cfg.leaky_slope if activation == "leaky" else 0.0,
            "backward_slope": math.nan if s is None else float(s),
            "rule": "none" if rule is None else rule.label, "seed": seed,
            "n_train": len(train_set), "n_test": len(test_set)}
    return [{**base, **row} for row in history]



__all__ = ["NAME", "Config", "parse_config", "cells", "run_cell", "analyze", "figures", "summarize", "claims"]
