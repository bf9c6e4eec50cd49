"""Experiment ``training``: CNNs trained with a ProxyGrad backward rule against conventional training,
each method at a learning rate tuned for it on validation data.

Variants: every forward rectifier in ``activations`` (``relu``; ``leaky`` = LeakyReLU(``leaky_slope``))
times every backward method in ``methods``, in the vocabulary of AM (:mod:`benchmarks.framework.methods`):
``plain`` (the autograd gradient: conventional training), ``proxy-<s>`` (ProxyGrad, negative-side factor
``s`` in the backward pass only), ``bsilu`` / ``nelu`` (SUGAR's surrogate derivatives).  A variant is
labelled ``<activation>/<method>``; the baseline is ``relu/plain``.

Data: the training split (all of it) is the pool; a permutation seeded by ``split_seed`` carves
``val_size`` validation images out of it and takes the next ``train_limit`` (0 = all the rest) as the
training images.  Validation and training are disjoint, and both are disjoint from the test split (a
separate file).  The split is the same for every cell.

Cells (a staged run, ``cells(cfg, done)``):

1. *tuning* cells ``(dataset, arch, variant, lr index k, tuning seed)`` for the initial indices of the
   log grid ``lr(k) = 10 ** (k / lr_per_decade)`` (:class:`benchmarks.framework.tuning.Grid`).  They train on
   the training images and are scored by the validation accuracy after the last epoch; the test split is
   never loaded.
2. per (dataset, arch, variant), :func:`benchmarks.framework.tuning.choose` on the score per index (mean over
   the tuning seeds; NaN when any tuning run of that index diverged, so a diverging lr is never chosen).
   When the best lies at an edge of the indices tried, one more index beyond it is run (a later round);
   a variant whose every lr diverged down to the grid's lower limit is *failed* and gets no final cells.
3. *final* cells ``(dataset, arch, variant, seed)`` at the chosen lr (``lr`` and ``lr_k`` in the cell's
   params and rows).  They train on the same training images; the test split is evaluated once, after
   the last epoch (``test_acc`` on the last row, NaN on the others).
4. *matched* cells (only when the profile declares ``matched_lr``, a point ``k_m`` of the grid): every
   variant at that one lr on the final seeds, listed with the variant's final cells.  There is one run per
   (variant, seed, lr): where a variant's chosen index is ``k_m`` its final runs are its matched runs and
   no matched cell is listed.  Their rows carry ``matched_lr_k`` (a column only such profiles have, so the
   records of the other profiles keep their header) and are evaluated on the test split like final runs.
5. *reference* cells (only when the profile declares ``reference_epochs``): the baseline ``relu/plain`` of
   every (dataset, arch) at its chosen lr on the tuning seeds, trained for ``reference_epochs`` epochs (a
   schedule of that length) and scored on validation data only, never on the test split.  They are the
   plateau the stopping rule is checked against (:mod:`benchmarks.experiments.training.plateau`): how much
   validation accuracy the same recipe still gains when trained longer.

With ``tune_epochs`` set, a tuning run trains the first ``tune_epochs`` epochs of the final runs' schedule
(the cosine over ``epochs``, cut short: every step sees the rate a final run's step sees), so a lr that
diverges early in a final run diverges in its tuning run too; the analysis's ``rank_check`` table tests, on
the final seeds' validation accuracies, whether the cut schedule orders the lrs as the full one does.  The
rows of such profiles carry ``schedule_epochs`` (the schedule's length every run follows).

Selection rule (declared): among the lr indices tried, those where no tuning seed diverged; of these the
highest mean last-epoch validation accuracy over the tuning seeds; exact ties go to the lower middle of
the tied block (:func:`benchmarks.framework.tuning.choose`).

Paired design: every variant of a seed starts from the same initial weights (``build_seeded(seed, ...)``;
the ReLU and Leaky ReLU networks share their weights) and sees the same batches (data order seeded by
``seed``).

Rows: one per epoch (role ``tune``, ``final`` or ``matched``): the training loop's columns (validation metrics as
``val_loss`` / ``val_acc``, the epoch's first step size as ``lr_epoch``), the mechanism probe
(:mod:`benchmarks.experiments.training.mechanism`) and the cell's identity.  A cell whose training loss
becomes non-finite is a result: its finished epochs, then one row for the diverging epoch with NaN
metrics, every row with ``diverged=True``, ``diverged_epoch`` and ``diverged_step``; the run goes on.
"""
from __future__ import annotations

