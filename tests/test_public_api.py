"""benchmarks.instances / benchmarks.score / benchmarks.choose_lr: the suite's instances outside the harness,
scored like records.

The instances are those the harness runs (same starts, references and budget, evaluation and tuning sets
disjoint), so running the suite's own method on them and scoring gives the suite's own numbers, and the
suite's step-size rule applied to its own tuning runs gives its chosen step size; scoring refuses results
it cannot trust.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import benchmarks
from benchmarks.experiments.cnn_am import experiment as cnn_am
from benchmarks.framework import methods, replication, runner, store
from benchmarks.framework.config import load_profile
from benchmarks.framework.cli import main

TOY = """
[p]
seed = 0
instances = 2
tuning_instances = 1
starts = 3
steps = 10
targets = [1e-1]
methods = ["plain", "proxy-0.5"]
optimizers = [{ name = "adam", lr = 0.05, grid = { low = 0.03, high = 0.1, per_decade = 1, min = 0.01, max = 1.0 } }]
families = [{ name = "dead_unit", dims = [2] }, { name = "deep_chain", dims = [4] }]
"""


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    path = tmp_path_factory.mktemp("conf") / "c.toml"
    path.write_text(TOY)
    return path


@pytest.fixture(scope="module")
def toy_records(conf, tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "o"
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress"]) == 0
    return store.load_records(out)


def _run(inst, method: str, lr: float):
    return methods.run_am(methods.parse(method), inst.f, inst.x0, steps=inst.steps, lr=lr, optimizer="adam",
                          seed=inst.params["seed"], forward_slope=float(inst.f.forward_slope)).best_input


def test_toy_instances_score_to_the_harness_evaluation_records(conf, toy_records):
    insts = benchmarks.instances("toy-am", "p", config_file=conf)
    assert [i.key for i in insts] == ["dead_unit.d2.s0", "dead_unit.d2.s1", "deep_chain.d4.s0", "deep_chain.d4.s1"]
    assert {i.role for i in insts} == {"evaluation"}
    rec = toy_records[(toy_records["method"] == "proxy-0.5") & (toy_records["role"] == "evaluation")]
    rec = rec.reset_index(drop=True)
    assert len(rec) == 4 * 3 and rec["lr"].nunique() == 1
    lr = float(rec["lr"].iloc[0])
    results = {}
    for inst in insts:
        assert inst.steps == 10 and inst.lr == {"adam": 0.05} and inst.x0.shape == (3, *inst.f.input_shape)
        assert ("proxy-0.5", "adam") in inst.tuning.pairs and inst.tuning.grids["adam"].initial() == (-2, -1)
        results[inst.key] = _run(inst, "proxy-0.5", lr)
    rows, table = benchmarks.score("toy-am", "p", results, method="proxy-0.5", insts=insts)
    assert rows["instance"].tolist() == [f"{f}.d{d}.s{s}" for f, d, s in
                                         zip(rec["family"], rec["dim"], rec["seed"])]
    assert np.array_equal(rows["f_start"].to_numpy(), rec["f_start"].to_numpy())
    assert np.array_equal(rows["f_best"].to_numpy(), rec["f_best"].to_numpy())
    assert np.array_equal(rows["optimum"].to_numpy(), rec["f_star"].to_numpy())
    assert np.array_equal(rows["attained"].to_numpy(), rec["attained"].to_numpy())
    assert np.allclose(rows["attained"].to_numpy(), rec["attained"].to_numpy(), rtol=0, atol=1e-12)
    # the table's unit of replication is the instance (2 per family), each the mean over its 3 starts
    assert set(table["benchmark"]) == {"dead_unit", "deep_chain"} and set(table["n"]) == {2}
    assert set(table["sampling_unit"]) == {"instance"}
    by = table.set_index("benchmark")
    dead = rec[rec["family"] == "dead_unit"]
    per_instance = [replication.exact_mean(g["attained"]) for _, g in dead.groupby(["dim", "seed"])]
    assert by.loc["dead_unit", "median"] == np.median(per_instance)


def test_toy_tuning_instances_are_disjoint_and_reproduce_the_chosen_lr(conf, toy_records):
    evaluation = benchmarks.instances("toy-am", "p", config_file=conf)
    tune = benchmarks.instances("toy-am", "p", role="tuning", config_file=conf)
    assert [i.key for i in tune] == ["tune.dead_unit.d2.s2", "tune.deep_chain.d4.s2"]
    assert {i.role for i in tune} == {"tuning"}
    assert not {(i.benchmark, i.params["dim"], i.params["seed"]) for i in tune} & \
        {(i.benchmark, i.params["dim"], i.params["seed"]) for i in evaluation}
    rec = toy_records[(toy_records["method"] == "proxy-0.5") & (toy_records["role"] == "tuning")]
    grid = tune[0].tuning.grids["adam"]
    ks = sorted(int(k) for k in rec["lr_index"].unique())
    results = {k: {i.key: _run(i, "proxy-0.5", grid.lr(k)) for i in tune} for k in ks}
    for k in ks:  # the tuning instances start where the suite's tuning cells start, and reach the same values
        rows, _ = benchmarks.score("toy-am", "p", results[k], role="tuning", insts=tune)
        sel = rec[rec["lr_index"] == k]
        assert np.array_equal(rows["f_start"].to_numpy(), sel["f_start"].to_numpy())
        assert np.array_equal(rows["f_best"].to_numpy(), sel["f_best"].to_numpy())
    choice = benchmarks.choose_lr(tune, "adam", results)
    chosen = toy_records[(toy_records["method"] == "proxy-0.5") & (toy_records["role"] == "evaluation")]
    assert choice.final and choice.k == int(chosen["lr_index"].iloc[0]) and choice.lr == float(chosen["lr"].iloc[0])
    partial = benchmarks.choose_lr(tune, "adam", {k: results[k] for k in ks[:1]})
    assert partial.extend  # one index is an edge of what was run: the rule asks for more
    with pytest.raises(ValueError, match="tuning instances"):
        benchmarks.choose_lr(evaluation, "adam", results)
    with pytest.raises(ValueError, match="no entry for tuning instance"):
        benchmarks.choose_lr(tune, "adam", {ks[0]: {}})


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
    one_ulp = torch.full((3,), np.nextafter(insts[0].reference["optimum"], np.inf), dtype=torch.float64)
    with pytest.raises(ValueError, match="exceeds the certified optimum"):
        benchmarks.score("toy-am", "p", {**good, first: one_ulp}, insts=insts)
    at = {i.key: i.f.argmax.expand(3, *i.f.input_shape).clone() for i in insts}
    rows, table = benchmarks.score("toy-am", "p", at, insts=insts)
    assert (rows["attained"] == 1.0).all() and (table["median"] == 1.0).all()


@pytest.fixture(scope="module")
def cnn_run(fashion_mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn")
    cfg = cnn_am.parse_config(load_profile("cnn-am", "smoke"), data_dir=fashion_mnist_dir)
    runner.run(cnn_am, cfg, out / "run", progress=False, cache_dir=out / "cache", data_dir=fashion_mnist_dir)
    return store.load_records(out / "run"), out / "cache"


def test_cnn_instances_are_the_evaluation_units_with_bounds_and_dataset_maxima(fashion_mnist_dir, cnn_run):
    rec, cache = cnn_run
    insts = benchmarks.instances("cnn-am", "smoke", data_dir=fashion_mnist_dir, cache_dir=cache)
    assert len(insts) == 2 and {i.role for i in insts} == {"evaluation"}
    ev = rec[(rec["role"] == "evaluation") & (rec["cell_kind"] == "am") & (rec["method"] == "plain")]
    assert [i.params["unit"] for i in insts] == list(dict.fromkeys(ev["unit"]))
    for inst in insts:
        assert inst.x0.shape == (2, 1, 8, 8) and inst.steps == 20 and inst.lr == {"adam": 0.05}
        assert {"upper_bound", "dataset_max"} <= set(inst.reference)
        assert inst.reference["dataset_max"] <= inst.reference["upper_bound"] + 1e-4
        unit = ev[ev["unit"] == inst.params["unit"]]
        assert inst.reference["upper_bound"] == float(unit["upper_bound"].iloc[0])
        assert inst.reference["dataset_max"] == float(unit["dataset_max"].iloc[0])
    rows, table = benchmarks.score("cnn-am", "smoke", {i.key: i.x0 for i in insts}, insts=insts)
    assert set(table["reference"]) == {"certified bound"} and int(table["n"].iloc[0]) == 2
    assert (rows["attained"] <= 1.0 + 1e-4).all()
    # the suite's own evaluation values, scored here from the same starts: the same f_start and f_best
    values = {i.key: torch.tensor(ev.loc[ev["unit"] == i.params["unit"], "f_best"].to_numpy()) for i in insts}
    rows, table = benchmarks.score("cnn-am", "smoke", values, method="plain", insts=insts)
    assert np.array_equal(rows["f_start"].to_numpy(), ev["f_start"].to_numpy())
    assert np.array_equal(rows["f_best"].to_numpy(), ev["f_best"].to_numpy())
    per_unit = ev.groupby("unit", sort=False).agg(F=("f_best", "max"), F0=("f_start", "max"),
                                                  U=("upper_bound", "first"))
    gap_closed = (per_unit["F"] - per_unit["F0"]) / (per_unit["U"] - per_unit["F0"])
    assert table["median"].iloc[0] == float(np.median(gap_closed))
    with pytest.raises(ValueError, match=f"{insts[0].key}.*exceeds the certified bound"):
        benchmarks.score("cnn-am", "smoke", {**values, insts[0].key: torch.full(
            (2,), insts[0].reference["upper_bound"] + 1.0)}, insts=insts)


def test_cnn_tuning_units_are_disjoint_and_start_where_the_suite_starts(fashion_mnist_dir, cnn_run):
    rec, cache = cnn_run
    tune = benchmarks.instances("cnn-am", "smoke", role="tuning", data_dir=fashion_mnist_dir, cache_dir=cache)
    evaluation = benchmarks.instances("cnn-am", "smoke", data_dir=fashion_mnist_dir, cache_dir=cache)
    assert len(tune) == 1 and {i.role for i in tune} == {"tuning"}
    assert not {i.key for i in tune} & {i.key for i in evaluation}
    tr = rec[(rec["role"] == "tuning") & (rec["method"] == "plain")]
    k = int(tr["lr_index"].iloc[0])
    tr = tr[tr["lr_index"] == k]
    assert [i.params["unit"] for i in tune] == list(dict.fromkeys(tr["unit"]))
    assert tune[0].x0.shape[0] == tune[0].tuning.starts
    values = {i.key: torch.tensor(tr.loc[tr["unit"] == i.params["unit"], "f_best"].to_numpy()) for i in tune}
    rows, _ = benchmarks.score("cnn-am", "smoke", values, role="tuning", insts=tune)
    assert np.array_equal(rows["f_start"].to_numpy(), tr["f_start"].to_numpy())
    chosen = rec[(rec["role"] == "evaluation") & (rec["cell_kind"] == "am") & (rec["method"] == "plain")]
    by_k = {int(kk): {i.key: torch.tensor(g.loc[g["unit"] == i.params["unit"], "f_best"].to_numpy()) for i in tune}
            for kk, g in rec[(rec["role"] == "tuning") & (rec["method"] == "plain")].groupby("lr_index")}
    assert benchmarks.choose_lr(tune, "adam", by_k).k == int(chosen["lr_index"].iloc[0])


CNN_UNTRAINED = """
[p]
methods = ["plain"]
optimizers = ["adam"]
starts = 2
steps = 5
lr = 0.05
dead_epsilon = 1e-3

