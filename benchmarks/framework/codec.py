"""The CSV codec of the records: one text form per value, read back bit for bit.

Floats are written with ``repr`` (shortest round-trip text), so a CSV read back with :func:`read_csv`
gives bit-identical floats and two identical runs give byte-identical files.  ``None`` and NaN are
written as empty fields, booleans as ``True`` / ``False``, and values that are dicts or lists as
canonical JSON text.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.framework.files import RunDirError


def _field(value: Any) -> str:
    """One CSV field: floats by repr (round trip), None/NaN as empty, containers as canonical JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / torch scalar
        return _field(value.item())
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
        w.writerow([_field(row[c]) for c in columns])
    return buf.getvalue()


def csv_shape(text: str, name: str) -> tuple[list[str], int]:
    """``(header, number of data rows)`` of CSV ``text``; RunDirError naming ``name`` when a row's field
    count differs from the header's (a cut-off row, or one glued onto the next)."""
    if not text:
        return [], 0
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    n = 0
    for n, fields in enumerate(reader, 1):
        if len(fields) != len(header):
            raise RunDirError(f"{name}: data row {n} has {len(fields)} fields, the header {len(header)} "
                              f"(a cut-off or glued row): the file is damaged")
    if not text.endswith("\n"):
        raise RunDirError(f"{name}: the last row is not terminated (the file was cut off)")
    return header, n


def read_csv(path: Path) -> pd.DataFrame:
    """Read a record CSV with round-trip float parsing (an empty file gives an empty frame)."""
    if Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=True, low_memory=False)  # one dtype per column, not per chunk
