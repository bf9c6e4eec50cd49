"""The unit of replication: starts are summarized per unit before any test, one Holm family per claim,
every effect with an interval, stuck decided before any method runs, the gradient-free baselines."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from benchmarks.experiments.toy_am import analysis
from benchmarks.experiments.toy_am import baselines
from benchmarks.experiments.toy_am import experiment as toy_am
from benchmarks.framework import replication
from benchmarks.framework.claims import ClaimSpec
from benchmarks.framework.config import ConfigError
from benchmarks.framework.runner import run

RAW = {
    "seed": 0, "instances": 6, "tuning_instances": 1, "starts": 3, "steps": 16, "targets": [1e-1, 1e-3],
    "methods": ["plain", "proxy-0.5", "proxy-1.0", "redirected"], "claim_method": "proxy-0.5", "baselines": True,
    "optimizers": [{"name": "adam", "lr": 0.05, "grid": {"low": 0.03, "high": 0.3, "min": 0.01, "max": 1.0}}],
    "families": [{"name": "dead_unit", "dims": [2]}, {"name": "race_of_patterns_leaky", "dims": [2]}],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    cfg = toy_am.parse_config(copy.deepcopy(RAW))
    out = tmp_path_factory.mktemp("repl") / "run"
    run(toy_am, cfg, out, progress=False)
    return pd.read_csv(out / "records.csv")


def _duplicate_starts(records: pd.DataFrame, times: int = 3) -> pd.DataFrame:
    """Every start of every instance repeated ``times`` times (as new starts with the same values)."""
    n = int(records["start"].max()) + 1
    parts = [records.assign(start=records["start"] + k * n) for k in range(times)]
    return pd.concat(parts, ignore_index=True)


def _p_columns(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: t for k, t in tables.items() if "p_holm" in t.columns}


def test_duplicating_every_start_changes_no_p_value_and_no_interval(records, tmp_path):
    one = _p_columns(toy_am.analyze(records, tmp_path))
    three = _p_columns(toy_am.analyze(_duplicate_starts(records), tmp_path))
    assert one and set(one) == set(three)
    for name in one:
        cols = ["n", "p", "p_holm", "mean_diff", "diff_low", "diff_high", "outcome"]
        pd.testing.assert_frame_equal(one[name][cols], three[name][cols], check_exact=True)
    # the n of every test counts instances, not starts
    c2 = one["claim_C2"]
    inst = records[records["role"] == "evaluation"].groupby("family")["seed"].nunique()
    assert (c2["n"] == c2["family"].map(inst)).all()


def test_counting_starts_as_samples_would_change_the_p_values(records):
    """The guard above can fail: a start-level test on the same rows gives other p values."""
    ev = records[(records["role"] == "evaluation") & (records["method"].isin(["plain", "proxy-0.5"]))]
    spec = ClaimSpec("X", "x", "", ("proxy-0.5",), "plain", ("family", "dim", "seed", "start"),
                     ("family", "optimizer"), "attained")
    by_start = replication.claim_table(spec, ev)
    by_start3 = replication.claim_table(spec, _duplicate_starts(ev))
    assert not np.allclose(by_start["p"].to_numpy(), by_start3["p"].to_numpy())


def test_one_test_has_one_adjusted_p_in_every_table(records, tmp_path):
    tables = toy_am.analyze(records, tmp_path)
    seen: dict[tuple, float] = {}
    for name, t in _p_columns(tables).items():
        assert name.startswith("claim_") or name == "vs_plain_untuned", f"{name} shows p-values outside a claim"
        labels = [c for c in ("claim", "method", "reference", "family", "optimizer") if c in t.columns]
        for row in t.to_dict("records"):
            key = (name if name == "vs_plain_untuned" else "claim", *(row[c] for c in labels))
            assert seen.setdefault(key, row["p_holm"]) == row["p_holm"]
    # and the claims carry exactly the p of their table
    for claim in toy_am.claims(records):
        if claim.table is not None and "p_holm" in claim.table.columns and len(claim.table):
            t = tables[f"claim_{claim.id}"]
            t = t[t["method"] == claim.method].reset_index(drop=True)
            np.testing.assert_array_equal(t["p_holm"].to_numpy(), claim.table["p_holm"].to_numpy())


def test_every_effect_row_has_a_finite_interval(records, tmp_path):
    for name, t in toy_am.analyze(records, tmp_path).items():
        if "diff_low" in t.columns:
            assert np.isfinite(t[["diff_low", "diff_high"]].to_numpy(float)).all(), name
            assert (t["diff_low"] <= t["mean_diff"] + 1e-12).all() and (t["mean_diff"] <= t["diff_high"] + 1e-12).all()


def test_claim_two_names_the_declared_method_and_straight_through_has_its_own_line(records):
    cl = toy_am.claims(records)
    c2 = [c for c in cl if c.key == "slope-raises-maxima"]
    assert [c.method for c in c2] == ["proxy-0.5"] and c2[0].id == "C2"
    st = [c for c in cl if c.key == "beyond:straight-through"]
    assert [c.method for c in st] == ["proxy-1.0"]
    for c in cl:
        assert c.verdict in ("supported", "contradicted", "mixed", "inconclusive", "not tested")


def test_stuck_is_decided_before_any_method_runs(records):
    ev = records[records["role"] == "evaluation"]
    st = analysis.stuck_table(ev)
    # dead_unit: the plain gradient is zero at the usual starts; the leaky family never is
    assert st.loc[st["family"] == "dead_unit", "stuck"].all()
    assert not st.loc[st["family"] == "race_of_patterns_leaky", "stuck"].any()
    # the flag is a property of (instance, start): the same in every method's and role's row
    flags = records.groupby(["family", "dim", "seed", "start"])["start_grad_zero"].nunique()
    assert (flags == 1).all()
    # and it does not depend on plain's outcome: without plain's rows the table is the same
    no_plain = analysis.stuck_table(ev[ev["method"] != "plain"])
    pd.testing.assert_frame_equal(st, no_plain)


def test_start_gradient_is_zero_matches_autograd():
    import torch
    import toy_functions

    f = toy_functions.get("race_of_patterns", dim=4, seed=1)
    x0 = torch.tensor([[0.5, -0.5, 0.2, 0.1], [-1.0, -1.0, -1.0, -1.0]], dtype=torch.float64)
    x = x0.clone().requires_grad_(True)
    f(x).sum().backward()
    expect = (x.grad == 0).all(dim=1).numpy()
    np.testing.assert_array_equal(baselines.start_gradient_is_zero(f, x0), expect)


def test_baselines_use_the_am_budget_of_forward_evaluations(records):
    base = records[records["role"] == "baseline"]
    assert set(base["method"]) == set(baselines.BASELINES) and set(base["optimizer"]) == {"none"}
    ev = records[records["role"] == "evaluation"]
    # the same starts: f_start agrees with the AM rows of the instance and start
    key = ["family", "dim", "seed", "start"]
    a = base.drop_duplicates(key).set_index(key)["f_start"].sort_index()
    b = ev.drop_duplicates(key).set_index(key)["f_start"].sort_index()
    pd.testing.assert_series_equal(a, b.loc[a.index])
    assert (base["f_best"] <= base["f_star"]).all()


def test_linear_corner_is_the_sign_of_the_straight_through_gradient():
    import torch
    import toy_functions

    f = toy_functions.get("dead_unit", dim=4, seed=0)
    x0 = torch.zeros((2, 4), dtype=torch.float64) + torch.tensor([[0.1], [-0.2]], dtype=torch.float64)
    values, grad_evals = baselines.trace(f, x0, "linear-corner", steps=5, seed=0)
    assert values.shape == (6, 2) and grad_evals == 1
    assert (values[1:] == values[1]).all()


def test_baseline_draws_are_a_pure_function_of_the_instance():
    import torch
    import toy_functions

    f = toy_functions.get("bumps", dim=3, seed=2)
    x0 = torch.zeros((2, 3), dtype=torch.float64)
    a, _ = baselines.trace(f, x0, "random-uniform", steps=8, seed=5)
    b, _ = baselines.trace(f, x0, "random-uniform", steps=8, seed=5)
    c, _ = baselines.trace(f, x0, "random-uniform", steps=8, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="'gradient'"):
        baselines.trace(f, x0, "gradient", steps=2, seed=0)


@pytest.mark.parametrize("label, match", [("proxy-1.0", "0 < s < 1"), ("proxy-0.3", "not one of"),
                                          ("plain", "0 < s < 1")])
def test_claim_method_must_be_a_declared_proxy_with_slope_below_one(label, match):
    raw = {**copy.deepcopy(RAW), "claim_method": label}
    with pytest.raises(ConfigError, match=match):
        toy_am.parse_config(raw)


def test_claim_spec_validates_its_declaration():
    with pytest.raises(ValueError, match="summary"):
        ClaimSpec("X", "x", "", ("a",), "b", ("u",), (), "s", summary="median")
    with pytest.raises(ValueError, match="rule"):
        ClaimSpec("X", "x", "", ("a",), "b", ("u",), (), "s", rule="majority-no-loss")
    with pytest.raises(ValueError, match="reference"):
        ClaimSpec("X", "x", "", ("a", "b"), "b", ("u",), (), "s")
