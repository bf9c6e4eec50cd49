"""Every file knows what it belongs to (issue 31): each probe of the issue, through the command line.

1. ``check`` with a baseline of another profile or experiment exits 2 before any run, naming both.
2. A baseline edited to name another experiment and profile is refused the same way.
3. A cell copied in from a run of another config is re-run by ``run --resume`` (one line naming the
   cell) and refused by ``report`` (naming the cell's marker), never merged into the records.
4. A damaged or missing ``records.csv`` rebuilt from intact cells says so, in ``report``,
   ``baseline --from`` and ``run --resume``.
5. A missing ``meta.json`` is named by ``run --resume``, ``report``, ``baseline --from`` and ``leaderboard``.
6. ``leaderboard --out FILE`` (an existing file) is one error line with exit 2, not a traceback.
7. A run directory is locked while a run writes into it (see also tests/test_run_lock.py).
Every error of the command line is one line on stderr with exit 2, and nothing is run before it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.framework import baseline, store
from benchmarks.framework.cli import main

pytest.importorskip("toy_functions")
pytest.importorskip("proxygrad.engine")

PROFILE = """
[PROFILE]
seed = 0
instances = 1
starts = STARTS
steps = 5
targets = [1e-1]
methods = ["plain", "proxy-1.0"]
optimizers = [{ name = "ascent", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }]
"""
CELL = "dead_unit.d2.s0"


@pytest.fixture()
def conf(tmp_path: Path) -> Path:
    """Two toy-am profiles of one cell each: ``p`` (2 starts) and ``q`` (3 starts)."""
    path = tmp_path / "toy.toml"
    path.write_text(PROFILE.replace("PROFILE", "p").replace("STARTS", "2")
                    + PROFILE.replace("PROFILE", "q").replace("STARTS", "3"))
    return path


def _run(conf: Path, profile: str, out: Path, *extra: str) -> int:
    return main(["run", "toy-am", "--profile", profile, "--config", str(conf), "--out", str(out), "--no-progress",
                 *extra])


def _one_error_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """The single stderr line of a refused command; it must contain every needle and no traceback."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture()
def no_measure(monkeypatch: pytest.MonkeyPatch):
    """Call it to make running a profile fail the test: ``check`` must refuse a foreign baseline first."""
    def refuse(*a, **k):
        raise AssertionError("check ran the profile before refusing the baseline")

    return lambda: monkeypatch.setattr(baseline, "measure", refuse)


def _make_baseline(conf: Path, profile: str, path: Path) -> dict:
    assert main(["baseline", "toy-am", "--profile", profile, "--config", str(conf), "--baseline", str(path),
                 "--update"]) == 0
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------- 1, 2: baselines
def test_check_refuses_a_baseline_of_another_profile_or_experiment(conf, tmp_path, capsys, no_measure,
                                                                   fashion_mnist_dir):
    q = tmp_path / "q.json"
    doc = _make_baseline(conf, "q", q)
    no_measure()
    capsys.readouterr()
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(q)]) == 2
    _one_error_line(capsys, str(q), "toy-am/q", "not of toy-am/p", doc["config_hash"][:12])
    # a toy-am baseline given to check cnn-am
    assert main(["check", "cnn-am", "--profile", "smoke", "--baseline", str(q), "--data", str(fashion_mnist_dir)]) == 2
    _one_error_line(capsys, "toy-am/q", "not of cnn-am/smoke")


def test_check_refuses_an_edited_identity(conf, tmp_path, capsys, no_measure, monkeypatch):
    p = tmp_path / "p.json"
    doc = _make_baseline(conf, "p", p)
    no_measure()
    p.write_text(json.dumps({**doc, "experiment": "cnn-am", "profile": "full"}))
    capsys.readouterr()
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(p)]) == 2
    _one_error_line(capsys, "cnn-am/full", "not of toy-am/p")
    p.write_text(json.dumps({**doc, "config_hash": "0" * 64}))
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(p)]) == 2
    _one_error_line(capsys, "000000000000", doc["config_hash"][:12], "config changed")
    p.write_text(json.dumps({k: v for k, v in doc.items() if k != "profile"}))
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(p)]) == 2
    _one_error_line(capsys, "does not record the profile")
    # --update does not overwrite a file of another experiment or profile
    monkeypatch.undo()
    p.write_text(json.dumps({**doc, "profile": "q"}))
    assert main(["baseline", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(p),
                 "--update"]) == 2
    _one_error_line(capsys, "toy-am/q", "not of toy-am/p")
    assert json.loads(p.read_text())["profile"] == "q"


def test_check_passes_its_own_baseline(conf, tmp_path, capsys):
    p = tmp_path / "p.json"
    doc = _make_baseline(conf, "p", p)
    assert {doc["experiment"], doc["profile"]} == {"toy-am", "p"} and len(doc["config_hash"]) == 64
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(p)]) == 0
    assert "OK: toy-am/p" in capsys.readouterr().out


