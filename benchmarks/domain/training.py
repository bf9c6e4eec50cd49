"""Seeded, resumable SGD training of a classifier, conventionally or with a ProxyGrad backward rule.

One training step minimizes the mean cross-entropy ``L = -1/B sum_i log softmax(f(x_i))_{y_i}`` with
SGD (momentum ``mu``, weight decay ``lambda``): ``v <- mu v + (g + lambda w)``, ``w <- w - eta_t v``.
With a ``rule`` the forward and backward pass of each step run inside ``proxify(model, rule)``: every
rectifier keeps its forward value and back-propagates its negative side with the rule.
Evaluation is always plain (the forward pass is the same either way).

Learning rate per step ``t`` of ``T = schedule_epochs * steps_per_epoch`` (``schedule_epochs`` defaults to
``epochs``; a run with ``epochs < schedule_epochs`` trains the first ``epochs`` epochs of the longer schedule,
as a tuning run that previews a final run does): ``"cosine"`` gives ``eta_t = eta (1 + cos(pi t / T)) / 2``;
``"constant"`` gives ``eta_t = eta``.
The data order comes from a ``torch.Generator`` seeded with ``seed`` (one permutation per epoch), so
two methods with the same seed see the same batches (paired design).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import math
import time
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks.domain.models import build_seeded
from benchmarks.framework import store

__all__ = ["train", "evaluate", "build_seeded", "NonFiniteLossError", "lr_at", "CHECKPOINT_NAME"]

LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")
CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_KEYS: frozenset[str] = frozenset({"fingerprint", "model", "optimizer", "generator", "rng", "rows"})
ROW_KEYS: tuple[str, ...] = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "lr")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and step.

    ``epoch`` / ``step`` (1-based) locate the first non-finite loss; ``rows`` are the rows of the epochs
    finished before it (a caller may record the divergence as a result instead of stopping).
    """

    def __init__(self, message: str, *, epoch: int = 0, step: int = 0, rows: list[dict] | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.rows = list(rows or [])


def lr_at(step: int, total_steps: int, lr: float, schedule: str) -> float:
    """Learning rate at step ``step`` (0-based) of ``total_steps``: cosine ``lr (1 + cos(pi t/T)) / 2`` or ``lr``."""
    if schedule == "constant":
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def _tensors(dataset: TensorDataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(dataset, TensorDataset) or len(dataset.tensors) != 2:
        raise ValueError(f"{name} must be a TensorDataset of (images, labels), got {type(dataset).__name__}")
    x, y = dataset.tensors
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    return x, y


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, dataset: TensorDataset, batch_size: int = 1000) -> tuple[float, float]:
    """Plain (eval-mode) mean cross-entropy and accuracy of ``model`` on ``dataset``.

    ``loss = 1/N sum_i CE(f(x_i), y_i)``, ``acc = 1/N #{i : argmax f(x_i) = y_i}``. Leaves the model in
    eval mode.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, y = _tensors(dataset, "dataset")
    device = _device(model)
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        out = model(xb)
        loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    return loss_sum / len(x), correct / len(x)


def _check_args(epochs: int, lr: float, batch_size: int, seed: int, momentum: float,
                weight_decay: float, lr_schedule: str, schedule_epochs: int | None) -> None:
    """ValueError naming the first argument of :func:`train` that is out of range."""
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for name, value, ok in (("lr", lr, lambda v: v > 0), ("momentum", momentum, lambda v: 0 <= v < 1),
                            ("weight_decay", weight_decay, lambda v: v >= 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not ok(value):
            raise ValueError(f"{name} out of range: {value!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
    if schedule_epochs is not None and (isinstance(schedule_epochs, bool) or not isinstance(schedule_epochs, int)
                                        or schedule_epochs < epochs):
        raise ValueError(f"schedule_epochs = {schedule_epochs!r} must be an integer >= epochs = {epochs}")


def _rule_label(rule: Any) -> str:
    if rule is None:
        return "none"
    return str(getattr(rule, "label", rule))


def _discard(path: Path, reason: BaseException) -> None:
    """Warn that checkpoint ``path`` is damaged (naming it and why), delete it: the run starts over."""
    warnings.warn(f"damaged training checkpoint {path} ({type(reason).__name__}: {reason}); "
                  "it is deleted and the run is recomputed from the start", RuntimeWarning, stacklevel=3)
    path.unlink(missing_ok=True)


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint's state, or None after `_discard` when it cannot be read or lacks a part."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict) or not CHECKPOINT_KEYS <= set(state):
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"expected the parts {sorted(CHECKPOINT_KEYS)}, found {have}")
    except Exception as exc:  # truncated, garbage, foreign pickle, missing parts
        _discard(path, exc)
        return None
    return state


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    store.atomic_write_bytes(path, buf.getvalue())


def train(
    model: nn.Module,
    train_set: TensorDataset,
    test_set: TensorDataset,
    *,
    rule: Any = None,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    lr_schedule: str = "cosine",
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
    observe: Callable[[nn.Module], dict[str, Any]] | None = None,
    schedule_epochs: int | None = None,
) -> list[dict]:
    """Train ``model`` in place; return one row per epoch (keys ``ROW_KEYS``).

    ``rule=None`` is conventional training; otherwise a float slope or a ``proxygrad`` BackwardRule used
    as ``proxify(model, rule)`` around each training forward/backward pass. ``train_loss`` /
    ``train_acc`` are means over the epoch's training batches (train mode); ``test_*`` come from
    ``evaluate`` after the epoch; ``lr`` is the rate of the epoch's first step; ``seconds`` the epoch's
    wall time. With ``checkpoint_dir``, a checkpoint (model, optimizer, step, data-order generator, RNG,
    rows) is written atomically after every epoch, and an existing one is resumed: the result equals an
    uninterrupted run bit for bit (on a CPU). A damaged checkpoint (unreadable, or with a missing or
    ill-fitting part) is named in a ``RuntimeWarning``, deleted, and the run starts over. A checkpoint
    of another configuration raises ``ValueError``. A NaN/inf loss raises ``NonFiniteLossError`` (with the
    epoch, the step and the rows of the finished epochs). ``observe(model)``, when given, is called after
    each epoch's evaluation; its dict is appended to the epoch's row (it must not change the model's
    parameters or draw random numbers, so the training is the same with or without it).
    ``schedule_epochs`` (``None``: ``epochs``; else an integer ``>= epochs``): the length of the lr schedule;
    the run stops after ``epochs`` epochs of it, so its steps see the same rates as the first ``epochs``
    epochs of a run of ``schedule_epochs`` epochs.
    """
    _check_args(epochs, lr, batch_size, seed, momentum, weight_decay, lr_schedule, schedule_epochs)
    x_train, y_train = _tensors(train_set, "train_set")
    _tensors(test_set, "test_set")
    device = _device(model)
    n = len(x_train)
    per_epoch = math.ceil(n / batch_size)
    steps = _Steps(batch_size, per_epoch, (epochs if schedule_epochs is None else schedule_epochs) * per_epoch, lr,
                   lr_schedule)

    def new_optimizer() -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)

    optimizer = new_optimizer()
    generator = torch.Generator().manual_seed(seed)
    if rule is not None:
        from proxygrad import rules  # the method library; only needed for proxy training

        rule = rules.as_rule(rule)  # ValueError naming a bad rule, before anything is written
    fingerprint = _fingerprint(epochs, lr, batch_size, seed, momentum, weight_decay, lr_schedule, rule, n,
                               len(test_set), schedule_epochs)
    rows: list[dict] = []
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # any randomness inside the model (none in ours) is seeded too
        state = _read_checkpoint(ckpt, device) if ckpt is not None and ckpt.is_file() else None
        if state is not None:
            optimizer, generator, rows = _resume(state, ckpt, fingerprint, model, optimizer,  # type: ignore[arg-type]
                                                 generator, new_optimizer, seed=seed, epochs=epochs)
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
        for epoch in range(len(rows) + 1, epochs + 1):
            row = _epoch(model, optimizer, generator, x_train, y_train, test_set, steps, rule=rule, epoch=epoch,
                         desc=f"epoch {epoch}/{epochs}" if progress else None, seed=seed, rows=rows, device=device)
            if observe is not None:
                row.update(observe(model))
            rows.append(row)
            if ckpt is not None:
                _save_atomic({"fingerprint": fingerprint, "model": model.state_dict(),
                              "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                              "rng": torch.get_rng_state(), "rows": rows}, ckpt)
    return rows


def _fingerprint(epochs: int, lr: float, batch_size: int, seed: int, momentum: float, weight_decay: float,
                 lr_schedule: str, rule: Any, n_train: int, n_test: int, schedule_epochs: int | None) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the run's settings and data sizes."""
    fingerprint = {"epochs": epochs, "lr": float(lr), "batch_size": batch_size, "seed": seed,
                   "momentum": float(momentum), "weight_decay": float(weight_decay),
                   "lr_schedule": lr_schedule, "rule": _rule_label(rule), "n_train": n_train,
                   "n_test": n_test}
    if schedule_epochs is not None and schedule_epochs != epochs:  # runs without it keep their fingerprint
        fingerprint["schedule_epochs"] = schedule_epochs
    return fingerprint


def _epoch(model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, x_train: torch.Tensor,
           y_train: torch.Tensor, test_set: TensorDataset, steps: _Steps, *, rule: Any, epoch: int,
           desc: str | None, seed: int, rows: list[dict], device: torch.device) -> dict[str, Any]:
    """Train epoch ``epoch`` (its data order drawn from ``generator``) and evaluate on ``test_set``; returns the
    epoch's row (:data:`ROW_KEYS`).  ``desc``: the progress bar's text (None: no bar)."""
    n = len(x_train)
    start = time.perf_counter()
    order = torch.randperm(n, generator=generator)
    model.train()
    first_lr = steps.lr_at((epoch - 1) * steps.per_epoch)
    batches: Any = range(steps.per_epoch)
    if desc is not None:
        from tqdm import tqdm

        batches = tqdm(batches, desc=desc, leave=False)
    loss_sum, correct = _train_epoch(model, optimizer, x_train, y_train, order, batches, steps, rule=rule,
                                     epoch=epoch, seed=seed, rows=rows, device=device)
    test_loss, test_acc = evaluate(model, test_set)
    return {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / n, "test_loss": test_loss,
            "test_acc": test_acc, "seconds": time.perf_counter() - start, "lr": first_lr}


@dataclasses.dataclass(frozen=True)
class _Steps:
    """The batches of an epoch and the lr schedule of a run: ``per_epoch`` steps of ``batch_size`` images,
    ``total`` steps in the schedule (:func:`lr_at`)."""

    batch_size: int
    per_epoch: int
    total: int
    lr: float
    schedule: str

    def lr_at(self, step: int) -> float:
        """The lr of step ``step`` (0-based, counted from the run's first step)."""
        return lr_at(step, self.total, self.lr, self.schedule)


def _resume(state: dict[str, Any], ckpt: Path, fingerprint: dict[str, Any], model: nn.Module,
            optimizer: torch.optim.Optimizer, generator: torch.Generator,
            new_optimizer: Callable[[], torch.optim.Optimizer], *, seed: int, epochs: int
            ) -> tuple[torch.optim.Optimizer, torch.Generator, list[dict]]:
    """``(optimizer, generator, rows)`` of the run resumed from checkpoint ``state`` (read from ``ckpt``).

    ValueError when the checkpoint is of another run (``fingerprint`` differs).  A checkpoint whose parts
    do not fit is discarded (:func:`_discard`) and the run starts over from the same initial weights, a new
    optimizer, generator and RNG state, and no rows."""
    if state["fingerprint"] != fingerprint:
        raise ValueError(f"checkpoint {ckpt} belongs to another run: {state['fingerprint']} != {fingerprint}")
    initial = copy.deepcopy(model.state_dict())
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])
        rows = [dict(r) for r in state["rows"]]
        if [r.get("epoch") for r in rows] != list(range(1, len(rows) + 1)) or len(rows) > epochs:
            raise ValueError(f"its rows are not epochs 1..k of {epochs}")
    except Exception as exc:  # parts of the wrong shape or type: start over from the same init
        _discard(ckpt, exc)
        model.load_state_dict(initial)
        torch.manual_seed(seed)
        return new_optimizer(), torch.Generator().manual_seed(seed), []
    return optimizer, generator, rows


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x_train: torch.Tensor, y_train: torch.Tensor,
                 order: torch.Tensor, batches: Any, steps: _Steps, *, rule: Any, epoch: int, seed: int,
                 rows: list[dict], device: torch.device) -> tuple[float, int]:
    """One epoch of SGD steps over the batches of ``order`` (inside ``proxify(model, rule)`` with a rule);
    returns the summed training loss and the number of correct predictions.  NonFiniteLossError (carrying
    the finished epochs' ``rows``) at the first non-finite loss."""
    loss_sum = 0.0
    correct = 0
    if rule is not None:
        from proxygrad import proxify

        scope: Any = proxify(model, rule)
    else:
        scope = contextlib.nullcontext()
    with scope:
        for step in batches:
            idx = order[step * steps.batch_size:(step + 1) * steps.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            for group in optimizer.param_groups:
                group["lr"] = steps.lr_at((epoch - 1) * steps.per_epoch + step)
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"non-finite training loss {value} at epoch {epoch}, step {step + 1} of "
                    f"{steps.per_epoch} (rule {_rule_label(rule)}, lr {steps.lr}, seed {seed})",
                    epoch=epoch, step=step + 1, rows=rows)
            loss.backward()
            optimizer.step()
            loss_sum += value * len(idx)
            correct += int((out.detach().argmax(1) == yb).sum())
    return loss_sum, correct
