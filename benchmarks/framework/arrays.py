"""Array-valued results of a cell in one ``.npz`` file beside its rows, written byte-deterministically.

A cell that produces arrays (traces, stimuli, trajectories) writes ``cells/<key>.npz`` with :func:`write`
and names the file in the experiment's ``extra_files(out, key)``; the runner's commit marker then lists
it (bytes and sha256), so a damaged or missing array file makes the cell incomplete like a damaged CSV.
Records point into the file by two columns, ``arrays`` (the file name) and ``array_row`` (the element).

Files are deterministic: sorted member names, fixed zip timestamps, deflated, no pickles; two identical
runs give identical bytes.  When the run finishes, ``meta.json``'s ``arrays`` entry lists every array file with its size and
sha256, so a committed run may keep ``records.csv``, ``meta.json`` and ``cells/*.npz`` only (the array
files, without the cells' CSVs).  A run directory that keeps only ``records.csv`` and ``meta.json`` has no
arrays: :func:`run_dir_of` finds where a run's files are, and each experiment's loader says what it
found (figures that need arrays are then left out).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

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
    """Write cell ``key``'s arrays atomically; returns the file (listed by the experiment's ``extra_files``)."""
    target = path(out, key)
    store.atomic_write_bytes(target, to_bytes(arrays))
    return target


def read(file: Path) -> dict[str, np.ndarray]:
    """The arrays of one file (``store.RunDirError`` naming it when unreadable)."""
    return from_bytes(Path(file).read_bytes(), str(file))


def from_bytes(data: bytes, name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive's bytes (``store.RunDirError`` naming ``name`` when unreadable)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise store.RunDirError(f"{name}: unreadable array file ({exc})") from exc


def read_verified(run_dir: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of file ``name`` in ``run_dir/cells`` once vouched for (by its cell's commit marker, or
    by ``meta.json``'s ``arrays`` entry in a run that keeps only its array files:
    ``store.read_array_file``); ``{}`` when the run directory keeps no such file."""
    data = store.read_array_file(run_dir, name)
    return {} if data is None else from_bytes(data, str(Path(run_dir) / store.CELLS / name))


def existing(out: Path, key: str) -> list[Path]:
    """``[path(out, key)]`` when cell ``key`` wrote an array file, else ``[]`` (an ``extra_files`` body)."""
    p = path(out, key)
    return [p] if p.is_file() else []


def run_dir_of(records: pd.DataFrame, out: Path | None = None) -> Path | None:
    """The run directory of ``records``: ``records.attrs["run_dir"]`` when the loader set it, else the
    parent of a report folder ``out`` (``<run>/figures``) when that holds a run, else None."""
    given = records.attrs.get("run_dir") if hasattr(records, "attrs") else None
    if given:
        return Path(given)
    if out is not None and (Path(out).parent / store.META).is_file():
        return Path(out).parent
    return None
