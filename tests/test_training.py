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
    """Rows without their wall times; NaN as the string "nan" (NaN never equals itself)."""
    nan = lambda v: "nan" if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [{k: nan(v) for k, v in r.items() if k != "seconds"} for r in rows]


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
SMOKE_SMALL = {"train_limit": 64, "val_size": 48, "probe_size": 32, "test_limit": 32, "epochs": 2, "batch_size": 32}


def _smoke(**patch):
    return exp.parse_config({**config.load_profile("training", "smoke"), **SMOKE_SMALL, **patch})


def _initial(cfg):
    return len(cfg.datasets) * len(cfg.archs) * len(exp.variants(cfg)) * len(cfg.lr_grid.initial()) * len(cfg.tune_seeds)


def _done(cfg, val_acc, *, diverged=lambda g, k: False, seeds=None):
    """Records of every tuning cell of the grid indices ``val_acc`` lists: last-epoch ``val_acc[k]`` per variant
    (a function of (activation, method label, k) or a dict k -> value); test accuracies are noise."""
    rng = np.random.default_rng(0)
    rows = []
    for ds in cfg.datasets:
        for arch in cfg.archs:
            for a, m in exp.variants(cfg):
                ks = val_acc(a, m.label) if callable(val_acc) else val_acc
                for k, v in ks.items():
                    for s in seeds or cfg.tune_seeds:
                        for ep in (1, 2):
                            rows.append({"dataset": ds, "arch": arch, "activation": a, "method": m.label,
                                         "role": "tune", "lr_k": k, "seed": s, "epoch": ep, "val_acc": v,
                                         "test_acc": rng.random(), "diverged": diverged((a, m.label), k)})
    return pd.DataFrame(rows)


def test_profiles_parse_and_cells_are_paired(all_data_dir):
    for prof in config.profiles("training"):
        cfg = exp.parse_config(config.load_profile("training", prof), data_dir=all_data_dir)
        cells = exp.cells(cfg)
        assert cells == exp.cells(cfg, None)
        assert len(cells) == _initial(cfg)
        assert {c.params["role"] for c in cells} == {"tune"}
        assert len({c.key for c in cells}) == len(cells)
        for c in cells:
            store.check_key(c.key)
            assert c.params["lr"] == cfg.lr_grid.lr(c.params["lr_k"])
    quick = exp.parse_config(config.load_profile("training", "quick"), data_dir=all_data_dir)
    assert quick.datasets == ("fashion-mnist",) and len(quick.seeds) == 3 and quick.test_limit is None
    standard = exp.parse_config(config.load_profile("training", "standard"), data_dir=all_data_dir)
    assert len(standard.seeds) >= 10 and set(standard.archs) == {"small_cnn", "deep_cnn"}
    assert exp.BASELINE_METHOD in standard.methods and "relu" in standard.activations


def test_final_cells_are_paired_and_carry_the_chosen_lr():
    cfg = _smoke()
    ks = cfg.lr_grid.initial()
    done = _done(cfg, {k: 0.5 + (0.1 if k == ks[1] else 0.0) for k in ks})
    cells = exp.cells(cfg, done)
    assert [c.key for c in cells[: _initial(cfg)]] == [c.key for c in exp.cells(cfg)]
    final = [c for c in cells if c.params["role"] == "final"]
    assert len(final) == len(exp.variants(cfg)) * len(cfg.seeds)
    assert {c.params["lr_k"] for c in final} == {ks[1]} and {c.params["lr"] for c in final} == {cfg.lr_grid.lr(ks[1])}
    by_variant = {}
    for c in final:
        by_variant.setdefault((c.params["activation"], c.params["method"]), []).append(c.params["seed"])
    assert all(seeds == list(cfg.seeds) for seeds in by_variant.values())  # paired: every variant, every seed


