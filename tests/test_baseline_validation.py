"""A baseline is validated before the rerun: empty metrics, an absurd tolerance and NaN, null or
non-numeric metrics exit 2 naming the entry, and no experiment is run."""
from __future__ import annotations

import json

import pytest

from benchmarks.framework import baseline
from benchmarks.framework.cli import main

GOOD = {"experiment": "toy-am", "profile": "smoke", "config_hash": "x", "tolerance": 0.05,
        "metrics": {"a/success@0.1": 0.5, "b/success@0.1": 1.0}}


@pytest.fixture()
def base_dir(tmp_path, monkeypatch):
    def no_rerun(*a, **k):
        raise AssertionError("the baseline must be validated before the rerun")

    monkeypatch.setattr(baseline, "BASELINE_DIR", tmp_path)
    monkeypatch.setattr(baseline, "measure", no_rerun)
    return tmp_path


def _check_exits_2(base_dir, capsys, text: str) -> str:
    (base_dir / "toy-am-smoke.json").write_text(text)
    assert main(["check", "toy-am", "--profile", "smoke"]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("metrics, named", [
    ({}, "'metrics' is empty"),
    ({"a": "NaN"}, "'a'"),
    ({"a": 0.5, "b": None}, "'b'"),
    ({"a": "abc"}, "'abc'"),
    ({"a": True}, "'a'"),
    ({"a": [0.5]}, "'a'"),
])
def test_bad_metrics_exit_2_naming_them(base_dir, capsys, metrics, named):
    err = _check_exits_2(base_dir, capsys, json.dumps({**GOOD, "metrics": metrics}))
    assert named in err and "toy-am-smoke.json" in err


def test_nan_and_infinite_metrics_exit_2(base_dir, capsys):
    for literal in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(GOOD).replace('"b/success@0.1": 1.0', f'"b/success@0.1": {literal}')
        assert literal in text
        err = _check_exits_2(base_dir, capsys, text)
        assert "'b/success@0.1'" in err and "finite" in err


@pytest.mark.parametrize("tol", [1e9, 0.51, -0.01, "0.05", None, True, float("nan")])
def test_tolerance_outside_its_range_exits_2(base_dir, capsys, tol):
    err = _check_exits_2(base_dir, capsys, json.dumps({**GOOD, "tolerance": tol}))
    assert "tolerance must be a number in [0, 0.5]" in err and repr(tol) in err


def test_tolerance_range_ends_are_accepted(tmp_path):
    for tol in (0, 0.0, 0.5, baseline.DEFAULT_TOLERANCE):
        path = tmp_path / "b.json"
        path.write_text(json.dumps({**GOOD, "tolerance": tol}))
        assert baseline.read(path)["tolerance"] == tol


def test_update_refuses_to_write_non_finite_or_no_metrics(tmp_path):
    for metrics in ({}, {"a": float("nan")}):
        with pytest.raises(baseline.ConfigError, match="not writing"):
            baseline.update("toy-am", "smoke", base_dir=tmp_path, measurement=baseline.Measurement(metrics, "h"))
        assert not (tmp_path / "toy-am-smoke.json").exists()


def test_update_may_rewrite_a_baseline_with_empty_metrics(tmp_path):
    path = tmp_path / "toy-am-smoke.json"
    path.write_text(json.dumps({**GOOD, "metrics": {}}))
    baseline.update("toy-am", "smoke", base_dir=tmp_path, measurement=baseline.Measurement({"a": 0.25}, "h"))
    assert json.loads(path.read_text())["metrics"] == {"a": 0.25}


def test_committed_baselines_are_valid():
    for path in sorted(baseline.BASELINE_DIR.glob("*.json")):
        assert baseline.read(path)["metrics"], path
