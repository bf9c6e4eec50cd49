"""Command line of the suite: ``python -m benchmarks`` / ``proxygrad-bench``.

Subcommands: ``list``, ``run``, ``report``, ``check``, ``baseline``, ``perturb``, ``spread``, ``leaderboard``,
``reproduce``, and those a higher layer passes to :func:`main` as :class:`Command` values (``benchmarks/__main__.py``
adds ``data``, which the domain provides); the framework names no module above it.
Exit codes: 0 success; 1 a failed check or a failed step, including a record above its certified bound
(:mod:`benchmarks.framework.bounds`, one line per violating unit on stderr); 2 bad input (unknown experiment,
profile, key or value, unusable output directory, an invalid baseline or one of another experiment, profile or
config, an incomplete or damaged run directory, a run directory locked by another run, a file that cannot be read
or written, named), reported on stderr in one line, never a traceback, before anything is written.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.framework import bounds, store
from benchmarks.framework.artifacts import report_run
from benchmarks.framework.config import ConfigError, load_profile, profiles
from benchmarks.framework.registry import EXPERIMENTS, ExperimentUnavailable, load, present


@dataclass(frozen=True)
class Command:
    """A subcommand that parses its own arguments: ``load()`` imports it and returns its ``main(args) -> exit
    code`` (an ImportError there: the command is not available, exit 2); ``help`` is its line in ``--help``."""

    help: str
    load: Callable[[], Callable[[list[str]], int | None]]


def _reproduce() -> Callable[[list[str]], int]:
    from benchmarks.framework import reproduce

    return reproduce.main


BUILTIN: dict[str, Command] = {
    "reproduce": Command("run every experiment and write the report (see `reproduce --help`)", _reproduce)}
"""The framework's own subcommands that parse their own arguments."""


def _baseline_files(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="a TOML file of profiles (e.g. your project's) instead of benchmarks/configs/EXPERIMENT.toml")
    p.add_argument("--baseline", type=Path, default=None, metavar="JSON",
                   help="the baseline file (default results/baselines/EXPERIMENT-PROFILE.json)")
    p.add_argument("--data", type=Path, default=None, help="where data sets are looked up")


def _parser(own: Mapping[str, Command]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="proxygrad-bench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list the experiments and their profiles")

    r = sub.add_parser("run", help="run an experiment's profile into a directory")
    r.add_argument("experiment")
    r.add_argument("--profile", required=True)
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--resume", action="store_true", help="skip the cells already finished in --out")
    r.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    r.add_argument("--executor", default="local", help="local (default) or dask")
    r.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a LocalCluster)")
    r.add_argument("--data", type=Path, default=None, help="where data sets are looked up")
    r.add_argument("--config", type=Path, default=None,
                   help="a TOML file of profiles to use instead of benchmarks/configs/EXPERIMENT.toml")
    r.add_argument("--cache", type=Path, default=None, metavar="DIR",
                   help="where certificates and dataset maxima are cached (default .cache in the repository)")
    r.add_argument("--no-progress", action="store_true")

    rep = sub.add_parser("report", help="tables and figures from the records of run directories; for a "
                         "reproduction folder (e.g. results/quick) also its REPORT.md")
    rep.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                     help="a run directory (with meta.json), or a reproduction folder of them")

    c = sub.add_parser("check", help="re-run a profile and compare with its committed baseline")
    c.add_argument("experiment")
    c.add_argument("--profile", required=True)
    _baseline_files(c)
    c.add_argument("--progress", action="store_true")

    b = sub.add_parser("baseline", help="show (or with --update rewrite) a baseline and print the diff")
    b.add_argument("experiment")
    b.add_argument("--profile", required=True)
    b.add_argument("--update", action="store_true", help="rewrite the baseline file")
    b.add_argument("--from", dest="from_run", type=Path, default=None, metavar="DIR",
                   help="summarize this finished run of the profile instead of re-running it")
    b.add_argument("--spread", action="append", default=[], type=Path, metavar="JSON",
                   help="a spread.json of `perturb` to calibrate the tolerances to (repeatable; with --update)")
    _baseline_files(b)
    b.add_argument("--progress", action="store_true")

    pt = sub.add_parser("perturb", help="rerun a profile natively and under another CPU's kernels, and tabulate "
                        "the spread of records, metrics and verdicts")
    pt.add_argument("experiment")
    pt.add_argument("--profile", required=True)
    pt.add_argument("--out", required=True, type=Path,
                    help="where the runs (reference/, KIND/) and the spread tables (KIND-spread/) go")
    pt.add_argument("--kind", action="append", default=None, metavar="KIND",
                    help="a perturbation (benchmarks.framework.perturbation.KINDS: avx2, sse41); repeatable; "
                         "default avx2")
    pt.add_argument("--reference", type=Path, default=None, metavar="DIR",
                    help="a finished native run of the same config to compare with, instead of running one")
    pt.add_argument("--executor", default="local", help="local (default) or dask")
    pt.add_argument("--config", type=Path, default=None,
                    help="a TOML file of profiles to use instead of benchmarks/configs/EXPERIMENT.toml")
    pt.add_argument("--data", type=Path, default=None, help="where data sets are looked up")

    sp = sub.add_parser("spread", help="the spread between two finished runs of one config (e.g. made on two "
                        "machines): records, metrics, verdicts")
    sp.add_argument("reference", type=Path)
    sp.add_argument("run", type=Path)
    sp.add_argument("--out", required=True, type=Path, help="where the spread tables and spread.json go")

    lb = sub.add_parser("leaderboard", help="LEADERBOARD.md and .csv from finished runs' records")
    lb.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a run directory or a folder of them")
    lb.add_argument("--out", type=Path, default=Path("results"), help="where to write them (default results)")

    for name, command in own.items():
        sub.add_parser(name, help=command.help, add_help=False)
    return p


