"""Running one ``training`` cell: train one network and return its per-epoch rows."""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from torch.utils.data import TensorDataset

from benchmarks.domain import data as _data
from benchmarks.domain import models as _models
from benchmarks.framework.runner import Cell, RunContext
from benchmarks.experiments.training import mechanism
from benchmarks.experiments.training.config import TESTED_ROLES, Config
from benchmarks.experiments.training.splits import pool, splits
from benchmarks.experiments.training.variants import forward_slope, rule_of, variant_name

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
        test_set = pool(ds, "test", None if ctx.data_dir is None else str(ctx.data_dir), cfg.test_limit)
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
