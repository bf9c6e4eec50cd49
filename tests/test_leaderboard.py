"""The leaderboard: generated from finished runs' records, one row per (experiment, benchmark, optimizer,
method) with the mean over units of replication (toy-am: instances, each the mean over its starts) of the
attained fraction in [0, 1], its CI and n units, sorted; a per-method aggregate and an anytime AUC; the
committed one is what the command makes."""
from __future__ import annotations

import io
from pathlib import Path

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import leaderboard, store
from benchmarks.framework.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOY = """
[p]
seed = 0
instances = 2
starts = 3
steps = 10
targets = [1e-1]
methods = ["plain", "proxy-0.5", "byo_example.am:signed_ascent"]
optimizers = [{ name = "adam", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }, { name = "byo_example.toys:ramp", dims = [3] }]
"""


@pytest.fixture()
def toy_run(tmp_path, example_plugins) -> Path:
    conf = tmp_path / "c.toml"
    conf.write_text(TOY)
    out = tmp_path / "runs" / "toy"
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress"]) == 0
    return out


def test_rows_are_means_of_the_records_with_ci_and_n(toy_run, tmp_path):
    assert main(["leaderboard", str(toy_run.parent), "--out", str(tmp_path / "lb")]) == 0
    board = pd.read_csv(tmp_path / "lb" / "LEADERBOARD.csv", keep_default_na=False, na_values=[""])
    rec = store.load_records(toy_run)
    assert len(board) == rec.groupby(["family", "optimizer", "method"]).ngroups == 6
    for row in board.itertuples():
        family, version = row.benchmark.split("@")
        assert version == rec["suite_version"].iloc[0]  # the benchmark id carries its version
        sel = rec[(rec["family"] == family) & (rec["method"] == row.method)]
        per_instance = _instance_means(sel)
        assert len(sel) == 6 and row.n == len(per_instance) == 2  # 2 instances x 3 starts: n counts instances
        assert row.score == pytest.approx(np.mean(per_instance), abs=1e-12)
        assert row.ci_low <= row.score <= row.ci_high
        assert 0.0 <= row.score <= 1.0
        assert row.suite_version == rec["suite_version"].iloc[0] and row.profile == "p"
    plug = board[board["method"] == "byo_example.am:signed_ascent"]
    assert set(plug["method_version"]) == {"0.1.0"}
    md = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "byo_example.am:signed_ascent" in md and "## toy-am" in md and "records sha256" in md
    assert "## Per-method aggregate" in md and "tandardized:**" in md
    # sorted by experiment, benchmark, then score (best first)
    assert board.equals(leaderboard.sort_board(board.copy()))
    agg = pd.read_csv(tmp_path / "lb" / "LEADERBOARD_methods.csv", keep_default_na=False, na_values=[""])
    assert set(agg["method"]) == set(board["method"])
    assert ((agg["score"] >= 0) & (agg["score"] <= 1)).all()
    assert ((agg["anytime_auc"] >= 0) & (agg["anytime_auc"] <= 1)).all()


def _instance_means(sel: pd.DataFrame) -> list[float]:
    """Per instance (family, dim, seed) the mean attained fraction over its starts, in exact arithmetic."""
    return [float(sum(map(Fraction, g["attained"].astype(float))) / len(g))
            for _, g in sel.dropna(subset=["attained"]).groupby(["family", "dim", "seed"])]


def test_a_damaged_run_is_refused_before_writing(toy_run, tmp_path, capsys):
    cell = sorted((toy_run / store.CELLS).glob("*.csv"))[0]
    cell.write_text(cell.read_text()[:-50])
    assert main(["leaderboard", str(toy_run), "--out", str(tmp_path / "lb")]) == 2
    assert cell.name in capsys.readouterr().err
    assert not (tmp_path / "lb").exists()
    assert main(["leaderboard", str(tmp_path / "nothing"), "--out", str(tmp_path / "lb")]) == 2


def _committed_quick() -> Path:
    """The committed quick results, or skip when there are none of this suite version."""
    from benchmarks.framework.meta import __version__

    quick = ROOT / "results" / "quick"
    if not (quick / "toy-am" / store.META).is_file():
        pytest.skip("no committed quick results")
    if any(store.read_meta(d).get("suite_version") != __version__ for d in leaderboard.run_dirs([quick])):
        pytest.skip(f"committed quick results are not of suite version {__version__}")
    return quick


