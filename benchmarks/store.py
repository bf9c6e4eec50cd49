"""The run directory: per-cell record files, the merged records and ``meta.json``.

Layout of a run directory ``out/``::

    out/meta.json           resolved config, its hash, versions, machine, times (see benchmarks.meta)
    out/cells/<key>.csv     the rows of one finished cell, written atomically (tmp file + os.replace)
    out/records.csv         all cells' rows merged in the canonical cell order (rebuilt at the end)
    out/tables/, figures/   written by ``report``

Floats are written with ``repr`` (shortest round-trip text), so a CSV read back with
:func:`read_csv` gives bit-identical floats and two identical runs give byte-identical files.
Values that are dicts or lists are written as canonical JSON text.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]*$")
META = "meta.json"
RECORDS = "records.csv"
CELLS = "cells"


def check_key(key: str) -> str:
    """A cell key must be a safe file name: letters, digits and ``._=+,-`` (ValueError otherwise)."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > 200:
        raise ValueError(f"invalid cell key {key!r}: use letters, digits and ._=+,- only (at most 200 chars)")
    return key


def _cell(value: Any) -> str:
    """One CSV field: floats by repr (round trip), None/NaN as empty, containers as canonical JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / torch scalar
        return _cell(value.item())
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text for ``rows``; the columns are the first row's keys, in order (all rows must have them)."""
    if not rows:
        return ""
    columns = list(rows[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for i, row in enumerate(rows):
        if list(row) != columns:
            raise ValueError(f"row {i} has columns {list(row)}, expected {columns}")
        w.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def cell_path(out: Path, key: str) -> Path:
    """Where a cell's rows are stored."""
    return Path(out) / CELLS / f"{check_key(key)}.csv"


def write_cell(out: Path, key: str, rows: Sequence[dict[str, Any]]) -> Path:
    """Store one finished cell's rows atomically; returns the file."""
    path = cell_path(out, key)
    atomic_write_text(path, rows_to_csv(rows))
    return path


def finished_keys(out: Path) -> set[str]:
    """Keys of the cells whose files exist (temporary files of cells in flight are ignored)."""
    d = Path(out) / CELLS
    if not d.is_dir():
        return set()
    return {p.stem for p in d.glob("*.csv") if not p.name.startswith(".")}


def read_csv(path: Path) -> pd.DataFrame:
    """Read a record CSV with round-trip float parsing (an empty file gives an empty frame)."""
    if Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=True)


def merge_records(out: Path, keys: Iterable[str]) -> Path:
    """Concatenate the cell files of ``keys`` (in that order) into ``out/records.csv``, byte for byte.

    All non-empty cells must share one header.  Raises FileNotFoundError for a missing cell.
    """
    header: str | None = None
    body: list[str] = []
    for key in keys:
        text = cell_path(out, key).read_text(encoding="utf-8")
        if not text:
            continue
        first, _, rest = text.partition("\n")
        if header is None:
            header = first
        elif first != header:
            raise ValueError(f"cell {key!r} has header {first!r}, expected {header!r}")
        body.append(rest)
    path = Path(out) / RECORDS
    atomic_write_text(path, "" if header is None else header + "\n" + "".join(body))
    return path


def load_records(out: Path) -> pd.DataFrame:
    """Read ``out/records.csv``, rebuilding it first from the cells listed in ``meta.json``."""
    meta = read_meta(out)
    keys = meta.get("cells")
    if keys is not None and all(cell_path(out, k).is_file() for k in keys):
        merge_records(out, keys)
    path = Path(out) / RECORDS
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist and the cells of the run are incomplete")
    return read_csv(path)


def read_meta(out: Path) -> dict[str, Any]:
    """``out/meta.json`` as a dict (FileNotFoundError naming the path when absent)."""
    path = Path(out) / META
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out} is not a run directory")
    return json.loads(path.read_text(encoding="utf-8"))


def write_meta(out: Path, meta: dict[str, Any]) -> Path:
    """Write ``out/meta.json`` atomically (indented, sorted keys)."""
    path = Path(out) / META
    atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` is a directory with at least one entry."""
    p = Path(path)
    return p.is_dir() and any(p.iterdir())