def _cmd_list() -> int:
    for name in EXPERIMENTS:
        profs = ", ".join(profiles(name)) or "no config"
        print(f"{name:10s} profiles: {profs}" + ("" if present(name) else "  [module missing]"))
    return 0


def _cmd_run(a: argparse.Namespace) -> int:
    from benchmarks.framework.runner import check_device, check_out, run

    module = load(a.experiment)
    cfg = module.parse_config(load_profile(a.experiment, a.profile, config_file=a.config), data_dir=a.data)
    check_device(a.device)
    check_out(a.out)
    records = run(module, cfg, a.out, resume=a.resume, device=a.device, executor=a.executor,
                  scheduler=a.scheduler, progress=not a.no_progress, profile=a.profile, data_dir=a.data,
                  cache_dir=a.cache)
    print(f"records: {records}")
    return 0


def _reproduction_profile(d: Path) -> str | None:
    """The one profile of the run directories in folder ``d`` (a reproduction's output), else None."""
    if (d / store.META).is_file() or not d.is_dir():
        return None
    runs = [sub for sub in sorted(d.iterdir()) if (sub / store.META).is_file()]
    names = {sub.name for sub in runs}
    if not runs or not names <= set(EXPERIMENTS):
        return None
    found = {str(store.read_meta(sub).get("profile")) for sub in runs}
    if len(found) != 1:
        raise ConfigError(f"{d}: its run directories are of several profiles ({', '.join(sorted(found))})")
    return found.pop()


def _cmd_report(a: argparse.Namespace) -> int:
    from benchmarks.framework import reproduce

    folders = {d: _reproduction_profile(d) for d in a.dirs}
    for d, profile in folders.items():
        if profile is None and not (d / store.META).is_file():
            raise ConfigError(f"{d} is not a run directory (no {store.META}) nor a folder of run directories")
    code = 0
    for d, profile in folders.items():  # a reproduction folder: its runs' tables, figures and REPORT.md
        if profile is not None:
            code = max(code, reproduce.main(["--profile", profile, "--out", str(d), "--report-only",
                                             "--no-progress"]))
    a.dirs = [d for d, profile in folders.items() if profile is None]
    return max(code, _report_runs(a))


def _report_runs(a: argparse.Namespace) -> int:
    """Tables and figures of the run directories ``a.dirs``; 1 when a record is above its bound."""
    for d in a.dirs:  # every run is verified before any table is written
        store.verify_run(d)
    failed = False
    for d in a.dirs:
        written, violations = report_run(d)
        for path in written:
            print(path)
        if violations:
            failed = True
            print("\n".join(violations), file=sys.stderr)
    return 1 if failed else 0


