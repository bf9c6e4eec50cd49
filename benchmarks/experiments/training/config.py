"""The ``training`` profile: :class:`Config` and :func:`parse_config`, which validates a raw profile once.

Every value is checked here, where it enters (ConfigError naming the key), including that every data set
is on this machine; the rest of the experiment takes the :class:`Config` as given.  The keys are
documented in ``benchmarks/configs/training.toml``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.domain import data as _data
from benchmarks.domain import models as _models
from benchmarks.framework import methods as _methods
from benchmarks.framework import tuning
from benchmarks.framework.config import OMIT_DEFAULT, ConfigError, Reader
from benchmarks.framework.grids import read_grid

NAME = "training"
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky")
BASELINE_ACTIVATION = "relu"
BASELINE_METHOD = _methods.Method("plain")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
ROLES: tuple[str, ...] = ("tune", "final", "matched", "reference")
#: Roles whose runs are evaluated once on the test split (the others never load it).
TESTED_ROLES: tuple[str, ...] = ("final", "matched")
#: Upper limits (documented in benchmarks/configs/training.toml), validated before anything is written.
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536
MAX_SEEDS = 100
MAX_SEED = 2**31 - 1
MAX_LIMIT = 10_000_000
MAX_LR = 10.0
MAX_PROBE = 4096


@dataclass(frozen=True)
class Config:
    """A validated ``training`` profile (see ``benchmarks/configs/training.toml``)."""

    datasets: tuple[str, ...]
    archs: tuple[str, ...]
    activations: tuple[str, ...]
    methods: tuple[_methods.Method, ...]
    leaky_slope: float
    seeds: tuple[int, ...]
    tune_seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    momentum: float
    weight_decay: float
    lr_schedule: str
    lr_grid: tuning.Grid
    train_limit: int | None
    val_size: int
    split_seed: int
    test_limit: int | None
    probe_size: int
    checkpoint: bool
    #: Grid index of the matched-lr comparison's one lr (None: no matched runs; left out of the config
    #: hash while None, so the profiles without it keep their hash).
    matched_lr_k: int | None = field(default=None, metadata={OMIT_DEFAULT: True})
    #: Epochs of a tuning run, the first ones of the final runs' schedule; None: ``epochs``, as every run
    #: (left out of the config hash while None).  The ``rank_check`` table compares its lr ranking with the full schedule's.
    tune_epochs: int | None = field(default=None, metadata={OMIT_DEFAULT: True})
    #: Epochs of the plateau reference runs (role ``reference``, > ``epochs``); None: no reference runs
    #: (left out of the config hash while None).
    reference_epochs: int | None = field(default=None, metadata={OMIT_DEFAULT: True})

    def epochs_of(self, role: str) -> int:
        """The epochs a run of ``role`` trains for: ``tune_epochs`` for tuning runs when set,
        ``reference_epochs`` for reference runs, else ``epochs``."""
        if role == "tune" and self.tune_epochs is not None:
            return self.tune_epochs
        if role == "reference" and self.reference_epochs is not None:
            return self.reference_epochs
        return self.epochs

    def schedule_of(self, role: str) -> int:
        """The length in epochs of the lr schedule a run of ``role`` follows: ``reference_epochs`` for a
        reference run, else ``epochs`` (a tuning run follows the final runs' schedule, cut short)."""
        return self.epochs_of(role) if role == "reference" else self.epochs


def _matched_k(r: Reader, grid: tuning.Grid) -> int | None:
    """The grid index of ``matched_lr`` (0 or absent: None); ConfigError naming a value off the grid."""
    lr = r.float("matched_lr", 0.0, min=0.0, max=MAX_LR)
    if lr == 0.0:
        return None
    k = int(round(math.log10(lr) * grid.per_decade))
    if not math.isclose(grid.lr(k), lr, rel_tol=1e-9):
        raise ConfigError(f"{NAME}.matched_lr = {lr!r} is not a point of the lr grid 10^(k/{grid.per_decade}) "
                          f"(nearest {grid.lr(k):g})")
    if not grid.k_min <= k <= grid.k_max:  # type: ignore[operator]
        raise ConfigError(f"{NAME}.matched_lr = {lr!r} lies outside the lr_grid's min..max "
                          f"({grid.lr(grid.k_min):g}..{grid.lr(grid.k_max):g})")  # type: ignore[arg-type]
    return k


def parse_config(raw: dict[str, Any], *, data_dir: str | Path | None = None) -> Config:
    """Validate a raw profile table into a :class:`Config` (ConfigError naming the bad key/value).

    ``train_limit`` / ``test_limit`` = 0 (or absent) means the whole remaining pool / test split. Every
    data set must be found (in ``data_dir`` or the data module's default places), so a missing one stops
    the run before anything is written.
    """
    r = Reader(raw, NAME)
    try:
        methods = _methods.parse_all(list(r.list("methods", str)))
    except ValueError as exc:
        raise ConfigError(f"{NAME}.{exc}") from None
    for i, m in enumerate(methods):
        if not _methods.has_trait(m.kind, "trainable"):  # one backward rule for the whole run
            raise ConfigError(f"{NAME}.methods[{i}] = {m.label!r} cannot train a network (a step-dependent rule); "
                              f"choose kinds from {', '.join(_methods.kinds_with('trainable'))}")
    grid = read_grid(r.table("lr_grid"))
    cfg = Config(
        datasets=r.list("datasets", str, choices=_data.DATASETS),
        archs=r.list("archs", str, choices=_models.ARCHS),
        activations=r.list("activations", str, choices=ACTIVATIONS),
        methods=methods,
        leaky_slope=r.float("leaky_slope", 0.01, min=0.0, max=1.0, min_exclusive=True),
        seeds=r.list("seeds", int, min=0, max=MAX_SEED),
        tune_seeds=r.list("tune_seeds", int, min=0, max=MAX_SEED),
        epochs=r.int("epochs", min=1, max=MAX_EPOCHS),
        batch_size=r.int("batch_size", min=1, max=MAX_BATCH_SIZE),
        momentum=r.float("momentum", 0.9, min=0.0, max=0.999),
        weight_decay=r.float("weight_decay", 5e-4, min=0.0, max=1.0),
        lr_schedule=r.str("lr_schedule", "cosine", choices=LR_SCHEDULES),
        lr_grid=grid,
        train_limit=r.int("train_limit", 0, min=0, max=MAX_LIMIT) or None,
        val_size=r.int("val_size", min=1, max=MAX_LIMIT),
        split_seed=r.int("split_seed", 0, min=0, max=MAX_SEED),
        test_limit=r.int("test_limit", 0, min=0, max=MAX_LIMIT) or None,
        probe_size=r.int("probe_size", 256, min=1, max=MAX_PROBE),
        checkpoint=r.bool("checkpoint", True),
        matched_lr_k=_matched_k(r, grid),
        tune_epochs=r.int("tune_epochs", 0, min=0, max=MAX_EPOCHS) or None,
        reference_epochs=r.int("reference_epochs", 0, min=0, max=MAX_EPOCHS) or None,
    )
    r.done()
    for key in ("seeds", "tune_seeds"):
        if len(getattr(cfg, key)) > MAX_SEEDS:
            raise ConfigError(f"{NAME}.{key} lists {len(getattr(cfg, key))} seeds; at most {MAX_SEEDS}")
    shared = sorted(set(cfg.seeds) & set(cfg.tune_seeds))
    if shared:
        raise ConfigError(f"{NAME}.tune_seeds and {NAME}.seeds share {shared}: tuning runs use their own seeds")
    if cfg.tune_epochs is not None and cfg.tune_epochs > cfg.epochs:
        raise ConfigError(f"{NAME}.tune_epochs = {cfg.tune_epochs} exceeds epochs = {cfg.epochs} (a tuning run "
                          "is at most as long as a final run)")
    if cfg.reference_epochs is not None and cfg.reference_epochs <= cfg.epochs:
        raise ConfigError(f"{NAME}.reference_epochs = {cfg.reference_epochs} must exceed epochs = {cfg.epochs} "
                          "(a plateau reference trains longer than the final runs)")
    if cfg.probe_size > cfg.val_size:
        raise ConfigError(f"{NAME}.probe_size = {cfg.probe_size} exceeds val_size = {cfg.val_size} "
                          "(the probe batch is the first validation images)")
    for i, ds in enumerate(cfg.datasets):
        try:
            _data.require(ds, data_dir)
        except _data.DataMissingError as exc:
            raise ConfigError(f"{NAME}.datasets[{i}] = {ds!r} is not on this machine: {exc}") from exc
    if BASELINE_ACTIVATION not in cfg.activations or BASELINE_METHOD not in cfg.methods:
        raise ConfigError(f"{NAME}: activations must include {BASELINE_ACTIVATION!r} and methods "
                          f"{BASELINE_METHOD.label!r} (the baseline relu/plain every paired test is against)")
    return cfg
