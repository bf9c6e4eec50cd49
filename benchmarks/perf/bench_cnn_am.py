"""Speed of one cnn-am cell: AM on a trained VGG-style Fashion-MNIST network (plain and proxy)."""
from __future__ import annotations

from benchmarks.framework import runner
from benchmarks.experiments.cnn_am import experiment as cnn_am

RAW = {"methods": ["plain", "proxy-0.5"], "optimizers": ["adam"], "starts": 4, "steps": 16, "lr": 0.05,
       "dataset_limit": 100, "models": [{"name": "fmnist-vgg-relu", "logits": [3]}]}


def test_cnn_am_cell_vgg_logit(benchmark, tmp_path) -> None:
    from benchmarks.domain import data

    # the real test set where installed, else a tiny one in its format (the cell's dataset maximum)
    data_dir = None if data.find_fashion_mnist() else data.write_fashion_mnist_sample(tmp_path)
    cfg = cnn_am.parse_config(RAW, data_dir=data_dir)
    cell = cnn_am.cells(cfg)[0]
    rows = benchmark(cnn_am.run_cell, cfg, cell, runner.RunContext(data_dir=data_dir))
    assert len(rows) == 2 * 4 and all(r["f_best"] >= r["f_start"] for r in rows)
