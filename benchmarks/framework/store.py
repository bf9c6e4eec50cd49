"""The run directory: per-cell record files with their commit markers, the merged records and ``meta.json``.

Layout of a run directory ``out/``::

    out/meta.json              resolved config, its hash, versions, machine, times (see benchmarks.framework.meta);
                               once the run finished also ``records``, the completeness record of records.csv
    out/cells/<key>.csv        the rows of one finished cell, written atomically (tmp file + os.replace)
    out/cells/<key>.done.json  the cell's commit marker, written atomically AFTER the cell's files
    out/records.csv            all cells' rows merged in the canonical cell order (rebuilt at the end)
    out/run.lock               pid and host of the run writing into ``out`` (only while it runs)
    out/tables/, figures/      written by ``report``

A cell is complete exactly when its marker exists and parses, every file it lists exists with the
listed byte count and sha256, its CSV has the listed header and number of rows, and the marker's
identity is this run's: its ``key`` is the cell's and its ``config_hash`` is the one in ``meta.json``.
The marker::

    {"format": 2, "key": "<key>", "config_hash": "<the run's config hash>", "rows": N, "columns": [...],
     "files": {"<key>.csv": {"bytes": B, "sha256": "<hex>"}, "<other file of the cell>": {...}}}

A cell copied from another run (another config) therefore reads as not of this run: ``run --resume``
runs it again with one line naming the cell, and ``report`` refuses it naming its marker.  Markers of
format 1 (no ``config_hash``, written before markers carried their identity) are read only in run
directories whose ``meta.json`` predates them (no ``marker_format`` entry), by their key; a run started
since records ``"marker_format": 2`` in ``meta.json`` and treats a format-1 marker in it as damaged.

``files`` may list several files of one cell (e.g. array files beside the CSV, passed to
:func:`write_cell` as ``extra_files``).  Writing a cell first removes its old marker, then writes its
files, then the marker, so a marker only vouches for the files written with it: a cell cut off by a
kill, a truncated, emptied or edited file and a missing marker all read as incomplete, and
:func:`cell_problem` names the file and says why.  ``meta.json``'s ``records`` entry is the same kind
of record for ``records.csv`` (``rows``, ``columns``, ``bytes``, ``sha256``), and its ``arrays`` entry
lists every array file of the finished cells (``bytes``, ``sha256``), so a committed run directory
that keeps only ``records.csv``, ``meta.json`` and (optionally) the array files ``cells/*.npz``, without
the cells' CSVs and markers, is verifiable too.

Floats are written with ``repr`` (shortest round-trip text), so a CSV read back with :func:`read_csv`
gives bit-identical floats and two identical runs give byte-identical files.  Values that are dicts or
lists are written as canonical JSON text.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]*$")
META = "meta.json"
RECORDS = "records.csv"
CELLS = "cells"
LOCK = "run.lock"
"""The lock a running run holds in its directory (:mod:`benchmarks.framework.lock`)."""
MARKER_SUFFIX = ".done.json"
MARKER_FORMAT = 2
"""The format of the cell markers written now (with the cell's key and the run's config hash)."""
LEGACY_MARKER_FORMAT = 1
"""Markers without a config hash; read only in run directories whose meta.json has no ``marker_format``."""


class RunDirError(ValueError):
    """A run directory or one of its files is incomplete, damaged or unreadable; the message names the file."""


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8 (newlines written as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def cell_path(out: Path, key: str) -> Path:
    """Where a cell's rows are stored."""
    return Path(out) / CELLS / f"{check_key(key)}.csv"


def marker_path(out: Path, key: str) -> Path:
    """Where a cell's commit marker is stored."""
    return Path(out) / CELLS / f"{check_key(key)}{MARKER_SUFFIX}"


