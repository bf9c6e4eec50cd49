"""The leaderboard: generated from finished runs' records, one row per (experiment, benchmark, optimizer,
method) with the median over units of replication (toy-am: instances, each the mean over its starts) of the
attained fraction, its CI and n units; the committed one is what the command makes."""
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


def test_rows_are_medians_of_the_records_with_ci_and_n(toy_run, tmp_path):
    assert main(["leaderboard", str(toy_run.parent), "--out", str(tmp_path / "lb")]) == 0
    board = pd.read_csv(tmp_path / "lb" / "LEADERBOARD.csv", keep_default_na=False, na_values=[""])
    rec = store.load_records(toy_run)
    assert len(board) == rec.groupby(["family", "optimizer", "method"]).ngroups == 6
    for row in board.itertuples():
        sel = rec[(rec["family"] == row.benchmark) & (rec["method"] == row.method)]
        per_instance = _instance_means(sel)
        assert len(sel) == 6 and row.n == len(per_instance) == 2  # 2 instances x 3 starts: n counts instances
        assert row.median == np.median(per_instance)
        assert row.ci_low <= row.median <= row.ci_high
        assert row.suite_version == rec["suite_version"].iloc[0] and row.profile == "p"
    plug = board[board["method"] == "byo_example.am:signed_ascent"]
    assert set(plug["method_version"]) == {"0.1.0"}
    md = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "byo_example.am:signed_ascent" in md and "## toy-am" in md and "records sha256" in md


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


def test_committed_leaderboard_is_what_the_command_makes(tmp_path):
    quick = ROOT / "results" / "quick"
    if not (quick / "toy-am" / store.META).is_file():
        pytest.skip("no committed quick results")
    board, _ = leaderboard.build([quick])
    committed = pd.read_csv(ROOT / "results" / "LEADERBOARD.csv", keep_default_na=False, na_values=[""])
    fresh = pd.read_csv(io.StringIO(leaderboard.to_csv(board)), keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(committed, fresh)


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
    quick = ROOT / "results" / "quick"
    if not (quick / "toy-am" / store.META).is_file():
        pytest.skip("no committed quick results")
    board, _ = leaderboard.build([quick])
    assert set(board["role"]) == {"evaluation"}
    toy = store.load_records(quick / "toy-am")
    evaluation = toy[toy["role"] == "evaluation"]
    for row in board[board["experiment"] == "toy-am"].itertuples():
        sel = evaluation[(evaluation["family"] == row.benchmark) & (evaluation["optimizer"] == row.optimizer)
                         & (evaluation["method"] == row.method)]
        per_instance = _instance_means(sel)
        assert row.n == len(per_instance) == sel.groupby(["dim", "seed"]).ngroups and row.excluded == 0
        assert row.median == np.median(per_instance)
