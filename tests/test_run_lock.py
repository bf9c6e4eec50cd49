"""One run per directory (issue 31, probe 7): a run holds ``run.lock`` (pid, host) while it writes; a
second run on the directory exits 2 naming the holder; a stale lock of a dead process on this host is
taken over with one line; the lock goes away when the run ends, also when it fails."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks.framework import lock, store
from benchmarks.framework.cli import main
from benchmarks.framework.config import load_profile
from benchmarks.framework.runner import run

pytest.importorskip("toy_functions")

CONF = textwrap.dedent("""
    [p]
    seed = 0
    instances = 1
    starts = 2
    steps = 5
    targets = [1e-1]
    methods = ["plain"]
    optimizers = [{ name = "ascent", lr = 0.05 }]
    families = [{ name = "dead_unit", dims = [2] }]
""")


@pytest.fixture()
def args(tmp_path: Path) -> list[str]:
    conf = tmp_path / "c.toml"
    conf.write_text(CONF)
    return ["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(tmp_path / "run"), "--no-progress"]


def _write_lock(out: Path, pid: int, host: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = lock.lock_path(out)
    path.write_text(json.dumps({"pid": pid, "host": host, "started_utc": "2026-01-01T00:00:00Z"}))
    return path


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def test_a_second_run_on_a_locked_directory_exits_2_naming_the_holder(args, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = _write_lock(out, holder.pid, socket.gethostname())
        for extra in ([], ["--resume"]):
            assert main(args + extra) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "Traceback" not in err[0]
            assert f"process {holder.pid} on host {socket.gethostname()}" in err[0] and str(path) in err[0]
        assert sorted(p.name for p in out.iterdir()) == [store.LOCK], "the refused run wrote nothing"
        assert json.loads(path.read_text())["pid"] == holder.pid, "the holder's lock is left alone"
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_of_another_host_is_respected(args, tmp_path, capsys):
    _write_lock(tmp_path / "run", 1, "some-other-host")
    assert main(args) == 2
    assert "process 1 on host some-other-host" in capsys.readouterr().err


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_one_line(args, tmp_path, capsys):
    out = tmp_path / "run"
    dead = _dead_pid()
    path = _write_lock(out, dead, socket.gethostname())
    assert main(args) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"taking over the stale lock {path}: process {dead} on host {socket.gethostname()} is no "
                   f"longer running"]
    assert not path.exists() and store.read_meta(out)["finished_utc"]


def test_the_lock_names_this_process_while_the_run_writes_and_goes_away_after(args, tmp_path, monkeypatch):
    from benchmarks.experiments.toy_am import experiment as toy

    out = tmp_path / "run"
    seen = []
    real = toy.run_cell

    def spy(cfg, cell, ctx):
        seen.append(json.loads(lock.lock_path(ctx.out_dir).read_text()))
        return real(cfg, cell, ctx)

    monkeypatch.setattr(toy, "run_cell", spy)
    assert main(args) == 0
    assert seen and seen[0]["pid"] == os.getpid() and seen[0]["host"] == socket.gethostname()
    assert not lock.lock_path(out).exists()

    def boom(cfg, cell, ctx):
        raise RuntimeError("cell failed")

    monkeypatch.setattr(toy, "run_cell", boom)
    failed = tmp_path / "failed"
    with pytest.raises(RuntimeError):
        run(toy, toy.parse_config(load_profile("toy-am", "p", config_file=Path(args[5]))), failed, progress=False)
    assert store.read_meta(failed)["finished_utc"] is None and not lock.lock_path(failed).exists()


def test_a_refused_run_leaves_no_directory_and_no_lock(args, tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.txt").write_text("keep me")
    assert main(args[:-2] + [str(junk), "--no-progress"]) == 2
    assert sorted(p.name for p in junk.iterdir()) == ["x.txt"]
    nested = tmp_path / "new" / "deeper"
    conf = Path(args[5])
    conf.write_text(CONF.replace("steps = 5", "steps = -5"))
    assert main(args[:-2] + [str(nested), "--no-progress"]) == 2
    assert not (tmp_path / "new").exists()


def test_two_real_runs_at_once_one_is_refused(tmp_path):
    """Two processes start a run on the same directory at the same time: exactly one of them runs it."""
    conf = tmp_path / "c.toml"
    conf.write_text(CONF.replace("steps = 5", "steps = 400").replace("instances = 1", "instances = 3"))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "benchmarks", "run", "toy-am", "--profile", "p", "--config", str(conf), "--out",
           str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "in use: process" in refused or "exists and is not empty" in refused, refused
    assert not lock.lock_path(out).exists() and store.read_meta(out)["finished_utc"]


def test_reproduce_on_a_locked_out_exits_2_naming_the_holder(tmp_path, capsys):
    from benchmarks.framework import reproduce

    out = tmp_path / "results"
    path = _write_lock(out, 1, "some-other-host")
    assert reproduce.main(["--profile", "smoke", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "process 1 on host some-other-host" in err[0] and str(path) in err[0]
    assert sorted(p.name for p in out.iterdir()) == [store.LOCK]