def digest(data: bytes) -> dict[str, Any]:
    """``{"bytes": len(data), "sha256": hex digest}`` of a file's contents."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


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


def write_cell(out: Path, key: str, rows: Sequence[dict[str, Any]], extra_files: Sequence[Path] = (), *,
               config_hash: str | None = None) -> Path:
    """Store one finished cell's rows atomically, then its commit marker; returns the CSV file.

    ``extra_files``: further files of the cell, already written in ``out/cells/``, that the marker covers.
    ``config_hash``: the run's config hash, recorded in the marker (default: the one in ``out/meta.json``;
    RunDirError naming that file when it is missing).
    """
    if config_hash is None:
        config_hash = _run_identity(out)[0]
        if config_hash is None:
            raise RunDirError(f"cannot write cell {key!r}: {Path(out) / META} is missing or has no config_hash, "
                              f"and a cell's marker records the run's config hash")
    path = cell_path(out, key)
    marker = marker_path(out, key)
    marker.unlink(missing_ok=True)
    text = rows_to_csv(rows)
    atomic_write_text(path, text)
    files = {path.name: digest(text.encode("utf-8"))}
    for extra in map(Path, extra_files):
        if extra.parent.resolve() != path.parent.resolve() or extra.name in files or extra.name.endswith(MARKER_SUFFIX):
            raise ValueError(f"extra file {extra} of cell {key!r} must be another file in {path.parent}")
        files[extra.name] = digest(extra.read_bytes())
    record = {"format": MARKER_FORMAT, "key": key, "config_hash": config_hash, "rows": len(rows),
              "columns": list(rows[0]) if rows else [], "files": files}
    atomic_write_text(marker, json.dumps(record, sort_keys=True) + "\n")
    return path


def cell_started(out: Path, key: str) -> bool:
    """True when any file of the cell (its CSV or its marker) exists, complete or not."""
    return cell_path(out, key).exists() or marker_path(out, key).exists()


_IDENTITY_CACHE: dict[str, tuple[tuple[int, int], tuple[str | None, bool]]] = {}


def _run_identity(out: Path) -> tuple[str | None, bool]:
    """``(config hash, legacy markers allowed)`` of the run in ``out`` from its meta.json: ``(None, False)``
    without one (cells outside a run directory: only the key is checked).  Cached per file version."""
    path = Path(out) / META
    try:
        st = path.stat()
    except OSError:
        return None, False
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _IDENTITY_CACHE.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    meta = read_meta(out)
    cfg_hash = meta.get("config_hash")
    identity = (cfg_hash if isinstance(cfg_hash, str) else None, meta.get("marker_format") is None)
    _IDENTITY_CACHE[str(path)] = (stamp, identity)
    return identity


def _read_marker(marker: Path, *, legacy_ok: bool = False) -> dict[str, Any]:
    """A marker's record, its structure checked (RunDirError naming the marker when it is malformed, or
    of the legacy format where ``legacy_ok`` is False)."""
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{marker}: unreadable commit marker ({exc})") from exc
    if isinstance(record, dict) and record.get("format") == LEGACY_MARKER_FORMAT and not legacy_ok:
        raise RunDirError(f"{marker}: a format-{LEGACY_MARKER_FORMAT} commit marker without the run's config "
                          f"hash, in a run that writes format {MARKER_FORMAT}: the cell's identity is unknown "
                          f"(damaged, or copied from an older run)")
    formats = (MARKER_FORMAT, LEGACY_MARKER_FORMAT) if legacy_ok else (MARKER_FORMAT,)
    ok = (isinstance(record, dict) and record.get("format") in formats and isinstance(record.get("rows"), int)
          and isinstance(record.get("key"), str)
          and (record.get("format") == LEGACY_MARKER_FORMAT or isinstance(record.get("config_hash"), str))
          and isinstance(record.get("columns"), list) and isinstance(record.get("files"), dict)
          and all(isinstance(v, dict) and isinstance(v.get("bytes"), int) and isinstance(v.get("sha256"), str)
                  for v in record["files"].values()))
    if not ok:
        raise RunDirError(f"{marker}: malformed commit marker (expected format {MARKER_FORMAT} with key, "
                          f"config_hash, rows, columns and files)")
    return record


def _checked_marker(out: Path, key: str) -> dict[str, Any]:
    """The marker of cell ``key``, its structure and identity checked against the run in ``out``:
    RunDirError naming the marker and the cell when it is of another cell or another run's config."""
    marker = marker_path(out, key)
    cfg_hash, legacy_ok = _run_identity(out)
    record = _read_marker(marker, legacy_ok=legacy_ok)
    if record["key"] != key or cell_path(out, key).name not in record["files"]:
        raise RunDirError(f"{marker}: the marker is that of cell {record['key']!r}, not of cell {key!r}")
    made = record.get("config_hash")
    if cfg_hash is not None and made is not None and made != cfg_hash:
        raise RunDirError(f"{marker}: cell {key} was made under config hash {made[:12]}, this run's is "
                          f"{cfg_hash[:12]} ({Path(out) / META}): a cell of another run")
    return record


def check_file(path: Path, expected: dict[str, Any], what: str) -> bytes:
    """The bytes of ``path`` when they match ``expected`` (``bytes`` and ``sha256``); RunDirError naming it
    otherwise.  ``what`` says whose record it was checked against."""
    if not path.is_file():
        raise RunDirError(f"{path} is missing (listed in {what})")
    data = path.read_bytes()
    if len(data) != expected["bytes"]:
        raise RunDirError(f"{path} has {len(data)} bytes where {what} records {expected['bytes']}: "
                          f"the file is truncated or damaged")
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise RunDirError(f"{path}: sha256 differs from {what}: the file is damaged")
    return data


