"""cnn-am: config, cells, records (original values, shared starts, certified bounds), analysis, figures."""
from __future__ import annotations

import gzip
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from benchmarks.framework import config, methods, runner, store
from benchmarks.domain import data, zoo
from benchmarks.framework.config import ConfigError
from benchmarks.experiments.cnn_am import analysis as cnn_am_analysis
from benchmarks.experiments.cnn_am import experiment as cnn_am

SMALL_TV = "squeezenet1_1"  # a small torchvision classifier keeps the tests fast


def zoo_tv() -> str:
    """The torchvision model used by these tests."""
    return SMALL_TV

# ------------------------------------------------------------------------------------------ methods


def test_methods_resolve() -> None:
    from proxygrad import rules, schedules

    assert methods.resolve("plain", forward_slope=0.0, steps=10) == {"backward_slope": None, "proxy": "mixed"}
    assert methods.resolve("proxy-0.5", forward_slope=0.0, steps=10)["backward_slope"] == rules.slope(0.5)
    assert methods.resolve("network-0.25", forward_slope=0.01, steps=10) == {"backward_slope": 0.25, "proxy": "network"}
    assert methods.resolve("straight-through", forward_slope=0.0, steps=10)["backward_slope"] == rules.straight_through() == rules.slope(1.0)
    anneal = methods.resolve("anneal", forward_slope=0.01, steps=100)["backward_slope"]
    assert isinstance(anneal, schedules.Schedule)
    redirected = methods.resolve("redirected", forward_slope=0.0, steps=8)["backward_slope"]
    assert redirected.at(0, 8) == rules.redirected()
    for bad in ("proxy", "proxy-x", "proxy--1", "foo", "proxy-inf"):
        with pytest.raises(ValueError, match="proxy|foo"):
            methods.resolve(bad, forward_slope=0.0, steps=10)


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("profile", config.PROFILES)
def test_profiles_parse(profile: str, fashion_mnist_dir) -> None:
    cfg = cnn_am.parse_config(config.load_profile("cnn-am", profile), data_dir=fashion_mnist_dir)
    assert "plain" in [m.label for m in cfg.methods] and cfg.models


def _smoke_raw() -> dict:
    return config.load_profile("cnn-am", "smoke")


@pytest.mark.parametrize("change, match", [
    (lambda r: r.update(methods=["proxy-0.5"]), "plain"),
    (lambda r: r.update(methods=["plain", "warp-9"]), "warp-9"),
    (lambda r: r.update(stepz=3), "stepz"),
    (lambda r: r.update(optimizers=["sgd"]), "sgd"),
    (lambda r: r["models"][0].update(name="no-such-net"), "no-such-net"),
    (lambda r: r["models"][0].update(weights="imagenet"), "ImageNet"),
    (lambda r: r["models"][0].update(logits=[], layers=[]), "no units"),
])
def test_bad_config_names_the_value(change, match: str, fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    change(raw)
    with pytest.raises(ConfigError, match=match):
        cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)


