"""Running an experiment's cells into a run directory, serially or on Dask, with resume.

A run is ``cells(cfg)`` -> ``run_cell(cfg, cell, ctx)`` for each cell not yet finished -> each cell's rows
stored atomically as it finishes -> ``records.csv`` merged in the canonical cell order.

Staged runs: an experiment whose ``cells`` takes a second argument, ``cells(cfg, done)``, is called first
with ``done=None`` and then, after each round of cells has finished, with ``done`` = the stored records of
every cell listed so far (read back from the run directory, in cell order).  It returns the cells listed
so far followed by any new ones (for example evaluation cells at a step size chosen from tuning cells);
an experiment may define ``extra_files(out, key)``, the files its cell wrote beside the rows in
``out/cells/`` (arrays), which the cell's commit marker then covers;
the run ends when a round lists no new cell.  The cell list is therefore a pure function of the config
and of stored records, and resuming rebuilds it round by round.  Since
``run_cell`` is a pure function of ``(cfg, cell)``, the records do not depend on the executor, on the
order in which cells finish, or on interruptions: a killed run loses only the cells in flight and
``resume=True`` completes it to the same bytes as an uninterrupted run.  A cell whose files are
incomplete or damaged (see :mod:`benchmarks.framework.store`) is run again on resume, with one line on stderr
naming the file.  When all cells are merged, the records are checked against the experiment's declared
bounds (:mod:`benchmarks.framework.bounds`); a violation fails the run after ``meta.json`` is finished.
A run holds the lock of its directory (:mod:`benchmarks.framework.lock`) from before ``meta.json`` is
written until it ends; each cell's marker records the run's config hash.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from collections.abc import Iterable
from typing import Any

from benchmarks.framework import bounds, schema, store
from benchmarks.framework import lock as run_lock
from benchmarks.framework.config import ConfigError
from benchmarks.framework.meta import REPO_ROOT, build_meta, suite_version, utc_now

EXECUTORS: tuple[str, ...] = ("local", "dask")
DEVICES: tuple[str, ...] = ("cpu", "cuda")
DEFAULT_CACHE = REPO_ROOT / ".cache"
BOUND_VIOLATIONS = "bound_violations.csv"
"""Written into the run directory, listing every violating record, when a run exceeds a declared bound."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``key`` (unique, file-name safe, stable across runs) and its ``params``."""

    key: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class RunContext:
    """What a cell may use besides ``(cfg, cell)``: never something that changes its results on CPU.

    device: ``"cpu"`` or ``"cuda"``.  data_dir: where data sets are looked up (None: the data module's
    own default).  cache_dir: scratch for caches (certificates, dataset maxima).  out_dir: the run
    directory (e.g. for per-cell checkpoints under ``out_dir/checkpoints``).  progress: inner bars.
    """

    device: str = "cpu"
    data_dir: Path | None = None
    cache_dir: Path = DEFAULT_CACHE
    out_dir: Path | None = None
    progress: bool = False


def stamp(experiment: str, rows: list[dict[str, Any]], methods: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """``rows`` with the common header of a run of ``methods`` first (:func:`schema.header`: the stamped
    columns, the methods' columns, the seed), then their other columns; a method column that only some
    methods have (a plug-in's ``method_version``) is empty in the rows of the others.

    ValueError naming the experiment and the column when a row lacks one of the required header
    columns (:func:`schema.required`), or carries an ``experiment`` / ``suite_version`` that differs from
    the stamped one.
    """
    stamped = {"experiment": experiment, "suite_version": suite_version()}
    head = schema.header(methods)[len(schema.STAMPED):]
    needed = schema.required()
    out = []
    for i, row in enumerate(rows):
        for key, value in stamped.items():
            if key in row and row[key] != value:
                raise ValueError(f"experiment {experiment!r}: row {i} has {key}={row[key]!r}, expected {value!r}")
        missing = [c for c in needed if c not in row]
        if missing:
            raise ValueError(f"experiment {experiment!r}: row {i} lacks the common column(s) {missing}")
        out.append({**stamped, **{c: row.get(c) for c in head},
                    **{k: v for k, v in row.items() if k not in head and k not in stamped}})
    return out


class CellRunner:
    """A picklable ``cell -> rows`` callable: imports the experiment module by name, runs the cell and
    stamps the common header on its rows (:func:`stamp`)."""

    def __init__(self, module_name: str, cfg: Any, ctx: RunContext) -> None:
        self.module_name = module_name
        self.cfg = cfg
        self.ctx = ctx

    def __call__(self, cell: Cell) -> list[dict[str, Any]]:
        module = importlib.import_module(self.module_name)
        return stamp(module.NAME, module.run_cell(self.cfg, cell, self.ctx), getattr(self.cfg, "methods", ()))


def _check_cells(cells: list[Cell]) -> list[str]:
    keys = [store.check_key(c.key) for c in cells]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"cells() returned the key {dup!r} twice")
    return keys