# --------------------------------------------------------------------------- 3: a cell of another run
def test_a_cell_of_another_config_is_rerun_on_resume_and_refused_by_report(conf, tmp_path, capsys):
    p, q = tmp_path / "p", tmp_path / "q"
    assert _run(conf, "p", p) == 0 and _run(conf, "q", q) == 0
    assert len(store.load_records(q)) == 6  # 2 methods x 3 starts, against p's 2 x 2
    for path in (q / store.CELLS).glob(f"{CELL}.*"):  # csv, npz and marker: a self-consistent cell
        shutil.copy(path, p / store.CELLS / path.name)
    capsys.readouterr()
    marker = store.marker_path(p, CELL)
    assert main(["report", str(p)]) == 2
    _one_error_line(capsys, str(marker), f"cell {CELL}", "another run")
    assert not (p / "tables").exists()
    assert _run(conf, "p", p, "--resume") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if line.startswith("re-running")] == [err[0]]
    assert err[0].startswith(f"re-running cell {CELL}: ") and "config hash" in err[0]
    rec = store.load_records(p)  # the run's own rows, not the copied ones
    assert len(rec) == 4 and sorted(set(rec["start"])) == [0, 1]
    assert main(["report", str(p)]) == 0


def test_a_legacy_marker_in_a_new_run_is_named_as_damaged(conf, tmp_path, capsys):
    p = tmp_path / "p"
    assert _run(conf, "p", p) == 0
    marker = store.marker_path(p, CELL)
    record = json.loads(marker.read_text())
    assert record["format"] == store.MARKER_FORMAT and record["key"] == CELL
    assert record["config_hash"] == store.read_meta(p)["config_hash"]
    del record["config_hash"]
    marker.write_text(json.dumps({**record, "format": store.LEGACY_MARKER_FORMAT}))
    capsys.readouterr()
    assert main(["report", str(p)]) == 2
    _one_error_line(capsys, str(marker), "format-1")


def test_legacy_markers_of_a_legacy_run_still_load(conf, tmp_path):
    p = tmp_path / "p"
    assert _run(conf, "p", p) == 0
    meta = store.read_meta(p)
    del meta["marker_format"]  # a run started before markers carried their identity
    store.write_meta(p, meta)
    marker = store.marker_path(p, CELL)
    record = json.loads(marker.read_text())
    del record["config_hash"]
    marker.write_text(json.dumps({**record, "format": store.LEGACY_MARKER_FORMAT}))
    assert len(store.load_records(p)) == 4


# ----------------------------------------------------------------------------- 4: repairs say so
@pytest.mark.parametrize("damage", ["garbled", "missing"])
def test_a_rebuilt_records_file_says_so_in_every_command(conf, tmp_path, capsys, damage):
    p = tmp_path / "p"
    assert _run(conf, "p", p) == 0
    records = p / store.RECORDS
    good = records.read_bytes()
    why = "differed from its cells" if damage == "garbled" else "it was missing"

    def spoil() -> None:
        if damage == "garbled":
            records.write_bytes(good[:-40] + b"x" * 40)
        else:
            records.unlink()

    commands = {
        "report": ["report", str(p)],
        "baseline --from": ["baseline", "toy-am", "--profile", "p", "--config", str(conf), "--from", str(p),
                            "--baseline", str(tmp_path / "b.json")],
        "run --resume": ["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(p), "--resume",
                         "--no-progress"],
    }
    for name, args in commands.items():
        spoil()
        capsys.readouterr()
        assert main(args) == 0, name
        err = capsys.readouterr().err
        assert f"rebuilt {records} from its 1 cells: " in err and why in err, (name, err)
        assert records.read_bytes() == good
    capsys.readouterr()
    assert main(["report", str(p)]) == 0
    assert "rebuilt" not in capsys.readouterr().err  # an intact file is neither rewritten nor announced


# ----------------------------------------------------------------- 5, 6: errors name their file
def test_a_missing_meta_json_is_named_by_every_command(conf, tmp_path, capsys):
    p = tmp_path / "p"
    assert _run(conf, "p", p) == 0
    (p / store.META).unlink()
    capsys.readouterr()
    meta = str(p / store.META)
    assert _run(conf, "p", p, "--resume") == 2
    _one_error_line(capsys, meta, "missing")
    assert _run(conf, "p", p) == 2
    _one_error_line(capsys, str(p), store.META)
    assert main(["report", str(p)]) == 2
    _one_error_line(capsys, str(p), store.META)
    assert main(["baseline", "toy-am", "--profile", "p", "--config", str(conf), "--from", str(p)]) == 2
    _one_error_line(capsys, meta)
    assert main(["leaderboard", str(p), "--out", str(tmp_path / "lb")]) == 2
    _one_error_line(capsys, str(p))
    assert sorted(x.name for x in p.iterdir()) == ["cells", store.RECORDS], "a refused command writes nothing"


def test_leaderboard_out_an_existing_file_is_one_error_line(conf, tmp_path, capsys):
    p = tmp_path / "p"
    assert _run(conf, "p", p) == 0
    afile = tmp_path / "LEADERBOARD"
    afile.write_text("keep me")
    capsys.readouterr()
    assert main(["leaderboard", str(p), "--out", str(afile)]) == 2
    _one_error_line(capsys, str(afile), "existing file")
    assert afile.read_text() == "keep me"
    assert main(["leaderboard", str(p), "--out", str(afile / "sub")]) == 2
    _one_error_line(capsys, str(afile))


def test_check_with_a_missing_or_damaged_baseline_names_it(conf, tmp_path, capsys, no_measure):
    no_measure()
    missing = tmp_path / "none.json"
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(missing)]) == 2
    _one_error_line(capsys, str(missing))
    bad = tmp_path / "bad.json"
    bad.write_text('{"metrics": {')
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(bad)]) == 2
    _one_error_line(capsys, str(bad), "invalid JSON")
