"""Scale-out: run a sweep's cells on a Dask cluster (``run --executor dask [--scheduler ADDRESS]``).

Each cell is one task, a pure function of ``(cfg, cell)``; the runner passes ``run_fn = cell -> rows``
with the config already bound.  :func:`map_cells` yields ``(cell, rows)`` in completion order and the
runner stores each finished cell atomically as it arrives, so resume and the merged ``records.csv``
(canonical cell order) are the same as in a serial run.

Thread count and identical records: CPU float results of a reduction can depend on how many threads
split it (measured here on torch 2.14: weight gradients of a small CNN differ bit-wise between 1 and 2
threads, while the forward pass and input gradients did not).  Every cell therefore runs under one fixed
torch thread count, :data:`CELL_THREADS`, via :func:`run_pinned`; the serial path must call the same
helper so that serial and distributed records are identical, also across machines with different core
counts.  One thread per cell also keeps two workers from oversubscribing two cores.

Worker environment: Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
``distributed.nanny.pre-spawn-environ`` default).  An explicit trim threshold also switches off glibc's
adaptive mmap threshold, so every tensor buffer above 128 KiB becomes a fresh ``mmap`` whose pages fault
in again on every step.  Measured here (torch 2.14, one thread, 300 forward/backward passes of
fmnist-vgg-relu on 2 inputs): 0.55 s and 900 minor faults without it, 1.07 s (0.36 s of it in the kernel)
and 188,829 minor faults with it.  The local cluster of :func:`session` starts its workers without that
variable (:data:`UNSET_IN_WORKERS`); the BLAS and OpenMP thread variables stay at Dask's 1.  Workers of a
cluster given by address run in whatever environment that cluster set.

One cluster serves a whole run: :func:`session` starts it (or connects to ``scheduler``) once, and every
stage of a staged experiment maps its cells through the same client, so workers start, and import
torch, once per run and not once per stage.

Quiet start and shutdown: a worker process that has run torch cells takes about 3 s to exit on a
loaded 2-core machine (measured with smoke cells that train CNNs: 3.0 to 3.2 s), and Dask's nanny kills it
with ``Worker process still alive after 4.0 seconds, killing`` (0.8 of its default close timeout of 5 s)
at the end of every run.  The local cluster's nannies wait :data:`WORKER_CLOSE_TIMEOUT` seconds instead,
so workers exit on their own.  Its scheduler serves its HTTP routes (no dashboard) on a free port rather
than on 8787, which warns "Port 8787 is already in use" whenever another cluster runs on the machine.

``distributed`` is imported only inside :func:`session`, so importing this module is cheap.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import torch

CELL_THREADS = 1
"""The torch intra-op thread count under which every cell runs, serial or distributed."""

LOCAL_WORKERS = 2
"""Workers of the LocalCluster started when no scheduler address is given."""

UNSET_IN_WORKERS: tuple[str, ...] = ("MALLOC_TRIM_THRESHOLD_",)
"""Variables of Dask's default worker environment that the local cluster's workers start without."""

WORKER_CLOSE_TIMEOUT = 30.0
"""Seconds a local worker is given to exit when the cluster closes (Dask's default: 5, killed after 4)."""


def _nanny_class() -> type:
    """``distributed.Nanny`` that gives its worker :data:`WORKER_CLOSE_TIMEOUT` seconds to exit on close."""
    from distributed import Nanny

    class PatientNanny(Nanny):
        """A nanny whose close waits for its worker process to exit instead of killing it after 4 s."""

        async def close(self, timeout: float = WORKER_CLOSE_TIMEOUT, reason: str = "nanny-close") -> Any:
            return await super().close(timeout=max(timeout, WORKER_CLOSE_TIMEOUT), reason=reason)

    return PatientNanny


class _HasKey(Protocol):
    key: str


CellT = TypeVar("CellT", bound=_HasKey)
Rows = list[dict[str, Any]]


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(n)`` and restore the previous count afterwards."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"thread count must be a positive integer, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_pinned(run_fn: Callable[[CellT], Rows], cell: CellT, threads: int = CELL_THREADS) -> Rows:
    """``run_fn(cell)`` under exactly ``threads`` torch threads (serial and Dask paths share this)."""
    with torch_threads(threads):
        return run_fn(cell)


def _check(cells: Sequence[CellT], scheduler: str | None, threads: int, n_workers: int) -> None:
    """Validate the arguments of :func:`map_cells` before any cluster is started."""
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as 'tcp://host:8786' or None, got {scheduler!r}")
    for what, n in (("threads", threads), ("n_workers", n_workers)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{what} must be a positive integer, got {n!r}")
    seen: set[str] = set()
    for cell in cells:
        key = getattr(cell, "key", None)
        if not isinstance(key, str):
            raise ValueError(f"every cell needs a string .key, got {cell!r}")
        if key in seen:
            raise ValueError(f"duplicate cell key {key!r}")
        seen.add(key)


@contextlib.contextmanager
def session(scheduler: str | None = None, *, n_workers: int = LOCAL_WORKERS) -> Iterator[Any]:
    """A ``distributed.Client`` for the body: connected to ``scheduler``, or, when it is None, to a new
    ``LocalCluster`` of ``n_workers`` single-threaded worker processes on 127.0.0.1 (started without
    :data:`UNSET_IN_WORKERS`, given :data:`WORKER_CLOSE_TIMEOUT` to exit, no dashboard, its HTTP routes
    on a free port), closed at the end, also on error or ``KeyboardInterrupt``.
    ``ValueError`` naming the bad value, before anything starts, for a bad address or worker count."""
    _check([], scheduler, CELL_THREADS, n_workers)
    import dask
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            stack.enter_context(dask.config.set(
                {f"distributed.nanny.pre-spawn-environ.{name}": None for name in UNSET_IN_WORKERS}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                worker_class=_nanny_class(),
            ))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler, timeout="30s"))
        yield client