def check_device(device: str) -> str:
    """``device`` must be ``cpu`` or an available ``cuda`` (ConfigError otherwise)."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but torch sees no CUDA device")
    return device


def check_out(out: Path) -> Path:
    """``out`` must be a directory or creatable as one, and writable (ConfigError naming the path otherwise).

    Nothing is written: an existing file, a path under a file and a folder without write permission are
    refused before the run starts.
    """
    out = Path(out)
    path = out.absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out} is an existing file, not a directory; choose another --out")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--out {out} cannot be created: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out} is not writable: no write permission on {existing}")
    return out


def prepare(out: Path, meta: dict[str, Any], *, resume: bool) -> dict[str, Any]:
    """Validate ``out`` for a new or resumed run and write its ``meta.json``; returns the meta in force.

    New run: ``out`` must be absent or empty.  Resume: an existing ``meta.json`` must be of the same
    experiment and config hash (else ConfigError); a missing or empty ``out`` starts a new run.
    Nothing is written when a ConfigError is raised.
    """
    out = Path(out)
    meta_file = out / store.META
    if resume and not meta_file.is_file() and store.is_nonempty_dir(out):
        raise ConfigError(f"cannot resume {out}: {meta_file} is missing (deleted or never written), so the "
                          f"files in it cannot be told to be of this run; restore {store.META} or choose "
                          f"another --out")
    if resume and meta_file.is_file():
        old = store.read_meta(out)
        if old.get("experiment") != meta["experiment"] or old.get("config_hash") != meta["config_hash"]:
            raise ConfigError(
                f"cannot resume {out}: it holds a run of {old.get('experiment')!r} "
                f"(profile {old.get('profile')!r}, config hash {str(old.get('config_hash'))[:12]}) but this is "
                f"{meta['experiment']!r} (profile {meta['profile']!r}, config hash {meta['config_hash'][:12]}); "
                f"use a new --out directory"
            )
        first = list(meta["cells"])
        if list(old.get("cells") or [])[: len(first)] != first:
            raise ConfigError(f"cannot resume {out}: the experiment's cell list changed since the run started")
        old["resumed_utc"] = list(old.get("resumed_utc") or []) + [utc_now()]
        old["finished_utc"] = None
        old.pop("records", None)
        old.pop("bound_violations", None)
        meta = old
    elif store.is_nonempty_dir(out):
        hint = ("pass --resume to continue it, or" if meta_file.is_file()
                else f"it is not a run directory (no {store.META});")
        raise ConfigError(f"output directory {out} exists and is not empty: {hint} choose another --out")
    else:
        meta = {**meta, "marker_format": store.MARKER_FORMAT}
    try:
        out.mkdir(parents=True, exist_ok=True)
        store.write_meta(out, meta)
    except OSError as exc:
        raise ConfigError(f"cannot write the run directory --out {out}: {exc.strerror or exc}") from exc
    return meta


def pending_cells(out: Path, cells: list[Cell], *, resume: bool) -> list[Cell]:
    """The cells to run: all of them, or on resume those not complete in ``out`` (a started but
    incomplete or damaged one is announced on stderr with the file and the reason)."""
    if not resume:
        return list(cells)
    pending = []
    for cell in cells:
        problem = store.cell_problem(out, cell.key)
        if problem is None:
            continue
        if store.cell_started(out, cell.key):
            print(f"re-running cell {cell.key}: {problem}", file=sys.stderr, flush=True)
        pending.append(cell)
    return pending


def staged(module: ModuleType) -> bool:
    """True when the experiment's ``cells`` takes the records of finished cells (``cells(cfg, done)``)."""
    try:
        return len(inspect.signature(module.cells).parameters) >= 2
    except (TypeError, ValueError):
        return False