def test_unknown_layer_in_config_is_named(fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw["models"][0]["layers"] = ["features.99"]
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    with pytest.raises(ValueError, match="features.99"):
        cnn_am.cells(cfg)


def test_cells_are_deterministic_and_valid_keys(fashion_mnist_dir) -> None:
    cfg = cnn_am.parse_config(config.load_profile("cnn-am", "quick"), data_dir=fashion_mnist_dir)
    a, b = cnn_am.cells(cfg), cnn_am.cells(cfg)
    assert a == b
    for c in a:
        store.check_key(c.key)
    resnet = [c for c in a if c.key.startswith("resnet18,")]
    assert resnet and len({c.key for c in a}) == len(a)


# ------------------------------------------------------------------------------------------ run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir) -> tuple[cnn_am.Config, pd.DataFrame]:
    cfg = cnn_am.parse_config(_smoke_raw(), data_dir=fashion_mnist_dir)
    cfg = replace(cfg, certify_time_limit=1.5, optimizers=("ascent",))
    out = tmp_path_factory.mktemp("cnn-am-smoke")
    path = runner.run(cnn_am, cfg, out / "run", progress=False, cache_dir=out / "cache", data_dir=fashion_mnist_dir)
    return cfg, store.read_csv(path)


def test_smoke_records_respect_the_certified_bound(smoke_run) -> None:
    cfg, df = smoke_run
    units = df["unit"].nunique()
    assert len(df) == units * len(cfg.methods) * cfg.starts
    bounded = df[df["upper_bound"].notna()]
    assert len(bounded) == len(df)  # the smoke model is certified
    assert (bounded["f_best"] <= bounded["upper_bound"] + cnn_am.BOUND_TOL * bounded["upper_bound"].abs().clip(lower=1)).all()
    assert bounded["bound_ok"].astype(str).eq("True").all()
    assert (bounded["gap_lower"] <= bounded["gap_upper"] + 1e-9).all()
    proven = bounded[bounded["cert_status"] == "optimal"]
    assert (proven["optimum"] <= proven["upper_bound"] + 1e-6).all()


def test_smoke_records_share_starts_and_hold_original_values(smoke_run) -> None:
    cfg, df = smoke_run
    for _, g in df.groupby(["unit", "start"]):
        assert g["f_start"].nunique() == 1  # same starts for every method
    assert (df["f_best"] >= df["f_start"] - 1e-6).all()
    assert set(df["weights"]) == {zoo.load("fmnist-tiny8").weights_label}
    has = df["dataset_max"].notna()
    assert has.all() and (df.loc[has, "beats_dataset"].astype(bool) == (df.loc[has, "f_best"] > df.loc[has, "dataset_max"])).all()


def test_f_best_is_the_original_network_value(fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw["models"][0].update(certify=False, logits=[3])
    cfg = replace(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), optimizers=("ascent",), steps=8)
    cell = cnn_am.cells(cfg)[0]
    rows = cnn_am.run_cell(cfg, cell, runner.RunContext())
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    f = cnn_am.objective(zm, cell.params["kind"], cell.params["layer"], cell.params["index"])
    from proxygrad import maximize

    for method in cfg.methods:
        args = methods.resolve(method, forward_slope=zm.forward_slope, steps=cfg.steps)
        res = maximize(f, starts=cfg.starts, seed=cnn_am._seed_of(cfg.seed, cell.key), steps=cfg.steps,
                       lr=cfg.lr, optimizer=cell.params["optimizer"], shape=zm.input_shape, **args)
        with torch.no_grad():
            plain_value = f(res.best_input)  # the plain network, no interception
        got = [r["f_best"] for r in rows if r["method"] == method.label]
        assert got == [float(v) for v in plain_value.double()]
        assert got == pytest.approx(res.best_value.double().tolist(), rel=1e-6)


def test_run_cell_is_deterministic(fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw["models"][0]["certify"] = False
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    cfg = replace(cfg, optimizers=("ascent",), steps=5)
    cell = cnn_am.cells(cfg)[-1]
    a = cnn_am.run_cell(cfg, cell, runner.RunContext())
    b = cnn_am.run_cell(cfg, cell, runner.RunContext())
    assert a == b


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_dataset_max_from_a_test_made_idx_file(tmp_path: Path, fashion_mnist_dir) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    for split in ("train", "t10k"):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, 0x803)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels, 0x801)
    raw = _smoke_raw()
    raw["models"][0].update(certify=False, logits=[0, 7])
    cfg = replace(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=3, optimizers=("ascent",))
    assert {c.params["kind"] for c in cnn_am.cells(cfg)} == {"logit", "channel"}
    for cell in cnn_am.cells(cfg):
        rows = cnn_am.run_cell(cfg, cell, runner.RunContext(data_dir=tmp_path))
        zm = cnn_am.load_model(cfg.models[0], cfg.seed)
        f = cnn_am.objective(zm, cell.params["kind"], cell.params["layer"], cell.params["index"])
        x = F.adaptive_avg_pool2d(torch.tensor(images, dtype=torch.float32)[:, None] / 127.5 - 1.0, 8)
        with torch.no_grad():
            expected = float(f(x).max())
        assert all(r["dataset_max_n"] == 7 for r in rows)
        assert all(r["dataset_max"] == pytest.approx(expected, rel=1e-6, abs=1e-6) for r in rows)


def test_missing_data_labels_the_dataset_max_unavailable(monkeypatch: pytest.MonkeyPatch, fashion_mnist_dir) -> None:
    """Data that disappears after validation: run_cell labels the dataset maximum unavailable."""
    raw = _smoke_raw()
    raw["models"][0]["certify"] = False
    cfg = replace(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=2, optimizers=("ascent",))
    monkeypatch.setattr(data, "find_fashion_mnist", lambda data_dir=None: None)
    cnn_am._dataset_max.cache_clear()
    try:
        rows = cnn_am.run_cell(cfg, cnn_am.cells(cfg)[0], runner.RunContext())
    finally:
        cnn_am._dataset_max.cache_clear()
    assert all(math.isnan(r["dataset_max"]) and r["beats_dataset"] is None for r in rows)
    assert all(r["dataset_max_source"].startswith("unavailable") for r in rows)


