"""The data of a ``training`` run: the training pool split into disjoint training and validation sets, and
the test split, loaded once per process."""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from benchmarks.domain import data as _data
from benchmarks.experiments.training.config import Config

@functools.lru_cache(maxsize=4)
def pool(dataset: str, split: str, data_dir: str | None, limit: int | None) -> TensorDataset:
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
    x, y = pool(dataset, "train", None if data_dir is None else str(data_dir), None).tensors
    train, val = split_indices(len(x), val_size=cfg.val_size, train_limit=cfg.train_limit, split_seed=cfg.split_seed)
    return TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val])
