"""The performance suite's goal figures: a table ``figure | measured | goal | met`` after a benchmark run.

A ``bench_*.py`` file declares its goal figures at module level::

    RATIOS = [
        # (figure, numerator test, denominator test or None, goal)
        ("op fwd+bwd, 2^24 float32: proxy / torch.relu", "test_op_proxy", "test_op_relu", 1.5),
        ("certifier d=8 widths (16,16): median solve seconds", "test_certify_d8", None, 0.5),
    ]

A test that measures its figure itself (for example a reference timed in pytest-benchmark's
``setup``) stores it in ``benchmark.extra_info`` and the file declares it in ``FIGURES``::

    FIGURES = [
        # (figure, test, extra_info key, goal)
        ("maximize 256 starts / 1 start, per step", "test_multistart", "per_step_ratio_256_vs_1", 10.0),
    ]

A goal of ``None`` declares a figure that is measured and printed without a goal (met reads ``"-"``).

The ``paired`` fixture measures a figure side by side: each round times the reference and the target
one after the other, in alternating order, and the figure is the median over rounds of
``target time / reference time`` (warm-up rounds dropped), stored in ``extra_info`` for a ``FIGURES``
entry.  pytest-benchmark's own statistics for such a test are those of the whole round (both calls),
which is what ``make bench-check`` compares between runs.  After the table a line says whether CUDA figures exist: the
suite measures on the CPU, and a machine without a GPU has none to show.

Test names are benchmark names within the same file, with the parameter id where the test is
parametrized (``"test_step[256]"``).  The measured figure is ``median(numerator) / median(denominator)``
of pytest-benchmark's per-round times, or the numerator's median in seconds when the denominator is
``None``, or the stored ``extra_info`` value; a figure is met when ``measured <= goal``.  Both
benchmarks of a ratio run in the same session, side by side.  Under ``--benchmark-disable``
(``make test``) no timings exist and nothing is printed.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pytest

Declared = tuple[str, str, str | None, float | None]
_STASH = pytest.StashKey[list[tuple[str, str, Declared]]]()


def check_ratio(entry: Any, where: str) -> Declared:
    """Validate one ``RATIOS`` entry ``(figure, numerator, denominator | None, goal)``; ValueError names it."""
    if not isinstance(entry, (tuple, list)) or len(entry) != 4:
        raise ValueError(f"{where}: RATIOS entry must be (figure, numerator, denominator, goal), got {entry!r}")
    figure, num, den, goal = entry
    if not isinstance(figure, str) or not isinstance(num, str) or not (den is None or isinstance(den, str)):
        raise ValueError(f"{where}: figure and test names must be strings (denominator may be None), got {entry!r}")
    if goal is None:
        return figure, num, den, None
    if isinstance(goal, bool) or not isinstance(goal, (int, float)) or not math.isfinite(goal) or goal <= 0:
        raise ValueError(f"{where}: goal must be a positive finite number or None, got {goal!r} in {entry!r}")
    return figure, num, den, float(goal)


def figure_rows(declared: Sequence[tuple[str, str, Declared]], medians: Mapping[tuple[str, str], float],
                extras: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> list[tuple[str, str, str, str]]:
    """Rows ``(figure, measured, goal, met)`` from declared figures and the session's measurements.

    ``declared``: ``(bench file node id, kind, entry)`` with kind ``"ratio"`` (a ``RATIOS`` entry) or
    ``"extra"`` (a ``FIGURES`` entry).  ``medians``: ``{(file, test name): median seconds per round}``;
    ``extras``: ``{(file, test name): extra_info}``.  measured = median(num) / median(den) (``"1.23x"``),
    median(num) in seconds when den is None, or ``extra_info[key]`` (``"x"``); met = ``"yes"`` when
    measured <= goal.  A figure whose measurements are missing reads ``"not measured"``.
    """
    extras = extras or {}
    rows = []
    for path, kind, (figure, num, den, goal) in declared:
        if kind == "extra":
            top, bottom, unit = extras.get((path, num), {}).get(den), 1.0, "x"
        else:
            top = medians.get((path, num))
            bottom = 1.0 if den is None else medians.get((path, den))
            unit = "s" if den is None else "x"
        goal_text = "no goal" if goal is None else f"<= {goal:g}{unit}"
        if not isinstance(top, (int, float)) or bottom is None or bottom <= 0:
            rows.append((figure, "not measured", goal_text, "-"))
            continue
        value = top / bottom
        met = "-" if goal is None else ("yes" if value <= goal else "NO")
        rows.append((figure, f"{value:.3g}{unit}", goal_text, met))
    return rows


def format_table(rows: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """A fixed-width text table with the header ``figure | measured | goal | met``."""
    rows = [("figure", "measured", "goal", "met"), *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Gather and validate the ``RATIOS`` and ``FIGURES`` of every collected module (once per module)."""
    declared: list[tuple[str, str, Declared]] = []
    seen: set[str] = set()
    for item in items:
        module = getattr(item, "module", None)
        path = item.nodeid.split("::")[0]
        if module is None or path in seen:
            continue
        seen.add(path)
        for i, entry in enumerate(getattr(module, "RATIOS", ())):
            declared.append((path, "ratio", check_ratio(entry, f"{path} RATIOS[{i}]")))
        for i, entry in enumerate(getattr(module, "FIGURES", ())):
            figure = check_ratio(entry, f"{path} FIGURES[{i}]")
            if figure[2] is None:
                raise ValueError(f"{path} FIGURES[{i}]: the extra_info key must be a string, got None")
            declared.append((path, "extra", figure))
    config.stash[_STASH] = declared


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the goal-figure table after pytest-benchmark's own tables (nothing when disabled)."""
    session = getattr(config, "_benchmarksession", None)
    declared = config.stash.get(_STASH, [])
    if session is None or session.disabled or not declared:
        return
    ran = [b for b in session.benchmarks if b and not b.has_error]
    if not ran:
        return
    medians = {(b.fullname.split("::")[0], b.name): b.stats.median for b in ran}
    extras = {(b.fullname.split("::")[0], b.name): b.extra_info for b in ran}
    terminalreporter.write_sep("-", "goal figures (median per round; met when measured <= goal)")
    for line in format_table(figure_rows(declared, medians, extras)):
        terminalreporter.write_line(line)
    terminalreporter.write_line(cuda_note())


