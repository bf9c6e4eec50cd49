"""The cells of a run directory: one CSV of rows per finished cell and its commit marker.

A cell is complete exactly when its marker exists and parses, every file it lists exists with the
listed byte count and sha256, its CSV has the listed header and number of rows, and the marker's
identity is this run's: its ``key`` is the cell's and its ``config_hash`` is the one in ``meta.json``.
The marker::

    {"format": 2, "key": "<key>", "config_hash": "<the run's config hash>", "rows": N, "columns": [...],
     "files": {"<key>.csv": {"bytes": B, "sha256": "<hex>"}, "<other file of the cell>": {...}}}

A cell copied from another run (another config) therefore reads as not of this run.  Markers of
format 1 (no ``config_hash``, written before markers carried their identity) are read only in run
directories whose ``meta.json`` predates them (no ``marker_format`` entry), by their key; a run started
since records ``"marker_format": 2`` in ``meta.json`` and treats a format-1 marker in it as damaged.

``files`` may list several files of one cell (e.g. array files beside the CSV, passed to
:func:`write_cell` as ``extra_files``).  Writing a cell first removes its old marker, then writes its
files, then the marker, so a marker only vouches for the files written with it: a cell cut off by a
kill, a truncated, emptied or edited file and a missing marker all read as incomplete, and
:func:`cell_problem` names the file and says why.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.framework.codec import csv_shape, rows_to_csv
from benchmarks.framework.files import RunDirError, atomic_write_text, check_file, digest
from benchmarks.framework.layout import CELLS, MARKER_SUFFIX, META, read_meta

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]*$")

MARKER_FORMAT = 2
"""The format of the cell markers written now (with the cell's key and the run's config hash)."""

LEGACY_MARKER_FORMAT = 1
"""Markers without a config hash; read only in run directories whose meta.json has no ``marker_format``."""


def check_key(key: str) -> str:
    """A cell key must be a safe file name: letters, digits and ``._=+,-`` (ValueError otherwise)."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > 200:
        raise ValueError(f"invalid cell key {key!r}: use letters, digits and ._=+,- only (at most 200 chars)")
    return key


def cell_path(out: Path, key: str) -> Path:
    """Where a cell's rows are stored."""
    return Path(out) / CELLS / f"{check_key(key)}.csv"


def marker_path(out: Path, key: str) -> Path:
    """Where a cell's commit marker is stored."""
    return Path(out) / CELLS / f"{check_key(key)}{MARKER_SUFFIX}"


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
