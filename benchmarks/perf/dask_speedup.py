"""Speed-up of a 2-worker Dask LocalCluster against a serial run on one experiment profile.

    .venv/bin/python -m benchmarks.perf.dask_speedup [--experiment toy-am] [--profile quick]

Runs the profile twice into fresh temporary directories, serially and with ``--executor dask`` (a
LocalCluster of 2 single-threaded workers, its start-up included in the time), checks that the two
runs' records are identical apart from the experiment's timing columns, and prints both wall times and
``speed-up = serial seconds / dask seconds``.  The figure depends on the machine and its load; it is
printed, never stored.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.framework import store
from benchmarks.framework.config import load_profile
from benchmarks.framework.dask_executor import CELL_THREADS
from benchmarks.framework.registry import load
from benchmarks.framework.runner import run


def timed_run(module, cfg, out: Path, profile: str, executor: str) -> float:
    """Wall seconds of one complete run of ``cfg`` into ``out`` with ``executor``; prints the machine's
    1-minute load average before and after, since other processes on the machine change the figure."""
    print(f"{executor}: start, load average {os.getloadavg()[0]:.1f}", flush=True)
    start = time.perf_counter()
    run(module, cfg, out, executor=executor, profile=profile, progress=False)
    seconds = time.perf_counter() - start
    print(f"{executor}: {seconds:.2f} s, load average {os.getloadavg()[0]:.1f}", flush=True)
    return seconds


def same_records(a: Path, b: Path, timing: tuple[str, ...]) -> bool:
    """True when two run directories' records are equal after dropping the ``timing`` columns."""
    ra, rb = (store.read_csv(d / store.RECORDS) for d in (a, b))
    return ra.drop(columns=list(timing), errors="ignore").equals(rb.drop(columns=list(timing), errors="ignore"))


def main(argv: list[str] | None = None) -> int:
    """Time serial against dask and print the speed-up; exit 1 if the records differ."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="toy-am")
    p.add_argument("--profile", default="quick")
    a = p.parse_args(argv)
    module = load(a.experiment)
    cfg = module.parse_config(load_profile(a.experiment, a.profile))
    timing = tuple(getattr(module, "TIMING_COLUMNS", ()))
    with tempfile.TemporaryDirectory(prefix="dask-speedup-") as tmp:
        serial_dir, dask_dir = Path(tmp) / "serial", Path(tmp) / "dask"
        serial = timed_run(module, cfg, serial_dir, a.profile, "local")
        dask = timed_run(module, cfg, dask_dir, a.profile, "dask")
        identical = same_records(serial_dir, dask_dir, timing)
    cells = len(module.cells(cfg))
    print(f"{a.experiment} {a.profile}: {cells} cells, each under {CELL_THREADS} torch thread(s) in both runs; "
          f"{os.cpu_count()} CPUs")
    print(f"serial: {serial:.2f} s; dask LocalCluster, 2 workers (start-up included): {dask:.2f} s")
    print(f"speed-up serial/dask: {serial / dask:.2f}x; records identical apart from {list(timing)}: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
