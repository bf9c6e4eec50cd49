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
from benchmarks.experiments.cnn_am import networks as cnn_am_networks

SMALL_TV = "squeezenet1_1"  # a small torchvision classifier keeps the tests fast


def zoo_tv() -> str:
    """The torchvision model used by these tests."""
    return SMALL_TV

# ------------------------------------------------------------------------------------------ methods


def test_methods_maximize_kwargs() -> None:
    from proxygrad import rules, schedules

    assert methods.parse("plain").maximize_kwargs(forward_slope=0.0, steps=10) == {"backward_slope": None, "proxy": "mixed"}
    assert methods.parse("proxy-0.5").maximize_kwargs(forward_slope=0.0, steps=10)["backward_slope"] == rules.slope(0.5)
    assert methods.parse("network-0.25").maximize_kwargs(forward_slope=0.01, steps=10) == {"backward_slope": 0.25, "proxy": "network"}
    assert methods.parse("straight-through").maximize_kwargs(forward_slope=0.0, steps=10)["backward_slope"] == rules.straight_through() == rules.slope(1.0)
    anneal = methods.parse("anneal").maximize_kwargs(forward_slope=0.01, steps=100)["backward_slope"]
    assert isinstance(anneal, schedules.Schedule)
    redirected = methods.parse("redirected").maximize_kwargs(forward_slope=0.0, steps=8)["backward_slope"]
    assert redirected.at(0, 8) == rules.redirected()
    for bad in ("proxy", "proxy-x", "proxy--1", "foo", "proxy-inf"):
        with pytest.raises(ValueError, match="proxy|foo"):
            methods.parse(bad).maximize_kwargs(forward_slope=0.0, steps=10)


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("profile", config.profiles("cnn-am"))
def test_profiles_parse(profile: str, fashion_mnist_dir) -> None:
    cfg = cnn_am.parse_config(config.load_profile("cnn-am", profile), data_dir=fashion_mnist_dir)
    assert "plain" in [m.label for m in cfg.methods] and cfg.models


def _smoke_raw() -> dict:
    return config.load_profile("cnn-am", "smoke")


def _tv_raw(**changes) -> dict:
    """A tiny profile on the small torchvision classifier (random init)."""
    raw = {"methods": ["plain", "proxy-0.5"], "optimizers": ["ascent"], "starts": 1, "steps": 2, "lr": 0.05,
           "dead_epsilon": 0.0, "tuning": {"ascent": {"low": 0.05, "high": 0.05, "per_decade": 1, "min": 0.05,
                                                   "max": 0.05}},
           "models": [{"name": zoo_tv(), "weights": "random-init", "input_size": 32, "logits": [3],
                       "tune_units": 1, "eval_units": 1}]}
    raw.update(changes)
    return raw


def _ascent(cfg: cnn_am.Config, steps: int | None = None) -> cnn_am.Config:
    """``cfg`` with the ascent optimizer only, on a two-point grid that cannot extend."""
    from benchmarks.framework.tuning import Grid

    return replace(cfg, optimizers=("ascent",), grids=(("ascent", Grid.from_lrs(0.05, 0.5, 1, lr_min=0.05,
                                                                                     lr_max=0.5)),),
                   steps=steps or cfg.steps, checkpoints=(steps,) if steps else cfg.checkpoints)


def _all_cells(cfg: cnn_am.Config, out: Path, data_dir: Path) -> tuple[list, pd.DataFrame]:
    """Run ``cfg`` to the end into ``out`` (data from ``data_dir``); (cells, records)."""
    path = runner.run(cnn_am, cfg, out, progress=False, cache_dir=out.parent / "cache", data_dir=data_dir)
    df = store.read_csv(path)
    return cnn_am.cells(cfg, df), df


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
    assert len({c.key for c in a}) == len(a) == len(cfg.models)
    # a torchvision model (random init) is listed too (quick keeps the trained models only)
    raw = _tv_raw()
    raw["models"][0].update(name="resnet18", layers=["layer1"], logits=[1, 500])
    tv = cnn_am.cells(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir))
    resnet = [c for c in tv if c.key.startswith("resnet18,")]
    assert resnet and len({c.key for c in tv}) == len(tv)


# ------------------------------------------------------------------------------------------ run


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir) -> tuple[cnn_am.Config, Path]:
    cfg = _ascent(cnn_am.parse_config(_smoke_raw(), data_dir=fashion_mnist_dir))
    out = tmp_path_factory.mktemp("cnn-am-smoke")
    runner.run(cnn_am, cfg, out / "run", progress=False, cache_dir=out / "cache", data_dir=fashion_mnist_dir)
    return cfg, out / "run"


@pytest.fixture(scope="module")
def smoke_run(smoke_out) -> tuple[cnn_am.Config, pd.DataFrame]:
    cfg, out = smoke_out
    return cfg, store.read_csv(out / store.RECORDS)