import functools
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import TensorDataset

from benchmarks.domain import data as _data
from benchmarks.domain import models as _models
from benchmarks.framework import methods as _methods
from benchmarks.framework import tuning
from benchmarks.framework.config import OMIT_DEFAULT, ConfigError, Reader
from benchmarks.experiments.training import mechanism
from benchmarks.experiments.training.analysis import analyze, claims, summarize
from benchmarks.experiments.training.figures import figures
from benchmarks.framework.runner import Cell, RunContext

NAME = "training"
#: The method kinds a network can be trained with (one constant backward rule for the whole run).
TRAINING_KINDS: tuple[str, ...] = ("plain", "proxy", "bsilu", "nelu")
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky")
BASELINE_ACTIVATION = "relu"
BASELINE_METHOD = _methods.Method("plain")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
ROLES: tuple[str, ...] = ("tune", "final", "matched", "reference")
#: Roles whose runs are evaluated once on the test split (the others never load it).
TESTED_ROLES: tuple[str, ...] = ("final", "matched")
#: Certified bounds (benchmarks.framework.bounds): none, training records have no certified optimum.
BOUNDS: dict = {}
#: Wall-time columns: the only ones that are not a pure function of the config.
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)
#: The columns that say what a row is (not what it measured): rows of two runs of one config are compared
#: on them (benchmarks.framework.spread).
ROW_KEY: tuple[str, ...] = ("method", "seed", "dataset", "arch", "activation", "variant", "role", "lr_k", "epoch")
#: The outcome columns whose spread the report's reproducibility statement shows first.
OUTCOME_COLUMNS: tuple[str, ...] = ("test_acc",)
#: What repeats bit for bit where (the report's reproducibility statement quotes it).
CROSS_MACHINE = ("records repeat bit for bit only on the same CPU and library build: float32 convolutions and "
                 "matrix products round by the CPU's instruction set, and SGD carries every rounding into the "
                 "next step. Measured on a second machine (0.2.0 quick records): 19 of 147 test "
                 "accuracies differed, by up to 1.6 points; losses, dead fractions and gradient norms differed "
                 "in most rows; the verdicts were the same.")
#: Regression tolerance of the baseline metric ``.../final_test_acc`` (a mean test accuracy over seeds): 0.05,
#: about 6 of the smoke profile's 128 test images; on one machine the CPU records repeat bit for bit
#: (one torch thread per cell), so it absorbs the float differences of another machine's kernels only.
BASELINE_TOLERANCES: dict[str, dict[str, float]] = {"final_test_acc": {"abs": 0.05}}
#: Upper limits (documented in benchmarks/configs/training.toml), validated before anything is written.
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536
MAX_SEEDS = 100
MAX_SEED = 2**31 - 1
MAX_LIMIT = 10_000_000
MAX_LR = 10.0
MIN_LR = 1e-6
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