[p.tuning]
adam = { low = 0.01, high = 0.1 }

[[p.models]]
name = "fmnist-tiny8"
weights = "random-init"
logits = [0, 1, 2, 3]
tune_units = 1
eval_units = 2
"""


def test_cnn_table_keeps_to_trained_models_as_the_leaderboard(fashion_mnist_dir, tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(CNN_UNTRAINED)
    insts = benchmarks.instances("cnn-am", "p", config_file=conf, data_dir=fashion_mnist_dir, cache_dir=tmp_path)
    assert insts and all(i.params["trained"] is False and i.role == "evaluation" for i in insts)
    assert all("upper_bound" not in i.reference and i.reference["dataset_max"] > 0 for i in insts)
    rows, table = benchmarks.score("cnn-am", "p", {i.key: i.x0 for i in insts}, insts=insts)
    assert len(rows) == 2 * len(insts) and set(rows["reference"]) == {"best found"} and table.empty


def test_the_experiments_say_whether_they_give_out_instances():
    """``benchmarks.instances`` asks each experiment's manifest (``public_api()``); it names no experiment."""
    from benchmarks import public

    assert public.experiments() == ["toy-am", "cnn-am"]
    with pytest.raises(public.ConfigError, match="no public instances for 'training'; choose from toy-am, cnn-am"):
        benchmarks.instances("training", "smoke")
    with pytest.raises(public.ConfigError, match="no public instances for 'nope'"):
        benchmarks.instances("nope", "smoke")