def test_smoke_records_respect_the_certified_bound(smoke_run) -> None:
    cfg, df = smoke_run
    evaluation = df[df["role"] == "evaluation"]
    am = df[df["cell_kind"] == "am"]
    units = evaluation["unit"].nunique()
    assert units == cfg.models[0].eval_units
    assert len(evaluation[evaluation["cell_kind"] == "am"]) == units * len(cfg.methods) * cfg.starts
    bounded = am[am["upper_bound"].notna()]
    assert len(bounded) == len(am[am["role"] != "tuning"])  # every evaluation unit of the smoke model is certified
    certs = df[df["cell_kind"] == "certificate"]
    assert len(certs) == units and (certs["f_best"] <= certs["upper_bound"]).all()
    assert (bounded["f_best"] <= bounded["upper_bound"]).all()  # exactly: the bound carries the rounding margin
    assert bounded["bound_ok"].astype(str).eq("True").all()
    assert (bounded["gap_lower"] <= bounded["gap_upper"] + 1e-9).all()
    proven = bounded[bounded["cert_status"] == "optimal"]
    assert (proven["optimum"] == proven["upper_bound"]).all() and (proven["incumbent"] <= proven["optimum"]).all()
    values = [c for c in am.columns if c == "f_best" or c == "f_start" or c.startswith("best_at_")]
    for column in values:  # no recorded value exceeds its optimum or bound, not even by one ulp
        assert (bounded[column] <= bounded["upper_bound"]).all(), column
        assert not (bounded[column] > bounded["optimum"]).any(), column


def test_smoke_certificates_keep_their_argmax(smoke_out) -> None:
    """The certificate cell keeps the certifier's argmax (the stimulus figure shows it beside AM's inputs)."""
    from benchmarks.experiments.cnn_am import arrays as cnn_arrays

    cfg, out = smoke_out
    certs = store.read_csv(out / store.RECORDS)
    certs = certs[certs["cell_kind"] == "certificate"]
    loaded = cnn_arrays.load(certs, out)
    assert len(loaded) and loaded["stimulus"].notna().all()
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    assert all(np.asarray(x).shape == tuple(zm.input_shape) for x in loaded["stimulus"])
    assert all(np.abs(np.asarray(x)).max() <= 1.0 for x in loaded["stimulus"])


def test_smoke_records_share_starts_and_hold_original_values(smoke_run) -> None:
    cfg, df = smoke_run
    df = df[df["cell_kind"] == "am"]
    for _, g in df.groupby(["unit", "start"]):
        assert g["f_start"].nunique() == 1  # same starts for every method
    assert (df["f_best"] >= df["f_start"] - 1e-6).all()
    assert set(df["weights"]) == {zoo.load("fmnist-tiny8").weights_label}
    has = df["dataset_max"].notna()
    assert has.all() and (df.loc[has, "beats_dataset"].astype(bool) == (df.loc[has, "f_best"] > df.loc[has, "dataset_max"])).all()


def _am_cell(cfg: cnn_am.Config, tmp: Path, data_dir: Path, role: str = "evaluation"):
    """The first AM cell of ``role`` of a finished run of ``cfg`` (and the run's records)."""
    cells, df = _all_cells(cfg, tmp / "run", data_dir)
    return next(c for c in cells if c.params.get("role") == role), df


def test_f_best_is_the_original_network_value(fashion_mnist_dir, tmp_path: Path) -> None:
    raw = _smoke_raw()
    raw["models"][0].update(certify=False, logits=[3, 4], eval_units=3)
    cfg = _ascent(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=8)
    cell, _ = _am_cell(cfg, tmp_path, fashion_mnist_dir)
    rows = cnn_am.run_cell(cfg, cell, runner.RunContext())
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    units = [cnn_am.unit_of(u) for u in cell.params["units"]]
    assert {u.kind for u in units} == {"logit", "channel"}
    S = cfg.starts
    x0 = torch.cat([torch.rand((S, *zm.input_shape), generator=torch.Generator().manual_seed(
        cnn_am.seed_of(cfg.seed, "fmnist-tiny8", u.label))) * 2 - 1 for u in units])
    method = cell.params["method"]  # the method value itself, never a label to parse again
    res = methods.run_am(method, cnn_am.UnitBatch(zm.model, [u for u in units for _ in range(S)]), x0,
                         steps=cfg.steps, lr=cell.params["lr"], optimizer="ascent", seed=cfg.seed,
                         forward_slope=zm.forward_slope)
    for i, u in enumerate(units):
        f = cnn_am.objective(zm, u.kind, u.layer, u.index)
        with torch.no_grad():
            plain_value = f(res.best_input[i * S:(i + 1) * S])  # the plain single-unit network, no interception
        got = [r["f_best"] for r in rows if r["unit"] == u.label]
        assert got == [float(v) for v in plain_value.double()]
        assert got == pytest.approx(res.best_value[i * S:(i + 1) * S].double().tolist(), rel=1e-6)
        assert [r["f_start"] for r in rows if r["unit"] == u.label] == pytest.approx(
            f(x0[i * S:(i + 1) * S]).double().tolist(), rel=1e-6)


def test_run_cell_is_deterministic(fashion_mnist_dir, tmp_path: Path) -> None:
    raw = _smoke_raw()
    raw["models"][0]["certify"] = False
    cfg = _ascent(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=5)
    cell, _ = _am_cell(cfg, tmp_path, fashion_mnist_dir)
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
    cfg = _ascent(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=3)
    survey = cnn_am.cells(cfg)[0]
    rows = cnn_am.run_cell(cfg, survey, runner.RunContext(data_dir=tmp_path))
    assert {r["unit_kind"] for r in rows} == {"logit", "channel"} and len(rows) == 2 + 4
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    x = F.adaptive_avg_pool2d(torch.tensor(images, dtype=torch.float32)[:, None] / 127.5 - 1.0, 8)
    for r in rows:
        f = cnn_am.objective(zm, r["unit_kind"], None if r["unit_kind"] == "logit" else r["layer"], r["index"])
        with torch.no_grad():
            expected = float(f(x).max())
        assert r["dataset_max_n"] == 7
        assert r["dataset_max"] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_missing_data_labels_the_dataset_max_unavailable(monkeypatch: pytest.MonkeyPatch, fashion_mnist_dir) -> None:
    """Data that disappears after validation: run_cell labels the dataset maximum unavailable."""
    raw = _smoke_raw()
    raw["models"][0]["certify"] = False
    cfg = _ascent(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir), steps=2)
    monkeypatch.setattr(data, "find_fashion_mnist", lambda data_dir=None: None)
    cnn_am_networks.dataset_maxima.cache_clear()
    try:
        rows = cnn_am.run_cell(cfg, cnn_am.cells(cfg)[0], runner.RunContext())
    finally:
        cnn_am_networks.dataset_maxima.cache_clear()
    assert all(math.isnan(r["dataset_max"]) and r["beats_dataset"] is None for r in rows)
    assert all(r["dataset_max_source"].startswith("unavailable") for r in rows)


