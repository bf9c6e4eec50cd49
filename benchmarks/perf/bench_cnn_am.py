"""Speed of one cnn-am AM cell: 8 units of a trained VGG-style Fashion-MNIST network, 4 starts each,
batched into one ``run_am`` call (plain)."""
from __future__ import annotations

import pandas as pd

from benchmarks.framework import runner
from benchmarks.experiments.cnn_am import experiment as cnn_am

RAW = {"methods": ["plain", "proxy-0.5"], "optimizers": ["adam"], "starts": 4, "steps": 16, "lr": 0.05,
       "dataset_limit": 100, "dead_epsilon": 0.0, "tuning": {"adam": {"low": 0.1, "high": 0.1, "per_decade": 1}},
       "models": [{"name": "fmnist-vgg-relu", "logits": [3, 5], "layers": ["3", "12"], "tune_units": 8,
                   "eval_units": 1}]}


def test_cnn_am_cell_vgg_units(benchmark, tmp_path) -> None:
    from benchmarks.domain import data

    # the real test set where installed, else a tiny one in its format (the units' dataset maxima)
    data_dir = None if data.find_fashion_mnist() else data.write_fashion_mnist_sample(tmp_path)
    cfg = cnn_am.parse_config(RAW, data_dir=data_dir)
    ctx = runner.RunContext(data_dir=data_dir)
    survey = cnn_am.cells(cfg)
    done = pd.DataFrame([r for c in survey for r in cnn_am.run_cell(cfg, c, ctx)])
    cell = next(c for c in cnn_am.cells(cfg, done) if c.params.get("role") == "tuning")
    rows = benchmark(cnn_am.run_cell, cfg, cell, ctx)
    assert len(rows) == 8 * 4 and all(r["best_at_16"] >= r["f_start"] for r in rows)