def test_committed_leaderboard_is_what_the_command_makes(tmp_path):
    quick = _committed_quick()
    board, _ = leaderboard.build([quick])
    committed = pd.read_csv(ROOT / "results" / "LEADERBOARD.csv", keep_default_na=False, na_values=[""])
    fresh = pd.read_csv(io.StringIO(leaderboard.to_csv(board)), keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(committed, fresh)


def test_committed_standard_leaderboard_is_what_the_command_makes():
    """results/standard/LEADERBOARD*.csv: `leaderboard results/standard --out results/standard`, board and aggregate."""
    standard = ROOT / "results" / "standard"
    if not (standard / "cnn-am" / store.META).is_file():
        pytest.skip("no committed standard cnn-am results")
    board, dirs = leaderboard.build([standard])
    agg = leaderboard.build_aggregate(board, dirs)
    for name, table, columns in (("LEADERBOARD.csv", board, leaderboard.COLUMNS),
                                 ("LEADERBOARD_methods.csv", agg, leaderboard.AGGREGATE_COLUMNS)):
        committed = pd.read_csv(standard / name, keep_default_na=False, na_values=[""])
        fresh = pd.read_csv(io.StringIO(leaderboard.to_csv(table, columns)), keep_default_na=False, na_values=[""])
        pd.testing.assert_frame_equal(committed, fresh)
    # every method of the standard profile is on it, the practitioners' recipes beside the backward rules
    assert {"plain", "proxy-0.5", "lucent", "lucent-proxy-0.5", "horama", "horama-proxy-0.5"} == set(board["method"])


def test_only_one_role_is_scored_and_never_the_tuning_runs():
    """Tuning runs (best over a grid of step sizes on the instance itself) and the untuned fixed-lr runs are
    never pooled with the tuned evaluation runs: each method is scored at one budget and one protocol."""
    rec = pd.DataFrame({"role": ["tuning", "tuning", "fixed", "evaluation", "evaluation"], "v": [9, 9, 5, 1, 2]})
    scored, role = leaderboard.scored_runs(rec)
    assert role == "evaluation" and list(scored["v"]) == [1, 2]
    scored, role = leaderboard.scored_runs(rec[rec["role"] != "evaluation"])
    assert role == "fixed" and list(scored["v"]) == [5]
    scored, role = leaderboard.scored_runs(rec[rec["role"] == "tuning"])
    assert scored.empty
    scored, role = leaderboard.scored_runs(rec.drop(columns=["role"]))
    assert role == "all" and len(scored) == 5


def test_committed_board_scores_the_evaluation_runs_only():
    quick = _committed_quick()
    board, _ = leaderboard.build([quick])
    assert set(board["role"]) == {"evaluation"}
    toy = store.load_records(quick / "toy-am")
    evaluation = toy[toy["role"] == "evaluation"]
    for row in board[board["experiment"] == "toy-am"].itertuples():
        sel = evaluation[(evaluation["family"] == row.benchmark.split("@")[0])
                         & (evaluation["optimizer"] == row.optimizer) & (evaluation["method"] == row.method)]
        per_instance = _instance_means(sel)
        assert row.n == len(per_instance) == sel.groupby(["dim", "seed"]).ngroups and row.excluded == 0
        assert row.score == pytest.approx(np.mean(per_instance), abs=1e-12)
    assert ((board["score"] >= 0) & (board["score"] <= 1)).all()


def test_board_is_sorted_by_benchmark_then_score():
    board = pd.DataFrame({"experiment": ["b", "a", "a", "a"], "benchmark": ["x@1", "z@1", "y@1", "y@1"],
                          "optimizer": ["adam"] * 4, "method": ["m", "m", "m", "n"], "score": [0.1, 0.9, 0.2, 0.7]})
    out = leaderboard.sort_board(board)
    assert list(zip(out["experiment"], out["benchmark"], out["score"])) == [
        ("a", "y@1", 0.7), ("a", "y@1", 0.2), ("a", "z@1", 0.9), ("b", "x@1", 0.1)]


@pytest.mark.parametrize("name, version, expected", [
    ("fmnist-tiny8 (suite:e22671bf92eb)", "0.2.0", "fmnist-tiny8@e22671bf92eb"),
    ("dead_unit", "0.2.0", "dead_unit@0.2.0"),
])
def test_benchmark_ids_carry_their_version(name, version, expected):
    assert leaderboard.benchmark_id(name, version) == expected


def test_aggregate_compares_methods_within_one_benchmark_set_with_an_interval():
    rng = np.random.default_rng(1)
    values = {("e", b, "adam", m): rng.uniform(0, 1, 10) for b in ("p", "q") for m in ("plain", "proxy")}
    values[("e", "r", "adam", "plain")] = rng.uniform(0, 1, 10)  # a benchmark only plain has: its own set
    board = pd.DataFrame([{"experiment": e, "benchmark": b, "optimizer": o, "method": m, "score": v.mean()}
                          for (e, b, o, m), v in values.items()])
    anytime = pd.DataFrame(columns=list(leaderboard.ANYTIME_COLUMNS))
    agg = leaderboard.aggregate(board, values, anytime)
    assert list(zip(agg["benchmark_set"], agg["method"])) == [("all 3", "plain"), *sorted(
        [("p, q", m) for m in ("plain", "proxy")], key=lambda k: -np.mean([values[("e", b, "adam", k[1])].mean()
                                                                          for b in ("p", "q")]))]
    pq = agg[agg["benchmark_set"] == "p, q"]
    assert (pq["benchmarks"] == 2).all() and (pq["units"] == 20).all()
    for r in pq.itertuples():
        expected = np.mean([values[("e", b, "adam", r.method)].mean() for b in ("p", "q")])
        assert r.score == pytest.approx(expected) and r.ci_low <= r.score <= r.ci_high
    assert list(pq["score"]) == sorted(pq["score"], reverse=True)
    assert agg.loc[agg["benchmark_set"] == "all 3", "units"].item() == 30


def test_pooled_anytime_is_the_auc_of_the_pooled_pairs():
    budgets = [1, 2, 4, 16]
    rng = np.random.default_rng(3)
    a, b = rng.uniform(size=(6, 4)) > 0.5, rng.uniform(size=(9, 4)) > 0.3
    rows = pd.DataFrame({"anytime_auc": [leaderboard.anytime_auc(a, budgets), leaderboard.anytime_auc(b, budgets)],
                         "anytime_pairs": [6, 9]})
    auc, pairs = leaderboard.pooled_anytime(rows)
    assert pairs == 15 and auc == pytest.approx(leaderboard.anytime_auc(np.concatenate([a, b]), budgets), abs=1e-12)
    assert leaderboard.pooled_anytime(rows.iloc[0:0])[1] == 0


def test_anytime_auc_is_the_normalized_area_under_the_ecdf():
    budgets = [1, 2, 4]
    assert leaderboard.anytime_auc(np.ones((3, 3), bool), budgets) == 1.0
    assert leaderboard.anytime_auc(np.zeros((3, 3), bool), budgets) == 0.0
    solved = np.array([[False, True, True], [False, False, True]])  # ECDF 0, 0.5, 1 at log2 = 0, 1, 2
    assert leaderboard.anytime_auc(solved, budgets) == pytest.approx((0.25 + 0.75) / 2)


def test_records_of_several_commits_or_a_dirty_tree_are_not_standardized(tmp_path):
    import json

    def run(name: str, commit: str, version: str = "0.2.0") -> Path:
        d = tmp_path / name
        d.mkdir()
        (d / store.META).write_text(json.dumps({"experiment": name, "git_commit": commit, "suite_version": version}))
        return d

    ok, text = leaderboard.standardized([run("a", "c1"), run("b", "c1")])
    assert ok and "`c1`" in text
    ok, text = leaderboard.standardized([run("c", "c1"), run("d", "c2")])
    assert not ok and "2 commits" in text
    ok, text = leaderboard.standardized([run("e", "c1+dirty")])
    assert not ok and "uncommitted" in text
    ok, text = leaderboard.standardized([run("f", "c1", "0.1.0")], "0.2.0")
    assert not ok and "scored by the code of suite version 0.2.0" in text
