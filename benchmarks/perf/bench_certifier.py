"""Certifier solve times for random MLPs (issue 4 performance goal).

pytest-benchmark test: one cold solve (no cache) of the default random MLP, d = 8, widths (16, 16).
As a script it prints the full table, cold solves, no cache:

    .venv/bin/python -m benchmarks.perf.bench_certifier     # exact_maximum's default ("auto"), HiGHS and branch
                                  # and bound: d=8 (16,16) seeds 0-19, d=16 (32,32) seeds 0-3 (60 s limit),
                                  # and the certified quick units of fmnist-tiny8, fmnist-tiny14 and
                                  # fmnist-cert14 (10000 nodes, the quick profile's limit); then one summary
                                  # row per solver and part (proven, nodes, seconds)
    .venv/bin/python -m benchmarks.perf.bench_certifier --solvers highs,bab --parts d8,d16
                                  # HiGHS MILP against branch and bound over unstable units
    .venv/bin/python -m benchmarks.perf.bench_certifier --solvers bab --parts d16 --big-node-limit 400000
                                  # d16 under a node limit, no clock: compare cpu_s on a busy machine
    .venv/bin/python -m benchmarks.perf.bench_certifier --solvers scip --parts tiny8 --cnn-node-limit 2000
    .venv/bin/python -m benchmarks.perf.bench_certifier --parts d16 --bound-cut-rounds 0   # cuts off
    .venv/bin/python -m benchmarks.perf.bench_certifier --solvers gurobi --threads 2 --parts d8,d16
                                  # the optional Gurobi backend (pip install gurobipy) on two threads

A row's `solver` column is the solver that made the certificate ("auto" resolved, `resolve_solver`).

Goals: median <= 0.5 s for d = 8, widths (16, 16); solved within 60 s for d = 16, widths (32, 32).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterable, Iterator

from toy_functions import exact_maximum
from toy_functions.certify import SUITE_SOLVER
from toy_functions.random_nets import mlp_net

# goal figure for the performance suite's table (see benchmarks/perf/conftest.py)
RATIOS = [
    ("certifier d=8 widths (16,16): median cold solve seconds (seed 0)", "test_certifier_mlp_d8_cold",
     None, 0.5),
]


def solve_row(dim: int, widths: tuple[int, ...], seed: int, time_limit: float | None,
              solver: str = "auto", node_limit: int | None = None, **options) -> dict:
    """One cold certifier solve: wall and CPU seconds, status, binaries, nodes, gap. `options`:
    further keyword arguments of `exact_maximum` (cut settings)."""
    net = mlp_net(dim, widths, seed)
    return _row(lambda: exact_maximum(net, (dim,), cache_dir=False, time_limit=time_limit,
                                      node_limit=node_limit, solver=solver, **options),
                {"seed": seed})


#: the CNN parts: part name -> suite model whose certified quick units it solves
CNN_PARTS = {"tiny8": "fmnist-tiny8", "tiny14": "fmnist-tiny14", "cert14": "fmnist-cert14"}


def _row(solve, extra: dict) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    cert = solve()
    return {**extra, "solver": cert.solver, "status": cert.status, "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu, "binaries": cert.n_binaries, "nodes": cert.n_nodes,
            "gap": cert.mip_gap, "value": cert.value, "bound": cert.upper_bound}


def model_rows(name: str, node_limit: int | None, solver: str,
               profile: str = "quick", **options) -> Iterator[dict]:
    """Every certified unit of the profile's cnn-am model table `name` (e.g. "fmnist-tiny8"), solved
    cold. The units are those
    of the profile's committed certificate cells (results/<profile>/cnn-am/cells/<model>,certificate,
    *.csv: the survey's draw); ValueError naming the folder when there are none. A row solved at the committed
    certificate's settings (the suite's solver, the profile's node limit, no other option) also says whether it
    repeats that certificate bit for bit (`repeats`)."""
    import copy

    import pandas as pd

    from benchmarks.experiments.cnn_am import experiment as cnn_am
    from benchmarks.framework.config import CONFIG_DIR, load_profile

    raw = load_profile("cnn-am", profile)
    tables = [m for m in raw["models"] if m["name"] == name]
    cfg = cnn_am.parse_config({**raw, "models": tables}, require_data=False)  # weights only
    m = cfg.models[0]
    zm = cnn_am.load_model(m, cfg.seed)
    cells = CONFIG_DIR.parent.parent / "results" / profile / "cnn-am" / "cells"
    files = sorted(cells.glob(f"{m.label},certificate,*.csv"))
    if not files:
        raise ValueError(f"no certificate cells of {m.label!r} in {cells}: run the {profile} profile first")
    for f in files:
        r = pd.read_csv(f).iloc[0]
        layer = None if r["unit_kind"] == "logit" else str(r["layer"])
        net, index = cnn_am.certifiable(zm, str(r["unit_kind"]), layer, int(r["index"]))
        net = copy.deepcopy(net).cpu()
        row = _row(lambda: exact_maximum(net, zm.input_shape, output_index=index,
                                         node_limit=node_limit, cache_dir=False, solver=solver,
                                         **options),
                   {"seed": f.stem.rsplit(",", 1)[-1]})
        if row["solver"] != SUITE_SOLVER or node_limit != cfg.certify_node_limit or options:
            yield row  # not the committed certificate's settings: nothing to repeat
            continue
        # the committed certificate again, bit for bit
        same = (row["status"] == r["cert_status"]
                and all(float(row[a]).hex() == float(r[b]).hex() for a, b in (("value", "incumbent"),
                                                                              ("bound", "upper_bound"),
                                                                              ("gap", "mip_gap"))))
        yield {**row, "repeats": same}


def test_certifier_mlp_d8_cold(benchmark):
    net = mlp_net(8, (16, 16), 0)
    cert = benchmark.pedantic(exact_maximum, args=(net, (8,)), kwargs={"cache_dir": False},
                              rounds=3, iterations=1)
    assert cert.status == "optimal" and cert.upper_bound - cert.value <= 1e-6


def _table(title: str, solves: Iterable[dict]) -> list[dict]:
    """Print one row per solve as it finishes, then the summary; returns the rows."""
    print(f"\n{title}")
    print(f"{'unit':>8} {'solver':>6} {'status':>10} {'wall_s':>8} {'cpu_s':>8} {'binaries':>8} {'nodes':>7} "
          f"{'gap':>9} {'bound':>12}", flush=True)
    rows = []
    for r in solves:
        rows.append(r)
        print(f"{r['seed']!s:>8} {r['solver']:>6} {r['status']:>10} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} "
              f"{r['binaries']:>8} {r['nodes']:>7} {r['gap']:>9.2e} {r['bound']:>12.6g}", flush=True)
    walls = [r["wall_s"] for r in rows]
    solved = [r for r in rows if r["status"] == "optimal"]
    if any("repeats" in r for r in rows):
        print(f"committed certificate repeated bit for bit (status, incumbent, upper bound, gap): "
              f"{sum(bool(r.get('repeats')) for r in rows)}/{len(rows)}")
    print(f"median wall {statistics.median(walls):.3f} s, max wall {max(walls):.3f} s, "
          f"solved {len(solved)}/{len(rows)}, median nodes {statistics.median(r['nodes'] for r in rows)}, "
          f"median nodes to proof {statistics.median(r['nodes'] for r in solved) if solved else 'n/a'}, "
          f"sum wall {sum(walls):.1f} s")
    return rows


def _summary(results: list[tuple[str, str, list[dict]]]) -> None:
    """One row per (solver, part): proven count, median and total nodes, median, max and total
    wall seconds, max and total CPU seconds (the load-independent figure on a busy machine)."""
    print(f"\n{'solver':>8} {'part':>7} {'proven':>8} {'med_nodes':>10} {'sum_nodes':>10} "
          f"{'med_wall':>9} {'max_wall':>9} {'sum_wall':>9} {'max_cpu':>8} {'sum_cpu':>8}")
    for solver, part, rows in results:
        walls, nodes = [r["wall_s"] for r in rows], [r["nodes"] for r in rows]
        cpus = [r["cpu_s"] for r in rows]
        proven = sum(r["status"] == "optimal" for r in rows)
        print(f"{solver:>8} {part:>7} {f'{proven}/{len(rows)}':>8} {statistics.median(nodes):>10} "
              f"{sum(nodes):>10} {statistics.median(walls):>9.2f} {max(walls):>9.2f} "
              f"{sum(walls):>9.1f} {max(cpus):>8.2f} {sum(cpus):>8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--big-seeds", type=int, default=4)
    parser.add_argument("--big-limit", type=float, default=60.0)
    parser.add_argument("--big-node-limit", type=int, default=None,
                        help="d16: a node limit instead of the time limit (no clock: the CPU "
                             "seconds of each row are then the load-independent figure)")
    parser.add_argument("--cnn-node-limit", type=int, default=10000,
                        help="the node limit of the CNN parts (default: the quick profile's)")
    parser.add_argument("--solvers", default="auto,highs,bab",
                        help="comma-separated: auto (exact_maximum's default), highs, scip, gurobi (MILP) "
                             "and bab (branch and bound)")
    parser.add_argument("--parts", default="d8,d16," + ",".join(CNN_PARTS),
                        help=f"comma-separated: d8, d16, {', '.join(CNN_PARTS)}")
    parser.add_argument("--bound-cut-rounds", type=int, default=None,
                        help="exact_maximum's bound_cut_rounds (default: its default)")
    parser.add_argument("--cut-rounds", type=int, default=None,
                        help="exact_maximum's cut_rounds (default: its default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="exact_maximum's threads (solver gurobi only; default 1)")
    args = parser.parse_args()
    for name in ("big_node_limit", "cnn_node_limit"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive int, got {value}")
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - {"d8", "d16", *CNN_PARTS})
    if unknown:
        parser.error(f"--parts: unknown part(s) {unknown}; the parts are d8, d16, {', '.join(CNN_PARTS)}")
    common = {k: v for k, v in (("bound_cut_rounds", args.bound_cut_rounds),
                                ("cut_rounds", args.cut_rounds),
                                ("threads", args.threads)) if v is not None}
    print(f"options: {common}")
    print(f"load average at start: {os.getloadavg()}  cores: {os.cpu_count()}  "
          f"(solver threads: {args.threads or 1})")
    results: list[tuple[str, str, list[dict]]] = []
    for solver in args.solvers.split(","):
        options = common
        big_limit = None if args.big_node_limit is not None else args.big_limit
        for part, dim, widths, seeds, limit, nodes in (
                ("d8", 8, (16, 16), args.seeds, None, None),
                ("d16", 16, (32, 32), args.big_seeds, big_limit, args.big_node_limit)):
            if part in parts:
                results.append((solver, part, _table(
                    f"[{solver}] random_mlp d={dim} widths={widths} time_limit={limit} "
                    f"node_limit={nodes}",
                    (solve_row(dim, widths, seed, limit, solver, nodes, **options)
                     for seed in range(seeds)))))
        for part, model in CNN_PARTS.items():
            if part in parts:
                results.append((solver, part, _table(
                    f"[{solver}] {model} quick units, node_limit={args.cnn_node_limit}",
                    model_rows(model, args.cnn_node_limit, solver, **options))))
    _summary(results)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
