"""The step-size grid, its extension past the edges and the selection rule (benchmarks.framework.tuning)."""
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import tuning


def test_grid_values_are_powers_of_ten():
    g = tuning.Grid(-4, 0, per_decade=2)
    assert g.initial() == (-4, -3, -2, -1, 0)
    assert g.lr(-2) == 0.1 and g.lr(0) == 1.0
    assert math.isclose(g.lr(-3), 10 ** -1.5)
    assert g.k_min == -12 and g.k_max == 8


def test_grid_from_lrs_rounds_to_indices():
    g = tuning.Grid.from_lrs(0.01, 1.0, 2, lr_max=10.0)
    assert (g.k_lo, g.k_hi, g.k_max) == (-4, 0, 2)
    with pytest.raises(ValueError, match="lr low"):
        tuning.Grid.from_lrs(0.0, 1.0)


def test_interior_best_is_final():
    g = tuning.Grid(0, 4)
    c = tuning.choose({0: 1.0, 1: 3.0, 2: 5.0, 3: 4.0, 4: 2.0}, g)
    assert (c.k, c.final, c.at_limit) == (2, True, False)


def test_best_at_an_edge_extends_the_grid():
    g = tuning.Grid(0, 2)
    assert tuning.choose({0: 1.0, 1: 2.0, 2: 3.0}, g).extend == (3,)
    assert tuning.choose({0: 3.0, 1: 2.0, 2: 1.0}, g).extend == (-1,)
    # after the extension the old edge is interior: final
    c = tuning.choose({0: 1.0, 1: 2.0, 2: 3.0, 3: 2.5}, g)
    assert (c.k, c.final) == (2, True)


def test_flat_scores_extend_both_ways_then_stop_at_the_limits():
    g = tuning.Grid(0, 1, k_min=-1, k_max=2)
    c = tuning.choose({0: 1.0, 1: 1.0}, g)
    assert c.extend == (-1, 2)
    c = tuning.choose({-1: 1.0, 0: 1.0, 1: 1.0, 2: 1.0}, g)
    assert c.final and c.at_limit and c.k == 0


def test_nan_is_never_chosen_and_all_nan_extends_down():
    g = tuning.Grid(0, 2)
    c = tuning.choose({0: 1.0, 1: 2.0, 2: float("nan")}, g)
    assert c.k == 1 and c.final
    c = tuning.choose({0: float("nan"), 1: float("nan"), 2: float("nan")}, g)
    assert c.extend == (-1,)


def test_choice_is_a_pure_function_of_the_scores():
    g = tuning.Grid(-2, 2)
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = {k: float(v) for k, v in zip(range(-2, 3), rng.integers(0, 3, 5))}
        shuffled = dict(reversed(list(scores.items())))
        assert tuning.choose(scores, g) == tuning.choose(shuffled, g)


def test_mean_rank_scores_are_scale_free():
    df = pd.DataFrame({"unit": ["a"] * 3 + ["b"] * 3, "k": [0, 1, 2] * 2,
                       "v": [1.0, 2.0, 3.0, 1000.0, 3000.0, 2000.0]})
    s = tuning.mean_rank_scores(df, index="k", units=["unit"], value="v")
    assert s == {0: 1.0, 1: 2.5, 2: 2.5}
    df.loc[2, "v"] = float("nan")
    s = tuning.mean_rank_scores(df, index="k", units=["unit"], value="v")
    assert s[2] == (1.0 + 2.0) / 2


def test_disjoint_names_the_overlap():
    tuning.disjoint([1, 2], [3, 4])
    with pytest.raises(ValueError, match="2"):
        tuning.disjoint([1, 2], [2, 3])


def test_scores_rank_units_by_their_summary_and_choose_records_picks_the_best():
    rows = pd.DataFrame({"unit": ["a"] * 4 + ["b"] * 4, "lr_index": [0, 0, 1, 1] * 2,
                         "v": [1.0, 3.0, 2.0, 2.0, 10.0, 10.0, 20.0, 0.0]})
    by_mean = tuning.Score("v", units=("unit",))
    by_max = tuning.Score("v", units=("unit",), per_unit="max")
    assert tuning.scores(rows, by_mean) == tuning.mean_rank_scores(rows, index="lr_index", units=["unit"], value="v")
    assert tuning.scores(rows, by_max) == {0: 1.5, 1: 1.5}
    grid = tuning.Grid(0, 1, 1, -1, 2)
    assert tuning.choose_records(rows, grid, by_mean) == tuning.choose(tuning.scores(rows, by_mean), grid)


def test_scores_mean_across_units_and_a_failed_index_scores_nan():
    rows = pd.DataFrame({"seed": [1, 2, 1, 2], "k": [0, 0, 1, 1], "acc": [0.5, 0.7, 0.9, 0.1],
                         "diverged": [False, False, False, True]})
    score = tuning.Score("acc", units=("seed",), index="k", across="mean", failed="diverged")
    got = tuning.scores(rows, score)
    assert got[0] == (0.5 + 0.7) / 2 and math.isnan(got[1])
    with pytest.raises(ValueError, match="across"):
        tuning.Score("acc", units=("seed",), across="median")
