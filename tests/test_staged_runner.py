"""Staged runs: ``cells(cfg, done)`` lists new cells from the stored records of finished ones."""
import sys
import types

import pytest

from benchmarks.framework import runner, store


def _module(name="staged_demo"):
    m = types.ModuleType(name)
    m.NAME = name
    m.TIMING_COLUMNS = ()
    m.BOUNDS = {}
    calls = []

    def cells(cfg, done=None):
        calls.append(None if done is None else len(done))
        out = [runner.Cell(f"tune.{k}", {"k": k}) for k in range(cfg["tune"])]
        if done is not None and len(done):
            best = int(done.loc[done["value"].idxmax(), "k"])
            out.append(runner.Cell(f"eval.{best}", {"k": best, "eval": True}))
        return out

    def run_cell(cfg, cell, ctx):
        k = cell.params["k"]
        return [{"method": "plain", "method_kind": "plain", "method_slope": None, "seed": 0, "k": k,
                 "value": -(k - 1) ** 2, "eval": bool(cell.params.get("eval"))}]

    m.cells, m.run_cell, m.calls = cells, run_cell, calls
    sys.modules[name] = m
    return m


def test_staged_run_appends_cells_chosen_from_stored_records(tmp_path):
    m = _module()
    out = tmp_path / "run"
    path = runner.run(m, {"tune": 3}, out, progress=False)
    df = store.read_csv(path)
    assert list(df["k"]) == [0, 1, 2, 1] and list(df["eval"]) == [False, False, False, True]
    assert store.read_meta(out)["cells"] == ["tune.0", "tune.1", "tune.2", "eval.1"]
    assert m.calls == [None, 3, 4]
    # resuming a finished staged run reruns nothing and rebuilds the same list
    before = path.read_bytes()
    runner.run(m, {"tune": 3}, out, resume=True, progress=False)
    assert path.read_bytes() == before


def test_resume_after_a_lost_evaluation_cell(tmp_path):
    m = _module("staged_demo2")
    out = tmp_path / "run"
    path = runner.run(m, {"tune": 3}, out, progress=False)
    before = path.read_bytes()
    store.marker_path(out, "eval.1").unlink()
    runner.run(m, {"tune": 3}, out, resume=True, progress=False)
    assert path.read_bytes() == before


def test_cells_must_keep_the_earlier_list(tmp_path):
    m = _module("staged_demo3")

    def bad(cfg, done=None):
        return [runner.Cell("a", {"k": 0})] if done is None else [runner.Cell("b", {"k": 0})]

    m.cells = bad
    with pytest.raises(ValueError, match="cells listed so far"):
        runner.run(m, {"tune": 1}, tmp_path / "r", progress=False)


def test_dask_run_opens_one_session_for_all_stages(tmp_path, monkeypatch):
    """Every stage of a staged run maps its cells through the one client of one Dask session."""
    import contextlib

    from benchmarks.framework import dask_executor

    m = _module("staged_demo4")
    sessions, maps = [], []

    @contextlib.contextmanager
    def session(scheduler=None, **_):
        client = object()
        sessions.append((scheduler, client))
        yield client

    def map_cells(run_fn, cells, *, client=None, **_):
        maps.append((client, [c.key for c in cells]))
        return ((c, dask_executor.run_pinned(run_fn, c)) for c in cells)

    monkeypatch.setattr(dask_executor, "session", session)
    monkeypatch.setattr(dask_executor, "map_cells", map_cells)
    serial = runner.run(m, {"tune": 3}, tmp_path / "serial", progress=False)
    path = runner.run(m, {"tune": 3}, tmp_path / "dask", executor="dask", scheduler="tcp://x:1", progress=False)
    assert path.read_bytes() == serial.read_bytes()
    assert len(sessions) == 1 and sessions[0][0] == "tcp://x:1"
    assert [keys for _, keys in maps] == [["tune.0", "tune.1", "tune.2"], ["eval.1"]]
    assert all(client is sessions[0][1] for client, _ in maps)


def test_dask_resume_of_a_finished_run_opens_no_session(tmp_path, monkeypatch):
    """A resume that finds every cell done starts no Dask cluster (and writes the same records)."""
    import contextlib

    from benchmarks.framework import dask_executor

    m = _module("staged_demo5")
    sessions = []

    @contextlib.contextmanager
    def session(scheduler=None, **_):
        sessions.append(scheduler)
        yield object()

    def map_cells(run_fn, cells, *, client=None, **_):
        return ((c, dask_executor.run_pinned(run_fn, c)) for c in cells)

    monkeypatch.setattr(dask_executor, "session", session)
    monkeypatch.setattr(dask_executor, "map_cells", map_cells)
    path = runner.run(m, {"tune": 3}, tmp_path / "run", executor="dask", progress=False)
    assert len(sessions) == 1
    before = path.read_bytes()
    again = runner.run(m, {"tune": 3}, tmp_path / "run", executor="dask", resume=True, progress=False)
    assert len(sessions) == 1, "the resume of a finished run opened a Dask session"
    assert again.read_bytes() == before
