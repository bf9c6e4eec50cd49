"""The run directory: per-cell record files with their commit markers, the merged records and ``meta.json``.

Layout of a run directory ``out/``::

    out/meta.json              resolved config, its hash, versions, machine, times (see benchmarks.framework.meta);
                               once the run finished also ``records``, the completeness record of records.csv
    out/cells/<key>.csv        the rows of one finished cell, written atomically (tmp file + os.replace)
    out/cells/<key>.done.json  the cell's commit marker, written atomically AFTER the cell's files
    out/records.csv            all cells' rows merged in the canonical cell order (rebuilt at the end)
    out/run.lock               pid and host of the run writing into ``out`` (only while it runs)
    out/tables/, figures/      written by ``report``

The parts live in one module each: the file names and ``meta.json`` in :mod:`benchmarks.framework.layout`,
the CSV codec in :mod:`benchmarks.framework.codec`, atomic writes and digests in
:mod:`benchmarks.framework.files`, the cells and their commit markers in :mod:`benchmarks.framework.cells`
(a cell copied from another run reads as not of this run: ``run --resume`` runs it again with one line
naming the cell, and ``report`` refuses it naming its marker).  This module verifies and loads a whole
run, and re-exports the names of those modules that the rest of the suite reaches as ``store.<name>``.

``meta.json``'s ``records`` entry is the completeness record of ``records.csv`` (``rows``, ``columns``,
``bytes``, ``sha256``), and its ``arrays`` entry lists every array file of the finished cells (``bytes``,
``sha256``), so a committed run directory that keeps only ``records.csv``, ``meta.json`` and (optionally)
the array files ``cells/*.npz``, without the cells' CSVs and markers, is verifiable too.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.framework.cells import (LEGACY_MARKER_FORMAT, MARKER_FORMAT, arrays_record, cell_path, cell_problem,
                                        cell_started, check_key, finished_keys, has_cells, marker_path,
                                        read_array_file, read_cell_text, write_cell)
from benchmarks.framework.codec import csv_shape, read_csv, rows_to_csv
from benchmarks.framework.files import RunDirError, atomic_write_bytes, atomic_write_text, check_file, digest
from benchmarks.framework.layout import (CELLS, LOCK, MARKER_SUFFIX, META, RECORDS, is_nonempty_dir, read_meta,
                                         write_meta)


def merge_records(out: Path, keys: Iterable[str], *, repair: bool = False) -> Path:
    """Concatenate the cell files of ``keys`` (in that order) into ``out/records.csv``, byte for byte.

    Every cell must be complete (RunDirError naming the first that is not); all non-empty cells must
    share one header.  The file is written only when its bytes change.  ``repair``: the file should
    already hold exactly these cells' rows (a finished run whose cells did not change), so writing it is
    a repair, and a repair says so: one line on stderr names the file and why (it differed from its
    cells, or it was missing).
    """
    header: str | None = None
    body: list[str] = []
    keys = list(keys)
    for key in keys:
        text = read_cell_text(out, key)
        if not text:
            continue
        first, _, rest = text.partition("\n")
        if header is None:
            header = first
        elif first != header:
            raise ValueError(f"cell {key!r} has header {first!r}, expected {header!r}")
        body.append(rest)
    path = Path(out) / RECORDS
    data = ("" if header is None else header + "\n" + "".join(body)).encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return path
    why = "it differed from its cells (damaged or edited)" if path.is_file() else "it was missing"
    atomic_write_bytes(path, data)
    if repair:
        print(f"rebuilt {path} from its {len(keys)} cells: {why}", file=sys.stderr, flush=True)
    return path


def records_record(out: Path) -> dict[str, Any]:
    """The completeness record of ``out/records.csv`` for ``meta.json``: rows, columns, bytes, sha256."""
    path = Path(out) / RECORDS
    data = path.read_bytes()
    columns, rows = csv_shape(data.decode("utf-8"), str(path))
    return {"rows": rows, "columns": columns, **digest(data)}


_WARNED: set[str] = set()
"""records.csv files already warned about in this process (the warning is said once)."""


def _check_records_file(out: Path, meta: dict[str, Any]) -> None:
    """``out/records.csv`` against ``meta['records']``; an older meta without it gets the CSV check only."""
    path, meta_path = Path(out) / RECORDS, Path(out) / META
    if not path.is_file():
        raise RunDirError(f"{path} is missing and {Path(out) / CELLS} is absent: the run's records are lost")
    expected = meta.get("records")
    if expected is None:
        csv_shape(path.read_text(encoding="utf-8"), str(path))
        if str(path) in _WARNED:
            return
        _WARNED.add(str(path))
        print(f"warning: {meta_path} has no completeness record of {RECORDS} (written before the suite kept "
              f"one); only the CSV structure of {path} was checked", file=sys.stderr)
        return
    if not (isinstance(expected, dict) and isinstance(expected.get("bytes"), int)
            and isinstance(expected.get("sha256"), str)):
        raise RunDirError(f"{meta_path}: malformed 'records' entry (expected rows, columns, bytes, sha256)")
    text = check_file(path, expected, f"the 'records' entry of {meta_path}").decode("utf-8")
    columns, rows = csv_shape(text, str(path))
    if rows != expected.get("rows") or columns != expected.get("columns"):
        raise RunDirError(f"{path} has {rows} rows and columns {columns}; {meta_path} records "
                          f"{expected.get('rows')} rows and columns {expected.get('columns')}")


def verify_run(out: Path) -> dict[str, Any]:
    """Check that ``out`` holds a finished, complete and undamaged run; returns its meta.

    With the cells present (:func:`has_cells`) every cell of ``meta['cells']`` must be complete (then
    ``records.csv`` is rebuilt from them by :func:`load_records`); without them (a committed run keeps
    ``records.csv``, ``meta.json`` and perhaps its array files) ``records.csv`` must match ``meta['records']``.  RunDirError names
    the first file that is missing, incomplete or damaged.
    """
    out = Path(out)
    meta = read_meta(out)
    keys = meta.get("cells")
    if not isinstance(keys, list):
        raise RunDirError(f"{out / META}: no 'cells' list: not a run directory of this suite")
    if not meta.get("finished_utc"):
        problem = next((p for p in (cell_problem(out, k) for k in keys) if p is not None), None)
        raise RunDirError(f"{out} is an unfinished run ({problem or 'finished_utc not set in ' + str(out / META)}); "
                          f"complete it with `run ... --resume`")
    if has_cells(out):
        for key in keys:
            read_cell_text(out, key)
    else:
        _check_records_file(out, meta)
    return meta


def load_records(out: Path) -> pd.DataFrame:
    """The records of a verified run (:func:`verify_run`); ``records.csv`` is rebuilt from the cells when
    they are present, and then checked against ``meta['records']`` too."""
    out = Path(out)
    meta = verify_run(out)
    if has_cells(out):
        merge_records(out, meta["cells"], repair=True)
        if meta.get("records") is not None:
            _check_records_file(out, meta)
    records = read_csv(out / RECORDS)
    records.attrs["run_dir"] = str(out)  # where per-cell array files are found
    return records


__all__ = ["CELLS", "LEGACY_MARKER_FORMAT", "LOCK", "MARKER_FORMAT", "MARKER_SUFFIX", "META", "RECORDS", "RunDirError",
           "arrays_record", "atomic_write_bytes", "atomic_write_text", "cell_path", "cell_problem", "cell_started",
           "check_file", "check_key", "csv_shape", "digest", "finished_keys", "has_cells", "is_nonempty_dir",
           "load_records", "marker_path", "merge_records", "read_array_file", "read_cell_text", "read_csv",
           "read_meta", "records_record", "rows_to_csv", "verify_run", "write_cell", "write_meta"]
