"""benchmarks.domain.training and the ``training`` experiment: determinism, resume, rules, errors, analysis."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks.framework import config, store
from benchmarks.domain import data, models, training
from benchmarks.framework.config import ConfigError
from benchmarks.experiments.training import analysis as ana
from benchmarks.experiments.training import experiment as exp
from benchmarks.framework.runner import RunContext, run
from proxygrad import rules

KW = dict(epochs=3, lr=0.05, batch_size=32, seed=3)
N_TRAIN = 96


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tests' networks are tiny, and the machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sets():
    return data.load("synthetic", "train", limit=N_TRAIN), data.load("synthetic", "test", limit=64)


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_rows_schedule_and_learning(sets):
    model = models.build_seeded(0, "small_cnn")
    rows = training.train(model, *sets, **{**KW, "epochs": 4, "lr": 0.2, "batch_size": 16})
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert all(list(r) == list(training.ROW_KEYS) for r in rows)
    steps = math.ceil(N_TRAIN / 16)
    assert [r["lr"] for r in rows] == [training.lr_at(e * steps, 4 * steps, 0.2, "cosine") for e in range(4)]
    assert rows[0]["lr"] == 0.2 and rows[-1]["lr"] < rows[0]["lr"]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["test_acc"] > 0.5  # 10 classes: chance is 0.1
    loss, acc = training.evaluate(model, sets[1])
    assert (loss, acc) == (rows[-1]["test_loss"], rows[-1]["test_acc"])


def test_same_seed_repeats_bit_for_bit(sets):
    a, b = models.build_seeded(1, "small_cnn"), models.build_seeded(1, "small_cnn")
    ra = training.train(a, *sets, **KW)
    rb = training.train(b, *sets, **KW)
    assert _strip(ra) == _strip(rb) and _same_state(a, b)
    c = models.build_seeded(1, "small_cnn")
    rc = training.train(c, *sets, **{**KW, "seed": 4})
    assert _strip(rc) != _strip(ra)


def test_plain_slope_rule_equals_conventional_training(sets):
    """rule slope(0) on a ReLU net back-propagates the plain gradient: same data order, same result."""
    a, b = models.build_seeded(2, "small_cnn"), models.build_seeded(2, "small_cnn")
    ra = training.train(a, *sets, **KW)
    rb = training.train(b, *sets, rule=rules.slope(0.0), **KW)
    assert _strip(ra) == _strip(rb) and _same_state(a, b)
    c = models.build_seeded(2, "small_cnn")
    rc = training.train(c, *sets, rule=rules.slope(0.5), **KW)
    assert _strip(rc) != _strip(ra)  # the proxy rule changes the updates


def test_resume_after_interruption_equals_uninterrupted(sets, tmp_path, monkeypatch):
    ref = models.build_seeded(5, "small_cnn")
    ref_rows = training.train(ref, *sets, rule=rules.slope(0.3), **KW)

    real_eval = training.evaluate
    calls = {"n": 0}

    def crashing_eval(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed during epoch 3, after the epoch-2 checkpoint
        return real_eval(*a, **kw)

    monkeypatch.setattr(training, "evaluate", crashing_eval)
    first = models.build_seeded(5, "small_cnn")
    with pytest.raises(KeyboardInterrupt):
        training.train(first, *sets, rule=rules.slope(0.3), checkpoint_dir=tmp_path, **KW)
    monkeypatch.setattr(training, "evaluate", real_eval)
    saved = torch.load(tmp_path / training.CHECKPOINT_NAME, weights_only=True)["rows"]
    assert [r["epoch"] for r in saved] == [1, 2]
    resumed = models.build_seeded(99, "small_cnn")  # weights come from the checkpoint
    rows = training.train(resumed, *sets, rule=rules.slope(0.3), checkpoint_dir=tmp_path, **KW)
    assert _strip(rows) == _strip(ref_rows) and _same_state(resumed, ref)
    assert rows[:2] == saved  # the first two epochs were not trained again
    again = models.build_seeded(5, "small_cnn")
    assert _strip(training.train(again, *sets, rule=rules.slope(0.3), checkpoint_dir=tmp_path, **KW)) == _strip(rows)
    with pytest.raises(ValueError, match="another run"):
        training.train(models.build_seeded(5, "small_cnn"), *sets, checkpoint_dir=tmp_path, **KW)


class NaNAfter(nn.Module):
    """Passes its input through, but returns NaN from its ``k``-th training call on."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.calls = k, 0
        self.lin = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lin(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls >= self.k:
                out = out * float("nan")
        return out


def test_non_finite_loss_names_epoch_and_step(sets):
    steps = math.ceil(N_TRAIN / 32)
    with pytest.raises(training.NonFiniteLossError, match=r"epoch 2, step 3 of 3"):
        training.train(NaNAfter(steps + 3), *sets, **KW)


@pytest.mark.parametrize("bad, word", [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"),
                                       ({"batch_size": 0}, "batch_size"), ({"lr_schedule": "step"}, "step"),
                                       ({"momentum": 1.0}, "momentum"), ({"lr": float("nan")}, "lr"),
                                       ({"rule": "fast"}, "fast"), ({"rule": -1.0}, "-1")])
def test_bad_arguments_fail_before_writing(sets, tmp_path, bad, word):
    with pytest.raises(ValueError, match=word):
        training.train(models.build_seeded(0, "small_cnn"), *sets, checkpoint_dir=tmp_path / "ck", **{**KW, **bad})
    assert not (tmp_path / "ck").exists()


def test_evaluate_counts_exactly():
    x = torch.eye(4)
    y = torch.tensor([0, 1, 2, 0])
    model = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]]))
    loss, acc = training.evaluate(model, TensorDataset(x, y), batch_size=3)
    assert acc == 0.75  # item 3 is predicted class 2, labelled 0
    assert loss == pytest.approx(float(nn.functional.cross_entropy(model(x), y).detach()), rel=1e-6)


