"""The Dask executor on a tiny fake experiment defined here (no dependence on real experiments)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import pytest
import torch

from benchmarks.framework import dask_executor as dx
from benchmarks.framework import store
from benchmarks.framework.store import rows_to_csv


@dataclass(frozen=True)
class FakeCell:
    key: str
    params: dict


CELLS = [FakeCell(f"seed={s}", {"seed": s}) for s in range(6)]


def fake_run_cell(cell: FakeCell) -> list[dict]:
    """A training-like cell: weight gradients of a small CNN (their bits depend on the thread count)."""
    g = torch.Generator().manual_seed(cell.params["seed"])
    conv = torch.nn.Conv2d(1, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=g))
    x = torch.randn(32, 1, 16, 16, generator=g)
    conv(x).relu().square().mean().backward()
    return [{"seed": cell.params["seed"], "i": i, "grad": float(v), "threads": torch.get_num_threads(),
             "pid": os.getpid()} for i, v in enumerate(conv.weight.grad.flatten()[:5])]


def failing_run_cell(cell: FakeCell) -> list[dict]:
    """Fails on one cell."""
    if cell.params["seed"] == 2:
        raise ArithmeticError("boom in cell 2")
    return [{"seed": cell.params["seed"]}]


def _csv(results: dict[str, list[dict]]) -> str:
    """Records of all cells in canonical cell order, without the process id."""
    rows = [{k: v for k, v in r.items() if k != "pid"} for c in CELLS for r in results[c.key]]
    return rows_to_csv(rows)


def _serial() -> dict[str, list[dict]]:
    return {c.key: dx.run_pinned(fake_run_cell, c) for c in CELLS}


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with dx.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="0"):
        with dx.torch_threads(0):
            pass


def test_fake_cell_bits_depend_on_the_thread_count():
    """The premise of pinning: the same cell under 1 and 2 torch threads gives different float bits."""
    one = [r["grad"] for c in CELLS for r in dx.run_pinned(fake_run_cell, c, 1)]
    two = [r["grad"] for c in CELLS for r in dx.run_pinned(fake_run_cell, c, 2)]
    assert one != two


def test_run_pinned_runs_under_cell_threads():
    rows = dx.run_pinned(fake_run_cell, CELLS[0])
    assert {r["threads"] for r in rows} == {dx.CELL_THREADS}
    assert [r["i"] for r in rows] == list(range(5))


@pytest.mark.parametrize("kwargs, bad", [
    ({"scheduler": ""}, "''"),
    ({"scheduler": 8786}, "8786"),
    ({"threads": 0}, "0"),
    ({"n_workers": -1}, "-1"),
])
def test_bad_arguments_raise_before_anything_starts(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        dx.map_cells(fake_run_cell, CELLS, **kwargs)


def test_duplicate_or_missing_keys_raise():
    with pytest.raises(ValueError, match="duplicate cell key 'seed=0'"):
        dx.map_cells(fake_run_cell, [CELLS[0], CELLS[0]])
    with pytest.raises(ValueError, match="string .key"):
        dx.map_cells(fake_run_cell, [object()])


def test_no_cells_starts_nothing():
    assert list(dx.map_cells(fake_run_cell, [])) == []


def _children() -> set[int]:
    """Our spawned worker processes (not multiprocessing's long-lived resource tracker)."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())}


@pytest.mark.slow
def test_local_cluster_records_identical_to_serial():
    before = _children()
    results, during = {}, set()
    with contextlib.closing(dx.map_cells(fake_run_cell, CELLS)) as stream:
        for cell, rows in stream:
            results[cell.key] = rows
            during |= _children() - before
    assert during  # worker processes ran the cells ...
    assert not during & _children()  # ... and are gone once the stream ends
    assert sorted(results) == sorted(c.key for c in CELLS)
    pids = {r["pid"] for rows in results.values() for r in rows}
    assert os.getpid() not in pids  # the cells really ran in worker processes
    assert _csv(results) == _csv(_serial())


@pytest.mark.slow
def test_local_session_workers_start_without_the_trim_threshold(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ (which makes every large tensor buffer a fresh mmap) is not
    in the local workers' environment; the thread variables keep Dask's value 1."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dx.session(n_workers=1) as client:
        env = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
        rows = {c.key: r for c, r in dx.map_cells(fake_run_cell, CELLS[:2], client=client)}
        assert client.status == "running"  # map_cells leaves a given client open
    assert list(env.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
    assert sorted(rows) == [c.key for c in CELLS[:2]]
    assert _csv({**_serial(), **rows}) == _csv(_serial())


def test_session_rejects_a_bad_address_before_starting():
    with pytest.raises(ValueError, match="scheduler"):
        with dx.session("  "):
            pass
    with pytest.raises(ValueError, match="not both"):
        dx.map_cells(fake_run_cell, CELLS, scheduler="tcp://127.0.0.1:1", client=object())


@pytest.fixture(scope="module")
def cluster_address():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
def test_existing_scheduler_address(cluster_address):
    results = {c.key: rows for c, rows in dx.map_cells(fake_run_cell, CELLS[:3], scheduler=cluster_address)}
    assert sorted(results) == [c.key for c in CELLS[:3]]
    assert _csv({**_serial(), **results}) == _csv(_serial())
    assert {r["threads"] for rows in results.values() for r in rows} == {dx.CELL_THREADS}


@pytest.mark.slow
def test_failing_cell_names_its_key(cluster_address):
    with pytest.raises(RuntimeError, match=r"cell 'seed=2' failed .*boom in cell 2"):
        for _ in dx.map_cells(failing_run_cell, CELLS, scheduler=cluster_address):
            pass


# --- through the runner: this module doubles as a tiny experiment (workers import it by name) ------

NAME = "fake-dask"


@dataclass(frozen=True)
class FakeConfig:
    n_cells: int


def parse_config(raw: dict) -> FakeConfig:
    return FakeConfig(int(raw["n_cells"]))


def cells(cfg: FakeConfig) -> list:
    from benchmarks.framework.runner import Cell

    return [Cell(f"seed={s}", {"seed": s}) for s in range(cfg.n_cells)]


def run_cell(cfg: FakeConfig, cell, ctx) -> list[dict]:
    """The training-like rows of :func:`fake_run_cell` without the process id."""
    return [{"method": "plain", "method_kind": "plain", "method_slope": None, **{k: v for k, v in r.items() if k != "pid"}} for r in fake_run_cell(cell)]


@pytest.mark.slow
def test_runner_dask_records_identical_to_serial_and_resume(tmp_path, cluster_address):
    """``run --executor dask`` gives the serial run's records byte for byte, also after a resume.

    The rows hold CNN weight gradients, whose bits depend on the torch thread count, so this also checks
    that the serial and the distributed path run cells under the same thread count.
    """
    import sys

    from benchmarks.framework.runner import run

    module = sys.modules[__name__]
    cfg = FakeConfig(5)
    serial = run(module, cfg, tmp_path / "serial", executor="local", progress=False)
    dask = run(module, cfg, tmp_path / "dask", executor="dask", scheduler=cluster_address, progress=False)
    assert dask.read_bytes() == serial.read_bytes()
    # an interrupted distributed run: two cells and the merged records lost, then resumed on Dask
    for key in ("seed=1", "seed=3"):
        (tmp_path / "dask" / "cells" / f"{key}.csv").unlink()
    dask.unlink()
    resumed = run(module, cfg, tmp_path / "dask", executor="dask", scheduler=cluster_address, resume=True,
                  progress=False)
    assert resumed.read_bytes() == serial.read_bytes()


@pytest.mark.slow
def test_toy_am_smoke_dask_identical_to_serial(tmp_path, cluster_address):
    """The real toy-am smoke sweep, serial and on a 2-worker LocalCluster (timing columns aside)."""
    from benchmarks.framework.config import load_profile, profiles
    from benchmarks.framework.registry import load
    from benchmarks.framework.runner import run

    if "smoke" not in profiles("toy-am"):
        pytest.skip("toy-am has no smoke profile yet")
    module = load("toy-am")
    cfg = module.parse_config(load_profile("toy-am", "smoke"))
    serial = run(module, cfg, tmp_path / "serial", executor="local", progress=False)
    dask = run(module, cfg, tmp_path / "dask", executor="dask", scheduler=cluster_address, progress=False)
    timing = list(getattr(module, "TIMING_COLUMNS", ()))
    a = store.read_csv(serial).drop(columns=timing)
    b = store.read_csv(dask).drop(columns=timing)
    assert len(a) > 0
    assert a.to_csv(index=False) == b.to_csv(index=False)
    from benchmarks.framework.meta import suite_version

    assert set(a["suite_version"]) == {suite_version()}  # every record names the suite version