def test_selection_uses_validation_data_only_and_extends_at_the_edge():
    cfg = _smoke()
    ks = cfg.lr_grid.initial()
    peak = {k: 0.4 + 0.1 * i for i, k in enumerate(ks)}  # best at the upper edge
    done = _done(cfg, peak)
    cells = exp.cells(cfg, done)
    new = cells[_initial(cfg):]
    assert new and all(c.params["role"] == "tune" and c.params["lr_k"] == ks[-1] + 1 for c in new)
    # the test accuracies in the records do not move the selection; the validation accuracies do
    scrambled = done.assign(test_acc=np.random.default_rng(1).random(len(done)))
    assert [c.key for c in exp.cells(cfg, scrambled)] == [c.key for c in cells]
    done2 = pd.concat([done, _done(cfg, {ks[-1] + 1: 0.1})], ignore_index=True)
    final = [c for c in exp.cells(cfg, done2) if c.params["role"] == "final"]
    assert final and {c.params["lr_k"] for c in final} == {ks[-1]}
    flipped = done2.assign(val_acc=np.where(done2["lr_k"] == ks[0], 0.99, done2["val_acc"]))
    low = [c for c in exp.cells(cfg, flipped) if c.params["lr_k"] == ks[0] - 1]
    assert low  # the best moved to the lower edge: the grid extends downwards


def _settle(cfg, done):
    """``cells(cfg, done)`` after the runner's rounds, with every listed final cell given a stored record
    (tuning cells must all be in ``done`` already)."""
    while True:
        cells = exp.cells(cfg, done)
        have = set(zip(done["role"], done["method"], done["lr_k"], done["seed"]))
        missing = [c for c in cells if (c.params["role"], c.params["method"].label, c.params["lr_k"],
                                        c.params["seed"]) not in have]
        if not missing:
            return cells
        assert all(c.params["role"] == "final" for c in missing)
        done = pd.concat([done, pd.DataFrame([{**{k: v for k, v in c.params.items() if k != "method"},
                                               "method": c.params["method"].label, "epoch": 1, "val_acc": 0.5,
                                               "diverged": False} for c in missing])], ignore_index=True)


def test_diverged_lrs_are_rejected_and_a_method_fails_only_when_all_diverge():
    cfg = _smoke(activations=["relu"], methods=["plain", "proxy-0.3"])
    ks = cfg.lr_grid.initial()
    best = {k: 0.5 + 0.1 * i for i, k in enumerate(ks)}  # rising: the top lr is best where it trains
    # proxy diverges at the highest lr, where plain is best: proxy's choice moves to a finite score
    done = _done(cfg, best, diverged=lambda g, k: g[1] == "proxy-0.3" and k == ks[-1])
    done = pd.concat([done, _done(cfg, {ks[-1] + 1: 0.1})], ignore_index=True)
    cells = _settle(cfg, done)
    chosen = {c.params["method"].label: c.params["lr_k"] for c in cells if c.params["role"] == "final"}
    assert chosen["plain"] == ks[-1] and chosen["proxy-0.3"] == ks[-2]
    # every lr diverges for proxy, down to the grid's lower limit: proxy is failed, plain goes on
    k_min = cfg.lr_grid.k_min
    everything = _done(cfg, {k: 0.9 if k == ks[1] else 0.5 for k in range(k_min, ks[-1] + 2)},
                       diverged=lambda g, k: g[1] == "proxy-0.3")
    cells = _settle(cfg, everything)
    final = {c.params["method"].label for c in cells if c.params["role"] == "final"}
    assert final == {"plain"}


