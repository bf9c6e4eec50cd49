"""``reproduce --profile P --out DIR``: every experiment, its tables and figures, then ``DIR/REPORT.md``.

For each experiment of :data:`benchmarks.framework.registry.EXPERIMENTS`, in registry order: run profile
``P`` into ``DIR/<experiment>/`` with resume on (an interrupted reproduction continues where it stopped and
ends with the same records), write its tables and figures (``report``), and collect its claims from the
records.  Then write ``DIR/REPORT.md`` (:mod:`benchmarks.framework.report`) with
the command, commit, machine and date.

An experiment whose module, data or profile is missing is reported as "not tested" with the reason;
one that fails is reported the same way and makes the exit code 1 after the report is written.  An
experiment with records above their certified bound (:mod:`benchmarks.framework.bounds`) fails: its tables are
written, its claims are not, and ``REPORT.md`` opens with the violations.  A run
directory made under a different config cannot be resumed (the failure names it): delete it to rerun.
Exit codes: 0 done, 1 an experiment failed, 2 bad arguments (nothing written), 130 interrupted.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.framework import store
from benchmarks.framework.meta import suite_version
from benchmarks.framework.config import PROFILES, ConfigError, ResourceMissing, load_profile, profiles
from benchmarks.framework.registry import EXPERIMENTS, ExperimentUnavailable, load
from benchmarks.framework.meta import git_commit, machine, utc_now, versions
from benchmarks.framework.report import ExperimentResult, write_report
from benchmarks.framework.reproducibility import find_spreads

SHOWN_ARTIFACTS = (".md", ".png")
"""Which of an experiment's written tables and figures the report links to."""


@dataclass(frozen=True)
class Options:
    """How to run each experiment (the ``run`` options that ``reproduce`` passes on)."""

    profile: str
    out: Path
    executor: str = "local"
    scheduler: str | None = None
    device: str = "cpu"
    data: Path | None = None
    progress: bool = True
    report_only: bool = False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="proxygrad-bench reproduce", description=__doc__.splitlines()[0])
    p.add_argument("--profile", required=True, help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--out", required=True, type=Path, help="output directory, e.g. results/quick")
    p.add_argument("--executor", default="local", choices=("local", "dask"))
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a LocalCluster)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--data", type=Path, default=None, help="where data sets are looked up")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--report-only", action="store_true",
                   help="do not run; rebuild tables, figures and REPORT.md from the run directories in --out")
    return p


def _is_data_missing(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) says a data set is not on this machine."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ResourceMissing):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def claim_figures(module: Any, written: list[Path]) -> tuple[tuple[str, str, Path], ...]:
    """``(claim id, caption, PNG)`` for every figure the experiment declares for a claim: ``CLAIM_FIGURES``
    of its figures module (the module of its ``figures`` function), claim id -> ``(name pattern, caption)``
    pairs; each pattern takes the first written PNG whose name matches it (``fnmatch``)."""
    figures_module = sys.modules.get(getattr(getattr(module, "figures", None), "__module__", "") or "")
    declared = getattr(figures_module, "CLAIM_FIGURES", None) or getattr(module, "CLAIM_FIGURES", {}) or {}
    pngs = [p for p in written if p.suffix == ".png"]
    out = []
    for cid, entries in declared.items():
        for pattern, caption in entries:
            match = next((p for p in pngs if fnmatch.fnmatchcase(p.stem, pattern)), None)
            if match is not None:
                out.append((cid, caption, match))
    return tuple(out)


