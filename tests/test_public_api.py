"""benchmarks.instances / benchmarks.score: the suite's instances outside the harness, scored like records.

The instances are those the harness runs (same starts, references and budget), so running the suite's own
method on them and scoring gives the suite's own numbers; scoring refuses results it cannot trust.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import benchmarks
from benchmarks.framework import methods, store
from benchmarks.framework.cli import main

TOY = """
[p]
seed = 0
instances = 2
starts = 3
steps = 10
targets = [1e-1]
methods = ["plain", "proxy-0.5"]
optimizers = [{ name = "adam", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }, { name = "deep_chain", dims = [4] }]
"""


@pytest.fixture()
def conf(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(TOY)
    return path


def test_toy_instances_score_to_the_harness_records(conf, tmp_path):
    insts = benchmarks.instances("toy-am", "p", config_file=conf)
    assert [i.key for i in insts] == ["dead_unit.d2.s0", "dead_unit.d2.s1", "deep_chain.d4.s0", "deep_chain.d4.s1"]
    results = {}
    for inst in insts:
        assert inst.steps == 10 and inst.lr == {"adam": 0.05} and inst.x0.shape == (3, *inst.f.input_shape)
        res = methods.run_am(methods.parse("proxy-0.5"), inst.f, inst.x0, steps=inst.steps, lr=inst.lr["adam"],
                             optimizer="adam", seed=inst.params["seed"], forward_slope=float(inst.f.forward_slope))
        results[inst.key] = res.best_input
    rows, table = benchmarks.score("toy-am", "p", results, method="proxy-0.5", insts=insts)
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    rec = store.load_records(tmp_path / "o")
    rec = rec[rec["method"] == "proxy-0.5"].reset_index(drop=True)
    assert np.array_equal(rows["f_start"].to_numpy(), rec["f_start"].to_numpy())
    assert np.array_equal(rows["f_best"].to_numpy(), rec["f_best"].to_numpy())
    assert np.allclose(rows["attained"].to_numpy(), rec["attained"].to_numpy(), rtol=0, atol=1e-12)
    assert set(table["benchmark"]) == {"dead_unit", "deep_chain"} and set(table["n"]) == {6}
    by = table.set_index("benchmark")
    assert by.loc["dead_unit", "median"] == np.median(rec.loc[rec["family"] == "dead_unit", "attained"])


def test_score_refuses_what_it_cannot_trust(conf):
    insts = benchmarks.instances("toy-am", "p", config_file=conf)
    good = {i.key: i.x0 for i in insts}
    rows, _ = benchmarks.score("toy-am", "p", good, insts=insts)
    assert (rows["f_best"] == rows["f_start"]).all()
    first = insts[0].key
    with pytest.raises(ValueError, match="no entry"):
        benchmarks.score("toy-am", "p", {first: insts[0].x0}, insts=insts)
    with pytest.raises(ValueError, match=f"{first}.*box"):
        benchmarks.score("toy-am", "p", {**good, first: insts[0].x0 * 3}, insts=insts)
    above = torch.full((3,), insts[0].reference["optimum"] + 1.0, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"{first}.*exceeds the certified optimum"):
        benchmarks.score("toy-am", "p", {**good, first: above}, insts=insts)
    at = {i.key: i.f.argmax.expand(3, *i.f.input_shape).clone() for i in insts}
    rows, table = benchmarks.score("toy-am", "p", at, insts=insts)
    assert (rows["attained"] == 1.0).all() and (table["median"] == 1.0).all()


def test_cnn_instances_carry_bounds_and_dataset_maxima(fashion_mnist_dir, tmp_path):
    insts = benchmarks.instances("cnn-am", "smoke", data_dir=fashion_mnist_dir, cache_dir=tmp_path)
    assert len(insts) == 2
    for inst in insts:
        assert inst.x0.shape == (2, 1, 8, 8) and inst.steps == 20
        assert {"upper_bound", "dataset_max"} <= set(inst.reference)
        assert inst.reference["dataset_max"] <= inst.reference["upper_bound"] + 1e-4
    rows, table = benchmarks.score("cnn-am", "smoke", {i.key: i.x0 for i in insts}, insts=insts)
    assert set(table["reference"]) == {"bound"} and int(table["n"].iloc[0]) == 2
    assert (rows["attained"] <= 1.0 + 1e-4).all()
