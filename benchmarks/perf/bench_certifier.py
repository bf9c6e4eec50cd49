"""Certifier solve times for random MLPs (issue 4 performance goal).

pytest-benchmark test: one cold solve (no cache) of the default random MLP, d = 8, widths (16, 16).
As a script it prints the full table, cold solves, no cache:

    .venv/bin/python -m benchmarks.perf.bench_certifier            # d=8 (16,16) seeds 0-19, d=16 (32,32) seeds 0-2
    .venv/bin/python -m benchmarks.perf.bench_certifier --big-seeds 5 --big-limit 60

Goals: median <= 0.5 s for d = 8, widths (16, 16); solved within 60 s for d = 16, widths (32, 32).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from toy_functions import exact_maximum
from toy_functions.random_nets import mlp_net

# goal figure for the performance suite's table (see benchmarks/perf/conftest.py)
RATIOS = [
    ("certifier d=8 widths (16,16): median cold solve seconds (seed 0)", "test_certifier_mlp_d8_cold",
     None, 0.5),
]


def solve_row(dim: int, widths: tuple[int, ...], seed: int, time_limit: float | None) -> dict:
    """One cold certifier solve: wall and CPU seconds, status, binaries, nodes, gap."""
    net = mlp_net(dim, widths, seed)
    cpu = time.process_time()
    cert = exact_maximum(net, (dim,), cache_dir=False, time_limit=time_limit)
    return {"dim": dim, "widths": widths, "seed": seed, "status": cert.status,
            "wall_s": cert.solve_seconds, "cpu_s": time.process_time() - cpu,
            "binaries": cert.n_binaries, "nodes": cert.n_nodes, "gap": cert.mip_gap,
            "value": cert.value}


def test_certifier_mlp_d8_cold(benchmark):
    net = mlp_net(8, (16, 16), 0)
    cert = benchmark.pedantic(exact_maximum, args=(net, (8,)), kwargs={"cache_dir": False},
                              rounds=3, iterations=1)
    assert cert.status == "optimal" and cert.upper_bound - cert.value <= 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--big-seeds", type=int, default=3)
    parser.add_argument("--big-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}  cores: {os.cpu_count()}")
    for dim, widths, seeds, limit in ((8, (16, 16), args.seeds, None),
                                      (16, (32, 32), args.big_seeds, args.big_limit)):
        rows = []
        print(f"\nd={dim} widths={widths} time_limit={limit}")
        print(f"{'seed':>4} {'status':>10} {'wall_s':>8} {'cpu_s':>8} {'binaries':>8} {'nodes':>7} {'gap':>9}")
        for seed in range(seeds):
            r = solve_row(dim, widths, seed, limit)
            rows.append(r)
            print(f"{seed:>4} {r['status']:>10} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} "
                  f"{r['binaries']:>8} {r['nodes']:>7} {r['gap']:>9.2e}", flush=True)
        walls = [r["wall_s"] for r in rows]
        cpus = [r["cpu_s"] for r in rows]
        solved = sum(r["status"] == "optimal" for r in rows)
        print(f"median wall {statistics.median(walls):.3f} s, median cpu {statistics.median(cpus):.3f} s, "
              f"max wall {max(walls):.3f} s, solved {solved}/{len(rows)}, "
              f"median binaries {statistics.median(r['binaries'] for r in rows)}, "
              f"median nodes {statistics.median(r['nodes'] for r in rows)}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