def run_info(module: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The facts of a run the report's reproducibility statement names (see ``ExperimentResult``)."""
    return {"started_utc": meta.get("started_utc"), "finished_utc": meta.get("finished_utc"),
            "cpu_count": (meta.get("machine") or {}).get("cpu_count"), "device": meta.get("device"),
            "timing_columns": tuple(getattr(module, "TIMING_COLUMNS", ()))}


def run_experiment(name: str, opts: Options) -> ExperimentResult:
    """Run (resuming), report and collect the claims of one experiment; never raises except on interrupt."""
    from benchmarks.framework.bounds import BoundViolationError
    from benchmarks.framework.artifacts import report_run
    from benchmarks.framework.runner import run

    run_dir = opts.out / name
    try:
        module = load(name)
    except ExperimentUnavailable as exc:
        return ExperimentResult(name, "unavailable", f"module missing: {exc.__cause__ or exc}")
    if opts.profile not in profiles(name):
        return ExperimentResult(name, "unavailable", f"no [{opts.profile}] profile in benchmarks/configs/{name}.toml")
    if opts.report_only and not (run_dir / store.META).is_file():
        return ExperimentResult(name, "unavailable", f"no run directory {run_dir} (--report-only)")
    stage = "config"
    try:
        cfg = module.parse_config(load_profile(name, opts.profile), data_dir=opts.data)
        if not opts.report_only:
            stage = "run"
            try:
                run(module, cfg, run_dir, resume=True, device=opts.device, executor=opts.executor,
                    scheduler=opts.scheduler, progress=opts.progress, profile=opts.profile, data_dir=opts.data)
            except BoundViolationError:
                pass  # the run directory is complete; the report below lists the violations
        stage = "report"
        written, violations = report_run(run_dir)
        if violations:
            print("\n".join(violations), file=sys.stderr)
            shown = tuple(p for p in written if p.suffix in SHOWN_ARTIFACTS)
            return ExperimentResult(name, "failed", f"{violations[-1].removeprefix('FAILED: ')}; see "
                                    f"{run_dir / 'tables'}", artifacts=shown, violations=tuple(violations))
        records = store.load_records(run_dir)
        stage = "claims"
        claims = tuple(module.claims(records))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if _is_data_missing(exc):
            return ExperimentResult(name, "unavailable", f"data missing: {exc}")
        if not isinstance(exc, (ConfigError, store.RunDirError)):  # those name their file in one line
            traceback.print_exc()
        return ExperimentResult(name, "failed", f"{stage} failed: {type(exc).__name__}: {exc}")
    artifacts = tuple(p for p in written if p.suffix in SHOWN_ARTIFACTS)
    meta = store.read_meta(run_dir)
    return ExperimentResult(name, "ran", f"{len(records)} records, profile {opts.profile}", claims, artifacts,
                            records_commit=str(meta.get("git_commit") or ""),
                            records_suite_version=str(meta.get("suite_version") or ""),
                            claim_figures=claim_figures(module, written), run_info=run_info(module, meta),
                            cross_machine=str(getattr(module, "CROSS_MACHINE", "")),
                            spreads=find_spreads(opts.out, name, str(meta.get("config_hash"))))


def provenance(args: list[str], profile: str) -> dict[str, Any]:
    """Command, commit, machine, versions and date for the report's provenance block."""
    prog = "proxygrad-bench" if Path(sys.argv[0]).name == "proxygrad-bench" else "python -m benchmarks"
    command = f"{prog} reproduce {shlex.join(args)}"
    make_command = f"make reproduce PROFILE={profile}" if os.environ.get("MAKELEVEL") else None
    return {"command": command, "make_command": make_command, "git_commit": git_commit(), "machine": machine(), "versions": versions(),
            "suite_version": suite_version(), "profile": profile, "date": utc_now()}


def main(args: list[str]) -> int:
    """Entry point of ``python -m benchmarks reproduce``; returns the exit code (see the module docstring)."""
    ns = _parser().parse_args(args)
    if ns.profile not in PROFILES:
        print(f"error: unknown profile {ns.profile!r}; choose from {', '.join(PROFILES)}", file=sys.stderr)
        return 2
    from benchmarks.framework.runner import check_out

    try:
        check_out(ns.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = Options(ns.profile, ns.out, ns.executor, ns.scheduler, ns.device, ns.data, not ns.no_progress,
                   ns.report_only)
    from benchmarks.framework.lock import locked

    try:
        with locked(ns.out):  # one reproduction per --out; each experiment's run locks its own directory too
            return _reproduce(args, opts)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _reproduce(args: list[str], opts: Options) -> int:
    """Every experiment, then REPORT.md (the body of :func:`main`, under the lock of ``opts.out``)."""
    results = []
    try:
        for i, name in enumerate(EXPERIMENTS, 1):
            print(f"[{i}/{len(EXPERIMENTS)}] {name}: profile {opts.profile} -> {opts.out / name}"
                  + (" (report only)" if opts.report_only else " (resumes finished cells)"), flush=True)
            result = run_experiment(name, opts)
            print(f"[{i}/{len(EXPERIMENTS)}] {name}: {result.status}"
                  + (f" ({result.reason})" if result.reason else ""), flush=True)
            results.append(result)
    except KeyboardInterrupt:
        print("interrupted: finished cells are kept; run the same command again to resume", file=sys.stderr)
        return 130
    path = write_report(opts.out, results, provenance(args, opts.profile))
    print(f"report: {path}")
    return 1 if any(r.status == "failed" for r in results) else 0
