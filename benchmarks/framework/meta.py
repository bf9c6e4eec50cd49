"""Provenance of a run: what ``meta.json`` holds beside the records.

Keys: ``experiment``, ``profile``, ``config`` (the resolved config as JSON data), ``config_hash``
(sha256 of its canonical JSON), ``cells`` (the canonical cell order), ``suite_version``, ``versions``
(python, torch, numpy, scipy, pandas), ``git_commit`` (or ``"unknown"``), ``machine`` (hostname,
platform, processor, cpu_count), ``device``, ``executor``, ``started_utc``, ``finished_utc`` (null until
the run completes), ``resumed_utc`` (one time per resume) and, for a config that names plug-ins,
``plugins`` (spec -> version, :func:`benchmarks.framework.plugins.used`).
"""
from __future__ import annotations

from collections.abc import Sequence

import datetime as _dt
import functools
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.framework.config import config_hash, to_jsonable

REPO_ROOT = Path(__file__).resolve().parents[2]


__version__ = "0.2.1"


@functools.lru_cache(maxsize=1)
def suite_version() -> str:
    """The suite version written into every record: the installed distribution's version, else ``__version__``."""
    try:
        from importlib.metadata import version

        return version("proxygrad-bench")
    except Exception:  # not installed (run from a checkout)
        return __version__


def utc_now() -> str:
    """The current UTC time in ISO 8601 with seconds, e.g. ``2026-01-01T12:00:00Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(root: Path = REPO_ROOT) -> str:
    """The checked-out commit hash (with ``+dirty`` if the code has uncommitted changes), or ``"unknown"``.

    Changes under ``results/`` (the outputs a run writes) do not make the code dirty. A tree whose state git
    cannot report (``git status`` fails or takes longer than a minute on a loaded machine) is ``"unknown"``,
    never clean."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=60)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 ":(exclude)results"], cwd=root,
                                capture_output=True, text=True, timeout=60)
        if status.returncode != 0:
            return "unknown"
        dirty = "+dirty" if status.stdout.strip() else ""
        return head.stdout.strip() + dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of python and the numeric libraries the results depend on."""
    import numpy
    import pandas
    import scipy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
    }


def machine() -> dict[str, Any]:
    """Where the run happened: hostname, platform, processor and CPU count."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python_executable": sys.executable,
    }


def build_meta(experiment: str, profile: str | None, cfg: Any, cell_keys: list[str], *, device: str,
               executor: str) -> dict[str, Any]:
    """A new meta dict for a run that starts now (``finished_utc`` is None until :func:`finish`); with
    ``plugins`` (spec -> version) when the config names code outside the suite."""
    from benchmarks.framework.plugins import used

    config = to_jsonable(cfg)
    extra = {"plugins": used(config)} if used(config) else {}
    return {
        "experiment": experiment,
        "profile": profile,
        "config": to_jsonable(cfg),
        "config_hash": config_hash(cfg),
        "cells": list(cell_keys),
        "suite_version": suite_version(),
        "versions": versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "device": device,
        "executor": executor,
        "started_utc": utc_now(),
        "finished_utc": None,
        "resumed_utc": [],
        **extra,
    }


def not_standardized_because(runs: Sequence[tuple[str, str | None, str | None]], code_version: str | None = None,
                             *, verb: str = "read") -> list[str]:
    """Why the records of ``runs`` (``(name, commit, suite version)`` each) are not one standardized result;
    empty when they are: all made from one commit of a clean tree (:func:`git_commit` without ``+dirty``) and
    of one suite version, that of the code that reads (``verb``) them (``code_version``, when given)."""
    commits = {c or "unknown" for _, c, _ in runs}
    versions_ = {str(v) for _, _, v in runs}
    why = []
    if any(c == "unknown" or c.endswith("+dirty") for c in commits):
        why.append("some records were made from a tree with uncommitted changes (or an unknown commit): "
                   + ", ".join(f"{n} `{c or 'unknown'}`" for n, c, _ in runs))
    elif len(commits) > 1:
        why.append(f"the records come from {len(commits)} commits: " + ", ".join(f"{n} `{str(c)[:12]}`" for n, c, _ in runs))
    if len(versions_) > 1:
        why.append("the records come from different suite versions: " + ", ".join(f"{n} {v}" for n, _, v in runs))
    elif code_version and versions_ != {code_version}:
        why.append(f"the records are of suite version {next(iter(versions_))}, {verb} by the code of suite "
                   f"version {code_version}")
    return why
