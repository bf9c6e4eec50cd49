"""CI regression baselines for cnn-am and training (issue 26, item 5), as tests/test_baseline.py does for toy-am.

- ``check cnn-am --profile smoke`` and ``check training --profile smoke`` pass against the committed baselines
  (``results/baselines/{cnn-am,training}-smoke.json``; cnn-am on the tests' Fashion-MNIST sample, as
  ``make baselines`` makes it).
- A baseline written by the ``baseline`` command (its own run) passes ``check`` (another run), and fails it,
  exit 1 with one ``REGRESSION`` line per tampered row and none for the others, once tampered.
- Tolerances are explicit per metric and written into the file: training's from its declared
  ``BASELINE_TOLERANCES``, cnn-am's from the ``tolerance_rules`` its baseline file carries.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.framework import baseline
from benchmarks.framework.cli import main
from benchmarks.framework.spread import statistic

pytest.importorskip("toy_functions")
pytest.importorskip("proxygrad.engine")

EXPERIMENTS = ("cnn-am", "training")


@pytest.fixture(scope="module", params=EXPERIMENTS)
def smoke(request, fashion_mnist_dir) -> tuple[str, list[str], baseline.Measurement]:
    """``(experiment, its --data arguments, one fresh run of its smoke profile, summarized)``."""
    name = request.param
    data = ["--data", str(fashion_mnist_dir)] if name == "cnn-am" else []
    m = baseline.measure(name, "smoke", data_dir=fashion_mnist_dir if data else None)
    return name, data, m


def test_committed_smoke_baseline_passes(smoke, monkeypatch, capsys):
    name, data, m = smoke
    path = baseline.baseline_path(name, "smoke")
    doc = baseline.read(path)
    assert doc["config_hash"] == m.config_hash, f"the {name} smoke profile changed: run `make baselines`"
    assert set(doc["metrics"]) == set(m.metrics) and set(doc["tolerances"]) == set(m.metrics)
    monkeypatch.setattr(baseline, "measure", lambda *a, **k: m)  # the CLI check, on the run above
    assert main(["check", name, "--profile", "smoke", *data]) == 0
    out = capsys.readouterr().out
    assert f"OK: {name}/smoke: {len(m.metrics)} metrics" in out and "per-metric tolerances" in out


def _tampered(doc: dict, keys: list[str], by: float) -> dict:
    """``doc`` with the metrics ``keys`` raised by ``by`` times their tolerance: they claim more than attained."""
    metrics = dict(doc["metrics"])
    for key in keys:
        metrics[key] += by * doc["tolerances"][key] + (1e-9 if by > 1 else 0.0)
    return {**doc, "metrics": metrics}


def test_own_baseline_passes_and_a_tampered_one_fails_naming_the_rows(smoke, tmp_path, monkeypatch, capsys):
    name, data, m = smoke
    path = tmp_path / f"{name}-smoke.json"
    if name == "cnn-am":  # cnn-am's rules live in its baseline file (kept by --update)
        committed = baseline.read(baseline.baseline_path(name, "smoke"))
        path.write_text(json.dumps({"experiment": name, "profile": "smoke", "config_hash": m.config_hash,
                                    "metrics": {}, "tolerance_rules": committed["tolerance_rules"]}))
    # the baseline command makes the file from a run of its own
    assert main(["baseline", name, "--profile", "smoke", "--baseline", str(path), "--update", *data]) == 0
    doc = json.loads(path.read_text())
    assert {doc["experiment"], doc["profile"], doc["config_hash"]} == {name, "smoke", m.config_hash}
    assert set(doc["tolerances"]) == set(doc["metrics"]) == set(m.metrics)
    rules = doc["tolerance_rules"]
    for key, tol in doc["tolerances"].items():  # explicit per metric, resolved from the rules
        rule = rules[statistic(key)]
        assert tol == max(rule.get("abs", 0.0), rule.get("rel", 0.0) * abs(doc["metrics"][key]))
    monkeypatch.setattr(baseline, "measure", lambda *a, **k: m)  # check against another run
    capsys.readouterr()
    assert main(["check", name, "--profile", "smoke", "--baseline", str(path), *data]) == 0
    assert "0 regression(s)" in capsys.readouterr().out

    keys = sorted(doc["metrics"])[:2]
    path.write_text(json.dumps(_tampered(doc, keys, 0.9)))  # within the tolerance: still passes
    assert main(["check", name, "--profile", "smoke", "--baseline", str(path), *data]) == 0
    capsys.readouterr()
    path.write_text(json.dumps(_tampered(doc, keys, 1.0 + 1e-6)))  # just beyond it: fails, naming both rows
    assert main(["check", name, "--profile", "smoke", "--baseline", str(path), *data]) == 1
    out = capsys.readouterr().out
    flagged = [line.split(":")[0].removeprefix("REGRESSION ") for line in out.splitlines()
               if line.startswith("REGRESSION ")]
    assert flagged == keys, out
    assert f"FAILED: {name}/smoke" in out and "2 regression(s)" in out


def test_per_metric_tolerances_are_validated(tmp_path):
    doc = {"experiment": "training", "profile": "smoke", "config_hash": "x", "metrics": {"a/final_test_acc": 0.5},
           "tolerances": {"a/final_test_acc": 0.6}}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(baseline.ConfigError, match="tolerance of metric 'a/final_test_acc'"):
        baseline.read(path)
    path.write_text(json.dumps({**doc, "tolerances": {}}))
    with pytest.raises(baseline.ConfigError, match="no entry for the metric"):
        baseline.read(path)
    path.write_text(json.dumps({**doc, "tolerances": {"a/final_test_acc": 0.05}, "tolerance_rules": {"x": {"rel": 2}}}))
    with pytest.raises(baseline.ConfigError, match="tolerance rule 'x'"):
        baseline.read(path)
    assert baseline.resolve_tolerances({"m/median_F": -4.0, "m/other": 1.0}, {"median_F": {"rel": 0.05, "abs": 0.1}},
                                       0.05) == {"m/median_F": pytest.approx(0.2), "m/other": 0.05}