def finished_records(out: Path, keys: list[str]):
    """The stored records of the cells ``keys`` (all complete), in that order, as one DataFrame."""
    import io

    import pandas as pd

    frames = []
    for key in keys:
        text = store.read_cell_text(out, key)
        if text:
            frames.append(store.read_csv(io.StringIO(text)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def next_cells(module: ModuleType, cfg: Any, out: Path, keys: list[str]) -> list[Cell]:
    """The cell list after a finished round: ``cells(cfg, done)``, which must start with ``keys``."""
    cells = list(module.cells(cfg, finished_records(out, keys)))
    new_keys = _check_cells(cells)
    if new_keys[: len(keys)] != keys:
        raise ValueError(f"{module.NAME}: cells(cfg, done) must return the cells listed so far, in order, "
                         f"followed by new ones")
    return cells


def _dask_executor() -> ModuleType:
    """The Dask executor module, imported only when asked for (ConfigError when it cannot be)."""
    try:
        return importlib.import_module("benchmarks.framework.dask_executor")
    except ImportError as exc:
        raise ConfigError(f"--executor dask is not available: {exc}") from exc


def load_experiment(experiment: ModuleType | str) -> ModuleType:
    """An experiment module, given itself or its name in :data:`benchmarks.framework.registry.EXPERIMENTS`."""
    if isinstance(experiment, ModuleType):
        return experiment
    from benchmarks.framework.registry import load

    return load(experiment)


def run(experiment: ModuleType | str, cfg: Any, out: Path | str, *, resume: bool = False, device: str = "cpu",
        executor: str = "local", scheduler: str | None = None, progress: bool = True, profile: str | None = None,
        data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Run every unfinished cell of ``experiment`` under ``cfg`` into ``out``; returns ``out/records.csv``.

    executor ``"local"`` is a plain loop (tqdm bar when ``progress``); ``"dask"`` opens one
    ``benchmarks.framework.dask_executor.session(scheduler)`` for the whole run (at the first stage with pending
    cells: none when a resume finds every cell done) and hands each stage's pending
    cells to ``map_cells(run_fn, cells, client=client)``, which yields ``(cell, rows)`` as cells finish.
    Each finished cell is stored atomically at once.
    ConfigError (nothing written) for a bad executor, device or ``out``; BoundViolationError, after the
    run directory is complete, when a record exceeds a bound declared in the module's ``BOUNDS``.
    """
    module = load_experiment(experiment)
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    check_device(device)
    dask_executor = _dask_executor() if executor == "dask" else None
    check_out(Path(out))
    declared_bounds = bounds.declared(module)
    is_staged = staged(module)
    cells = list(module.cells(cfg, None) if is_staged else module.cells(cfg))
    keys = _check_cells(cells)
    out = Path(out)
    meta = build_meta(module.NAME, profile, cfg, keys, device=device, executor=executor)
    with run_lock.locked(out):
        return _run_locked(module, cfg, out, meta, cells, keys, resume=resume, device=device,
                           dask_executor=dask_executor, scheduler=scheduler, progress=progress,
                           data_dir=data_dir, cache_dir=cache_dir, declared_bounds=declared_bounds,
                           is_staged=is_staged)


def _run_locked(module: ModuleType, cfg: Any, out: Path, meta: dict[str, Any], cells: list[Cell], keys: list[str],
                *, resume: bool, device: str, dask_executor: ModuleType | None, scheduler: str | None,
                progress: bool, data_dir: Path | None, cache_dir: Path | None, declared_bounds: Any,
                is_staged: bool) -> Path:
    """The body of :func:`run`, under the run directory's lock."""
    was_finished = resume and (out / store.META).is_file() and bool(store.read_meta(out).get("finished_utc"))
    meta = prepare(out, meta, resume=resume)

    ctx = RunContext(device=device, data_dir=None if data_dir is None else Path(data_dir),
                     cache_dir=Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE,
                     out_dir=out, progress=False)
    run_fn = CellRunner(module.__name__, cfg, ctx)

    # serial cells run under the same fixed torch thread count as a Dask worker: identical records
    from benchmarks.framework.dask_executor import run_pinned
    from tqdm.auto import tqdm

    # one Dask cluster serves every stage of the run (workers start and import torch once); it opens
    # at the first stage with pending cells, so a resume that finds every cell done starts none
    ran = 0  # cells run by this invocation: with none, a records.csv that changes was damaged (a repair)
    with contextlib.ExitStack() as stack:
        client = None
        stage = 0
        while True:
            pending = pending_cells(out, cells, resume=resume or stage > 0)
            desc = module.NAME if not is_staged else f"{module.NAME} round {stage + 1}"
            bar = tqdm(total=len(pending), desc=desc, unit="cell", disable=not progress or not pending)
            with bar:
                if dask_executor is None or not pending:
                    finished = ((cell, run_pinned(run_fn, cell)) for cell in pending)
                else:
                    if client is None:
                        client = stack.enter_context(dask_executor.session(scheduler))
                    finished = dask_executor.map_cells(run_fn, pending, client=client)
                for cell, rows in finished:
                    extra = module.extra_files(out, cell.key) if hasattr(module, "extra_files") else ()
                    store.write_cell(out, cell.key, rows, extra_files=extra, config_hash=meta["config_hash"])
                    ran += 1
                    bar.update(1)
            if not is_staged:
                break
            cells = next_cells(module, cfg, out, keys)
            if len(cells) == len(keys):
                break
            keys = [c.key for c in cells]
            meta["cells"] = keys
            store.write_meta(out, meta)
            stage += 1

    records = store.merge_records(out, keys, repair=was_finished and not ran)
    violations = bounds.violations(store.read_csv(records), declared_bounds)
    meta["records"] = store.records_record(out)
    meta["arrays"] = store.arrays_record(out, keys)
    meta["bound_violations"] = len(violations)
    meta["finished_utc"] = utc_now()
    store.write_meta(out, meta)
    (out / BOUND_VIOLATIONS).unlink(missing_ok=True)
    if len(violations):
        store.atomic_write_text(out / BOUND_VIOLATIONS, violations.to_csv(index=False))
        raise bounds.BoundViolationError(bounds.describe(violations, str(out)), violations)
    return records