def _cmd_check(a: argparse.Namespace) -> int:
    from benchmarks.framework import baseline

    try:
        ok, lines = baseline.check(a.experiment, a.profile, progress=a.progress, path=a.baseline,
                                   config_file=a.config, data_dir=a.data)
    except bounds.BoundViolationError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        print(f"FAILED: {a.experiment}/{a.profile}: the rerun has records above their certified bound")
        return 1
    print("\n".join(lines))
    return 0 if ok else 1


def _cmd_baseline(a: argparse.Namespace) -> int:
    from benchmarks.framework import baseline

    module = load(a.experiment)
    module.parse_config(load_profile(a.experiment, a.profile, config_file=a.config), data_dir=a.data)
    try:
        m = None if a.from_run is None else baseline.measurement_from_run(
            a.from_run, a.experiment, a.profile, config_file=a.config, data_dir=a.data)
        path, lines = baseline.update(a.experiment, a.profile, progress=a.progress, write=a.update, measurement=m,
                                      path=a.baseline, config_file=a.config, data_dir=a.data, spread=a.spread,
                                      from_run=a.from_run)
    except bounds.BoundViolationError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        print("baseline not changed: a run with records above their certified bound is not summarized")
        return 1
    print("\n".join(lines) if lines else "no change")
    print(f"{'wrote' if a.update else 'unchanged (pass --update to rewrite)'}: {path}")
    return 0


def _cmd_perturb(a: argparse.Namespace) -> int:
    from benchmarks.framework import perturbation

    try:
        written = perturbation.measure(a.experiment, a.profile, a.out, a.kind or ["avx2"], reference=a.reference,
                                       config_file=a.config, data_dir=a.data, executor=a.executor)
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _cmd_spread(a: argparse.Namespace) -> int:
    from benchmarks.framework import spread

    meta = store.read_meta(a.reference)
    module = load(str(meta.get("experiment")))
    s = spread.compare_runs(module, a.reference, a.run)
    for path in spread.write(s, a.out, reference=str(a.reference), run=str(a.run),
                             command=f"python -m benchmarks spread {a.reference} {a.run}"):
        print(path)
    return 0


def _cmd_leaderboard(a: argparse.Namespace) -> int:
    from benchmarks.framework import leaderboard

    command = "python -m benchmarks leaderboard " + " ".join(d.as_posix() for d in a.dirs) + f" --out {a.out.as_posix()}"
    for path in leaderboard.write(a.dirs, a.out, command):
        print(path)
    return 0


def _delegate(name: str, command: Command, args: list[str]) -> int:
    try:
        run = command.load()
    except ImportError as exc:
        print(f"error: `{name}` is not available: {exc}", file=sys.stderr)
        return 2
    return int(run(args) or 0)


def _one_line(exc: BaseException) -> str:
    """The error's message on one line; an OSError names its file and the reason."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc)
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None, commands: Mapping[str, Command] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failure, 2 bad input). ``commands``: further subcommands
    that parse their own arguments (a name of :data:`BUILTIN` among them replaces the framework's)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own = dict(commands or {})
    own.update({name: c for name, c in BUILTIN.items() if name not in own})
    if argv and argv[0] in own:
        return _delegate(argv[0], own[argv[0]], argv[1:])
    a = _parser(own).parse_args(argv)
    handlers = {"list": lambda _: _cmd_list(), "run": _cmd_run, "report": _cmd_report, "check": _cmd_check,
                "baseline": _cmd_baseline, "perturb": _cmd_perturb, "spread": _cmd_spread,
                "leaderboard": _cmd_leaderboard}
    try:
        if a.command in handlers:
            return handlers[a.command](a)
    except bounds.BoundViolationError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 1
    except (ConfigError, ExperimentUnavailable, FileNotFoundError, store.RunDirError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that cannot be read or written: named, one line, never a traceback
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished cells are kept (rerun with --resume)", file=sys.stderr)
        return 130
    raise AssertionError(a.command)


if __name__ == "__main__":
    sys.exit(main())
