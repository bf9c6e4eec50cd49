"""``reproduce``: every experiment, resume, not-tested reasons and REPORT.md, on fake experiments."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import benchmarks.framework.config
from benchmarks.framework import meta, reproduce, store
from benchmarks.framework.claims import Claim
from benchmarks.framework.registry import EXPERIMENTS
from benchmarks.framework.runner import Cell

CALLS: list[str] = []


@dataclass(frozen=True)
class FakeConfig:
    n: int
    fail: bool


def _parse_config(raw: dict, *, data_dir=None) -> FakeConfig:
    return FakeConfig(int(raw["n"]), bool(raw.get("fail", False)))


def _cells(cfg: FakeConfig) -> list[Cell]:
    return [Cell(f"i={i}", {"i": i}) for i in range(cfg.n)]


def _run_cell(cfg: FakeConfig, cell: Cell, ctx) -> list[dict]:
    CALLS.append(cell.key)
    if cfg.fail and cell.params["i"] == 1:
        raise ZeroDivisionError("fake failure in cell i=1")
    i = cell.params["i"]
    return [{"method": "plain", "method_kind": "plain", "method_slope": None, "seed": 0,
             "i": i, "plain": 1.0 / (i + 3), "proxy": 1.0 / (i + 2)}]


def _analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    return {"means": records[["plain", "proxy"]].mean().to_frame("mean").reset_index()}


def _figures(records: pd.DataFrame, out: Path) -> list[Path]:
    return []


def _claims(records: pd.DataFrame) -> list[Claim]:
    wins = int((records["proxy"] > records["plain"]).sum())
    verdict = "supported" if wins == len(records) else "contradicted"
    return [Claim("slope-raises-maxima", "proxy beats plain", "fake", f"{wins}/{len(records)} wins", verdict,
                  "all wins", records[["i", "plain", "proxy"]])]


def _fake_module(name: str, experiment: str) -> types.ModuleType:
    m = types.ModuleType(name)
    m.NAME = experiment
    m.parse_config, m.cells, m.run_cell = _parse_config, _cells, _run_cell
    m.analyze, m.figures, m.claims = _analyze, _figures, _claims
    m.summarize, m.TIMING_COLUMNS, m.BOUNDS = (lambda records: {}), (), {}
    return m


def _experiment_rows(report: str) -> dict[str, list[str]]:
    """The Experiments table of a report: experiment -> [status, records from, details] (the compute
    column, wall time and CPUs, is left out)."""
    section = report.split("## Experiments", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip()[1:-1].split(" | ")] for line in section.splitlines()
            if line.startswith("| ")]
    assert rows[0] == ["experiment", "status", "records from", "compute", "details"]
    return {r[0]: [r[1], r[2], r[4]] for r in rows[1:]}


@pytest.fixture
def fake_suite(tmp_path, monkeypatch):
    """toy-am and training are fake modules (training fails); cnn-am's module is missing."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "toy-am.toml").write_text("[smoke]\nn = 3\n[quick]\nn = 4\n")
    (configs / "training.toml").write_text("[smoke]\nn = 3\nfail = true\n")
    (configs / "cnn-am.toml").write_text("[smoke]\nn = 1\n")
    monkeypatch.setattr(benchmarks.framework.config, "CONFIG_DIR", configs)
    for exp, mod in (("toy-am", "fake_exp_toy"), ("training", "fake_exp_training")):
        monkeypatch.setitem(sys.modules, mod, _fake_module(mod, exp))
        monkeypatch.setitem(EXPERIMENTS, exp, mod)
    monkeypatch.setitem(EXPERIMENTS, "cnn-am", "fake_exp_that_does_not_exist")
    CALLS.clear()
    return tmp_path / "out"


def test_reproduce_runs_reports_and_resumes(fake_suite):
    out = fake_suite
    code = reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    assert code == 1  # training failed; the report is written all the same
    report = (out / "REPORT.md").read_text()
    assert "`python -m benchmarks reproduce --profile smoke --out" in report
    rows = _experiment_rows(report)
    assert rows["toy-am"][0] == "ran" and rows["toy-am"][2] == "3 records, profile smoke; [means.md](toy-am/tables/means.md)"
    assert rows["toy-am"][1].endswith(", suite " + meta.__version__)  # the commit and version of its records
    assert rows["cnn-am"][:2] == ["not tested (unavailable)", ""] and rows["cnn-am"][2].startswith("module missing:")
    assert "fake_exp_that_does_not_exist" in report
    assert rows["training"][0] == "not tested (failed)"
    assert rows["training"][2] == "run failed: ZeroDivisionError: fake failure in cell i=1"
    assert "3/3 wins" in report
    records = (out / "toy-am" / "records.csv").read_bytes()
    assert (out / "toy-am" / "tables" / "means.csv").is_file()

    # interrupted: one finished cell and the merged records lost -> the rerun runs only that cell
    (out / "toy-am" / "cells" / "i=2.csv").unlink()
    (out / "toy-am" / "records.csv").unlink()
    CALLS.clear()
    reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    # toy-am runs only its lost cell; training resumes at its failing cell i=1 (i=0 is kept)
    assert CALLS == ["i=2", "i=1"]
    assert (out / "toy-am" / "records.csv").read_bytes() == records


