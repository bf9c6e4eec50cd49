"""One run per directory: the lock file a run holds while it writes into its ``--out``.

``out/run.lock`` holds ``{"pid", "host", "started_utc"}`` of the process that runs there.  It is created
atomically with its contents (a temporary file hard-linked to the name, which fails when the name
exists), so a second run never sees a half-written lock.  A second run on the same directory exits 2
naming the holder (:class:`LockHeld`, a ConfigError).  A lock left behind by a process that is gone
(same host, its pid no longer alive) is stale: it is taken over with one line on stderr saying so.  A
lock of another host cannot be checked from here and is always respected.  The lock is removed when
the run ends, also on error or interrupt; a directory created only to hold the lock is removed with it,
so a run refused before it wrote anything leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.framework.config import ConfigError
from benchmarks.framework.meta import utc_now
from benchmarks.framework.store import LOCK


class LockHeld(ConfigError):
    """The run directory is locked by another running process; the message names it (pid, host)."""


def lock_path(out: Path) -> Path:
    """Where the lock of run directory ``out`` lives."""
    return Path(out) / LOCK


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a process of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> dict[str, Any] | None:
    """The lock's record, or None when it is not a readable lock of this suite."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(holder, dict) and isinstance(holder.get("pid"), int) and isinstance(holder.get("host"), str)):
        return None
    return holder


def _try_create(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` holding ``record``, atomically; False when it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def acquire(out: Path) -> dict[str, Any]:
    """Lock run directory ``out`` (which must exist) for this process; returns the lock's record.

    LockHeld naming the holder when another live process (or any process of another host) holds it;
    ConfigError naming the file when the lock is unreadable.  A stale lock of this host is taken over,
    with one line on stderr."""
    path = lock_path(out)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started_utc": utc_now()}
    for _ in range(3):
        if _try_create(path, record):
            return record
        holder = read_holder(path)
        if holder is None:
            raise ConfigError(f"{path} exists but is not a readable lock (pid and host): another run may be "
                              f"writing into {out}; delete {path} if none is")
        alive = holder["host"] != record["host"] or pid_alive(holder["pid"])
        if alive:
            raise LockHeld(f"{out} is in use: process {holder['pid']} on host {holder['host']} (since "
                           f"{holder.get('started_utc', '?')}) holds {path}; wait for that run to end, or delete "
                           f"{path} if that process is gone")
        print(f"taking over the stale lock {path}: process {holder['pid']} on host {holder['host']} is no "
              f"longer running", file=sys.stderr, flush=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    raise LockHeld(f"{out} is in use: {path} was taken by another process while this one waited")


def release(out: Path, record: dict[str, Any]) -> None:
    """Remove the lock of ``out`` when it is still this ``record``'s."""
    path = lock_path(out)
    holder = read_holder(path)
    if holder is not None and holder.get("pid") == record["pid"] and holder.get("host") == record["host"]:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[dict[str, Any]]:
    """Hold the lock of run directory ``out`` for the body (creating ``out`` when missing; a directory
    created here and left empty is removed again at the end)."""
    out = Path(out)
    created = [d for d in (out, *out.parents) if not d.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run directory --out {out}: {exc.strerror or exc}") from exc
    try:
        record = acquire(out)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield record
    finally:
        release(out, record)
        _remove_empty(created)  # only empty ones: a run refused before it wrote anything leaves nothing


def _remove_empty(dirs: list[Path]) -> None:
    """Remove the directories ``dirs`` (deepest first) while they are empty."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return