def test_random_init_models_are_labelled_in_every_record(fashion_mnist_dir, tmp_path: Path) -> None:
    raw = _tv_raw()
    raw["models"][0]["logits"] = [3, 4]
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    _, df = _all_cells(cfg, tmp_path / "run", fashion_mnist_dir)
    assert set(df["cell_kind"]) == {"survey", "am"} and set(df["role"]) >= {"tuning", "evaluation", "fixed"}
    assert set(df["weights"]) == {"random-init"} and not df["trained"].astype(bool).any()
    assert df["dataset_max"].isna().all()


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


def _records(gain: float | list[float], units: int = 30, weights: str = "suite:abc", bound: bool = False) -> pd.DataFrame:
    """Fabricated records: ``proxy-0.5`` (the declared claim method) attains plain's value plus ``gain`` (one
    per unit when a list)."""
    rows = []
    gains = list(gain) if isinstance(gain, list) else [gain] * units
    for u in range(units):
        for method, extra in (("plain", 0.0), ("proxy-0.5", gains[u])):
            f = 1.0 + u + extra
            rows.append({"model": "m", "weights": weights, "trained": weights != "random-init", "optimizer": "adam",
                         "layer": "logits", "layer_depth": 1.0, "unit": f"logit={u}", **methods.parse(method).columns(), "start": 0, "lr": 0.05,
                         "claim_method": "proxy-0.5", "start_grad_zero": False,
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
    expected = float(np.median([1 + 1 / (1 + u) for u in range(30)]))
    assert att.loc["proxy-0.5", "median_ratio"] == pytest.approx(expected)
    assert att.loc["proxy-0.5", "beats_dataset"] == 1.0 and att.loc["plain", "beats_dataset"] == 0.0
    tests = tables["tests"]
    assert set(tests["layer"]) == {"all", "logits"} and (tests["wins"] == 30).all()
    assert "p_holm" not in tests.columns  # descriptive: a test's p appears in its claim's table only
    # normalized to the certified bound: (F - F0) / (U - F0), the proxy closes 1/(3+u) more
    np.testing.assert_allclose(tests["mean_diff"], np.mean([1 / (3 + u) for u in range(30)]))
    cert = tables["certified"].set_index("method")
    assert cert.loc["plain", "short"] == 30 and cert.loc["proxy-0.5", "reached_optimum"] == 30
    assert cert.loc["plain", "bound_violations"] == 0
    claims = {c.key: c for c in cnn_am_analysis.claims(df)}
    c2 = claims["slope-raises-maxima"]
    assert c2.verdict == "supported" and c2.id == "C2" and c2.method == "proxy-0.5"
    assert c2.rationale.startswith("Untuned comparison") and "lr = 0.05" in c2.rationale and c2.rule == "majority"
    assert claims["beyond:certified-gaps-cnn"].verdict == "supported"
    assert claims["am-fails"].verdict == "supported" and claims["am-fails"].id == "C1"
    np.testing.assert_array_equal(tables["claim_C2"]["p_holm"], c2.table["p_holm"])


def test_unit_scores_are_normalized_to_their_reference_before_pooling() -> None:
    """Logits (about 20) and channels (about 3): the test sees attained fractions, not raw values."""
    big = _records(gain=1.0).assign(f_best=lambda d: d["f_best"] * 10.0, dataset_max=lambda d: d["dataset_max"] * 10.0)
    units = cnn_am_analysis.per_unit(big)
    small = cnn_am_analysis.per_unit(_records(gain=1.0))
    np.testing.assert_allclose(units["attained"], small["attained"])
    assert (units["reference_kind"] == "best found").all() and (units["attained"] <= 1.0).all()


def test_certified_gap_claim_is_a_paired_test_not_a_mean() -> None:
    """One large win and 29 small losses: the proxy's mean certified gap is smaller than plain's, but the
    paired test over the certified units does not say the gap narrows."""
    gains = [1.9] + [-0.05] * 29  # the bound sits 2 above plain's value on every unit
    df = _records(gain=gains, bound=True)
    table = cnn_am_analysis.certified_table(cnn_am_analysis.per_unit(df)).set_index("method")
    assert table.loc["proxy-0.5", "mean_gap_upper"] < table.loc["plain", "mean_gap_upper"]
    claim = {c.key: c for c in cnn_am_analysis.claims(df)}["beyond:certified-gaps-cnn"]
    assert claim.verdict != "supported" and claim.rule == "majority"
    assert "n = 30 units" in claim.rationale and "n = 30" in claim.effect
    tests = cnn_am_analysis.analyze(df)["claim_B8"]
    assert len(tests) == 1 and int(tests["losses"].iloc[0]) == 29 and not bool(tests["higher"].iloc[0])


def test_certified_gap_claim_without_a_certified_pair_is_not_tested() -> None:
    """The proxy ran only on a model without certificates: the shortfall part stands, the gap test is not
    tested, and the verdict says so instead of failing."""
    certified = _records(gain=1.0, bound=True)
    certified = certified[certified["method"] == "plain"]
    other = _records(gain=1.0).assign(model="v")
    claim = {c.key: c for c in cnn_am_analysis.claims(pd.concat([certified, other], ignore_index=True))}
    gaps = claim["beyond:certified-gaps-cnn"]
    assert gaps.verdict == "not tested" and "no paired units of proxy-0.5" in gaps.effect
    assert claim["am-fails"].verdict == "supported"


def test_claims_fail_or_skip_honestly() -> None:
    worse = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=-1.0))}
    assert worse["slope-raises-maxima"] == "contradicted"
    assert "beyond:certified-gaps-cnn" not in worse and worse["am-fails"] == "not tested"
    random = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=1.0, weights="random-init"))}
    assert random["slope-raises-maxima"] == "not tested"
    few = {c.key: c.verdict for c in cnn_am_analysis.claims(_records(gain=1.0, units=3))}
    assert few["slope-raises-maxima"] == "inconclusive"  # 3 units cannot reach significance


