"""The CSV codec of the records: one text form per value, read back bit for bit.

Floats are written with ``repr`` (shortest round-trip text), so a CSV read back with :func:`read_csv`
gives bit-identical floats and two identical runs give byte-identical files.  ``None`` and NaN are
written as empty fields, booleans as ``True`` / ``False``, and values that are dicts or lists as
canonical JSON text.  Reading back, a column of booleans is typed once, here (:func:`as_bool`): an empty
field is a *missing* value, never False.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.framework.files import RunDirError


def _field(value: Any) -> str:
    """One CSV field: floats by repr (round trip), None/NaN as empty, containers as canonical JSON."""
    if value is None or value is pd.NA:
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


_BOOL_TEXT = {"True": True, "False": False}


def as_bool(values: pd.Series) -> pd.Series:
    """A boolean record column as pandas' nullable ``boolean`` dtype: ``True`` / ``False`` (bools, numpy
    bools, or the codec's text ``"True"`` / ``"False"``); an empty field (None, NaN, pd.NA) is *missing*
    (pd.NA), never False: a reader that wants missing to count as False says so (``.fillna(False)``).
    ValueError naming the first value that is none of these."""
    def one(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, str) and v in _BOOL_TEXT:
            return _BOOL_TEXT[v]
        raise ValueError(f"column {values.name!r}: {v!r} is not a boolean (True, False or empty)")
    return pd.Series([one(v) for v in values], index=values.index, name=values.name, dtype="boolean")


def _is_bool_column(values: pd.Series) -> bool:
    """True when every non-missing value is a boolean (and there is one): a column written from bools."""
    if pd.api.types.is_bool_dtype(values):
        return True
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, (bool, np.bool_)) or (isinstance(v, str) and v in _BOOL_TEXT)
                                    for v in present)


def read_csv(path: Path | io.StringIO) -> pd.DataFrame:
    """Read a record CSV (a file, or CSV text in a StringIO) with round-trip float parsing (an empty file
    gives an empty frame); every column of booleans is typed by :func:`as_bool` (empty fields are missing)."""
    if isinstance(path, (str, Path)) and Path(path).stat().st_size == 0:
        return pd.DataFrame()
    frame = pd.read_csv(path, keep_default_na=True, low_memory=False)  # one dtype per column, not per chunk
    for c in frame.columns:
        if _is_bool_column(frame[c]):
            frame[c] = as_bool(frame[c])
    return frame