def cuda_note() -> str:
    """The line printed after the table about CUDA figures (this suite times the CPU only)."""
    import torch

    if torch.cuda.is_available():
        return (f"CUDA: {torch.cuda.get_device_name(0)} present, but this suite times the CPU only; "
                "no CUDA figures in this table")
    return "CUDA: no GPU on this machine (torch.cuda.is_available() is False); no CUDA figures measured"


def _timed(fn: Callable[[], object], into: list[float]) -> None:
    start = time.perf_counter()
    fn()
    into.append(time.perf_counter() - start)


@pytest.fixture
def paired(benchmark: Any) -> Callable[..., float]:
    """``paired(target, reference, key, rounds=9, warmup=1) -> ratio``: side-by-side rounds.

    Each benchmarked round runs both calls, timed apart, in alternating order (reference first in
    even rounds, target first in odd ones) so that neither always profits from the other's warm
    caches.  ``extra_info[key]`` = median over timed rounds of target / reference time;
    ``key + "_min"`` = min(target) / min(reference).  Under ``--benchmark-disable`` one untimed round.
    """

    def run(target: Callable[[], object], reference: Callable[[], object], key: str,
            rounds: int = 9, warmup: int = 1) -> float:
        targets: list[float] = []
        references: list[float] = []
        if not benchmark.enabled:
            rounds, warmup = 1, 0

        def one_round() -> None:
            if len(targets) % 2 == 0:
                _timed(reference, references)
                _timed(target, targets)
            else:
                _timed(target, targets)
                _timed(reference, references)

        benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=warmup)
        targets, references = targets[warmup:], references[warmup:]
        ratio = statistics.median(t / r for t, r in zip(targets, references))
        best = min(targets) / min(references)
        benchmark.extra_info.update({key: ratio, f"{key}_min": best, "target_median_s": statistics.median(targets),
                                     "reference_median_s": statistics.median(references)})
        print(f"\n{key}: {ratio:.3f} (median of {len(targets)} paired rounds, alternating order; fastest "
              f"rounds {best:.3f}; target median {statistics.median(targets):.4f} s, reference "
              f"{statistics.median(references):.4f} s)")
        return ratio

    return run


@pytest.fixture()
def one_thread():
    """Run torch on one thread during a benchmark; restore the setting after (``pytestmark`` of each file)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