def test_analysis_and_figures_from_stored_records(smoke_run, tmp_path: Path) -> None:
    _, df = smoke_run
    tables = cnn_am.analyze(df, tmp_path)
    assert {"attained", "tests", "certified", "claim_C2", "tuning", "units", "anytime",
            "combinations"} <= set(tables) and not tables["certified"].empty
    assert (tables["certified"]["bound_violations"] == 0).all()
    summary = cnn_am.summarize(df)
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert [c.id for c in cnn_am.claims(df)][:2] == ["C1", "C2"]
    assert set(df.loc[df["cell_kind"] == "am", "claim_method"]) == {"proxy-0.5"}
    assert df.loc[df["cell_kind"] == "am", "start_grad_zero"].notna().all()
    paths = cnn_am.figures(df, tmp_path / "fig")
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_figures_show_the_claims_statistic_and_tolerate_sweep_rows(smoke_run, tmp_path: Path) -> None:
    """cnn-am-paired plots the unit values C2 tests; a ``sweep`` row (an evaluation unit at another lr) is
    read by the lr figure only and changes no other figure's numbers."""
    from benchmarks.experiments.cnn_am import figures as cnn_figures
    from benchmarks.framework import replication

    _, run = smoke_run
    own, role = cnn_figures.lr_rows(run)
    assert role == "sweep" and cnn_figures.lr_points(own)["attained"].between(0, 1).all()
    df = run[run["role"] != "sweep"]  # the smoke run's own sweep rows are replaced by the made-up ones below
    am = df[(df["cell_kind"] == "am") & (df["role"] == "evaluation")]
    sweep = am.assign(role="sweep", lr=am["lr"] * 10.0, f_best=am["f_start"])
    both = pd.concat([df, sweep], ignore_index=True)
    units, method = cnn_figures.claim_units(both)
    assert set(units["role"]) == {"evaluation"}
    spec, rows = next((s, r) for s, r in cnn_am_analysis.claim_specs(cnn_am_analysis.per_unit(df)) if s.id == "C2")
    values = replication.unit_values(rows, unit=spec.unit, by=["model", "optimizer", "method"], score=spec.score,
                                     summary=spec.summary)
    for r in values.itertuples():
        mine = units[(units["model"] == r.model) & (units["optimizer"] == r.optimizer) & (units["method"] == r.method)
                     & (units["unit"] == r.unit)]["attained"]
        assert float(mine.iloc[0]) == r.value
    rows_lr, role = cnn_figures.lr_rows(both)
    assert role == "sweep" and set(rows_lr["role"]) == {"sweep"}
    assert cnn_figures.lr_rows(df)[1] == "tuning"
    points = cnn_figures.lr_points(rows_lr)
    assert ((points["attained"] >= 0) & (points["attained"] <= 1)).all()
    names = {p.name for p in cnn_am.figures(both, tmp_path / "fig")}
    assert {"cnn-am-paired.png", "cnn-am-depth.png", "cnn-am-lr.png"} <= names  # no arrays here: no trace


def test_out_of_range_logit_and_uncertifiable_model_are_config_errors(fashion_mnist_dir) -> None:
    raw = _smoke_raw()
    raw["models"][0]["logits"] = [10]
    with pytest.raises(ConfigError, match=r"\[10\]"):
        cnn_am.cells(cnn_am.parse_config(raw, data_dir=fashion_mnist_dir))
    raw = _tv_raw(methods=["plain"])
    raw["models"][0].update(weights="random-init", logits=[0], certify=True)
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
    # a caller that reads only the models (the certifier benchmark) may skip the check
    cfg = cnn_am.parse_config(_smoke_raw(), data_dir=tmp_path / "empty", require_data=False)
    assert cfg.models[0].name == "fmnist-tiny8"


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
    from toy_functions.certify.network import leaves

    zm = zoo.load("fmnist-vgg-relu")
    try:
        leaves(zm.model)
    except ValueError as exc:
        refusal = str(exc)
    else:
        pytest.skip("the certifier takes every layer of fmnist-vgg-relu")
    conf = tmp_path / "c.toml"
    conf.write_text('[p]\nmethods = ["plain"]\noptimizers = ["ascent"]\nstarts = 1\nsteps = 2\nlr = 0.05\n'
                    'dead_epsilon = 0.0\n[p.tuning]\nascent = { low = 0.05, high = 0.05 }\n'
                    '[[p.models]]\nname = "fmnist-vgg-relu"\nlogits = [0]\ntune_units = 1\neval_units = 1\n'
                    'certify = true\n')
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
    cnn_am_networks.load_cached.cache_clear()
    try:
        with pytest.raises(ConfigError, match=f"manifest {tmp_path / 'fmnist-tiny8.json'}"):
            cnn_am.cells(cnn_am.parse_config(_smoke_raw(), data_dir=fashion_mnist_dir))
    finally:
        cnn_am_networks.load_cached.cache_clear()