def test_validation_split_is_disjoint_from_train_and_test(monkeypatch):
    train, val = exp.split_indices(100, val_size=20, train_limit=50, split_seed=3)
    assert len(train) == 50 and len(val) == 20 and not set(train.tolist()) & set(val.tolist())
    again = exp.split_indices(100, val_size=20, train_limit=50, split_seed=3)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)
    other = exp.split_indices(100, val_size=20, train_limit=50, split_seed=4)
    assert not torch.equal(other[1], val)  # the split is fixed by its seed
    rest, _ = exp.split_indices(100, val_size=20, train_limit=None, split_seed=3)
    assert len(rest) == 80 and not set(rest.tolist()) & set(val.tolist())
    with pytest.raises(ValueError, match="val_size=90"):
        exp.split_indices(100, val_size=90, train_limit=50, split_seed=3)
    cfg = _smoke()
    tr, va = exp.splits(cfg, "synthetic", None)
    te = data.load("synthetic", "test", limit=cfg.test_limit)
    rows = lambda ds: {tuple(x.flatten().tolist()) for x in ds.tensors[0]}  # noqa: E731
    assert len(tr) == cfg.train_limit and len(va) == cfg.val_size
    assert not rows(tr) & rows(va) and not rows(tr) & rows(te) and not rows(va) & rows(te)
    # a tuning cell never loads the test split; a final cell loads it (once, after training)
    loaded = []
    real = data.load
    monkeypatch.setattr(data, "load", lambda ds, split, *a, **kw: loaded.append(split) or real(ds, split, *a, **kw))
    exp.pool.cache_clear()
    tune = exp.cells(cfg)[0]
    exp.run_cell(cfg, tune, RunContext())
    assert "test" not in loaded
    final = exp.cell(cfg, ("synthetic", "small_cnn", "relu", exp.BASELINE_METHOD), "final", -2, 0)
    rows_final = exp.run_cell(cfg, final, RunContext())
    assert "test" in loaded
    assert all(math.isnan(r["test_acc"]) for r in rows_final[:-1]) and 0 <= rows_final[-1]["test_acc"] <= 1
    exp.pool.cache_clear()


@pytest.mark.parametrize("patch, word", [({"methods": ["plain", "adam"]}, "adam"),
                                         ({"methods": ["proxy-0.3"]}, "plain"), ({"activations": ["leaky"]}, "relu"),
                                         ({"methods": ["plain", "anneal"]}, "anneal"),
                                         ({"epochs": 0}, "epochs"), ({"archs": ["resnet"]}, "resnet"),
                                         ({"lr_grid": {"low": -0.1, "high": 0.1}}, "lr_grid.low"),
                                         ({"tune_seeds": [0]}, "share"),
                                         ({"probe_size": 1000}, "probe_size"), ({"backward_slopes": [0.3]}, "backward_slopes"),
                                         ({"epoch": 3}, "epoch")])
def test_bad_profile_raises_config_error(patch, word):
    raw = {**config.load_profile("training", "smoke"), **patch}
    with pytest.raises(ConfigError, match=word):
        exp.parse_config(raw)


def test_smoke_run_records_meta_and_resume(tmp_path):
    cfg = _smoke(activations=["relu", "leaky"], methods=["plain", "proxy-0.3", "nelu"])
    out = tmp_path / "run"
    path = run("training", cfg, out, profile="smoke", progress=False)
    df = store.load_records(out)
    assert (out / "meta.json").is_file()
    assert list(df.columns[:6]) == ["experiment", "suite_version", "method", "method_kind", "method_slope", "seed"]
    tune, final = df[df["role"] == "tune"], df[df["role"] == "final"]
    assert tune["test_acc"].isna().all() and (tune["n_test"] == 0).all()
    n_final = len(exp.variants(cfg)) * len(cfg.seeds)
    assert final.groupby(["variant", "seed"]).ngroups == n_final
    assert len(df) == len(store.read_meta(out)["cells"]) * cfg.epochs
    assert set(df["dataset"]) == {"synthetic"} and df["synthetic"].all()
    assert set(df["variant"]) == {"relu/plain", "relu/proxy-0.3", "relu/nelu", "leaky/plain", "leaky/proxy-0.3",
                                  "leaky/nelu"}
    assert set(df["rule"]) == {"none", "slope=0.3", "nelu(alpha=0.1)"}
    assert set(df["method_kind"]) == {"plain", "proxy", "nelu"} and set(df["method_slope"].dropna()) == {0.3}
    assert df["dead_fraction"].between(0, 1).all() and (df["grad_norm_1"] > 0).all()
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())
    # a cell is a pure function of (cfg, cell): rerunning one gives the same rows but for the timings
    cell = [c for c in exp.cells(cfg) if c.params["method"].kind == "proxy"][0]
    again = exp.run_cell(cfg, cell, RunContext(out_dir=tmp_path / "other"))
    first = tune[(tune["variant"] == "relu/proxy-0.3") & (tune["lr_k"] == cell.params["lr_k"])]
    assert [r["val_acc"] for r in again] == first["val_acc"].tolist()
    assert [r["train_loss"] for r in again] == first["train_loss"].tolist()
    assert [r["dead_fraction"] for r in again] == first["dead_fraction"].tolist()
    before = path.read_bytes()
    run("training", cfg, out, profile="smoke", progress=False, resume=True)
    assert path.read_bytes() == before
    tables = exp.analyze(df, tmp_path)
    assert set(tables) == {"tuning", "chosen_lrs", "stability", "final_accuracy", "divergence", "plateau",
                           "best_conventional", "paired_tests", "claim_C3", "claim_C3_itt", "mechanism"}
    lrs = tables["chosen_lrs"]
    for r in lrs.itertuples():
        assert r.lr == final[final["variant"] == r.variant]["lr"].iloc[0]
    assert exp.claims(df)[0].verdict == "not tested"  # synthetic data is no benchmark
    paths = exp.figures(df, tmp_path / "fig")
    assert paths and all(p.is_file() for p in paths)
    names = {p.stem for p in paths}
    assert "dead_synthetic_small_cnn" in names
    assert {f"mechanism_synthetic_small_cnn_{v.replace('/', '_')}" for v in set(df["variant"])} <= names


