"""A new backward rule is one constructor and one table entry, and then toy-am, cnn-am and training run it.

The rule here is a constant factor ``c`` on the negative side, written as a rule with a factor function
(``r(x) = c``): the op applies it through its ``factor`` form, so its gradient must equal ProxyGrad's slope
rule ``slope(c)`` exactly.  The test registers it (the constructor below and one entry of
``benchmarks.framework.methods.KINDS``, restored by monkeypatch) and runs trimmed smoke profiles of the
three experiments through the command line's ``run``, each naming the method ``constant``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.framework import methods
from benchmarks.framework.cli import main
from proxygrad import rules
from proxygrad.op import rectify

#: The factor of the new rule: that of the toy-am profile's ``proxy-0.5``, so their runs must agree.
C = 0.5


def _constant_factor(x: torch.Tensor, c: float) -> torch.Tensor:
    return torch.full_like(x, c)


def constant(c: float = C) -> rules.BackwardRule:
    """The one constructor: negative-side factor ``c`` everywhere, as a factor function of ``x``."""
    return rules.BackwardRule("constant", (("c", rules.check_slope(c, "c")),), factor=_constant_factor)


@pytest.fixture()
def new_rule(monkeypatch: pytest.MonkeyPatch) -> str:
    """The one table entry (removed again after the test): a trainable peer rule without a slope."""
    monkeypatch.setitem(methods.KINDS, "constant", methods.Kind("none", methods.rule(constant), trainable=True,
                                                                peer=True))
    return "constant"


TOY_AM = """
[smoke]
seed = 0
instances = 1
tuning_instances = 1
starts = 2
steps = 8
targets = [1e-1]
methods = ["plain", "proxy-0.5", "constant"]
claim_method = "proxy-0.5"
optimizers = [{ name = "ascent", lr = 0.05, grid = { low = 0.1, high = 0.3, min = 0.03, max = 1.0 } }]
families = [{ name = "dead_unit", dims = [2] }, { name = "race_of_patterns_leaky", dims = [2] }]
"""

TRAINING = """
[smoke]
datasets = ["synthetic"]
archs = ["small_cnn"]
activations = ["relu"]
methods = ["plain", "constant"]
seeds = [0]
tune_seeds = [100]
epochs = 1
batch_size = 64
lr_grid = { low = 0.01, high = 0.1, per_decade = 2, min = 0.001, max = 1.0 }
train_limit = 128
val_size = 64
test_limit = 64
probe_size = 32
"""

CNN_AM = """
[smoke]
methods = ["plain", "constant"]
fixed_methods = ["plain", "constant"]
optimizers = ["adam"]
starts = 1
steps = 5
checkpoints = [5]
lr = 0.05
seed = 0
dataset_limit = 100
dead_epsilon = 1e-3

[smoke.tuning]
adam = { low = 0.01, high = 0.1, per_decade = 1, min = 0.01, max = 1.0 }

[[smoke.models]]
name = "fmnist-tiny8"
layers = ["1"]
tune_units = 1
eval_units = 1
"""


def _run(experiment: str, text: str, tmp_path: Path, *extra: str) -> pd.DataFrame:
    conf = tmp_path / f"{experiment}.toml"
    conf.write_text(text)
    out = tmp_path / experiment
    code = main(["run", experiment, "--profile", "smoke", "--config", str(conf), "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "--no-progress", *extra])
    assert code == 0
    return pd.read_csv(out / "records.csv")


def _rows_of(records: pd.DataFrame, method: str) -> pd.DataFrame:
    rows = records[records["method"] == method]
    assert not rows.empty and (rows["method_kind"] == method).all() and rows["method_slope"].isna().all()
    return rows


def test_the_new_rule_is_the_constant_slope_in_the_op():
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(4, 7, dtype=torch.float64)
    (new,) = torch.autograd.grad(rectify(x, constant()), x, grad)
    (ref,) = torch.autograd.grad(rectify(x, rules.slope(C)), x, grad)
    assert torch.equal(new, ref)
    assert constant() == constant(C) and constant().label == f"constant(c={C:g})"


def test_a_rule_without_a_factor_or_a_table_entry_is_refused():
    with pytest.raises(ValueError, match="unknown backward rule 'mystery'"):
        rectify(torch.zeros(3, requires_grad=True), rules.BackwardRule("mystery"))
    with pytest.raises(ValueError, match="unknown method"):
        methods.parse("constant")  # not a kind until the table lists it


def test_the_new_rule_runs_in_toy_am(new_rule, tmp_path):
    from benchmarks.experiments.toy_am.declared_claims import claim_specs

    records = _run("toy-am", TOY_AM, tmp_path)
    new, ref = _rows_of(records, new_rule), records[records["method"] == "proxy-0.5"]
    assert set(new["role"]) == {"tuning", "evaluation", "fixed"}
    keys = ["role", "tuning_round", "family", "dim", "seed", "optimizer", "lr_index", "start"]
    a, b = (r.sort_values(keys, na_position="first") for r in (new, ref))
    np.testing.assert_array_equal(a["f_best"].to_numpy(), b["f_best"].to_numpy())  # the same arithmetic
    peers = [s for s in claim_specs(records) if s.key == "beyond:peers"]
    assert peers and peers[0].methods == (new_rule,)  # the peer trait puts it in the peer claim


def test_the_new_rule_trains_a_network(new_rule, tmp_path):
    records = _run("training", TRAINING, tmp_path)
    new = _rows_of(records, new_rule)
    assert set(new["variant"]) == {"relu/constant"} and (new["rule"] == f"constant(c={C:g})").all()
    assert {"tune", "final"} <= set(new["role"]) and np.isfinite(new["train_loss"]).all()


def test_the_new_rule_runs_in_cnn_am(new_rule, tmp_path, fashion_mnist_dir):
    records = _run("cnn-am", CNN_AM, tmp_path, "--data", str(fashion_mnist_dir))
    new = _rows_of(records, new_rule)
    assert {"tuning", "evaluation", "fixed"} <= set(new["role"]) and np.isfinite(new["f_best"]).all()