# ------------------------------------------------------------------------------------------ units, tuning, arrays


def _groups() -> list[list]:
    U = cnn_am.Unit
    return [[U("logit", None, k, 1.0) for k in range(5)], [U("channel", "1", c, 0.2) for c in range(4)],
            [U("channel", "5", c, 0.7) for c in range(8)]]


def test_draw_is_disjoint_spans_every_group_and_excludes_dead_units() -> None:
    from benchmarks.experiments.cnn_am.units import draw

    groups = _groups()
    dead = {"1=0", "1=1", "5=3"}
    maxima = {u.label: (0.0 if u.label in dead else 1.0 + i) for g in groups for i, u in enumerate(g)}
    drawn = draw(groups, seed=3, model="m", dataset_max=maxima, dead_epsilon=1e-3, tune_units=3, eval_units=9)
    roles = {u.label: r for u, r, _ in drawn}
    tune = {k for k, r in roles.items() if r == "tuning"}
    evaluation = {k for k, r in roles.items() if r == "evaluation"}
    assert len(tune) == 3 and len(evaluation) == 9 and not tune & evaluation
    assert not (tune | evaluation) & dead  # a dead unit is never tuned on or evaluated
    excluded = {k for k, r in roles.items() if r == "excluded"}
    assert excluded <= dead and excluded  # dead units met by the draw are recorded as excluded
    assert {k.split("=")[0] for k in tune} == {"logit", "1", "5"}  # round robin: every group in the first turn
    assert {k.split("=")[0] for k in evaluation} == {"logit", "1", "5"}
    again = draw(groups, seed=3, model="m", dataset_max=maxima, dead_epsilon=1e-3, tune_units=3, eval_units=9)
    assert again == drawn
    other = draw(groups, seed=4, model="m", dataset_max=maxima, dead_epsilon=1e-3, tune_units=3, eval_units=9)
    assert [u for u, _, _ in other] != [u for u, _, _ in drawn]
    # no data: nothing is excluded
    none = draw(groups, seed=3, model="m", dataset_max={}, dead_epsilon=1e-3, tune_units=3, eval_units=9)
    assert "excluded" not in {r for _, r, _ in none}


def test_quick_draw_has_30_disjoint_evaluation_units_per_vgg(fashion_mnist_dir) -> None:
    cfg = cnn_am.parse_config(config.load_profile("cnn-am", "quick"), data_dir=fashion_mnist_dir)
    ctx = runner.RunContext(data_dir=fashion_mnist_dir)
    for cell in cnn_am.cells(cfg):
        m = cfg.models[cell.params["model"]]
        rows = pd.DataFrame(cnn_am.run_cell(cfg, cell, ctx))
        tune = set(rows.loc[rows["role"] == "tuning", "unit"])
        evaluation = set(rows.loc[rows["role"] == "evaluation", "unit"])
        assert not tune & evaluation and len(tune) == m.tune_units
        live = int((~rows["dead"].astype(bool)).sum())
        assert len(evaluation) == min(m.eval_units, live - m.tune_units)
        if m.name in ("fmnist-vgg-relu", "fmnist-vgg-leaky"):
            assert len(evaluation) >= 30
            layers = set(rows.loc[rows["role"] == "evaluation", "layer"])
            assert layers == {"logits", *m.layers}
        if m.name in ("fmnist-resnet-relu", "fmnist-vggbn-relu", "fmnist-vggbn-leaky"):  # a few units each
            assert len(evaluation) == m.eval_units == 4 and len(tune) == 2
        excluded = rows[rows["role"] == "excluded"]
        assert (excluded["dataset_max"] <= cfg.dead_epsilon).all()
        assert (rows.loc[rows["role"].isin(["tuning", "evaluation"]), "dataset_max"] > cfg.dead_epsilon).all()
        n_certified = len(evaluation) if m.certify_units is None else min(m.certify_units, len(evaluation))
        assert int(rows["certified"].astype(bool).sum()) == (n_certified if m.certify else 0)
        if m.name == "fmnist-tiny8":  # every live evaluation unit of tiny8 is certified in quick
            assert m.certify and n_certified == len(evaluation)


def _tuning_done(cfg: cnn_am.Config, score_of_k) -> pd.DataFrame:
    """Fabricated records: the survey of ``cfg`` run for real, tuning rows with ``f_best = score_of_k(k)``."""
    survey = cnn_am.cells(cfg)
    rows = [r for c in survey for r in cnn_am.run_cell(cfg, c, runner.RunContext())]
    done = pd.DataFrame(rows)
    listed = cnn_am.cells(cfg, done)
    fake = []
    for c in listed[len(survey):]:
        if c.params.get("role") != "tuning":
            fake.append({"cell": c.key, "cell_kind": c.params["cell_kind"], "role": "x"})
            continue
        for u in c.params["units"]:
            fake.append({"cell": c.key, "cell_kind": "am", "role": "tuning", "model": "fmnist-tiny8",
                         "optimizer": c.params["optimizer"], "method": c.params["method"].label,
                         "unit": cnn_am.unit_of(u).label, "lr_index": c.params["lr_index"], "lr": c.params["lr"],
                         "f_best": score_of_k(c.params["lr_index"], cnn_am.unit_of(u).index)})
    return pd.concat([done, pd.DataFrame(fake)], ignore_index=True)