def test_a_diverging_cell_is_recorded_and_the_sweep_continues(tmp_path, monkeypatch):
    cfg = _smoke(activations=["relu"], methods=["plain", "proxy-0.3"])
    real = training.train
    threshold = cfg.lr_grid.lr(cfg.lr_grid.k_hi)

    def diverging(model, *a, lr, rule=None, **kw):
        # proxy diverges at every lr >= the initial grid's top, in epoch 2 step 1 (after a finished epoch)
        if rule is not None and lr >= threshold:
            rows = real(model, *a, lr=lr, rule=rule, **{**kw, "epochs": 1, "checkpoint_dir": None})
            raise training.NonFiniteLossError("non-finite training loss nan at epoch 2, step 1", epoch=2, step=1,
                                              rows=rows)
        return real(model, *a, lr=lr, rule=rule, **kw)

    monkeypatch.setattr(training, "train", diverging)
    out = tmp_path / "run"
    path = run("training", cfg, out, profile="smoke", progress=False)
    df = store.load_records(out)
    div = df[df["diverged"]]
    assert not div.empty and set(div["variant"]) == {"relu/proxy-0.3"} and (div["lr"] >= threshold).all()
    assert set(div["diverged_epoch"]) == {2} and set(div["diverged_step"]) == {1}
    assert len(div) == div.groupby(["lr_k", "seed"]).ngroups * 2  # the finished epoch, then the diverging one
    assert div[div["epoch"] == 2]["val_acc"].isna().all() and div[div["epoch"] == 1]["val_acc"].notna().all()
    lrs = ana.chosen_lrs(df).set_index("variant")
    assert lrs.loc["relu/proxy-0.3", "lr"] < threshold and not lrs["failed"].any()
    assert lrs.loc["relu/proxy-0.3", "diverged_runs"] >= 1
    assert set(df[df["role"] == "final"]["variant"]) == {"relu/plain", "relu/proxy-0.3"}
    before = path.read_bytes()
    run("training", cfg, out, profile="smoke", progress=False, resume=True)  # resuming reruns nothing
    assert path.read_bytes() == before

    # when every lr diverges, the method is failed and reported so; the others go on
    monkeypatch.setattr(training, "train", lambda model, *a, rule=None, lr, **kw: (_ for _ in ()).throw(
        training.NonFiniteLossError("nan", epoch=1, step=2)) if rule is not None else real(model, *a, lr=lr, **kw))
    out2 = tmp_path / "all"
    run("training", cfg, out2, profile="smoke", progress=False)
    df2 = store.load_records(out2)
    lrs2 = ana.chosen_lrs(df2).set_index("variant")
    assert bool(lrs2.loc["relu/proxy-0.3", "failed"]) and not bool(lrs2.loc["relu/plain", "failed"])
    proxy = df2[df2["variant"] == "relu/proxy-0.3"]
    assert set(proxy["role"]) == {"tune"} and proxy["diverged"].all()
    assert proxy["lr_k"].min() == cfg.lr_grid.k_min  # the sweep went down to the grid's limit
    assert "failed" in exp.claims(df2)[0].rationale


