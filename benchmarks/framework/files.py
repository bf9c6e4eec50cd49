"""Files written whole and read back checked: atomic writes and byte-count/sha256 digests.

A file written by :func:`atomic_write_bytes` is seen by readers either as the old file or as the whole
new one, never a part.  A digest (:func:`digest`) records a file's byte count and sha256;
:func:`check_file` returns a file's bytes only when they match one, and raises :class:`RunDirError`
naming the file otherwise.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


class RunDirError(ValueError):
    """A run directory or one of its files is incomplete, damaged or unreadable; the message names the file."""


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


def digest(data: bytes) -> dict[str, Any]:
    """``{"bytes": len(data), "sha256": hex digest}`` of a file's contents."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


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