def _tuning_cfg(fashion_mnist_dir) -> cnn_am.Config:
    from benchmarks.framework.tuning import Grid

    raw = _smoke_raw()
    raw["models"][0].update(certify=False)
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    return replace(cfg, methods=cfg.methods[:2], fixed_methods=cfg.methods[:1],
                   grids=(("adam", Grid(-2, 0, 1, k_min=-4, k_max=2)),))


def test_a_best_lr_at_the_grid_edge_extends_the_grid(fashion_mnist_dir) -> None:
    cfg = _tuning_cfg(fashion_mnist_dir)
    done = _tuning_done(cfg, lambda k, u: float(k))  # larger is always better: the top edge
    cells = cnn_am.cells(cfg, done)
    tuning_ks = sorted({c.params["lr_index"] for c in cells if c.params.get("role") == "tuning"})
    assert tuning_ks == [-2, -1, 0, 1]  # one index past the top edge
    assert not [c for c in cells if c.params.get("role") == "evaluation"]  # no choice yet
    peaked = _tuning_done(cfg, lambda k, u: -abs(k + 1.0))  # best inside: k = -1
    cells = cnn_am.cells(cfg, peaked)
    ev = [c for c in cells if c.params.get("role") == "evaluation"]
    assert ev and {c.params["lr_index"] for c in ev} == {-1}
    assert all(c.params["lr"] == 10.0 ** -1 for c in ev)
    # no extension cell when the best lies inside the grid
    assert sorted({c.params["lr_index"] for c in cells if c.params.get("role") == "tuning"}) == [-2, -1, 0]


def test_the_lr_choice_is_a_pure_function_of_the_tuning_records(fashion_mnist_dir) -> None:
    cfg = _tuning_cfg(fashion_mnist_dir)
    done = _tuning_done(cfg, lambda k, u: -abs(k + 1.0) + 0.01 * u)
    cells = cnn_am.cells(cfg, done)
    shuffled = done.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert [c.key for c in cnn_am.cells(cfg, shuffled)] == [c.key for c in cells]
    noise = done.copy()
    other = noise["role"] != "tuning"
    noise.loc[other, "f_best"] = 1e9  # records of other roles do not move the choice
    assert [c.key for c in cnn_am.cells(cfg, noise)] == [c.key for c in cells]
    moved = done.copy()
    tune = moved["role"] == "tuning"
    moved.loc[tune, "f_best"] = -(moved.loc[tune, "lr_index"] - 0.0).abs()  # best now at k = 0, the edge
    assert [c.key for c in cnn_am.cells(cfg, moved)] != [c.key for c in cells]