def test_a_real_divergence_is_recorded_with_its_epoch_and_step(tmp_path):
    """lr 10 (constant, no weight decay) makes seed 0's loss non-finite at epoch 3, step 2 on the smoke data."""
    grid = {"low": 0.01, "high": 0.1, "per_decade": 2, "min": 0.001, "max": 10.0}
    cfg = _smoke(epochs=3, lr_grid=grid, lr_schedule="constant", weight_decay=0.0, activations=["relu"],
                 methods=["plain"])
    cell = exp.cell(cfg, ("synthetic", "small_cnn", "relu", exp.BASELINE_METHOD), "tune", 2, 0)
    assert cell.params["lr"] == 10.0
    rows = exp.run_cell(cfg, cell, RunContext(out_dir=tmp_path))
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["diverged"] for r in rows)
    assert {(r["diverged_epoch"], r["diverged_step"]) for r in rows} == {(3, 2)}
    assert math.isnan(rows[-1]["val_acc"]) and not math.isnan(rows[0]["val_acc"])
    assert not (tmp_path / "checkpoints" / cell.key).exists()


def test_mechanism_probe_counts_dead_units_and_gradient_norms():
    from benchmarks.experiments.training import mechanism

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, -1.0, 0.0, 2.0]))  # units 2 and 3 never positive
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    overall, per = mechanism.dead_units(net, x)
    assert overall == 0.5 and per == [0.5]
    loss = torch.nn.functional.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    expected = [math.sqrt(float((grads[0] ** 2).sum() + (grads[1] ** 2).sum())),
                math.sqrt(float((grads[2] ** 2).sum() + (grads[3] ** 2).sum()))]
    assert mechanism.gradient_norms(net, x, y) == pytest.approx(expected, rel=1e-6)
    assert all(p.grad is None for p in net.parameters())
    # a proxy rule passes gradient through the dead units: the first layer's norm grows from 0 in their rows
    row = mechanism.probe(net, x, y, rules.slope(1.0))
    assert row["dead_fraction"] == 0.5 and math.isnan(row["dead_2"]) and math.isnan(row["grad_norm_3"])
    assert row["grad_norm_1"] > expected[0]


def test_observing_does_not_change_the_training(sets):
    from benchmarks.experiments.training import mechanism

    px, py = sets[1].tensors[0][:16], sets[1].tensors[1][:16]
    plain = training.train(models.build_seeded(5, "small_cnn"), *sets, rule=rules.slope(0.3), **KW)
    seen = training.train(models.build_seeded(5, "small_cnn"), *sets, rule=rules.slope(0.3), **KW,
                          observe=lambda m: mechanism.probe(m, px, py, rules.slope(0.3)))
    keep = lambda rows: [{k: r[k] for k in training.ROW_KEYS if k != "seconds"} for r in rows]  # noqa: E731
    assert keep(plain) == keep(seen) and set(mechanism.columns()) <= set(seen[0])


def _fake_records(diffs: dict[str, list[float]], dataset: str = "fashion-mnist", epochs: int = 2) -> pd.DataFrame:
    """Final records where each variant's final test accuracy is relu/plain's plus the given per-seed
    difference (variants named ``<activation>/<method label>``), and one tuning run per variant."""
    from benchmarks.framework import methods

    rng = np.random.default_rng(0)
    n = len(next(iter(diffs.values())))
    base = 0.85 + 0.01 * rng.standard_normal(n)
    rows = []
    for variant, d in {"relu/plain": [0.0] * n, **diffs}.items():
        activation, label = variant.split("/")
        am = methods.parse(label)
        common = {"dataset": dataset, "arch": "small_cnn", **am.columns(), "variant": variant,
                  "activation": activation, "num_classes": 10, "diverged": False, "lr": 0.1, "lr_k": -2,
                  "dead_fraction": 0.1, "seconds": 1.0, "train_loss": 0.5}
        for ep in range(1, epochs + 1):
            rows.append({**common, "role": "tune", "seed": 100, "epoch": ep, "val_acc": 0.8, "test_acc": math.nan})
        for seed in range(n):
            for ep in range(1, epochs + 1):
                acc = base[seed] + d[seed]
                rows.append({**common, "role": "final", "seed": seed, "epoch": ep, "val_acc": acc - 0.1 * (epochs - ep),
                             "test_acc": acc if ep == epochs else math.nan})
    return pd.DataFrame(rows)


