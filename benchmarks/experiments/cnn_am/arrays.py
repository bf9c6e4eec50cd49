"""Array-valued results of ``cnn-am`` (traces, stimuli) and their loader.

An AM cell writes ``cells/<key>.npz`` beside its CSV through :mod:`benchmarks.framework.arrays` (the
cell's commit marker covers it). Each record of the cell names its file (``arrays``) and its element
(``array_row``).  Arrays:

- ``trace`` ``[E, P]`` float64: the original ``f`` at the steps ``trace_steps`` ``[P]`` (every element);
- ``stimulus`` ``[E, C, H, W]`` float16: the best input of every element (pooled to at most
  ``STIMULUS_SIDE`` pixels a side); empty (``[0, ...]``) for tuning cells, whose inputs no figure shows.

A run directory that keeps ``cells/`` keeps its arrays; one that keeps only ``records.csv`` and
``meta.json`` has none, and :func:`load` says so (figures that need arrays are then skipped).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework.arrays import path, read, read_verified, run_dir_of, to_bytes, write

__all__ = ["path", "read", "run_dir_of", "to_bytes", "write", "load"]


def load(records: pd.DataFrame, run_dir: Path | None) -> pd.DataFrame:
    """``records`` with two object columns: ``trace`` (``(steps, values)`` of the element) and ``stimulus``
    (its best input as ``[C, H, W]`` float array); None where the record has no arrays or the run
    directory keeps none.  Every file read is checked against its cell's commit marker first."""
    df = records.copy()
    df["trace"] = None
    df["stimulus"] = None
    if run_dir is None or "arrays" not in df.columns:
        return df
    cache: dict[str, dict[str, np.ndarray]] = {}
    traces: list[Any] = [None] * len(df)
    stims: list[Any] = [None] * len(df)
    for i, (name, row) in enumerate(zip(df["arrays"], df.get("array_row", pd.Series([None] * len(df))))):
        if not isinstance(name, str) or not name or row != row:
            continue
        if name not in cache:
            cache[name] = read_verified(run_dir, name)
        z = cache[name]
        if not z:
            continue
        r = int(row)
        traces[i] = (z["trace_steps"], z["trace"][r])
        stims[i] = z["stimulus"][r].astype(np.float64) if r < len(z["stimulus"]) else None
    df["trace"] = traces
    df["stimulus"] = stims
    return df