@pytest.mark.parametrize("name", ["fmnist-vgg-relu", "fmnist-tiny8"])
def test_unit_batch_matches_the_single_unit_objectives(name: str) -> None:
    zm = zoo.load(name)
    names = [n for n, _ in zm.model.named_children()]
    rect = [n for n, mod in zm.model.named_children() if isinstance(mod, (torch.nn.ReLU, torch.nn.LeakyReLU))]
    U = cnn_am.Unit
    units = [U("logit", None, 2, 1.0), U("channel", rect[0], 1, 0.1), U("channel", rect[-1], 3, 0.9),
             U("logit", None, 7, 1.0), U("channel", rect[0], 0, 0.1)]
    assert set(rect) <= set(names)
    x = (torch.rand(len(units), *zm.input_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_()
    batch = cnn_am.UnitBatch(zm.model, units)
    v = batch(x)
    g, = torch.autograd.grad(v.sum(), x)
    for e, u in enumerate(units):
        f = cnn_am.objective(zm, u.kind, u.layer, u.index)
        xe = x[e:e + 1].detach().requires_grad_()
        ve = f(xe)
        ge, = torch.autograd.grad(ve.sum(), xe)
        assert float(v[e].detach()) == pytest.approx(float(ve.detach()), rel=1e-5, abs=1e-6)
        assert torch.allclose(g[e], ge[0], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="batch of"):
        batch(x[:2])


def test_arrays_are_deterministic_covered_by_markers_and_loaded_with_records(smoke_out, tmp_path: Path) -> None:
    import shutil

    from benchmarks.experiments.cnn_am import arrays

    cfg, out = smoke_out
    records = store.load_records(out)
    am = records[records["cell_kind"] == "am"]
    assert am["arrays"].str.endswith(".npz").all()
    loaded = arrays.load(am, arrays.run_dir_of(records))
    for r in loaded.itertuples():
        steps, values = r.trace
        assert steps[0] == 0 and steps[-1] == cfg.steps and values[-1] == r.f_final and values[0] == r.f_start
        assert max(values) <= r.f_best + 1e-5 * max(1.0, abs(r.f_best))
        if r.role in ("tuning", "sweep"):
            assert r.stimulus is None  # tuning and sweep cells keep traces only
        else:
            assert r.stimulus.shape == (1, 8, 8) and np.abs(r.stimulus).max() <= 1.0
    key = am["cell"].iloc[0]
    data = arrays.path(out, key).read_bytes()
    assert arrays.to_bytes(arrays.read(arrays.path(out, key))) == data  # the same bytes every time
    # a damaged array file makes its cell incomplete, named
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    p = arrays.path(copy, key)
    p.write_bytes(p.read_bytes()[:-3])
    assert key in str(store.cell_problem(copy, key)) and ".npz" in str(store.cell_problem(copy, key))
    # a committed run keeps records.csv and meta.json only: the report still builds, without arrays
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in (store.RECORDS, store.META):
        shutil.copy(out / name, bare / name)
    bare_records = store.load_records(bare)
    assert arrays.load(bare_records, arrays.run_dir_of(bare_records))["trace"].isna().all()
    assert cnn_am.figures(bare_records, bare / "figures")


def _anytime_records(proxy_early: float, proxy_late: float, units: int = 30) -> pd.DataFrame:
    """Evaluation records: on the first third of the units the plain gradient is zero at every start
    (``start_grad_zero``) and plain stays at its start value."""
    rows = []
    for u in range(units):
        stuck = u < units // 3
        for method, kind, slope in (("plain", "plain", None), ("proxy-0.5", "proxy", 0.5),
                                    ("switch-0.5", "switch", 0.5)):
            for s in range(2):
                base = 1.0 + u + 0.1 * s
                if method == "plain":
                    b16, b128, b256 = (base, base, base) if stuck else (base + 0.5, base + 1.0, base + 2.0)
                else:
                    b16, b128, b256 = base + 0.5 + proxy_early, base + 1.0 + proxy_early, base + 2.0 + proxy_late
                rows.append({"cell_kind": "am", "role": "evaluation", "model": "m", "weights": "suite:x",
                             "trained": True, "optimizer": "adam", "layer": "logits", "layer_depth": 1.0,
                             "unit": f"logit={u}", "method": method, "method_kind": kind, "method_slope": slope,
                             "claim_method": "proxy-0.5", "start_grad_zero": stuck,
                             "start": s, "lr": 0.1, "f_start": base, "f_best": b256, "best_at_16": b16,
                             "best_at_128": b128, "best_at_256": b256, "dataset_max": 6.0 + u,
                             "upper_bound": math.nan, "incumbent": math.nan, "optimum": math.nan,
                             "cert_status": "none"})
    return pd.DataFrame(rows)


def test_anytime_stuck_moved_and_best_of_two() -> None:
    # the proxy helps early and hurts late: the tables show exactly that
    df = _anytime_records(proxy_early=1.0, proxy_late=-3.0, units=60)
    tables = cnn_am_analysis.analyze(df)
    any_t = tables["anytime"].set_index("budget")
    assert any_t.loc[16, "diff_low"] > 0 and any_t.loc[256, "diff_high"] < 0
    assert "p_holm" not in any_t.columns
    claim = {c.key: c for c in cnn_am_analysis.claims(df)}["slope-raises-maxima"]
    assert claim.verdict == "contradicted" and claim.rule == "majority"
    assert claim.rationale.startswith("Tuned comparison") and "n = 60" in claim.rationale
    assert "detected with 80% power" in claim.rationale
    sm = tables["stuck_moved"].set_index("part")
    assert sm.loc["stuck", "units"] == 20 and sm.loc["moved", "units"] == 40
    units = cnn_am_analysis.per_unit(df)
    assert units.loc[units["method"] == "plain", "stuck"].sum() == 20
    # stuck is the recorded start gradient, not plain's outcome: the same without plain's rows
    no_plain = cnn_am_analysis.per_unit(df[df["method"] != "plain"])
    assert no_plain.groupby("unit")["stuck"].first().sum() == 20
    # best of plain and the proxy, each at half the budget, from the same starts
    both = cnn_am_analysis.with_best_of_two(units, "proxy-0.5")
    b = both[both["method"] == "best-of-plain-and-proxy-0.5"].set_index("unit")
    p = units.set_index(["method", "unit"])
    for u in b.index:
        assert b.loc[u, "F_256"] == max(p.loc[("plain", u), "F_128"], p.loc[("proxy-0.5", u), "F_128"])
        assert math.isnan(b.loc[u, "F_16"])  # 8 steps were not recorded
    comb = tables["combinations"]
    assert {"switch-0.5", "best-of-plain-and-proxy-0.5"} <= set(comb["method"])
    assert np.isfinite(comb[["diff_low", "diff_high"]].to_numpy(float)).all()
    # a proxy that helps at every budget reproduces
    good = {c.key: c for c in cnn_am_analysis.claims(_anytime_records(1.0, 1.0, units=60))}["slope-raises-maxima"]
    assert good.verdict == "supported"


def test_the_suite_profiles_of_cnn_am_are_the_known_ones() -> None:
    assert set(config.profiles("cnn-am")) == {"smoke", "quick", "standard", "full"} <= set(config.PROFILES)


@pytest.mark.slow
@pytest.mark.parametrize("model, unit", [("fmnist-tiny8", "1=1"), ("fmnist-tiny8", "5=13"), ("fmnist-tiny14", "logit=2"),
                                         ("fmnist-cert14", "4=12")])
def test_committed_certificates_repeat_in_a_cold_solve(model, unit, tmp_path) -> None:
    """A committed quick certificate is what a fresh solve under the profile's node limit gives, bit for bit
    (an empty cache directory: nothing is read from a cache). fmnist-tiny14 ``logit=2`` is a unit whose
    bound an earlier committed run took from a cache that other certifier code had filled.

    The incumbent is the network's float32 forward value at the argmax, which another CPU type's kernels round
    differently (README, "What repeats bit for bit"): where the fresh incumbent differs from the committed one
    in its bits, this machine's kernels are not those of the committed run, and the certificate must agree
    within float32 rounding (1e-5 relative; measured between two CPU types: 2.4e-7) with the same status;
    where it is equal, every column must be equal bit for bit."""
    root = Path(__file__).resolve().parents[1]
    records = root / "results" / "quick" / "cnn-am" / "records.csv"
    if not records.is_file():
        pytest.skip("no committed quick cnn-am run")
    raw = config.load_profile("cnn-am", "quick")
    # the certificate reads only the weights, not the data set
    cfg = cnn_am.parse_config({**raw, "models": [m for m in raw["models"] if m["name"] == model]},
                              require_data=False)
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    rec = pd.read_csv(records, low_memory=False)
    row = rec[(rec["cell_kind"] == "certificate") & (rec["model"] == model) & (rec["unit"] == unit)]
    assert len(row) == 1
    r = row.iloc[0]
    layer = None if r["unit_kind"] == "logit" else str(r["layer"])
    cert, _ = cnn_am.certificate(zm, str(r["unit_kind"]), layer, int(r["index"]), cfg.certify_time_limit,
                                 tmp_path / "empty-cache", cfg.certify_node_limit)
    assert cert["cert_status"] == r["cert_status"] == "optimal"
    same_kernels = float(cert["incumbent"]).hex() == float(r["incumbent"]).hex()
    for column in ("upper_bound", "incumbent", "optimum", "mip_gap"):
        if same_kernels:
            assert float(cert[column]).hex() == float(r[column]).hex(), column
        else:
            scale = 1.0 if column == "mip_gap" else max(1.0, abs(float(r[column])))
            assert abs(float(cert[column]) - float(r[column])) <= 1e-5 * scale, column


def _recipe_records(units: int = 12) -> pd.DataFrame:
    """Fabricated records of plain, the claim method and both recipes with and without ProxyGrad on one model:
    lucent-proxy-0.5 beats lucent by 1 per unit, horama-proxy-0.5 ties horama, and each recipe stays 5 below plain."""
    rows = []
    values = {"plain": 10.0, "proxy-0.5": 10.0, "lucent": 5.0, "lucent-proxy-0.5": 6.0, "horama": 5.0,
              "horama-proxy-0.5": 5.0}
    for u in range(units):
        for method, f in values.items():
            rows.append({"model": "m", "weights": "suite:abc", "trained": True, "optimizer": "adam", "role": "evaluation",
                         "layer": "logits", "layer_depth": 1.0, "unit": f"logit={u}", **methods.parse(method).columns(),
                         "start": 0, "lr": 0.05, "claim_method": "proxy-0.5", "start_grad_zero": False,
                         "f_best": f + 0.1 * u, "f_start": 0.0, "dataset_max": 12.0 + u, "upper_bound": math.nan,
                         "incumbent": math.nan, "optimum": math.nan, "cert_status": "none"})
    return pd.DataFrame(rows)


def test_recipe_claims_compare_each_recipe_with_its_proxy_variant_and_with_plain() -> None:
    """B10: recipe + ProxyGrad against the recipe alone; B11: the recipe against plain, per recipe, unit by unit."""
    claims = {c.key: c for c in cnn_am_analysis.claims(_recipe_records())}
    b10l, b10h = claims["beyond:proxygrad-in-recipes-lucent"], claims["beyond:proxygrad-in-recipes-horama"]
    assert (b10l.id, b10l.method, b10l.verdict) == ("B10", "lucent-proxy-0.5", "supported")
    assert b10h.method == "horama-proxy-0.5" and b10h.verdict != "supported"
    assert "lucent-proxy-0.5 vs lucent" in b10l.effect and "n = 12" in b10l.effect
    for recipe in ("lucent", "horama"):
        b11 = claims[f"beyond:recipes-vs-gradient-am-{recipe}"]
        assert (b11.id, b11.method, b11.verdict) == ("B11", recipe, "contradicted")
        assert f"{recipe} vs plain" in b11.effect
    # without recipes in the records neither claim is made
    plain_only = _recipe_records()
    keys = {c.key for c in cnn_am_analysis.claims(plain_only[plain_only["method"].isin(["plain", "proxy-0.5"])])}
    assert not any(k.startswith(("beyond:proxygrad-in-recipes", "beyond:recipes-vs")) for k in keys)


@pytest.mark.parametrize("bound, expected", [(math.nan, "row: unit (not certified)"),
                                             (2.5, "row: unit and its certified maximum")])
def test_stimuli_title_says_certified_only_where_a_unit_is(tmp_path, monkeypatch, bound, expected) -> None:
    from benchmarks.experiments.cnn_am import figures as cnn_figures
    from benchmarks.framework import plotting

    titles = []

    def keep_title(fig, out, name, **kwargs):
        titles.append(fig._suptitle.get_text())
        return []

    monkeypatch.setattr(plotting, "save", keep_title)
    rows = pd.DataFrame([{"model": "m", "optimizer": "adam", "weights": "suite:abc", "unit": f"logit={u}",
                          "method": method, "start": 0, "f_best": 1.0, "claim_method": "proxy-0.5",
                          "optimum": bound, "upper_bound": bound, "stimulus": np.zeros((1, 4, 4))}
                         for u in range(2) for method in ("plain", "proxy-0.5")])
    cnn_figures.stimuli_grid(rows, tmp_path)
    assert len(titles) == 1 and expected in titles[0]
