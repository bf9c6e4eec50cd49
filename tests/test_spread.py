"""The spread between two runs (issue 32): records aligned by their key, metrics and verdicts compared, and
regression tolerances calibrated to a measured spread, with the source of each written into the baseline.

Cheap: made-up records and summaries; the runs themselves are tested in tests/test_perturbation.py.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import baseline, spread
from benchmarks.framework.claims import Claim
from benchmarks.framework.cli import main
from benchmarks.framework.config import ConfigError


def _records() -> pd.DataFrame:
    return pd.DataFrame({"method": ["plain", "plain", "proxy", "proxy"], "seed": [0, 1, 0, 1],
                         "f_best": [1.0, 2.0, 3.0, 0.0], "label": ["a", "b", "c", "d"],
                         "seconds": [0.1, 0.2, 0.3, 0.4]})


def test_rows_align_by_key_not_by_order_and_only_differences_count():
    ref = _records()
    new = ref.iloc[::-1].reset_index(drop=True).copy()  # another order, same rows
    new.loc[new["seed"] == 1, "f_best"] = new.loc[new["seed"] == 1, "f_best"] * (1 + 1e-7)
    new["seconds"] = 9.0  # a timing column is not compared
    cols, rows = spread.column_spread(ref, new, ("method", "seed"), ("seconds",))
    assert rows == {"reference": 4, "run": 4, "compared": 4, "only_reference": 0, "only_run": 0}
    assert list(cols["column"]) == ["f_best", "label"]
    f = cols.set_index("column").loc["f_best"]
    # plain seed 1 moved by 1e-7 relative; proxy seed 1 is 0 * (1 + 1e-7) == 0: not a difference
    assert f["differing"] == 1 and f["share"] == 0.25
    assert f["max_rel"] == pytest.approx(1e-7, rel=1e-6) and f["max_abs"] == pytest.approx(2e-7, rel=1e-6)
    assert cols.set_index("column").loc["label", "differing"] == 0


def test_rows_of_one_run_only_are_counted_not_compared_and_nan_equals_nan():
    ref = _records()
    ref.loc[0, "f_best"] = math.nan
    new = pd.concat([ref, pd.DataFrame([{"method": "proxy", "seed": 2, "f_best": 5.0, "label": "e",
                                         "seconds": 0.0}])], ignore_index=True)
    cols, rows = spread.column_spread(ref, new, ("method", "seed"), ("seconds",))
    assert rows["compared"] == 4 and rows["only_run"] == 1 and rows["only_reference"] == 0
    assert cols["differing"].sum() == 0


def test_metrics_spread_per_statistic():
    m = spread.metric_spread({"a/x/median_F": 2.0, "b/x/median_F": 4.0, "a/success@0.1": 0.5},
                             {"a/x/median_F": 2.5, "b/x/median_F": 4.0, "a/success@0.1": 0.5})
    stats = spread.statistic_spread(m)
    assert stats["median_F"] == {"n": 2, "differing": 1, "max_abs": 0.5, "max_rel": 0.2}
    assert stats["success"] == {"n": 1, "differing": 0, "max_abs": 0.0, "max_rel": 0.0}


def test_the_summary_names_the_outcome_columns_whether_they_differ_or_not():
    ref = _records()
    new = ref.copy()
    new.loc[0, "f_best"] = 1.5
    cols, rows = spread.column_spread(ref, new, ("method", "seed"), ("seconds",))
    s = spread.Spread("x", "smoke", "h", cols, spread.metric_spread({}, {}), spread.verdict_changes([], []), rows,
                      ("f_best", "label"))
    doc = spread.summary(s)
    assert doc["outcome_columns"]["f_best"]["differing"] == 1 and doc["outcome_columns"]["f_best"]["max_abs"] == 0.5
    assert doc["outcome_columns"]["label"]["differing"] == 0 and list(doc["columns_differing"]) == ["f_best"]


def test_a_changed_verdict_is_flagged():
    a = [Claim("k", "s", "e", "", "supported", id="C2", method="proxy-0.5"),
         Claim("k", "s", "e", "", "inconclusive", id="C1", method="")]
    b = [Claim("k", "s", "e", "", "mixed", id="C2", method="proxy-0.5"),
         Claim("k", "s", "e", "", "inconclusive", id="C1", method="")]
    v = spread.verdict_changes(a, b)
    assert list(v.loc[v["changed"], "claim"]) == ["C2"]
    assert v.loc[v["changed"], ["reference", "run"]].values.tolist() == [["supported", "mixed"]]


def _spread_doc(max_abs: float, **identity: str) -> dict:
    return {"format": spread.SUMMARY_FORMAT, "experiment": "training", "profile": "smoke", "config_hash": "h",
            "perturbation": "avx2", **identity,
            "statistics": {"final_test_acc": {"n": 8, "differing": 2, "max_abs": max_abs, "max_rel": max_abs}}}


METRICS = {"s/a/final_test_acc": 0.9, "s/b/final_test_acc": 0.1}


def test_calibration_raises_a_rule_to_twice_the_spread_and_says_so():
    rules, source, unchecked = baseline.calibrate({"final_test_acc": {"abs": 0.05}}, 0.05, [_spread_doc(0.04)],
                                                  METRICS, experiment="training", profile="smoke", cfg_hash="h",
                                                  names=["s.json"])
    assert rules == {"final_test_acc": {"abs": 0.08}} and unchecked == {}
    assert "raised to abs 0.08" in source["final_test_acc"] and "s.json" in source["final_test_acc"]
    assert "2 of 8 metrics moved under perturbation avx2" in source["final_test_acc"]
    rules, source, unchecked = baseline.calibrate({"final_test_acc": {"abs": 0.05}}, 0.05, [_spread_doc(0.0)],
                                                  METRICS, experiment="training", profile="smoke", cfg_hash="h",
                                                  names=["s.json"])
    assert rules == {"final_test_acc": {"abs": 0.05}} and "which covers" in source["final_test_acc"]
    assert unchecked == {}


def test_a_relative_rule_is_calibrated_to_the_relative_spread():
    """median_F {"rel": 0.05} over activations of scales 20 and 0.5: a move of 0.4 at 20 (2%) is within its declared
    tolerance 1.0; calibrated relatively (not as abs 0.8 for every metric, which is more than half the small
    metric's scale), each metric gets at least twice its scale max(1, |value|) times 0.02."""
    metrics = {"m/big/median_F": 20.0, "m/small/median_F": 0.5}
    doc = {"format": spread.SUMMARY_FORMAT, "experiment": "cnn-am", "profile": "quick", "config_hash": "h",
           "perturbation": "avx2", "statistics": {"median_F": {"n": 2, "differing": 2, "max_abs": 0.4, "max_rel": 0.02}},
           "metrics_moved": {"m/big/median_F": 0.4, "m/small/median_F": 0.001}}
    rules, source, unchecked = baseline.calibrate({"median_F": {"rel": 0.05}}, 0.05, [doc], metrics,
                                                  experiment="cnn-am", profile="quick", cfg_hash="h", names=["s.json"])
    assert unchecked == {} and rules == {"median_F": {"rel": 0.05, "abs": 0.04}}
    assert "raised to abs and rel 0.04" in source["median_F"] and "0.02 of max(1, |value|)" in source["median_F"]
    tolerances = baseline.resolve_tolerances(metrics, rules, 0.05)
    assert tolerances == {"m/big/median_F": 1.0, "m/small/median_F": 0.04}
    # an absolute rule keeps the absolute calibration, and refuses it here
    with pytest.raises(ConfigError, match="no regression check of cnn-am/quick holds across machines"):
        baseline.calibrate({"median_F": {"abs": 1.0}}, 0.05, [doc], metrics, experiment="cnn-am", profile="quick",
                           cfg_hash="h", names=["s.json"])


def test_calibration_refuses_a_spread_of_another_config_or_too_large():
    with pytest.raises(ConfigError, match="not of training/smoke"):
        baseline.calibrate(None, 0.05, [_spread_doc(0.01, config_hash="other")], METRICS, experiment="training",
                           profile="smoke", cfg_hash="h", names=["s.json"])
    with pytest.raises(ConfigError, match="no regression check of training/smoke holds across machines"):
        baseline.calibrate({"final_test_acc": {"abs": 0.4}}, 0.05, [_spread_doc(0.3)], METRICS,
                           experiment="training", profile="smoke", cfg_hash="h", names=["s.json"])


def test_a_metric_that_moves_more_than_its_tolerance_is_unchecked_and_the_rest_calibrated_without_it():
    doc = {**_spread_doc(0.2), "metrics_moved": {"s/a/final_test_acc": 0.01, "s/b/final_test_acc": 0.2}}
    rules, source, unchecked = baseline.calibrate({"final_test_acc": {"abs": 0.015}}, 0.05, [doc], METRICS,
                                                  experiment="training", profile="smoke", cfg_hash="h",
                                                  names=["s.json"])
    assert list(unchecked) == ["s/b/final_test_acc"]
    assert "moved by 0.2 under perturbation avx2 (s.json), more than its declared tolerance 0.015" in \
        unchecked["s/b/final_test_acc"]
    assert rules == {"final_test_acc": {"abs": 0.02}}  # twice the checked metric's move, not the unchecked one's
    assert "by at most 0.01 among the checked ones (1 moved more" in source["final_test_acc"]
    # a summary without per-metric moves: every metric moved by the statistic's largest difference
    rules, source, unchecked = baseline.calibrate({"final_test_acc": {"abs": 0.015}}, 0.05, [_spread_doc(0.2)],
                                                  METRICS, experiment="training", profile="smoke", cfg_hash="h",
                                                  names=["s.json"])
    assert sorted(unchecked) == sorted(METRICS)
    # a metric present in one run only (null) is unchecked too
    doc = {**_spread_doc(0.01), "metrics_moved": {"s/a/final_test_acc": None}}
    assert list(baseline.calibrate(None, 0.05, [doc], METRICS, experiment="training", profile="smoke",
                                   cfg_hash="h", names=["s.json"])[2]) == ["s/a/final_test_acc"]


def test_check_skips_an_unchecked_metric_says_so_and_still_catches_the_others(tmp_path):
    path, spread_path = tmp_path / "b.json", tmp_path / "spread.json"
    h = baseline.profile_hash("training", "smoke")  # check compares the file with the profile's own config
    spread_path.write_text(json.dumps({**_spread_doc(0.2, config_hash=h),
                                       "metrics_moved": {"s/a/final_test_acc": 0.01, "s/b/final_test_acc": 0.2}}))
    baseline.update("training", "smoke", measurement=baseline.Measurement(dict(METRICS), h), path=path,
                    spread=[spread_path])
    doc = baseline.read(path)
    assert list(doc["unchecked"]) == ["s/b/final_test_acc"]
    baseline.update("training", "smoke", measurement=baseline.Measurement(dict(METRICS), h), path=path)
    assert baseline.read(path)["unchecked"] == doc["unchecked"]  # --update without --spread keeps it
    moved = baseline.Measurement({"s/a/final_test_acc": 0.9, "s/b/final_test_acc": 0.5}, h)
    ok, lines = baseline.check("training", "smoke", measurement=moved, path=path)
    assert ok and any(ln.startswith("note: s/b/final_test_acc: unchecked (moved by 0.2") for ln in lines), lines
    assert "1 metrics checked" in lines[-1] and "(1 unchecked: unstable across machines)" in lines[-1]
    dropped = baseline.Measurement({"s/a/final_test_acc": 0.9 - doc["tolerances"]["s/a/final_test_acc"] - 1e-9,
                                    "s/b/final_test_acc": 0.1}, h)
    ok, lines = baseline.check("training", "smoke", measurement=dropped, path=path)
    assert not ok and [ln.split(":")[0] for ln in lines if ln.startswith("REGRESSION")] == [
        "REGRESSION s/a/final_test_acc"]
    path.write_text(json.dumps({**doc, "unchecked": {"s/c/final_test_acc": "x"}}))
    with pytest.raises(ConfigError, match="'unchecked' names metrics the baseline does not have"):
        baseline.read(path)
    path.write_text(json.dumps({**doc, "unchecked": {"s/a/final_test_acc": ""}}))
    with pytest.raises(ConfigError, match="'unchecked' must be a table"):
        baseline.read(path)


def test_update_with_a_spread_writes_the_tolerances_and_their_source(tmp_path):
    path, spread_path = tmp_path / "b.json", tmp_path / "spread.json"
    m = baseline.Measurement(dict(METRICS), "h")
    spread_path.write_text(json.dumps(_spread_doc(0.04)))
    baseline.update("training", "smoke", measurement=m, path=path, spread=[spread_path])
    doc = baseline.read(path)
    assert doc["tolerances"] == {k: 0.08 for k in METRICS}
    assert "raised to abs 0.08" in doc["tolerance_source"]["final_test_acc"]
    assert "--spread" in doc["generated_by"]
    baseline.update("training", "smoke", measurement=m, path=path)  # without --spread: kept
    assert baseline.read(path)["tolerance_source"] == doc["tolerance_source"]
    assert baseline.read(path)["tolerances"] == doc["tolerances"]


def test_a_bad_tolerance_source_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"metrics": {"a": 1.0}, "tolerance_source": {"a": 3}}))
    with pytest.raises(ConfigError, match="tolerance_source"):
        baseline.read(path)


def test_spread_command_refuses_runs_of_two_configs(tmp_path, capsys):
    for name, h in (("a", "h1"), ("b", "h2")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({"experiment": "training", "config_hash": h,
                                                               "finished_utc": "2026-01-01T00:00:00Z"}))
    assert main(["spread", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 2
    assert "runs of different configs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_relative_difference_is_symmetric_and_zero_for_two_zeros():
    r = spread.relative_difference(np.array([0.0, 1.0, -2.0]), np.array([0.0, 2.0, 2.0]))
    assert r.tolist() == [0.0, 0.5, 2.0]