# ------------------------------------------------------------------------------------ the experiment
def test_profiles_parse_and_cells_are_paired(all_data_dir):
    for prof in config.PROFILES:
        cfg = exp.parse_config(config.load_profile("training", prof), data_dir=all_data_dir)
        cells = exp.cells(cfg)
        assert len(cells) == len(cfg.datasets) * len(cfg.archs) * len(exp.variants(cfg)) * len(cfg.seeds)
        assert len({c.key for c in cells}) == len(cells)
        for c in cells:
            store.check_key(c.key)
    quick = exp.parse_config(config.load_profile("training", "quick"), data_dir=all_data_dir)
    assert quick.datasets == ("fashion-mnist",) and len(quick.seeds) == 3 and quick.test_limit is None


@pytest.mark.parametrize("patch, word", [({"methods": ["relu", "adam"]}, "adam"), ({"methods": ["leaky"]}, "relu"),
                                         ({"epochs": 0}, "epochs"), ({"archs": ["resnet"]}, "resnet"),
                                         ({"backward_slopes": []}, "backward_slopes"), ({"lr": -0.1}, "lr"),
                                         ({"epoch": 3}, "epoch")])
def test_bad_profile_raises_config_error(patch, word):
    raw = {**config.load_profile("training", "smoke"), **patch}
    with pytest.raises(ConfigError, match=word):
        exp.parse_config(raw)


def test_smoke_run_records_meta_and_resume(tmp_path):
    raw = {**config.load_profile("training", "smoke"), "methods": ["relu", "proxygrad", "sugar-nelu"],
           "train_limit": 64, "test_limit": 32, "epochs": 2, "batch_size": 32}
    cfg = exp.parse_config(raw)
    out = tmp_path / "run"
    run("training", cfg, out, profile="smoke", progress=False)
    df = store.load_records(out)
    assert (out / "meta.json").is_file()
    assert len(df) == len(exp.cells(cfg)) * cfg.epochs
    assert set(df["dataset"]) == {"synthetic"} and df["synthetic"].all()
    assert set(df["variant"]) == {"relu", "proxygrad(s=0.3)", "sugar-nelu"}
    assert set(df["rule"]) == {"none", "slope=0.3", "nelu(alpha=0.1)"}
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())
    # a cell is a pure function of (cfg, cell): rerunning one gives the same rows but for the timings
    cell = exp.cells(cfg)[2]
    again = exp.run_cell(cfg, cell, RunContext(out_dir=tmp_path / "other"))
    first = df[df["variant"] == cell.params["method"] + "(s=0.3)"].query(f"seed == {cell.params['seed']}")
    assert [r["test_acc"] for r in again] == first["test_acc"].tolist()
    assert [r["train_loss"] for r in again] == first["train_loss"].tolist()
    tables = exp.analyze(df, tmp_path)
    assert set(tables) == {"final_accuracy", "paired_tests", "verdicts"}
    assert exp.claims(df)[0].verdict == "not tested"  # synthetic data is no benchmark
    paths = exp.figures(df, tmp_path / "fig")
    assert paths and all(p.is_file() for p in paths)


