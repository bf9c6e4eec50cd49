"""The command line: exit codes, messages naming the bad input, nothing written on bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.framework import cli, store
from benchmarks.framework.cli import main
from benchmarks.framework.config import ConfigError, Reader, load_profile

GOOD = """
[p]
seed = 0
instances = 1
starts = 2
steps = 5
targets = [1e-1]
methods = ["plain", "proxy-1.0"]
optimizers = [{ name = "ascent", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }]
"""


def _bad(tmp_path: Path, text: str, capsys, *extra: str) -> str:
    conf = tmp_path / "c.toml"
    conf.write_text(text)
    out = tmp_path / "out"
    code = main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not out.exists(), "bad input must not create the output directory"
    return err


def test_list_shows_experiments_and_profiles(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy-am" in out and "smoke, quick, full" in out


def test_unknown_experiment_and_profile(tmp_path, capsys):
    assert main(["run", "toy-amm", "--profile", "smoke", "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'toy-am'" in capsys.readouterr().err
    assert main(["run", "toy-am", "--profile", "smok", "--out", str(tmp_path / "o")]) == 2
    assert "unknown profile 'smok'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("old, new, needle", [
    ("steps = 5", "steps = 5\nstepz = 3", "unknown key 'toy-am.stepz'"),
    ('name = "dead_unit"', 'name = "dead_init"', "'dead_init'"),
    ('"proxy-1.0"', '"proxy-one"', "proxy-one"),
    ('name = "ascent"', 'name = "rmsprop"', "'rmsprop'"),
    ("steps = 5", "steps = -5", "steps must be >= 1, got -5"),
    ("steps = 5", 'steps = "5"', "steps must be an integer"),
    ("[p]", "[p", "invalid TOML"),
])
def test_bad_config_exits_2_naming_it(tmp_path, capsys, old, new, needle):
    pytest.importorskip("toy_functions")
    assert needle in _bad(tmp_path, GOOD.replace(old, new), capsys)


def test_bad_device_and_executor(tmp_path, capsys):
    pytest.importorskip("toy_functions")
    assert "device 'tpu'" in _bad(tmp_path, GOOD, capsys, "--device", "tpu")
    assert "executor 'mpi'" in _bad(tmp_path, GOOD, capsys, "--executor", "mpi")


def test_run_report_and_refusals(tmp_path, capsys):
    pytest.importorskip("toy_functions")
    pytest.importorskip("proxygrad.engine")
    conf = tmp_path / "c.toml"
    conf.write_text(GOOD)
    out = tmp_path / "run"
    args = ["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert (out / "records.csv").is_file() and store.read_meta(out)["finished_utc"]
    assert main(args) == 2 and "--resume" in capsys.readouterr().err  # existing run needs --resume
    conf.write_text(GOOD.replace("steps = 5", "steps = 6"))
    assert main(args + ["--resume"]) == 2 and "config hash" in capsys.readouterr().err
    other = tmp_path / "junk"
    other.mkdir()
    (other / "x.txt").write_text("keep me")
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(other)]) == 2
    assert (other / "x.txt").read_text() == "keep me" and len(list(other.iterdir())) == 1
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_delegated_commands_missing_module(capsys):
    def missing():
        raise ImportError("No module named 'benchmarks._no_such_module'")

    assert main(["data", "--data", "/tmp"], {"data": cli.Command("data", missing)}) == 2
    assert "`data` is not available" in capsys.readouterr().err


def test_delegated_commands_pass_arguments():
    seen = {}
    fake = cli.Command("a fake reproduce", lambda: (lambda args: seen.setdefault("args", args) and 0))
    assert main(["reproduce", "--profile", "quick", "--out", "x"], {"reproduce": fake}) == 0
    assert seen["args"] == ["--profile", "quick", "--out", "x"]


def test_the_entry_point_wires_in_the_data_command(capsys):
    """``data`` comes from the layer above the framework (benchmarks/__main__.py); the framework alone has
    no such command."""
    from benchmarks.__main__ import COMMANDS

    assert "data" in COMMANDS and "data" not in cli.BUILTIN
    with pytest.raises(SystemExit) as exc:
        main(["data"])  # the framework alone: an unknown command
    assert exc.value.code == 2 and "invalid choice: 'data'" in capsys.readouterr().err


def test_reader_helpers():
    r = Reader({"a": 1, "b": [0.5, 2], "c": "x", "t": True}, "exp")
    assert r.int("a", min=0) == 1 and r.list("b", float) == (0.5, 2.0) and r.str("c", choices=["x"]) == "x"
    with pytest.raises(ConfigError, match="unknown key 'exp.t'"):
        r.done()
    with pytest.raises(ConfigError, match=r"exp.a must be a number, got True"):
        Reader({"a": True}, "exp").float("a")
    with pytest.raises(ConfigError, match="lists 1 more than once"):
        Reader({"a": [1, 1]}, "exp").list("a", int)
    with pytest.raises(ConfigError, match="must be finite"):
        Reader({"a": float("inf")}, "exp").float("a")
    assert Reader({}, "exp").int("a", 7) == 7
    with pytest.raises(ConfigError, match="no config file"):
        load_profile("nope", "smoke")
