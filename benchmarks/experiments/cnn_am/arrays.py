"""Array-valued results of ``cnn-am`` (traces, stimuli) in per-cell ``.npz`` files, and one loader.

An AM cell writes ``cells/<key>.npz`` beside its CSV; the cell's commit marker lists it (bytes and
sha256), so a damaged or missing array file makes the cell incomplete like a damaged CSV.  Each record
of the cell names its file (``arrays``) and its element (``array_row``).  Arrays:

- ``trace`` ``[E, P]`` float64: the original ``f`` at the steps ``trace_steps`` ``[P]`` (every element);
- ``stimulus`` ``[E, C, H, W]`` float16: the best input of every element (pooled to at most
  ``STIMULUS_SIDE`` pixels a side); empty (``[0, ...]``) for tuning cells, whose inputs no figure shows.

Files are written byte-deterministically (fixed zip timestamps, no compression metadata from the
clock), so two identical runs give identical bytes.  A run directory that keeps ``cells/`` keeps its
arrays; one that keeps only ``records.csv`` and ``meta.json`` has none, and :func:`load` says so
(figures that need arrays are then skipped).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework import store

_EPOCH = (1980, 1, 1, 0, 0, 0)


def path(out: Path, key: str) -> Path:
    """Where cell ``key``'s arrays are stored."""
    return Path(out) / store.CELLS / f"{store.check_key(key)}.npz"


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive of ``arrays`` (sorted names, fixed timestamps, deflated): the same bytes every time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def write(out: Path, key: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write cell ``key``'s arrays atomically; returns the file (pass it to ``store.write_cell(extra_files=)``)."""
    target = path(out, key)
    store.atomic_write_bytes(target, to_bytes(arrays))
    return target


def read(file: Path) -> dict[str, np.ndarray]:
    """The arrays of one file (``store.RunDirError`` naming it when unreadable)."""
    try:
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise store.RunDirError(f"{file}: unreadable array file ({exc})") from exc


def run_dir_of(records: pd.DataFrame, out: Path | None = None) -> Path | None:
    """The run directory of ``records``: ``records.attrs["run_dir"]`` when the loader set it, else the
    parent of a report folder ``out`` (``<run>/figures``) when that holds a run, else None."""
    given = records.attrs.get("run_dir") if hasattr(records, "attrs") else None
    if given:
        return Path(given)
    if out is not None and (Path(out).parent / store.META).is_file():
        return Path(out).parent
    return None


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
            file = Path(run_dir) / store.CELLS / name
            if not file.is_file():
                cache[name] = {}
            else:
                store.read_cell_text(run_dir, name[: -len(".npz")])  # the marker vouches for the file
                cache[name] = read(file)
        z = cache[name]
        if not z:
            continue
        r = int(row)
        traces[i] = (z["trace_steps"], z["trace"][r])
        stims[i] = z["stimulus"][r].astype(np.float64) if r < len(z["stimulus"]) else None
    df["trace"] = traces
    df["stimulus"] = stims
    return df