def _fake_records(diffs: dict[str, list[float]], dataset: str = "fashion-mnist", epochs: int = 2) -> pd.DataFrame:
    """Records where each variant's final accuracy is relu's plus the given per-seed difference."""
    rng = np.random.default_rng(0)
    n = len(next(iter(diffs.values())))
    base = 0.85 + 0.01 * rng.standard_normal(n)
    rows = []
    for variant, d in {"relu": [0.0] * n, **diffs}.items():
        method = variant.split("(")[0]
        am = exp.method_of(method, 0.3 if method.startswith("proxygrad") else None)
        for seed in range(n):
            for ep in range(1, epochs + 1):
                acc = base[seed] + d[seed] - 0.1 * (epochs - ep)
                rows.append({"dataset": dataset, "arch": "small_cnn", **am.columns(), "training_method": method,
                             "variant": variant,
                             "seed": seed, "epoch": ep, "train_loss": 1.0 / ep, "train_acc": acc,
                             "test_loss": 1.0 / ep, "test_acc": acc, "seconds": 1.0, "lr": 0.1})
    return pd.DataFrame(rows)


def test_verdict_rule_on_constructed_records():
    consistent = [0.02, 0.021, 0.019, 0.0205, 0.0195]
    rec = _fake_records({"proxygrad(s=0.3)": consistent, "leaky": [0.0, 0.001, -0.001, 0.0, 0.0]})
    fin = ana.final_accuracy(rec)
    relu = fin[fin["variant"] == "relu"].iloc[0]
    assert relu["epochs"] == 2 and relu["seeds"] == 5
    tests = ana.paired_tests(rec)
    assert (tests["p_t_holm"] >= tests["p_t"]).all()
    row = tests[tests["variant"] == "proxygrad(s=0.3)"].iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean(consistent)) and row["wins"] == 5
    assert exp.claims(rec)[0].verdict == "reproduced"
    noisy = _fake_records({"proxygrad(s=0.3)": [0.03, -0.02, 0.01]})
    claim = exp.claims(noisy)[0]
    assert claim.verdict == "partly reproduced" and "Power is low" in claim.rationale
    assert claim.rationale.startswith("Untuned comparison") and claim.rule == "some-gain"
    worse = _fake_records({"proxygrad(s=0.3)": [-0.01, -0.02, -0.015]})
    assert exp.claims(worse)[0].verdict == "not reproduced"
    assert exp.claims(_fake_records({"leaky": [0.01, 0.02]}))[0].verdict == "not tested"
    summary = exp.summarize(rec)
    assert summary["fashion-mnist/small_cnn/relu/final_test_acc"] == pytest.approx(relu["test_acc_mean"])


def test_run_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    raw = {**config.load_profile("training", "smoke"), "methods": ["relu", "proxygrad-leaky"],
           "train_limit": 64, "test_limit": 32, "epochs": 3, "batch_size": 32, "seeds": [0]}
    cfg = exp.parse_config(raw)
    cell = exp.cells(cfg)[1]
    ref = exp.run_cell(cfg, cell, RunContext(out_dir=None))
    real_eval, calls = training.evaluate, {"n": 0}

    def crashing_eval(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_eval(*a, **kw)

    monkeypatch.setattr(training, "evaluate", crashing_eval)
    ctx = RunContext(out_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        exp.run_cell(cfg, cell, ctx)
    assert (tmp_path / "checkpoints" / cell.key / training.CHECKPOINT_NAME).is_file()
    monkeypatch.setattr(training, "evaluate", real_eval)
    rows = exp.run_cell(cfg, cell, ctx)
    assert _strip(rows) == _strip(ref) and rows[0]["rule"] == "slope=0.3" and rows[0]["forward_slope"] == 0.01
    assert not (tmp_path / "checkpoints" / cell.key).exists()


# ------------------------------------------------------------------------------------ damaged checkpoints, bad values
@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing parts", "wrong shapes"])
def test_damaged_checkpoint_is_named_and_the_run_recomputed(sets, tmp_path, damage):
    ref_rows = training.train(models.build_seeded(5, "small_cnn"), *sets, rule=rules.slope(0.3), **KW)
    path = tmp_path / training.CHECKPOINT_NAME
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        training.train(models.build_seeded(5, "small_cnn"), *sets, rule=rules.slope(0.3), checkpoint_dir=tmp_path,
                       **{**KW, "epochs": 1})
        state = torch.load(path, weights_only=True)
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:3000])
        elif damage == "missing parts":
            del state["optimizer"]
            torch.save(state, path)
        else:
            state["fingerprint"]["epochs"] = KW["epochs"]
            state["model"] = {k: v[:1] for k, v in state["model"].items()}
            torch.save(state, path)
    with pytest.warns(RuntimeWarning, match=f"damaged training checkpoint {path}"):
        rows = training.train(models.build_seeded(5, "small_cnn"), *sets, rule=rules.slope(0.3),
                              checkpoint_dir=tmp_path, **KW)
    assert _strip(rows) == _strip(ref_rows)


