"""Speed of one cnn-am cell: AM on a trained VGG-style Fashion-MNIST network (plain and proxy)."""
from __future__ import annotations

from benchmarks import runner
from benchmarks.experiments import cnn_am

RAW = {"methods": ["plain", "proxy-0.5"], "optimizers": ["adam"], "starts": 4, "steps": 16, "lr": 0.05,
       "dataset_limit": 100, "models": [{"name": "fmnist-vgg-relu", "logits": [3]}]}


def test_cnn_am_cell_vgg_logit(benchmark) -> None:
    cfg = cnn_am.parse_config(RAW)
    cell = cnn_am.cells(cfg)[0]
    rows = benchmark(cnn_am.run_cell, cfg, cell, runner.RunContext())
    assert len(rows) == 2 * 4 and all(r["f_best"] >= r["f_start"] for r in rows)