def _grid(r: Reader) -> tuning.Grid:
    low = r.float("lr_low", min=MIN_LR, max=MAX_LR)
    high = r.float("lr_high", min=MIN_LR, max=MAX_LR)
    per_decade = r.int("lr_per_decade", 2, min=1, max=12)
    lr_min = r.float("lr_min", MIN_LR, min=MIN_LR, max=MAX_LR)
    lr_max = r.float("lr_max", 1.0, min=MIN_LR, max=MAX_LR)
    try:
        return tuning.Grid.from_lrs(low, high, per_decade, lr_min=lr_min, lr_max=lr_max)
    except ValueError as exc:
        raise ConfigError(f"{NAME}: lr grid (lr_low={low!r}, lr_high={high!r}, lr_min={lr_min!r}, "
                          f"lr_max={lr_max!r}): {exc}") from None


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
        raise ConfigError(f"{NAME}.matched_lr = {lr!r} lies outside lr_min..lr_max "
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
        if m.kind not in TRAINING_KINDS:
            raise ConfigError(f"{NAME}.methods[{i}] = {m.label!r} cannot train a network (a step-dependent rule); "
                              f"choose kinds from {', '.join(TRAINING_KINDS)}")
    grid = _grid(r)
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


# ------------------------------------------------------------------------------------------- variants
def variants(cfg: Config) -> list[tuple[str, _methods.Method]]:
    """``(activation, method)`` per variant, activations outer, in config order."""
    return [(a, m) for a in cfg.activations for m in cfg.methods]


def variant_name(activation: str, method: _methods.Method) -> str:
    """Record label of a variant, e.g. ``relu/plain`` or ``leaky/proxy-0.3`` (an output, never parsed)."""
    return f"{activation}/{method.label}"


def forward_slope(cfg: Config, activation: str) -> float:
    """The network's negative-side forward slope: 0 for ReLU, ``leaky_slope`` for Leaky ReLU."""
    return cfg.leaky_slope if activation == "leaky" else 0.0


def rule_of(cfg: Config, activation: str, method: _methods.Method) -> Any:
    """The ``proxygrad`` backward rule of a variant (None: the plain gradient, conventional training)."""
    return method.maximize_kwargs(forward_slope(cfg, activation), 1)["backward_slope"]


# ------------------------------------------------------------------------------------------- cells
Group = tuple[str, str, str, _methods.Method]


def _groups(cfg: Config) -> list[Group]:
    return [(ds, arch, a, m) for ds in cfg.datasets for arch in cfg.archs for a, m in variants(cfg)]


def _cell(cfg: Config, g: Group, role: str, k: int, seed: int) -> Cell:
    ds, arch, activation, method = g
    tail = {"tune": f"tune.k{k}.seed{seed}", "final": f"seed{seed}", "matched": f"matched.k{k}.seed{seed}",
            "reference": f"reference.k{k}.seed{seed}"}[role]
    key = f"{ds}.{arch}.{activation}.{method.label}.{tail}"
    return Cell(key, {"dataset": ds, "arch": arch, "activation": activation, "method": method, "role": role,
                      "lr_k": k, "lr": cfg.lr_grid.lr(k), "seed": seed})


def _done_index(done: pd.DataFrame | None) -> dict[tuple, tuple[float, bool]]:
    """(dataset, arch, activation, method, role, lr_k, seed) -> (last-epoch val_acc, diverged) of done cells."""
    if done is None or done.empty:
        return {}
    out = {}
    keys = ["dataset", "arch", "activation", "method", "role", "lr_k", "seed"]
    for key, g in done.groupby(keys, sort=False):
        last = g.loc[g["epoch"].idxmax()]
        out[tuple(key)] = (float(last["val_acc"]), bool(g["diverged"].any()))
    return out


def _ident(g: Group, role: str, k: int, seed: int) -> tuple:
    ds, arch, activation, method = g
    return (ds, arch, activation, method.label, role, k, seed)


def _is_baseline(g: Group) -> bool:
    return g[2] == BASELINE_ACTIVATION and g[3] == BASELINE_METHOD


def tuning_scores(cfg: Config, index: dict[tuple, tuple[float, bool]], g: Group,
                  ks: list[int]) -> dict[int, float] | None:
    """Score per lr index: mean last-epoch validation accuracy over the tuning seeds, NaN when any of
    them diverged; None while a tuning cell of ``ks`` has not finished.  Reads validation data only."""
    scores = {}
    for k in ks:
        got = [index.get(_ident(g, "tune", k, s)) for s in cfg.tune_seeds]
        if any(v is None for v in got):
            return None
        scores[k] = math.nan if any(d for _, d in got) else sum(a for a, _ in got) / len(got)  # type: ignore[misc]
    return scores


def cells(cfg: Config, done: pd.DataFrame | None = None) -> list[Cell]:
    """The cell list: initial tuning cells, then round by round the extensions and final cells that the
    stored records ``done`` call for (see the module docstring).  A pure function of ``cfg`` and ``done``."""
    groups = _groups(cfg)
    tried = {g: list(cfg.lr_grid.initial()) for g in groups}
    listed = [_cell(cfg, g, "tune", k, s) for g in groups for k in tried[g] for s in cfg.tune_seeds]
    if done is None:
        return listed
    index = _done_index(done)
    closed: set[Group] = set()
    while True:
        new: list[tuple[Cell, tuple]] = []
        for g in groups:
            if g in closed:
                continue
            scores = tuning_scores(cfg, index, g, tried[g])
            if scores is None:
                continue
            choice = tuning.choose(scores, cfg.lr_grid)
            if choice.extend:
                tried[g] += list(choice.extend)
                new += [(_cell(cfg, g, "tune", k, s), _ident(g, "tune", k, s))
                        for k in choice.extend for s in cfg.tune_seeds]
                continue
            closed.add(g)
            failed = all(math.isnan(v) for v in scores.values())  # every lr diverged down to the grid's limit
            if not failed:
                new += [(_cell(cfg, g, "final", choice.k, s), _ident(g, "final", choice.k, s)) for s in cfg.seeds]
                if cfg.reference_epochs is not None and _is_baseline(g):
                    new += [(_cell(cfg, g, "reference", choice.k, s), _ident(g, "reference", choice.k, s))
                            for s in cfg.tune_seeds]
            km = cfg.matched_lr_k
            if km is not None and (failed or choice.k != km):
                new += [(_cell(cfg, g, "matched", km, s), _ident(g, "matched", km, s)) for s in cfg.seeds]
        if not new:
            return listed
        listed += [c for c, _ in new]
        if any(ident not in index for _, ident in new):
            return listed


# ------------------------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def _pool(dataset: str, split: str, data_dir: str | None, limit: int | None) -> TensorDataset:
    """A loaded split (kept in memory within one process: the loading, not the results, is cached)."""
    return _data.load(dataset, split, data_dir, limit=limit)


def split_indices(n_pool: int, *, val_size: int, train_limit: int | None, split_seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, validation)`` indices into a pool of ``n_pool`` training images, disjoint and sorted.

    ``perm = randperm(n_pool)`` under ``torch.Generator().manual_seed(split_seed)``; validation =
    ``perm[:val_size]``, training = the next ``train_limit`` (None: all the rest).
    """
    need = val_size + (train_limit or 1)
    if n_pool < need:
        raise ValueError(f"the training pool has {n_pool} images; val_size={val_size} and "
                         f"train_limit={train_limit} need {need}")
    perm = torch.randperm(n_pool, generator=torch.Generator().manual_seed(split_seed))
    val = perm[:val_size]
    rest = perm[val_size:]
    train = rest if train_limit is None else rest[:train_limit]
    return torch.sort(train).values, torch.sort(val).values


def splits(cfg: Config, dataset: str, data_dir: Path | None) -> tuple[TensorDataset, TensorDataset]:
    """The ``(train, validation)`` data sets of ``dataset`` under ``cfg`` (never the test split)."""
    pool = _pool(dataset, "train", None if data_dir is None else str(data_dir), None)
    x, y = pool.tensors
    train, val = split_indices(len(x), val_size=cfg.val_size, train_limit=cfg.train_limit, split_seed=cfg.split_seed)
    return TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val])


# ------------------------------------------------------------------------------------------- a cell
def run_cell(cfg: Config, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
    """Train one network; return its per-epoch rows (accuracies are of the network itself).

    With ``cfg.checkpoint`` and a run directory, the run checkpoints every epoch under
    ``out_dir/checkpoints/<key>/`` and resumes from there; the checkpoint is removed once the cell is done.
    """
    from benchmarks.domain import training

    p = cell.params
    ds, arch, activation, method, role, seed = (p["dataset"], p["arch"], p["activation"], p["method"],
                                                p["role"], p["seed"])
    train_set, val_set = splits(cfg, ds, ctx.data_dir)
    channels, size, _ = _data.image_shape(ds)
    k = _data.num_classes(ds)
    model = _models.build_seeded(seed, arch, activation=activation, num_classes=k, in_channels=channels,
                                 input_size=size, negative_slope=cfg.leaky_slope)
    if ctx.device != "cpu":
        model = model.to(ctx.device)
        train_set = TensorDataset(*(t.to(ctx.device) for t in train_set.tensors))
        val_set = TensorDataset(*(t.to(ctx.device) for t in val_set.tensors))
    px, py = (t[:cfg.probe_size] for t in val_set.tensors)
    rule = rule_of(cfg, activation, method)
    ckpt_dir: Path | None = None
    if cfg.checkpoint and ctx.out_dir is not None:
        ckpt_dir = Path(ctx.out_dir) / "checkpoints" / cell.key
    diverged: tuple[int, int] | None = None
    try:
        history = training.train(model, train_set, val_set, rule=rule, epochs=cfg.epochs_of(role),
                                 schedule_epochs=cfg.schedule_of(role), lr=p["lr"],
                                 batch_size=cfg.batch_size, seed=seed, momentum=cfg.momentum,
                                 weight_decay=cfg.weight_decay, lr_schedule=cfg.lr_schedule,
                                 checkpoint_dir=ckpt_dir, progress=ctx.progress,
                                 observe=lambda m: mechanism.probe(m, px, py, rule))
    except training.NonFiniteLossError as exc:
        diverged = (exc.epoch, exc.step)
        history = exc.rows + [{"epoch": exc.epoch, "train_loss": math.nan, "train_acc": math.nan,
                               "test_loss": math.nan, "test_acc": math.nan, "seconds": math.nan, "lr": math.nan,
                               **{c: math.nan for c in mechanism.columns()}}]
    if ckpt_dir is not None:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    test_loss = test_acc = math.nan
    n_test = 0
    if role in TESTED_ROLES:
        test_set = _pool(ds, "test", None if ctx.data_dir is None else str(ctx.data_dir), cfg.test_limit)
        n_test = len(test_set)
        if diverged is None:  # the test split, once, for the final numbers
            test_loss, test_acc = training.evaluate(model, test_set)
    base = {**method.columns(), "dataset": ds, "synthetic": ds == "synthetic", "arch": arch,
            "activation": activation, "forward_slope": forward_slope(cfg, activation),
            "variant": variant_name(activation, method), "rule": "none" if rule is None else rule.label,
            "role": role, "lr": p["lr"], "lr_k": p["lr_k"], "seed": seed, "num_classes": k,
            "n_train": len(train_set), "n_val": len(val_set), "n_test": n_test,
            "diverged": diverged is not None,
            "diverged_epoch": diverged[0] if diverged else math.nan,
            "diverged_step": diverged[1] if diverged else math.nan}
    if cfg.matched_lr_k is not None:
        base["matched_lr_k"] = cfg.matched_lr_k
    if cfg.tune_epochs is not None or cfg.reference_epochs is not None:  # the run's schedule length (such profiles only)
        base["schedule_epochs"] = cfg.schedule_of(role)
    rows = []
    last = len(history)
    for i, h in enumerate(history, start=1):
        rows.append({**base, "epoch": h["epoch"], "train_loss": h["train_loss"], "train_acc": h["train_acc"],
                     "val_loss": h["test_loss"], "val_acc": h["test_acc"],
                     "test_loss": test_loss if i == last else math.nan,
                     "test_acc": test_acc if i == last else math.nan,
                     "lr_epoch": h["lr"], "seconds": h["seconds"],
                     **{c: h[c] for c in mechanism.columns()}})
    return rows


__all__ = ["NAME", "Config", "parse_config", "cells", "run_cell", "analyze", "figures", "summarize", "claims"]