def test_verdict_rule_on_constructed_records():
    consistent = [0.02, 0.021, 0.019, 0.0205, 0.0195]
    rec = _fake_records({"relu/proxy-0.3": consistent, "leaky/plain": [0.0, 0.001, -0.001, 0.0, 0.0]})
    fin = ana.final_accuracy(rec)
    relu = fin[fin["variant"] == "relu/plain"].iloc[0]
    assert relu["epochs"] == 2 and relu["seeds"] == 5
    tests = ana.paired_tests(rec)
    assert (tests["p_t_holm"] >= tests["p_t"]).all()
    row = tests[tests["variant"] == "relu/proxy-0.3"].iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean(consistent)) and row["wins"] == 5
    assert row["mde_acc"] > 0 and math.isfinite(row["mde_acc"])
    claim = exp.claims(rec)[0]
    assert claim.id == "C3" and claim.key == "training" and claim.verdict == "supported"
    assert set(claim.table["comparison"]) == {"same network, plain gradient", "best conventional (validation)"}
    assert claim.table["powered"].all() and "mde" in claim.rationale
    noisy = _fake_records({"relu/proxy-0.3": [0.03, -0.02, 0.01]})
    claim = exp.claims(noisy)[0]
    assert claim.verdict == "inconclusive" and claim.rationale.startswith("Smoke-scale view")
    assert "Tuned comparison" in claim.rationale and claim.rule == "some"
    assert "small_cnn/relu/proxy-0.3: 0.1" in claim.rationale
    worse = _fake_records({"relu/proxy-0.3": [-0.01, -0.02, -0.015, -0.012, -0.018, -0.011]})
    assert exp.claims(worse)[0].verdict == "contradicted"
    assert exp.claims(_fake_records({"leaky/plain": [0.01, 0.02]}))[0].verdict == "not tested"
    # a diverged final run is excluded from the tests (its seed drops out) and counted at chance in the ITT line
    broken = _fake_records({"relu/proxy-0.3": consistent})
    hit = (broken["variant"] == "relu/proxy-0.3") & (broken["seed"] == 0) & (broken["role"] == "final")
    broken.loc[hit, "diverged"] = True
    broken.loc[hit, "test_acc"] = math.nan
    broken.loc[hit & (broken["epoch"] == 2), "val_acc"] = math.nan
    cur = ana.curves(broken)
    assert set(cur[cur["variant"] == "relu/proxy-0.3"]["runs"]) == {4} and cur["val_acc_mean"].notna().all()
    fin = ana.final_rows(broken)
    hit_row = fin[(fin["variant"] == "relu/proxy-0.3") & (fin["seed"] == 0)].iloc[0]
    assert math.isnan(hit_row["score"]) and hit_row["itt"] == 0.1
    assert ana.paired_tests(broken).set_index("variant").loc["relu/proxy-0.3", "n"] == 4
    assert set(ana.claim_table(broken)["n"]) == {4} and set(ana.claim_table(broken, itt=True)["n"]) == {5}
    div = ana.analyze(broken, None)["divergence"].set_index("variant")
    assert div.loc["relu/proxy-0.3", "diverged_runs"] == 1 and div.loc["relu/plain", "diverged_runs"] == 0
    text = exp.claims(broken)[0].rationale
    assert "relu/proxy-0.3: 1 of 5" in text and "Intention to treat" in text
    summary = exp.summarize(rec)
    assert summary["fashion-mnist/small_cnn/relu/plain/final_test_acc"] == pytest.approx(relu["test_acc_mean"])


