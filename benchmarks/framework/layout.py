"""The names of a run directory's files and its ``meta.json`` (see :mod:`benchmarks.framework.store`).

``meta.json`` is read and written here, whole (:func:`read_meta`, :func:`write_meta`); what it holds is
stated in :mod:`benchmarks.framework.meta`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.framework.files import RunDirError, atomic_write_text

META = "meta.json"
RECORDS = "records.csv"
CELLS = "cells"
LOCK = "run.lock"
"""The lock a running run holds in its directory (:mod:`benchmarks.framework.lock`)."""
MARKER_SUFFIX = ".done.json"


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
