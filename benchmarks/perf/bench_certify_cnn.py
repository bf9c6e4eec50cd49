"""Certifier cost of small trained 14x14 CNNs with max-pooling, unit by unit, as cnn-am draws them.

For each candidate architecture (``CANDIDATES``: two conv layers, each followed by a ReLU and a
2x2 max-pool, then one linear layer), the script trains the network with the suite's recipe
(``benchmarks.domain.training.train``: seed 0, 4 epochs, lr 0.05, batch 128, the full 14x14
Fashion-MNIST training split, or ``--train-limit`` images for a screening run), reports its test
accuracy on the full test split, draws the units exactly as the cnn-am survey does (pool: logits
0-9 and every channel of every rectified layer; dead-unit rule ``dataset max <= 1e-3``; draw seed,
model label and ``tune_units`` as given), and solves the first ``--certify`` evaluation units cold
(no cache) under ``--node-limit`` branch-and-bound nodes, one solver thread:

    .venv/bin/python -m benchmarks.perf.bench_certify_cnn --arch c4s2 --node-limit 10000
    .venv/bin/python -m benchmarks.perf.bench_certify_cnn --suite fmnist-tiny14 --node-limit 10000

``--suite NAME`` certifies the committed suite model ``NAME`` instead (no training). One row per
unit: status, nodes, MIP gap ``(bound - value) / max(1, |value|)``, value, bound, CPU seconds.
The script trains on one torch thread; ``train_models`` trains the committed checkpoints on torch's
default thread count, whose float sums differ, so a candidate's weights (and nodes) differ slightly
from the committed model of the same architecture: ``--suite`` measures the committed one.
``fmnist-tiny14`` is candidate ``c2k2s2-c8k2`` (architecture ``tiny14`` of ``benchmarks.domain.models``).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Callable

import torch
from torch import nn

def _stride2(c1: int, k1: int, c2: int) -> nn.Sequential:
    """conv(c1, k1 x k1, stride 2) 14 -> 6 (7 for k1 = 2) - ReLU - maxpool 2 (3) - conv(c2, 2x2) (2) - ReLU - maxpool 2 (1) - linear."""
    return nn.Sequential(nn.Conv2d(1, c1, k1, stride=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(c2, 10))


#: Candidate architectures for 1 x 14 x 14 inputs and 10 classes: name -> builder (no arguments).
#: Each: conv - ReLU - maxpool 2 - conv - ReLU - maxpool 2 - flatten - linear (sides in comments).
CANDIDATES: dict[str, Callable[[], nn.Module]] = {
    # conv(4, 3x3) 14 -> 12, pool 6, conv(8, 3x3) 4, pool 2: 576 + 128 conv outputs
    "c4-c8": lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(4, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Flatten(), nn.Linear(8 * 2 * 2, 10)),
    # conv(2, 3x3) 14 -> 12, pool 6, conv(4, 3x3) 4, pool 2: 288 + 64
    "c2-c4": lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Flatten(), nn.Linear(4 * 2 * 2, 10)),
    # conv(4, 3x3, stride 2) 14 -> 6, pool 3, conv(8, 2x2) 2, pool 1: 144 + 32
    "c4s2-c8k2": lambda: _stride2(4, 3, 8),
    # conv(4, 4x4, stride 2) 14 -> 6, pool 3, conv(8, 2x2) 2, pool 1: 144 + 32
    "c4k4s2-c8k2": lambda: _stride2(4, 4, 8),
    # conv(3, 3x3, stride 2) 14 -> 6, pool 3, conv(6, 2x2) 2, pool 1: 108 + 24
    "c3s2-c6k2": lambda: _stride2(3, 3, 6),
    # conv(2, 3x3, stride 2) 14 -> 6, pool 3, conv(4, 2x2) 2, pool 1: 72 + 16
    "c2s2-c4k2": lambda: _stride2(2, 3, 4),
    # conv(2, 4x4, stride 2) 14 -> 6, pool 3, conv(C, 2x2) 2, pool 1: 72 + 4C
    "c2k4s2-c8k2": lambda: _stride2(2, 4, 8),
    "c2k4s2-c16k2": lambda: _stride2(2, 4, 16),
    "c2s2-c8k2": lambda: _stride2(2, 3, 8),
    "c3k4s2-c12k2": lambda: _stride2(3, 4, 12),
    "c2k4s2-c32k2": lambda: _stride2(2, 4, 32),
    "c1k4s2-c8k2": lambda: _stride2(1, 4, 8),
    "c1k4s2-c16k2": lambda: _stride2(1, 4, 16),
    "c2k2s2-c8k2": lambda: _stride2(2, 2, 8),
    "c2k2s2-c4k2": lambda: _stride2(2, 2, 4),
    "c2k2s2-c16k2": lambda: _stride2(2, 2, 16),
    "c4k2s2-c8k2": lambda: _stride2(4, 2, 8),
    "c4k2s2-c16k2": lambda: _stride2(4, 2, 16),
    "c2k2s2-c12k2": lambda: _stride2(2, 2, 12),
    "c3k2s2-c8k2": lambda: _stride2(3, 2, 8),
    "c2s2-c16k2": lambda: _stride2(2, 3, 16),
}
#: The suite's recipe for its small certifiable models (benchmarks.domain.zoo.SUITE["fmnist-tiny8"]).
RECIPE = {"epochs": 4, "lr": 0.05, "batch_size": 128, "seed": 0}
INPUT_SHAPE = (1, 14, 14)


def train_candidate(arch: str, *, train_limit: int | None, epochs: int) -> tuple[nn.Sequential, float]:
    """``CANDIDATES[arch]`` built under ``torch.manual_seed(seed)`` and trained with ``RECIPE``;
    returns (model in eval mode, test accuracy on the full 14x14 test split)."""
    from benchmarks.domain import data, training

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RECIPE["seed"])
        model = CANDIDATES[arch]()
    train_set = data.load("fashion-mnist", "train", size=14, limit=train_limit)
    test_set = data.load("fashion-mnist", "test", size=14)
    training.train(model, train_set, test_set, epochs=epochs, lr=RECIPE["lr"],
                   batch_size=RECIPE["batch_size"], seed=RECIPE["seed"])
    _, accuracy = training.evaluate(model, test_set)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, float(accuracy)


def drawn_units(model: nn.Sequential, *, label: str, seed: int, tune_units: int, eval_units: int,
                dead_epsilon: float = 1e-3) -> list:
    """The cnn-am survey's draw for ``model`` under model label ``label``: ``(unit, role, position)``
    over the pool of logits 0-9 and every channel of every rectified top-level layer."""
    from benchmarks.domain import data
    from benchmarks.experiments.cnn_am.experiment import layer_depths
    from benchmarks.experiments.cnn_am.units import Unit, draw

    rectified = [n for n, m in model.named_children() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    depths = layer_depths(model)
    x = data.load("fashion-mnist", "test", size=14).tensors[0]
    maxima: dict[str, float] = {}
    with torch.no_grad():
        h = x
        for name, layer in model.named_children():
            h = layer(h)
            if name in rectified:
                for c, v in enumerate(h.flatten(2).mean(2).max(0).values.double().tolist()):
                    maxima[f"{name}={c}"] = v
        for c, v in enumerate(h.max(0).values.double().tolist()):
            maxima[f"logit={c}"] = v
    channels = {n: int(model[:int(n) + 1](x[:1]).shape[1]) for n in rectified}
    groups = [[Unit("logit", None, k, 1.0) for k in range(10)]]
    groups += [[Unit("channel", n, c, depths[n]) for c in range(channels[n])] for n in rectified]
    return draw(groups, seed=seed, model=label, dataset_max=maxima, dead_epsilon=dead_epsilon,
                tune_units=tune_units, eval_units=eval_units)


def certify_row(model: nn.Sequential, unit, node_limit: int, tighten_nodes: int = 0) -> dict:
    """One cold solve of ``unit`` (cnn-am's ``certifiable`` network), one thread, no cache."""
    import copy

    from toy_functions import exact_maximum
    from toy_functions.certify import unit_network

    net, index = unit_network(model, INPUT_SHAPE, unit.kind, unit.layer, unit.index)
    net = copy.deepcopy(net).cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    cert = exact_maximum(net, INPUT_SHAPE, bounds=(-1.0, 1.0), output_index=index,
                         node_limit=node_limit, cache_dir=False, tighten_nodes=tighten_nodes)
    return {"unit": unit.label, "status": str(cert.status), "nodes": cert.n_nodes,
            "binaries": cert.n_binaries, "gap": float(cert.mip_gap), "value": float(cert.value),
            "bound": float(cert.upper_bound), "cpu_s": time.process_time() - cpu,
            "wall_s": time.perf_counter() - wall}


def test_certify_tiny14_channel_cold(benchmark):
    """One cold solve of a second-layer channel of the committed fmnist-tiny14 (no data set needed)."""
    from benchmarks.domain import zoo
    from benchmarks.experiments.cnn_am.units import Unit

    model = zoo.load("fmnist-tiny14").model
    row = benchmark.pedantic(certify_row, args=(model, Unit("channel", "4", 1, 0.0), 10000),
                             rounds=1, iterations=1)
    assert row["status"] == "optimal" and row["value"] <= row["bound"] and row["gap"] <= 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", choices=sorted(CANDIDATES))
    which.add_argument("--suite", metavar="NAME", help="a committed suite model (no training)")
    parser.add_argument("--label", default="fmnist-tiny14", help="model label of the draw")
    parser.add_argument("--seed", type=int, default=0, help="the profile's seed")
    parser.add_argument("--tune-units", type=int, default=4)
    parser.add_argument("--eval-units", type=int, default=12)
    parser.add_argument("--certify", type=int, default=6, help="evaluation units to certify")
    parser.add_argument("--node-limit", type=int, default=10000)
    parser.add_argument("--tighten-nodes", type=int, default=0, help="exact_maximum's tighten_nodes")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}  cores: {os.cpu_count()}  (one thread)", flush=True)
    if args.arch is not None:
        t0 = time.process_time()
        model, accuracy = train_candidate(args.arch, train_limit=args.train_limit, epochs=args.epochs)
        print(f"{args.arch}: trained in {time.process_time() - t0:.0f} CPU s "
              f"(train_limit={args.train_limit}, epochs={args.epochs})", flush=True)
    else:
        from benchmarks.domain import zoo

        zm = zoo.load(args.suite)
        model, accuracy = zm.model, float(zm.info.get("test_accuracy", math.nan))
    params = sum(p.numel() for p in model.parameters())
    print(f"params {params}, test accuracy {accuracy:.4f}", flush=True)
    drawn = drawn_units(model, label=args.label, seed=args.seed, tune_units=args.tune_units,
                        eval_units=args.eval_units)
    evaluation = [u for u, role, _ in sorted(drawn, key=lambda t: t[2]) if role == "evaluation"]
    mark = {"tuning": "t", "evaluation": "e", "excluded": "x", "unused": "u"}
    print("draw: " + ", ".join(f"{u.label}:{mark[role]}" for u, role, _ in sorted(drawn, key=lambda t: t[2])))
    print(f"{'unit':>8} {'status':>10} {'nodes':>7} {'binaries':>8} {'gap':>9} {'value':>10} "
          f"{'bound':>10} {'cpu_s':>8}", flush=True)
    total = 0.0
    for unit in evaluation[:args.certify]:
        r = certify_row(model, unit, args.node_limit, args.tighten_nodes)
        total += r["cpu_s"]
        print(f"{r['unit']:>8} {r['status']:>10} {r['nodes']:>7} {r['binaries']:>8} {r['gap']:>9.2e} "
              f"{r['value']:>10.5g} {r['bound']:>10.5g} {r['cpu_s']:>8.1f}", flush=True)
    print(f"total certifier CPU {total:.1f} s; load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