def test_run_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    cfg = _smoke(activations=["relu", "leaky"], methods=["plain", "proxy-0.3"], epochs=3, seeds=[0])
    cell = [c for c in exp.cells(cfg) if c.params["activation"] == "leaky" and c.params["method"].kind == "proxy"][0]
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
    cfg = _smoke(activations=["relu"], methods=["plain"], seeds=[0], epochs=1)
    a = exp.run_cell(cfg, exp.cells(cfg)[0], RunContext(out_dir=tmp_path / "a"))
    b = exp.run_cell(cfg, exp.cells(cfg)[0], RunContext(out_dir=tmp_path / "b"))
    assert set(exp.TIMING_COLUMNS) <= set(a[0])
    drop = lambda rows: [{k: v for k, v in r.items() if k not in exp.TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert drop(a) == drop(b)


BAD_TRAINING = [
    ({"lr_grid": {"low": 0.01, "high": 1e300}}, "training.lr_grid.high must be <= 1000000.0, got 1e+300"),
    ({"epochs": 2**63 - 1}, f"training.epochs must be <= 1000, got {2**63 - 1}"),
    ({"batch_size": 10**12}, "training.batch_size must be <= 65536"),
    ({"seeds": list(range(101))}, "training.seeds lists 101 seeds; at most 100"),
    ({"datasets": ["fashion-mnist"]}, "training.datasets[0] = 'fashion-mnist' is not on this machine"),
    ({"matched_lr": 0.05}, "training.matched_lr = 0.05 is not a point of the lr grid"),
    ({"tune_epochs": 3}, "training.tune_epochs = 3 exceeds epochs = 2"),
]


def _toml(value):
    """A TOML value: an inline table for a dict, else Python's repr with double quotes."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value).replace("'", '"')


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
    conf.write_text("[p]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in raw.items()))
    out = tmp_path / "out"
    assert main(["run", "training", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress",
                 "--data", str(tmp_path / "empty")]) == 2
    assert needle.replace("'", '"') in capsys.readouterr().err.replace("'", '"')
    assert not out.exists()


def test_data_given_with_data_dir_is_found(fashion_mnist_dir):
    raw = {**config.load_profile("training", "smoke"), "datasets": ["fashion-mnist"]}
    assert exp.parse_config(raw, data_dir=fashion_mnist_dir).datasets == ("fashion-mnist",)


def test_resume_over_a_garbage_checkpoint_names_it_and_recomputes_the_cell(tmp_path):
    cfg = _smoke(activations=["relu"], methods=["plain"], seeds=[0])
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


def test_deep_cnn_is_a_plain_deep_stack_with_he_init_and_fits_the_probe_slots():
    from benchmarks.experiments.training import mechanism

    relu = models.build_seeded(3, "deep_cnn")
    leaky = models.build_seeded(3, "deep_cnn", activation="leaky")
    assert _same_state(relu, leaky)  # paired: the rectifier does not change the initial weights
    kinds = [type(m) for m in relu.modules()]
    assert nn.BatchNorm2d not in kinds and kinds.count(nn.ReLU) == 7
    parametric = [m for m in relu.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(parametric) == 8 <= mechanism.SLOTS
    for m in parametric:
        fan_in = m.weight[0].numel()
        assert abs(float(m.weight.detach().std()) / math.sqrt(2.0 / fan_in) - 1) < 0.25 and not m.bias.any()
    x = torch.zeros(2, 1, 28, 28)
    assert relu(x).shape == (2, 10)
    row = mechanism.probe(relu, torch.randn(8, 1, 28, 28), torch.arange(8))
    assert all(math.isfinite(row[f"dead_{i}"]) for i in range(1, 8)) and math.isnan(row["dead_8"])


def test_paired_figure_plots_the_claim_family(tmp_path, monkeypatch):
    """C3's figure draws the claim family's rows (paired differences with their intervals), a panel per dataset/arch."""
    from benchmarks.experiments.training import figures as training_figures

    family = pd.DataFrame({"dataset": ["fashion-mnist"] * 2, "arch": ["small_cnn"] * 2,
                           "variant": ["relu/proxy-0.3", "leaky/proxy-0.3"], "mean_diff": [0.01, -0.2],
                           "diff_low": [-0.01, -0.3], "diff_high": [0.03, -0.1], "outcome": ["inconclusive", "lower"]})
    monkeypatch.setattr(training_figures, "claim_family", lambda records: family)
    paths = training_figures.paired_figure(pd.DataFrame(), tmp_path)
    assert {p.name for p in paths} == {"paired.png", "paired.pdf"}
    assert "C3" in training_figures.CLAIM_FIGURES