def map_cells(
    run_fn: Callable[[CellT], Rows],
    cells: Sequence[CellT],
    *,
    scheduler: str | None = None,
    client: Any = None,
    threads: int = CELL_THREADS,
    n_workers: int = LOCAL_WORKERS,
) -> Iterator[tuple[CellT, Rows]]:
    """Run ``run_fn(cell)`` for every cell on a Dask cluster; yield ``(cell, rows)`` as each finishes.

    ``client``: a client from :func:`session` (the caller's cluster, left running); without one, a
    :func:`session` for ``scheduler`` and ``n_workers`` serves this call alone and is closed at the end,
    also on error, ``KeyboardInterrupt`` or when the consumer closes the generator (wrap the loop in
    ``contextlib.closing`` to close it promptly).  ``run_fn`` must be picklable (cloudpickle) and
    importable on the workers.  Every task runs under ``threads`` torch threads (see :func:`run_pinned`).
    Arguments are validated (``ValueError`` naming the bad value) before anything starts.  A failing cell
    raises ``RuntimeError`` naming its key, after the remaining tasks are cancelled.
    """
    cells = list(cells)
    _check(cells, scheduler, threads, n_workers)
    if client is not None and scheduler is not None:
        raise ValueError(f"give a scheduler address or a client, not both (scheduler={scheduler!r})")
    return _stream(run_fn, cells, scheduler, client, threads, n_workers)


def _stream(run_fn: Callable[[CellT], Rows], cells: list[CellT], scheduler: str | None, client: Any,
            threads: int, n_workers: int) -> Iterator[tuple[CellT, Rows]]:
    """The generator behind :func:`map_cells` (arguments already validated)."""
    if not cells:
        return
    from distributed import as_completed

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(session(scheduler, n_workers=n_workers))
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(run_pinned, run_fn, cell, threads, key=f"{cell.key}-{run_id}", pure=False): cell
            for cell in cells
        }
        try:
            for future in as_completed(futures):
                cell = futures[future]
                try:
                    rows = future.result()
                except Exception as exc:
                    raise RuntimeError(f"cell {cell.key!r} failed on a Dask worker: {exc!r}") from exc
                future.release()
                yield cell, rows
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                client.cancel(pending)
