"""Declared certified bounds: exact comparison, and a violation fails run, report, check and reproduce."""
from __future__ import annotations

import importlib
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import bounds, store
from benchmarks.framework.cli import main
from benchmarks.framework.registry import EXPERIMENTS
from benchmarks.framework.runner import BOUND_VIOLATIONS, run

ROOT = Path(__file__).resolve().parents[1]

FAKE = textwrap.dedent('''
    """A fake experiment whose cell c01 holds one record one ulp above its bound (when over = true)."""
    from dataclasses import dataclass

    import numpy as np
    import pandas as pd

    from benchmarks.framework.runner import Cell

    NAME = "fake-bounds"
    BOUNDS = {"f_best": ("f_star", ("unit", "start"))}
    TIMING_COLUMNS = ()


    @dataclass(frozen=True)
    class Config:
        over: bool = True


    def parse_config(raw, data_dir=None):
        return Config(**raw)


    def cells(cfg):
        return [Cell(f"c{i:02d}", {"i": i}) for i in range(3)]


    def run_cell(cfg, cell, ctx):
        rows = []
        for s in range(2):
            star = 0.8668811230108956
            best = float(np.nextafter(star, np.inf)) if cfg.over and cell.key == "c01" and s == 1 else star
            rows.append({"method": "plain", "method_kind": "plain", "method_slope": None, "seed": 0, "unit": f"u{cell.params['i']}", "start": s, "f_best": best, "f_star": star})
        return rows


    def analyze(records, out):
        return {"n": pd.DataFrame({"rows": [len(records)]})}


    def figures(records, out):
        return []


    def summarize(records):
        return {}


    def claims(records):
        return []
''')


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "fake_bounds.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(mod_dir))
    sys.modules.pop("fake_bounds", None)
    module = importlib.import_module("fake_bounds")
    monkeypatch.setitem(EXPERIMENTS, module.NAME, "fake_bounds")
    conf = tmp_path / "fake.toml"
    conf.write_text("[over]\nover = true\n[within]\nover = false\n")
    return module, conf


def test_comparison_is_exact():
    star = 0.8668811230108956
    up = float(np.nextafter(star, np.inf))
    df = pd.DataFrame({"u": ["a", "b", "c", "d", "e"], "v": [star, up, 5.0, math.nan, math.nan],
                       "b": [star, star, math.nan, 1.0, math.nan]})
    table = bounds.violations(df, {"v": ("b", ("u",))})
    assert list(table["unit"]) == ["u=b", "u=d"]  # equal is fine, one ulp is not; no bound, no check
    assert table["excess"].iloc[0] > 0


def test_declaration_shape_is_checked():
    bad = type("M", (), {"NAME": "m", "BOUNDS": {"f_best": "f_star"}})
    with pytest.raises(ValueError, match="BOUNDS must map"):
        bounds.declared(bad)
    assert bounds.declared(type("N", (), {})) == {}
    with pytest.raises(ValueError, match="'nope'"):
        bounds.violations(pd.DataFrame({"v": [1.0]}), {"v": ("nope", ())})


def test_run_fails_naming_the_unit_after_completing_the_run(fake, tmp_path):
    module, _ = fake
    out = tmp_path / "run"
    with pytest.raises(bounds.BoundViolationError) as info:
        run(module, module.parse_config({}), out, progress=False)
    assert info.value.lines[0].startswith(f"BOUND VIOLATION in {out}: unit=u1 start=1: f_best=")
    assert "> f_star=0.8668811230108956" in info.value.lines[0]
    meta = store.read_meta(out)
    assert meta["finished_utc"] and meta["bound_violations"] == 1
    assert "unit=u1 start=1" in (out / BOUND_VIOLATIONS).read_text()
    run(module, module.parse_config({"over": False}), tmp_path / "ok", progress=False)  # within: no error
    assert store.read_meta(tmp_path / "ok")["bound_violations"] == 0


def test_cli_run_and_report_exit_1_and_name_the_unit(fake, tmp_path, capsys):
    _, conf = fake
    out = tmp_path / "run"
    assert main(["run", "fake-bounds", "--profile", "over", "--config", str(conf), "--out", str(out),
                 "--no-progress"]) == 1
    assert "unit=u1 start=1" in capsys.readouterr().err
    assert main(["report", str(out)]) == 1
    cap = capsys.readouterr()
    assert "BOUND VIOLATION" in cap.err and "unit=u1 start=1" in cap.err
    table = (out / "tables" / "BOUND_VIOLATIONS.md").read_text()
    assert "unit=u1 start=1" in table
    # a committed copy (records.csv + meta.json only) fails the same way
    committed = tmp_path / "committed"
    committed.mkdir()
    for name in (store.RECORDS, store.META):
        (committed / name).write_bytes((out / name).read_bytes())
    assert main(["report", str(committed)]) == 1
    assert "unit=u1 start=1" in capsys.readouterr().err

    ok = tmp_path / "ok"
    assert main(["run", "fake-bounds", "--profile", "within", "--config", str(conf), "--out", str(ok),
                 "--no-progress"]) == 0
    assert main(["report", str(ok)]) == 0
    assert not (ok / "tables" / "BOUND_VIOLATIONS.md").exists()


def test_check_fails_on_a_bound_violation(monkeypatch, capsys):
    from benchmarks.framework import baseline

    table = pd.DataFrame([{"value_column": "f_best", "value": 2.0, "bound_column": "f_star", "bound": 1.0,
                           "excess": 1.0, "unit": "family=x"}])

    def violating(*a, **k):
        raise bounds.BoundViolationError(bounds.describe(table, "rerun"), table)

    monkeypatch.setattr(baseline, "measure", violating)
    assert main(["check", "toy-am", "--profile", "smoke"]) == 1
    cap = capsys.readouterr()
    assert "family=x" in cap.err and "FAILED" in cap.out


@pytest.mark.parametrize("name", ["toy_am", "cnn_am", "training"])
def test_experiments_declare_their_bounds_on_columns_they_write(name):
    module = importlib.import_module(f"benchmarks.experiments.{name}.experiment")
    declared = bounds.declared(module)
    expected = {"toy_am": {"f_best": "f_star"}, "cnn_am": {"f_best": "upper_bound"}, "training": {}}[name]
    assert {v: b for v, (b, _) in declared.items()} == expected
    records = ROOT / "results" / "quick" / module.NAME / store.RECORDS
    if declared and records.is_file():
        header = records.read_text(encoding="utf-8").partition("\n")[0].split(",")
        for value_col, (bound_col, unit_cols) in declared.items():
            assert {value_col, bound_col, *unit_cols} <= set(header)
