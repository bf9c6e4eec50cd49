"""``python -m benchmarks`` and the console script ``proxygrad-bench``: the suite's command line.

The framework's command line (:mod:`benchmarks.framework.cli`) with the subcommands of the layers above it
wired in: ``data`` (:func:`benchmarks.domain.data.main`, make sure the data sets are present).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from benchmarks.framework import cli


def _data() -> Callable[[list[str]], int]:
    from benchmarks.domain.data import main as data_main

    return data_main


COMMANDS: dict[str, cli.Command] = {
    "data": cli.Command("make sure the data sets are available (see `data --help`)", _data)}
"""The subcommands this entry point adds to the framework's."""


def main(argv: Sequence[str] | None = None) -> int:
    """The suite's command line; returns the exit code (see :mod:`benchmarks.framework.cli`)."""
    return cli.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