def test_timing_columns_are_declared_and_the_rest_repeats(tmp_path):
    assert exp.TIMING_COLUMNS == ("seconds",)
    raw = {**config.load_profile("training", "smoke"), "methods": ["relu"], "seeds": [0], "train_limit": 64,
           "test_limit": 32, "epochs": 1, "batch_size": 32}
    cfg = exp.parse_config(raw)
    a = exp.run_cell(cfg, exp.cells(cfg)[0], RunContext(out_dir=tmp_path / "a"))
    b = exp.run_cell(cfg, exp.cells(cfg)[0], RunContext(out_dir=tmp_path / "b"))
    assert set(exp.TIMING_COLUMNS) <= set(a[0])
    drop = lambda rows: [{k: v for k, v in r.items() if k not in exp.TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert drop(a) == drop(b)


BAD_TRAINING = [
    ({"backward_slopes": [1e300]}, "training.backward_slopes[0] must be <= 10.0, got 1e+300"),
    ({"epochs": 2**63 - 1}, f"training.epochs must be <= 1000, got {2**63 - 1}"),
    ({"batch_size": 10**12}, "training.batch_size must be <= 65536"),
    ({"seeds": list(range(101))}, "training.seeds lists 101 seeds; at most 100"),
    ({"datasets": ["fashion-mnist"]}, "training.datasets[0] = 'fashion-mnist' is not on this machine"),
]


@pytest.mark.parametrize("patch, needle", BAD_TRAINING)
def test_bad_values_exit_2_naming_key_and_value_before_writing(patch, needle, tmp_path, capsys, monkeypatch):
    from benchmarks.framework.cli import main

    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PROXYGRAD_DATA", str(tmp_path / "no-cache"))
    raw = {**config.load_profile("training", "smoke"), **patch}
    with pytest.raises(ConfigError) as exc:
        exp.parse_config(raw, data_dir=tmp_path / "empty")
    assert needle in str(exc.value)
    conf = tmp_path / "c.toml"
    conf.write_text("[p]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in raw.items()))
    out = tmp_path / "out"
    assert main(["run", "training", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress",
                 "--data", str(tmp_path / "empty")]) == 2
    assert needle.replace("'", '"') in capsys.readouterr().err.replace("'", '"')
    assert not out.exists()


def test_data_given_with_data_dir_is_found(fashion_mnist_dir):
    raw = {**config.load_profile("training", "smoke"), "datasets": ["fashion-mnist"]}
    assert exp.parse_config(raw, data_dir=fashion_mnist_dir).datasets == ("fashion-mnist",)


def test_resume_over_a_garbage_checkpoint_names_it_and_recomputes_the_cell(tmp_path):
    raw = {**config.load_profile("training", "smoke"), "methods": ["relu"], "seeds": [0], "train_limit": 64,
           "test_limit": 32, "epochs": 2, "batch_size": 32}
    cfg = exp.parse_config(raw)
    ref = tmp_path / "ref"
    run("training", cfg, ref, profile="smoke", progress=False)
    out = tmp_path / "run"
    run("training", cfg, out, profile="smoke", progress=False)
    key = exp.cells(cfg)[0].key
    (out / "cells" / f"{key}.csv").unlink()  # as if killed while the cell was training
    (out / "checkpoints" / key).mkdir(parents=True)
    (out / "checkpoints" / key / training.CHECKPOINT_NAME).write_bytes(b"\x00garbage")
    with pytest.warns(RuntimeWarning, match=f"damaged training checkpoint .*{key}"):
        run("training", cfg, out, profile="smoke", progress=False, resume=True)
    cols = [c for c in store.load_records(ref).columns if c not in exp.TIMING_COLUMNS]
    pd.testing.assert_frame_equal(store.load_records(out)[cols], store.load_records(ref)[cols])
