"""A run directory is verifiable: damaged cells, records and meta are detected and named; bad --out is refused.

Covers the framework part of a fresh clone's promises: a truncated, emptied, glued or unmarked cell is
re-run on resume with one line naming it, and refused by ``report`` and ``baseline --from`` (exit 2); a
damaged ``records.csv`` of a committed run (no ``cells/``) is detected through ``meta.json``; a corrupt
``meta.json`` is named; an unusable ``--out`` exits 2 before anything is written.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks.framework import schema, store
from benchmarks.framework.cli import main
from benchmarks.framework.config import ConfigError, config_hash, load_profile
from benchmarks.framework.registry import EXPERIMENTS
from benchmarks.framework.runner import run

FAKE = textwrap.dedent('''
    """A fake experiment: 150 rows of seeded numbers per cell (cell files of about 4 kB)."""
    from dataclasses import dataclass

    import numpy as np
    import pandas as pd

    from benchmarks.framework.runner import Cell

    NAME = "fake-integrity"
    CALLS = []


    @dataclass(frozen=True)
    class Config:
        n_cells: int = 3
        rows: int = 150


    def parse_config(raw):
        return Config(**raw)


    def cells(cfg):
        return [Cell(f"c{i:02d}", {"seed": 7 + i}) for i in range(cfg.n_cells)]


    def run_cell(cfg, cell, ctx):
        CALLS.append(cell.key)
        rng = np.random.default_rng(cell.params["seed"])
        return [{"method": "plain", "method_kind": "plain", "method_slope": None, "seed": cell.params["seed"], "cell": cell.key, "i": i, "x": float(rng.standard_normal())}
                for i in range(cfg.rows)]


    def analyze(records, out):
        return {"n": pd.DataFrame({"rows": [len(records)]})}


    def figures(records, out):
        return []
''')


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "fake_integrity.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(mod_dir))
    sys.modules.pop("fake_integrity", None)
    module = importlib.import_module("fake_integrity")
    monkeypatch.setitem(EXPERIMENTS, module.NAME, "fake_integrity")
    return module


def _run(fake, out: Path, **kw) -> Path:
    return run(fake, fake.parse_config({}), out, progress=False, **kw)


def _damage_ways() -> dict:
    """Ways a cell can be left damaged: (name, function of the cell file)."""
    def truncate(p: Path) -> None:  # as `head -c 3000`
        p.write_bytes(p.read_bytes()[:3000])

    def empty(p: Path) -> None:
        p.write_text("")

    def glue(p: Path) -> None:  # one row's end cut off, the rest glued onto the next row
        lines = p.read_text().split("\n")
        lines[5] = lines[5][:-4] + lines[6]
        del lines[6]
        p.write_text("\n".join(lines))

    def unmark(p: Path) -> None:
        p.with_name(p.stem + store.MARKER_SUFFIX).unlink()

    return {"truncated": truncate, "empty": empty, "glued": glue, "no marker": unmark}


@pytest.mark.parametrize("how", list(_damage_ways()))
def test_resume_reruns_a_damaged_cell_and_says_so(fake, tmp_path, capsys, how):
    ref = tmp_path / "ref"
    _run(fake, ref)
    out = tmp_path / "run"
    _run(fake, out)
    cell = store.cell_path(out, "c01")
    assert len(cell.read_bytes()) > 3000
    _damage_ways()[how](cell)
    assert store.cell_problem(out, "c01") is not None
    assert store.finished_keys(out) == {"c00", "c02"}
    capsys.readouterr()
    fake.CALLS.clear()
    _run(fake, out, resume=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert fake.CALLS == ["c01"]
    assert len(err) == 1 and err[0].startswith("re-running cell c01: ") and str(cell) in err[0]
    assert (out / "records.csv").read_bytes() == (ref / "records.csv").read_bytes()


@pytest.mark.parametrize("how", list(_damage_ways()))
def test_report_refuses_a_damaged_cell_naming_it(fake, tmp_path, capsys, how):
    out = tmp_path / "run"
    _run(fake, out)
    cell = store.cell_path(out, "c02")
    _damage_ways()[how](cell)
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(cell) in err
    assert not (out / "tables").exists(), "a refused report writes nothing"


def test_cell_marker_covers_several_files(tmp_path):
    rows = [{"a": 1, "b": 0.5}]
    arrays = tmp_path / store.CELLS / "k.npz"
    arrays.parent.mkdir(parents=True)
    arrays.write_bytes(b"\x00" * 100)
    store.write_cell(tmp_path, "k", rows, extra_files=[arrays], config_hash="h")
    marker = json.loads(store.marker_path(tmp_path, "k").read_text())
    assert sorted(marker["files"]) == ["k.csv", "k.npz"] and marker["rows"] == 1 and marker["columns"] == ["a", "b"]
    assert store.cell_problem(tmp_path, "k") is None
    arrays.write_bytes(b"\x00" * 99)
    assert str(arrays) in store.cell_problem(tmp_path, "k")


def test_unfinished_run_is_refused(fake, tmp_path, capsys):
    out = tmp_path / "run"
    _run(fake, out)
    meta = store.read_meta(out)
    meta["finished_utc"] = None
    store.write_meta(out, meta)
    assert main(["report", str(out)]) == 2
    assert "unfinished" in capsys.readouterr().err


def _committed_copy(out: Path, dest: Path) -> Path:
    """What git keeps of a run: records.csv and meta.json (cells/ is ignored)."""
    dest.mkdir()
    for name in (store.RECORDS, store.META):
        (dest / name).write_bytes((out / name).read_bytes())
    return dest


def test_committed_run_detects_a_damaged_records_file(fake, tmp_path, capsys):
    out = tmp_path / "run"
    _run(fake, out)
    meta = store.read_meta(out)
    assert meta["records"]["rows"] == 450 and meta["records"]["columns"] == [*schema.header(), "cell", "i", "x"]
    good = _committed_copy(out, tmp_path / "good")
    assert len(store.load_records(good)) == 450
    for name, damage in (("trunc", lambda b: b[:3000]), ("empty", lambda b: b""),
                         ("lost-row", lambda b: b[: b.rindex(b"\n", 0, len(b) - 1) + 1])):
        bad = _committed_copy(out, tmp_path / name)
        (bad / store.RECORDS).write_bytes(damage((bad / store.RECORDS).read_bytes()))
        assert main(["report", str(bad)]) == 2, name
        assert str(bad / store.RECORDS) in capsys.readouterr().err


def test_legacy_meta_without_records_entry_still_loads_with_a_warning(fake, tmp_path, capsys):
    out = tmp_path / "run"
    _run(fake, out)
    legacy = _committed_copy(out, tmp_path / "legacy")
    meta = store.read_meta(legacy)
    del meta["records"]
    store.write_meta(legacy, meta)
    capsys.readouterr()
    assert len(store.load_records(legacy)) == 450
    assert "no completeness record" in capsys.readouterr().err
    text = (legacy / store.RECORDS).read_text().split("\n")  # a glued row is still caught by the CSV check
    text[3] = text[3][:-5] + text[4]
    del text[4]
    (legacy / store.RECORDS).write_text("\n".join(text))
    with pytest.raises(store.RunDirError, match="fields"):
        store.load_records(legacy)


def test_committed_quick_runs_still_load():
    root = Path(__file__).resolve().parents[1] / "results" / "quick"
    for d in sorted(p for p in root.iterdir() if (p / store.META).is_file()):
        assert len(store.load_records(d)) > 0, d


def test_corrupt_meta_json_is_named(fake, tmp_path, capsys):
    out = tmp_path / "run"
    _run(fake, out)
    (out / store.META).write_text('{"experiment": "fake-integ')
    assert main(["report", str(out)]) == 2
    assert str(out / store.META) in capsys.readouterr().err
    with pytest.raises(store.RunDirError, match="meta.json"):
        _run(fake, out, resume=True)
    (out / store.META).write_text("[1, 2]")
    with pytest.raises(store.RunDirError, match="JSON object"):
        store.read_meta(out)


def test_baseline_from_refuses_a_damaged_run(tmp_path, capsys):
    cfg_hash = config_hash(importlib.import_module("benchmarks.experiments.toy_am.experiment").parse_config(
        load_profile("toy-am", "smoke")))
    out = tmp_path / "run"
    store.write_cell(out, "a", [{"x": 1.0}] * 200, config_hash=cfg_hash)
    store.merge_records(out, ["a"])
    store.write_meta(out, {"experiment": "toy-am", "config_hash": cfg_hash, "cells": ["a"],
                           "finished_utc": "2026-01-01T00:00:00Z", "records": store.records_record(out)})
    cell = store.cell_path(out, "a")
    cell.write_bytes(cell.read_bytes()[:500])
    assert main(["baseline", "toy-am", "--profile", "smoke", "--from", str(out)]) == 2
    assert str(cell) in capsys.readouterr().err


# ----------------------------------------------------------------------------------- unusable --out
def _run_cli(out: Path) -> tuple[int, str]:
    import io
    from contextlib import redirect_stderr

    buf = io.StringIO()
    with redirect_stderr(buf):
        code = main(["run", "toy-am", "--profile", "smoke", "--out", str(out), "--no-progress"])
    return code, buf.getvalue()


def test_out_that_is_a_file_or_under_a_file_exits_2(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out in (afile, afile / "sub", afile / "sub" / "deeper"):
        code, err = _run_cli(out)
        assert code == 2, err
        assert str(out) in err and "Traceback" not in err
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_unwritable_out_exits_2(tmp_path):
    if os.geteuid() == 0:  # root ignores permissions: a path no one can create stands in
        out = Path("/proc/proxygrad-bench-out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out = locked / "run"
    try:
        code, err = _run_cli(out)
    finally:
        if os.geteuid() != 0:
            (tmp_path / "locked").chmod(0o700)
    assert code == 2, err
    assert str(out) in err and not out.exists()


def test_check_out_accepts_new_and_existing_dirs(tmp_path):
    from benchmarks.framework.runner import check_out

    assert check_out(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert check_out(tmp_path) == tmp_path
    with pytest.raises(ConfigError, match="existing file"):
        (tmp_path / "f").write_text("")
        check_out(tmp_path / "f")


def test_reproduce_refuses_an_unusable_out(tmp_path, capsys):
    from benchmarks.framework import reproduce

    (tmp_path / "f").write_text("")
    assert reproduce.main(["--profile", "smoke", "--out", str(tmp_path / "f" / "x")]) == 2
    assert str(tmp_path / "f") in capsys.readouterr().err