def test_random_init_models_are_labelled_in_every_record(fashion_mnist_dir) -> None:
    raw = {"methods": ["plain", "proxy-0.5"], "optimizers": ["ascent"], "starts": 1, "steps": 2, "lr": 0.05,
           "models": [{"name": zoo_tv(), "weights": "random-init", "input_size": 32, "logits": [3]}]}
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    rows = cnn_am.run_cell(cfg, cnn_am.cells(cfg)[0], runner.RunContext())
    assert {r["weights"] for r in rows} == {"random-init"} and not any(r["trained"] for r in rows)
    assert all(math.isnan(r["dataset_max"]) for r in rows)


@pytest.mark.parametrize("kind, layer, index", [("channel", "1", 2), ("channel", "2", 1), ("channel", "5", 7),
                                                ("logit", None, 4)])
def test_certifiable_network_computes_the_objective(kind: str, layer: str | None, index: int) -> None:
    zm = zoo.load("fmnist-tiny8")
    net, out_index = cnn_am.certifiable(zm, kind, layer, index)
    f = cnn_am.objective(zm, kind, layer, index)
    x = torch.rand(6, *zm.input_shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x)[:, out_index], f(x), atol=1e-5)


def test_certifiable_rejects_non_sequential_models() -> None:
    with pytest.raises(ValueError, match="cannot certify"):
        cnn_am.certifiable(zoo.load(zoo_tv(), input_size=32), "logit", None, 0)


# ------------------------------------------------------------------------------------------ analysis


def _records(gain: float, units: int = 8, weights: str = "suite:abc", bound: bool = False) -> pd.DataFrame:
    rows = []
    for u in range(units):
        for method, extra in (("plain", 0.0), ("proxy-0.5", gain)):
            f = 1.0 + u + extra
            rows.append({"model": "m", "weights": weights, "trained": weights != "random-init", "optimizer": "adam",
                         "layer": "logits", "layer_depth": 1.0, "unit": f"logit={u}", **methods.parse(method).columns(), "start": 0, "lr": 0.05,
                         "f_best": f, "f_start": 0.0, "dataset_max": 1.5 + u,
                         "upper_bound": 1.0 + u + 2.0 if bound else math.nan,
                         "incumbent": 1.0 + u + 1.0 if bound else math.nan,
                         "optimum": 1.0 + u + 1.0 if bound else math.nan,
                         "cert_status": "optimal" if bound else "none"})
    return pd.DataFrame(rows)


def test_analysis_ratio_wins_and_claims() -> None:
    df = _records(gain=1.0, bound=True)
    tables = cnn_am_analysis.analyze(df)
    att = tables["attained"].set_index("method")
    assert att.loc["plain", "median_ratio"] == 1.0
    expected = float(np.median([1 + 1 / (1 + u) for u in range(8)]))
    assert att.loc["proxy-0.5", "median_ratio"] == pytest.approx(expected)
    assert att.loc["proxy-0.5", "beats_dataset"] == 1.0 and att.loc["plain", "beats_dataset"] == 0.0
    tests = tables["tests"]
    assert set(tests["layer"]) == {"all", "logits"} and (tests["wins"] == 8).all()
    assert (tests["p_holm"] >= tests["p"]).all()
    cert = tables["certified"].set_index("method")
    assert cert.loc["plain", "short"] == 8 and cert.loc["proxy-0.5", "reached_optimum"] == 8
    assert cert.loc["plain", "bound_violations"] == 0
    claims = {c.key: c for c in cnn_am_analysis.claims(df)}
    assert claims["slope-raises-maxima"].verdict == "reproduced"
    assert claims["slope-raises-maxima"].rationale.startswith("Untuned comparison") and "lr = 0.05" in \
        claims["slope-raises-maxima"].rationale and claims["slope-raises-maxima"].rule == "majority-no-loss"
    assert claims["beyond:certified-gaps-cnn"].verdict == "reproduced"


def test_claims_fail_or_skip_honestly() -> None:
    worse = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=-1.0))}
    assert worse["slope-raises-maxima"] == "not reproduced"
    assert worse["beyond:certified-gaps-cnn"] == "not tested"
    random = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=1.0, weights="random-init"))}
    assert random["slope-raises-maxima"] == "not tested"
    few = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=1.0, units=3))}
    assert few["slope-raises-maxima"] == "not tested"


