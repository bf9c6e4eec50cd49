"""The run store and the runner on a tiny fake experiment: atomic cells, merge order, meta, resume, kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.framework import store
from benchmarks.framework.config import ConfigError, config_hash
from benchmarks.framework.runner import RunContext, run

ROOT = Path(__file__).resolve().parents[1]

FAKE = textwrap.dedent('''
    """A fake experiment for the framework tests: rows of seeded random numbers."""
    import time
    from dataclasses import dataclass

    import numpy as np

    from benchmarks.framework.runner import Cell

    NAME = "fake"
    CALLS = []


    @dataclass(frozen=True)
    class Config:
        n_cells: int
        rows: int
        delay: float = 0.0


    def parse_config(raw):
        return Config(**raw)


    def cells(cfg):
        return [Cell(f"c{i:02d}", {"seed": 100 + i}) for i in range(cfg.n_cells)]


    def run_cell(cfg, cell, ctx):
        CALLS.append(cell.key)
        time.sleep(cfg.delay)
        rng = np.random.default_rng(cell.params["seed"])
        return [{"method": "plain", "method_kind": "plain", "method_slope": None, "seed": cell.params["seed"], "cell": cell.key, "i": i, "x": float(rng.standard_normal()),
                 "tag": {"s": cell.params["seed"]},
                 "maybe": float("nan") if i == 0 else 1.0 / 3.0}
                for i in range(cfg.rows)]
''')


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "fake_exp.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(mod_dir))
    import importlib

    sys.modules.pop("fake_exp", None)
    module = importlib.import_module("fake_exp")
    module.CALLS.clear()
    return module


def test_rows_to_csv_round_trips_floats_bitwise(tmp_path):
    xs = [0.1, 1 / 3, 2.0 ** -1074, 1e308, -0.0, 123456789.123456789]
    rows = [{"k": i, "x": x} for i, x in enumerate(xs)]
    store.write_cell(tmp_path, "a", rows, config_hash="h")
    back = store.read_csv(store.cell_path(tmp_path, "a"))
    assert [float(v).hex() for v in back["x"]] == [x.hex() for x in xs]


def test_rows_must_share_columns_and_keys_must_be_safe(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        store.rows_to_csv([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="invalid cell key"):
        store.cell_path(tmp_path, "../evil")


def test_run_writes_cells_records_and_meta(fake, tmp_path):
    cfg = fake.parse_config({"n_cells": 3, "rows": 4})
    out = tmp_path / "run"
    records = run(fake, cfg, out, progress=False, profile="smoke")
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(
        [f"c0{i}.csv" for i in range(3)] + [f"c0{i}.done.json" for i in range(3)])
    df = store.read_csv(records)
    assert list(df["cell"]) == ["c00"] * 4 + ["c01"] * 4 + ["c02"] * 4
    assert df["maybe"].isna().sum() == 3
    assert json.loads(df["tag"][0]) == {"s": 100}
    meta = store.read_meta(out)
    assert meta["experiment"] == "fake" and meta["profile"] == "smoke"
    assert meta["config_hash"] == config_hash(cfg) and meta["config"] == {"n_cells": 3, "rows": 4, "delay": 0.0}
    assert meta["cells"] == ["c00", "c01", "c02"]
    assert meta["finished_utc"] is not None and meta["started_utc"] <= meta["finished_utc"]
    for k in ("python", "torch", "numpy", "scipy"):
        assert meta["versions"][k]
    assert meta["git_commit"] and meta["machine"]["cpu_count"] >= 1


def test_merge_follows_canonical_order_not_finish_order(fake, tmp_path):
    cfg = fake.parse_config({"n_cells": 3, "rows": 2})
    out = tmp_path / "run"
    run(fake, cfg, out, progress=False)
    first = (out / "records.csv").read_bytes()
    # Rewrite the cells in reverse order (newest mtime first); the merge must not care.
    for key in ["c02", "c01", "c00"]:
        store.write_cell(out, key, store.read_csv(store.cell_path(out, key)).to_dict("records"))
    store.merge_records(out, ["c00", "c01", "c02"])
    assert (out / "records.csv").read_bytes() == first


def test_resume_skips_finished_cells_and_matches_uninterrupted(fake, tmp_path):
    cfg = fake.parse_config({"n_cells": 4, "rows": 3})
    full = tmp_path / "full"
    run(fake, cfg, full, progress=False)
    part = tmp_path / "part"
    run(fake, cfg, part, progress=False)
    for key in ("c01", "c03"):
        store.cell_path(part, key).unlink()
    (part / "records.csv").unlink()
    fake.CALLS.clear()
    run(fake, cfg, part, resume=True, progress=False)
    assert fake.CALLS == ["c01", "c03"]
    assert (part / "records.csv").read_bytes() == (full / "records.csv").read_bytes()
    assert len(store.read_meta(part)["resumed_utc"]) == 1


def test_existing_dir_without_resume_and_changed_config_are_refused(fake, tmp_path):
    cfg = fake.parse_config({"n_cells": 2, "rows": 1})
    out = tmp_path / "run"
    run(fake, cfg, out, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="not empty"):
        run(fake, cfg, out, progress=False)
    other = fake.parse_config({"n_cells": 2, "rows": 5})
    with pytest.raises(ConfigError, match="config hash"):
        run(fake, other, out, resume=True, progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_bad_executor_and_device_write_nothing(fake, tmp_path):
    cfg = fake.parse_config({"n_cells": 1, "rows": 1})
    with pytest.raises(ConfigError, match="executor 'spark'"):
        run(fake, cfg, tmp_path / "a", executor="spark", progress=False)
    with pytest.raises(ConfigError, match="device 'tpu'"):
        run(fake, cfg, tmp_path / "b", device="tpu", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_run_context_defaults():
    ctx = RunContext()
    assert ctx.device == "cpu" and ctx.progress is False and ctx.out_dir is None


SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path
    import fake_exp
    from benchmarks.framework.runner import run
    cfg = fake_exp.parse_config({"n_cells": 10, "rows": 5, "delay": 0.2})
    run(fake_exp, cfg, Path(sys.argv[1]), resume=len(sys.argv) > 2, progress=False)
''')


def test_killed_run_resumes_to_identical_records(fake, tmp_path):
    script = tmp_path / "go.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'mods'}{os.pathsep}{ROOT}")
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(store.finished_keys(out)) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(store.finished_keys(out))
    assert 3 <= n_done < 10, n_done
    assert not (out / "records.csv").exists()
    fake.CALLS.clear()
    run(fake, fake.parse_config({"n_cells": 10, "rows": 5, "delay": 0.2}), out, resume=True, progress=False)
    assert len(fake.CALLS) == 10 - n_done  # only the cells lost with the kill are run again
    cfg = fake.parse_config({"n_cells": 10, "rows": 5, "delay": 0.0})
    ref = tmp_path / "ref"
    run(fake, cfg, ref, progress=False)
    assert (out / "records.csv").read_bytes() == (ref / "records.csv").read_bytes()
    assert np.isfinite(store.read_csv(out / "records.csv")["x"]).all()


def test_git_commit_is_unknown_when_git_cannot_report_the_tree(monkeypatch, tmp_path):
    """A failing ``git status`` must not read as a clean tree, and a directory outside git is unknown."""
    import subprocess

    from benchmarks.framework import meta

    assert meta.git_commit(tmp_path) == "unknown"
    real_run = subprocess.run

    def failing_status(args, **kw):
        if args[:2] == ["git", "status"]:
            return subprocess.CompletedProcess(args, 128, stdout="", stderr="fatal: index file corrupt")
        return real_run(args, **kw)

    monkeypatch.setattr(meta.subprocess, "run", failing_status)
    assert meta.git_commit() == "unknown"
