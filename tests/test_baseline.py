"""Regression baselines: the smoke check against the committed baseline, a tampered copy that must fail,
the tolerance, and ``baseline --update`` with its diff."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from benchmarks.framework import baseline
from benchmarks.framework.cli import main

pytest.importorskip("toy_functions")
pytest.importorskip("proxygrad.engine")


@pytest.fixture(scope="module")
def smoke():
    """One fresh run of toy-am/smoke, summarized (shared by the tests of this file)."""
    return baseline.measure("toy-am", "smoke")


def test_committed_smoke_baseline_passes(smoke, monkeypatch, capsys):
    ok, lines = baseline.check("toy-am", "smoke", measurement=smoke)
    assert ok, "\n".join(lines)
    doc = baseline.read(baseline.baseline_path("toy-am", "smoke"))
    assert doc["config_hash"] == smoke.config_hash, "the smoke profile changed: run baseline --update"
    assert set(doc["metrics"]) == set(smoke.metrics)
    # the same check through the CLI (reusing the measurement instead of a second run)
    monkeypatch.setattr(baseline, "measure", lambda *a, **k: smoke)
    assert main(["check", "toy-am", "--profile", "smoke"]) == 0
    assert "OK: toy-am/smoke" in capsys.readouterr().out


def test_tampered_baseline_fails(smoke, tmp_path, monkeypatch, capsys):
    shutil.copy(baseline.baseline_path("toy-am", "smoke"), tmp_path / "toy-am-smoke.json")
    doc = json.loads((tmp_path / "toy-am-smoke.json").read_text())
    key = sorted(k for k, v in doc["metrics"].items() if v is not None and v <= 0.9)[0]
    doc["metrics"][key] += 0.1  # the committed value claims more than the code now attains
    (tmp_path / "toy-am-smoke.json").write_text(json.dumps(doc))
    ok, lines = baseline.check("toy-am", "smoke", base_dir=tmp_path, measurement=smoke)
    assert not ok
    assert any(line.startswith(f"REGRESSION {key}:") for line in lines)
    monkeypatch.setattr(baseline, "BASELINE_DIR", tmp_path)
    monkeypatch.setattr(baseline, "measure", lambda *a, **k: smoke)
    assert main(["check", "toy-am", "--profile", "smoke"]) == 1
    assert f"REGRESSION {key}" in capsys.readouterr().out


def test_tolerance_missing_and_nan_metrics():
    base = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}
    cur = {"a": 0.46, "b": 0.44, "d": math.nan, "e": 1.0}
    regressions, notes = baseline.compare(base, cur, 0.05)
    assert [r.split(":")[0] for r in regressions] == ["b", "c", "d"]  # a is within the tolerance
    assert any("new metric" in n and n.startswith("e:") for n in notes)
    assert baseline.compare(base, {**base, "a": 0.9}, 0.05)[0] == []  # improvements never fail


def test_update_writes_sorted_json_and_prints_diff(smoke, tmp_path):
    path, lines = baseline.update("toy-am", "smoke", base_dir=tmp_path, measurement=smoke)
    text = path.read_text()
    doc = json.loads(text)
    assert list(doc["metrics"]) == sorted(doc["metrics"]) and doc["tolerance"] == baseline.DEFAULT_TOLERANCE
    assert len(lines) == len(smoke.metrics) and all(line.startswith("+ ") for line in lines)
    doc["metrics"]["dead_unit/plain/ascent/mean_attained"] = 0.123
    doc["tolerance"] = 0.02
    path.write_text(json.dumps(doc))
    _, lines = baseline.update("toy-am", "smoke", base_dir=tmp_path, measurement=smoke)
    assert lines == ["- dead_unit/plain/ascent/mean_attained: 0.123",
                     f"+ dead_unit/plain/ascent/mean_attained: "
                     f"{smoke.metrics['dead_unit/plain/ascent/mean_attained']!r}"]
    assert json.loads(path.read_text())["tolerance"] == 0.02  # a stated tolerance survives updates
    assert baseline.update("toy-am", "smoke", base_dir=tmp_path, measurement=smoke)[1] == []


def test_missing_baseline_is_a_clear_error(tmp_path):
    with pytest.raises(baseline.ConfigError, match="no baseline"):
        baseline.check("toy-am", "quick", base_dir=tmp_path, measurement=baseline.Measurement({}, ""))
