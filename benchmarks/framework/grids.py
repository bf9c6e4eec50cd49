"""The one TOML shape of a step-size grid, read into :class:`benchmarks.framework.tuning.Grid` by
:func:`read_grid` (every experiment's config parser calls it; no other code reads a grid from a profile).

Shape (an inline table; ``low`` and ``high`` required)::

    { low = 0.01, high = 0.1, per_decade = 2, min = 0.0001, max = 10.0 }

declares the tuned step sizes ``lr(k) = 10 ** (k / per_decade)`` with ``k`` from ``round(log10(low) *
per_decade)`` to ``round(log10(high) * per_decade)`` (the initial range), extended past an edge one index
per round while the best lies there, never past ``min`` / ``max`` (rounded the same way).  Defaults:
``per_decade = 2``, ``min = low / 10**4``, ``max = high * 10**4`` (within the limits below).

Limits, the same for every experiment: step sizes in ``[1e-6, 1e6]``, ``min <= low <= high <= max``,
``1 <= per_decade <= 12`` and at most :data:`MAX_GRID_POINTS` grid points between ``min`` and ``max``.
"""
from __future__ import annotations

from benchmarks.framework import tuning
from benchmarks.framework.config import ConfigError, Reader

#: The smallest and largest step size a grid may name.
LR_MIN, LR_MAX = 1e-6, 1e6
#: Largest number of grid points between a grid's hard limits (a bound on the tuning cost).
MAX_GRID_POINTS = 64
#: Decades a grid's hard limits lie beyond its initial range when the profile leaves them out.
DEFAULT_REACH = 4


def read_grid(r: Reader) -> tuning.Grid:
    """The :class:`tuning.Grid` of one grid table (the shape in the module doc); ConfigError naming the
    table and the bad value.  Reads every key of ``r`` (an unknown key is an error)."""
    bounds = {"min": LR_MIN, "max": LR_MAX}
    low = r.float("low", **bounds)
    high = r.float("high", **bounds)
    per_decade = r.int("per_decade", 2, min=1, max=12)
    lr_min = r.float("min", max(low / 10**DEFAULT_REACH, LR_MIN), **bounds)
    lr_max = r.float("max", min(high * 10**DEFAULT_REACH, LR_MAX), **bounds)
    r.done()
    if not lr_min <= low <= high <= lr_max:
        raise ConfigError(f"{r.where}: the grid must hold min <= low <= high <= max, got min={lr_min!r}, "
                          f"low={low!r}, high={high!r}, max={lr_max!r}")
    try:
        grid = tuning.Grid.from_lrs(low, high, per_decade, lr_min=lr_min, lr_max=lr_max)
    except ValueError as exc:
        raise ConfigError(f"{r.where}: {exc}") from None
    points = grid.k_max - grid.k_min + 1  # type: ignore[operator]
    if points > MAX_GRID_POINTS:
        raise ConfigError(f"{r.where}: min={lr_min!r} to max={lr_max!r} at per_decade={per_decade} spans "
                          f"{points} grid points, more than {MAX_GRID_POINTS}")
    return grid