def test_analysis_and_figures_from_stored_records(smoke_run, tmp_path: Path) -> None:
    _, df = smoke_run
    tables = cnn_am.analyze(df, tmp_path)
    assert set(tables) == {"attained", "tests", "certified"} and not tables["certified"].empty
    assert (tables["certified"]["bound_violations"] == 0).all()
    summary = cnn_am.summarize(df)
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert len(cnn_am.claims(df)) == 2
    paths = cnn_am.figures(df, tmp_path / "fig")
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_out_of_range_logit_and_uncertifiable_model_are_config_errors(fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw["models"][0]["logits"] = [10]
    with pytest.raises(ConfigError, match=r"\[10\]"):
        cnn_am.cells(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir))
    raw = {"methods": ["plain"], "starts": 1, "steps": 1, "lr": 0.1,
           "models": [{"name": zoo_tv(), "input_size": 32, "logits": [0], "certify": True}]}
    with pytest.raises(ConfigError, match="cannot be certified"):
        cnn_am.cells(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir))


# ------------------------------------------------------------------------------------------ fresh machine, bad values


def test_smoke_dataset_max_comes_from_the_tests_own_files(smoke_run, fashion_mnist_dir) -> None:
    _, df = smoke_run
    n = len(data.load("fashion-mnist", "test", fashion_mnist_dir))
    assert n < 10000  # the test-made files, not the real test split
    assert (df["dataset_max_n"] == n).all()
    assert df["dataset_max_source"].eq(f"fashion-mnist:test[:{n}]").all()


def test_every_row_carries_the_suite_version(smoke_run) -> None:
    from benchmarks.framework.meta import suite_version

    _, df = smoke_run
    assert df["suite_version"].astype(str).eq(suite_version()).all()


def test_missing_data_set_is_a_config_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PROXYGRAD_DATA", str(tmp_path / "no-cache"))
    with pytest.raises(ConfigError, match=r"cnn-am.models\[0\] = 'fmnist-tiny8' needs the data set 'fashion-mnist'"):
        cnn_am.parse_config(_smoke_raw(), data_dir=tmp_path / "empty")


@pytest.mark.parametrize("key, value, needle", [
    ("starts", 10**12, "cnn-am.starts must be <= 1024, got 1000000000000"),
    ("steps", 2**63 - 1, f"cnn-am.steps must be <= 100000, got {2**63 - 1}"),
    ("lr", float("nan"), "cnn-am.lr must be finite, got nan"),
])
def test_sizes_have_upper_limits(key: str, value, needle: str, fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw[key] = value
    with pytest.raises(ConfigError) as exc:
        cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    assert needle in str(exc.value)


def test_certify_on_a_network_the_certifier_cannot_take_fails_before_writing(tmp_path: Path, capsys,
                                                                            fashion_mnist_dir) -> None:
    """fmnist-vgg-relu has MaxPool2d: the certifier's own layer reader refuses it at validation."""
    from benchmarks.framework.cli import main
    from toy_functions.network import leaves

    zm = zoo.load("fmnist-vgg-relu")
    try:
        leaves(zm.model)
    except ValueError as exc:
        refusal = str(exc)
    else:
        pytest.skip("the certifier takes every layer of fmnist-vgg-relu")
    conf = tmp_path / "c.toml"
    conf.write_text('[p]\nmethods = ["plain"]\nstarts = 1\nsteps = 2\nlr = 0.05\n'
                    '[[p.models]]\nname = "fmnist-vgg-relu"\nlogits = [0]\ncertify = true\n')
    out = tmp_path / "out"
    code = main(["run", "cnn-am", "--profile", "p", "--config", str(conf), "--out", str(out),
                 "--data", str(fashion_mnist_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "certify = true" in err and "fmnist-vgg-relu" in err and refusal in err
    assert not out.exists()
    code = main(["run", "cnn-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress",
                 "--data", str(tmp_path / "nothing-here")])
    assert code == 2 and not out.exists()


def test_damaged_model_manifest_is_a_config_error_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  fashion_mnist_dir) -> None:
    import shutil

    for suffix in (".pt", ".json"):
        shutil.copy(zoo.MODELS_DIR / f"fmnist-tiny8{suffix}", tmp_path / f"fmnist-tiny8{suffix}")
    (tmp_path / "fmnist-tiny8.json").write_text("{garbage")
    monkeypatch.setattr(zoo, "MODELS_DIR", tmp_path)
    cnn_am._load.cache_clear()
    try:
        with pytest.raises(ConfigError, match=f"manifest {tmp_path / 'fmnist-tiny8.json'}"):
            cnn_am.cells(cnn_am.parse_config(_smoke_raw(), data_dir=fashion_mnist_dir))
    finally:
        cnn_am._load.cache_clear()