def test_report_only_rebuilds_without_running(fake_suite):
    out = fake_suite
    reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    (out / "REPORT.md").unlink()
    CALLS.clear()
    reproduce.main(["--profile", "smoke", "--out", str(out), "--report-only"])
    assert CALLS == []
    assert _experiment_rows((out / "REPORT.md").read_text())["toy-am"][::2] == \
        ["ran", "3 records, profile smoke; [means.md](toy-am/tables/means.md)"]


def test_missing_profile_is_not_tested(fake_suite):
    out = fake_suite
    assert reproduce.main(["--profile", "quick", "--out", str(out), "--no-progress"]) == 0
    report = (out / "REPORT.md").read_text()
    assert _experiment_rows(report)["toy-am"][::2] == ["ran", "4 records, profile quick; [means.md](toy-am/tables/means.md)"]
    assert "no [quick] profile in benchmarks/configs/training.toml" in report


def test_data_missing_is_not_tested(fake_suite, monkeypatch):
    from benchmarks.domain.data import DataMissingError

    def no_data(cfg, cell, ctx):
        raise DataMissingError("Fashion-MNIST is not on this machine")

    monkeypatch.setattr(sys.modules["fake_exp_toy"], "run_cell", no_data)
    out = fake_suite
    reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    assert _experiment_rows((out / "REPORT.md").read_text())["toy-am"] == \
        ["not tested (unavailable)", "", "data missing: Fashion-MNIST is not on this machine"]


def test_bad_profile_writes_nothing(fake_suite, capsys):
    out = fake_suite
    assert reproduce.main(["--profile", "medium", "--out", str(out)]) == 2
    assert "'medium'" in capsys.readouterr().err
    assert not out.exists()


def test_interrupted_reproduction_resumes_where_it_stopped(fake_suite, monkeypatch, tmp_path, capsys):
    out = fake_suite
    module = sys.modules["fake_exp_toy"]

    def interrupted(cfg, cell, ctx):
        if cell.params["i"] == 2:
            raise KeyboardInterrupt
        return _run_cell(cfg, cell, ctx)

    monkeypatch.setattr(module, "run_cell", interrupted)
    assert reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not (out / "REPORT.md").exists()
    assert store.finished_keys(out / "toy-am") == {"i=0", "i=1"}

    monkeypatch.setattr(module, "run_cell", _run_cell)
    CALLS.clear()
    reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    assert CALLS[0] == "i=2"  # toy-am continued at the cell it stopped in
    fresh = tmp_path / "fresh"
    reproduce.main(["--profile", "smoke", "--out", str(fresh), "--no-progress"])
    assert (out / "toy-am" / "records.csv").read_bytes() == (fresh / "toy-am" / "records.csv").read_bytes()
    assert (out / "REPORT.md").is_file()


def test_bound_violation_fails_the_experiment_and_opens_the_report(fake_suite, monkeypatch):
    out = fake_suite
    monkeypatch.setattr(sys.modules["fake_exp_toy"], "BOUNDS", {"proxy": ("plain", ("i",))}, raising=False)
    assert reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"]) == 1
    report = (out / "REPORT.md").read_text()
    head = report.split("## Provenance")[0]
    assert "## BOUND VIOLATIONS" in head and "i=0: proxy=0.5 > plain=0.3333333333333333" in head
    assert "FAILED: 3 record(s) of" in head
    status, _, details = _experiment_rows(report)["toy-am"]
    assert status == "not tested (failed)" and details.startswith("3 record(s) of")
    assert (out / "toy-am" / "tables" / "BOUND_VIOLATIONS.md").is_file()


def test_report_of_a_reproduction_folder_rebuilds_its_report(fake_suite):
    """``report DIR`` on a reproduction's output folder rebuilds its REPORT.md (and its runs' tables) without
    running anything; a folder of runs of several profiles is refused."""
    from benchmarks.framework.cli import main as cli_main

    out = fake_suite
    reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"])
    (out / "REPORT.md").unlink()
    CALLS.clear()
    cli_main(["report", str(out)])
    assert CALLS == [] and "## Headline" in (out / "REPORT.md").read_text()
    meta_path = out / "training" / store.META
    if meta_path.is_file():
        import json

        m = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps({**m, "profile": "quick"}))
        assert cli_main(["report", str(out)]) == 2
