"""The one TOML shape of a step-size grid (benchmarks.framework.grids.read_grid)."""
from __future__ import annotations

import pytest

from benchmarks.framework.config import ConfigError, Reader
from benchmarks.framework.grids import read_grid
from benchmarks.framework.tuning import Grid


def _grid(**raw):
    return read_grid(Reader(raw, "x.grid"))


def test_read_grid_gives_the_indices_of_the_declared_step_sizes():
    assert _grid(low=0.01, high=0.1, per_decade=3, min=0.0001, max=10.0) == Grid(-6, -3, 3, -12, 3)


def test_read_grid_defaults_reach_four_decades_past_the_initial_range():
    assert _grid(low=0.1, high=0.3) == Grid.from_lrs(0.1, 0.3, 2, lr_min=1e-5, lr_max=3e3)


@pytest.mark.parametrize("raw, message", [
    ({"high": 0.1}, "missing required key 'x.grid.low'"),
    ({"low": 0.2, "high": 0.1}, "min <= low <= high <= max"),
    ({"low": 0.1, "high": 0.2, "min": 0.15}, "min <= low <= high <= max"),
    ({"low": 0.0, "high": 0.1}, "x.grid.low"),
    ({"low": 0.1, "high": 1e7}, "x.grid.high"),
    ({"low": 0.1, "high": 0.2, "per_decade": 0}, "x.grid.per_decade"),
    ({"low": 0.1, "high": 0.2, "per_decade": 12, "min": 1e-6, "max": 1e6}, "more than 64"),
    ({"low": 0.1, "high": 0.2, "step": 2}, "unknown key 'x.grid.step'"),
])
def test_read_grid_names_the_bad_value(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("*", r"\*")):
        _grid(**raw)
