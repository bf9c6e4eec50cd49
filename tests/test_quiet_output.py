"""Quiet output (issue 31, probe 8): a run shows progress bars and stage lines only.

- The certifier's HiGHS solve prints nothing, though HiGHS writes debug lines with a C ``printf``
  (``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``), and its result is the
  same as without the silencing.
- The local Dask cluster closes without ``Worker process still alive after 4.0 seconds, killing`` for a
  worker that takes a few seconds to exit (as workers that ran torch cells do on a loaded machine), and
  without "Port 8787 is already in use" when another cluster holds that port.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import socket
import time
import warnings

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from toy_functions.certify import solvers

NOISE = b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();\n"


def _problem() -> tuple:
    """max x0 + 2 x1 s.t. x0 + x1 <= 1.5, x integral in [0, 3] (as a minimization)."""
    return (csr_matrix(np.array([[1.0, 1.0]])), np.array([-np.inf]), np.array([1.5]), np.zeros(2),
            np.full(2, 3.0), np.array([1, 1]), np.array([-1.0, -2.0]))


def test_highs_prints_nothing_even_from_c_printf(monkeypatch, capfd):
    clean = solvers.highs(*_problem())
    libc = ctypes.CDLL(None)
    real = solvers.milp

    def noisy_milp(*args, **kwargs):  # what HiGHS does during some cnn-am certificates
        libc.printf(NOISE)
        return real(*args, **kwargs)

    monkeypatch.setattr(solvers, "milp", noisy_milp)
    print("before", flush=True)
    res = solvers.highs(*_problem(), node_limit=100)
    print("after", flush=True)
    captured = capfd.readouterr()
    assert captured.out == "before\nafter\n" and captured.err == ""
    assert (res.status, res.fun, list(res.x)) == (clean.status, clean.fun, list(clean.x)) == (0, -2.0, [0.0, 1.0])


def _slow_exit(seconds: float) -> int:
    """Run on a worker: make its process take ``seconds`` to exit, as a worker that ran torch cells may."""
    atexit.register(time.sleep, seconds)
    return 1


def test_local_cluster_closes_without_killing_a_slow_worker_or_port_warnings(capfd):
    pytest.importorskip("distributed")
    from benchmarks.framework import dask_executor

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    nanny_log = logging.getLogger("distributed.nanny")
    nanny_log.addHandler(handler)
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8787))  # another cluster's dashboard port, where it is free
        blocker.listen()
    except OSError:
        pass  # already taken, which is the case this covers
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with dask_executor.session(n_workers=1) as client:
                assert client.submit(_slow_exit, 4.5, pure=False).result() == 1
    finally:
        blocker.close()
        nanny_log.removeHandler(handler)
    said = [r.getMessage() for r in records] + [str(w.message) for w in caught] + [capfd.readouterr().err]
    assert not any("still alive" in m or "killing" in m for m in said), said
    assert not any("8787" in m for m in said), said