def read_cell_text(out: Path, key: str) -> str:
    """The CSV text of a complete cell, every file of it checked against its marker (RunDirError otherwise)."""
    path, marker = cell_path(out, key), marker_path(out, key)
    if not marker.is_file():
        if path.exists():
            raise RunDirError(f"{path} has no commit marker {marker.name}: the cell did not finish writing")
        raise RunDirError(f"{path} is missing: the cell has not run")
    record = _checked_marker(out, key)
    text = ""
    for name, expected in record["files"].items():
        data = check_file(path.parent / name, expected, f"its commit marker {marker.name}")
        if name == path.name:
            text = data.decode("utf-8")
    columns, rows = csv_shape(text, str(path))
    if columns != record["columns"] or rows != record["rows"]:
        raise RunDirError(f"{path} has {rows} rows and columns {columns}, its marker records {record['rows']} "
                          f"rows and columns {record['columns']}")
    return text


def cell_problem(out: Path, key: str) -> str | None:
    """None when the cell is complete, else why not (the message names the file)."""
    try:
        read_cell_text(out, key)
    except RunDirError as exc:
        return str(exc)
    return None


def finished_keys(out: Path) -> set[str]:
    """Keys of the complete cells (see :func:`cell_problem`); cells in flight or damaged are left out."""
    d = Path(out) / CELLS
    if not d.is_dir():
        return set()
    keys = {p.name[: -len(MARKER_SUFFIX)] for p in d.glob(f"*{MARKER_SUFFIX}") if not p.name.startswith(".")}
    return {k for k in keys if _KEY_RE.match(k) and cell_problem(out, k) is None}


def read_csv(path: Path) -> pd.DataFrame:
    """Read a record CSV with round-trip float parsing (an empty file gives an empty frame)."""
    if Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=True, low_memory=False)  # one dtype per column, not per chunk


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


def arrays_record(out: Path, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{file name: digest}`` of every file besides the CSV that the markers of cells ``keys`` list (the
    array files), for ``meta.json``'s ``arrays`` entry; each is checked against its marker first."""
    entries: dict[str, dict[str, Any]] = {}
    for key in keys:
        read_cell_text(out, key)
        record = _checked_marker(out, key)
        for name, d in sorted(record["files"].items()):
            if name != cell_path(out, key).name:
                entries[name] = {"bytes": d["bytes"], "sha256": d["sha256"]}
    return entries


def has_cells(out: Path) -> bool:
    """Whether ``out/cells/`` keeps the cells themselves (any commit marker), not only array files."""
    cells_dir = Path(out) / CELLS
    return cells_dir.is_dir() and any(p.name.endswith(MARKER_SUFFIX) for p in cells_dir.iterdir())


def read_array_file(out: Path, name: str) -> bytes | None:
    """The bytes of the array file ``out/cells/<name>`` once vouched for: by its cell's marker when the
    run keeps its cells, else by ``meta.json``'s ``arrays`` entry; None when the file is absent.
    RunDirError naming the file when it is damaged or vouched for by neither."""
    out = Path(out)
    path = out / CELLS / name
    if not path.is_file():
        return None
    key = name.rsplit(".", 1)[0]
    if marker_path(out, key).is_file():
        read_cell_text(out, key)
        return path.read_bytes()
    listed = read_meta(out).get("arrays")
    if not isinstance(listed, dict) or name not in listed or not isinstance(listed[name], dict):
        raise RunDirError(f"{path} is vouched for by neither a cell marker nor the 'arrays' entry of "
                          f"{out / META}: not used")
    return check_file(path, listed[name], f"the 'arrays' entry of {out / META}")


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


def read_meta(out: Path) -> dict[str, Any]:
    """``out/meta.json`` as a dict (FileNotFoundError naming the path when absent, RunDirError when damaged)."""
    path = Path(out) / META
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out} is not a run directory")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path} is damaged: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise RunDirError(f"{path} is damaged: expected a JSON object, got {type(meta).__name__}")
    return meta


def write_meta(out: Path, meta: dict[str, Any]) -> Path:
    """Write ``out/meta.json`` atomically (indented, sorted keys)."""
    path = Path(out) / META
    atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` is a directory with at least one entry besides a run's lock file."""
    p = Path(path)
    return p.is_dir() and any(e.name != LOCK and not e.name.startswith(f".{LOCK}.") for e in p.iterdir())
