"""The practitioners' recipes as built-in methods (issue 28 item 2): values on the original network in the box,
seeded, ProxyGrad's backward inside the pipeline, bad input named, and a run through cnn-am's machinery."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks.domain import zoo
from benchmarks.framework import config, methods, recipes, runner, store
from benchmarks.framework.config import ConfigError
from benchmarks.framework.methods import Method
from benchmarks.experiments.cnn_am import experiment as cnn_am
import proxygrad
from proxygrad import objectives, proxify, rules

RECIPE_METHODS = ("lucent", "lucent-proxy-0.5", "horama", "horama-proxy-0.5")


@pytest.fixture(scope="module")
def tiny8():
    return zoo.load("fmnist-tiny8")


def _objective(zm, kind: str = "logit"):
    if kind == "logit":
        return objectives.logit(zm.model, 3)
    return objectives.channel(zm.model, "1", 2)


def _starts(zm, n: int = 3, seed: int = 7) -> torch.Tensor:
    return torch.rand((n, *zm.input_shape), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _run(name: str, f, x0, *, steps: int = 6, seed: int = 0, optimizer: str = "adam", lr: float = 0.05):
    return methods.run_am(methods.parse(name), f, x0, steps=steps, lr=lr, optimizer=optimizer, seed=seed,
                          forward_slope=0.0, bounds=(-1.0, 1.0))


# ------------------------------------------------------------------------------------------ methods as values


@pytest.mark.parametrize("name, kind, slope", [("lucent", "lucent", None), ("lucent-proxy-0.5", "lucent-proxy", 0.5),
                                               ("horama", "horama", None), ("horama-proxy-1", "horama-proxy", 1.0)])
def test_recipe_names_parse_to_values_whose_label_is_built_from_the_fields(name, kind, slope):
    m = methods.parse(name)
    assert (m.kind, m.slope) == (kind, slope)
    assert m.label == (kind if slope is None else f"{kind}-{slope!r}")
    assert methods.parse(m.label) == m and Method(kind, slope) == m
    assert m.columns() == {"method": m.label, "method_kind": kind, "method_slope": slope}
    assert m.recipe == recipes.RECIPES[kind.split("-")[0]]
    assert math.isnan(m.constant_backward_slope(0.0))
    with pytest.raises(ValueError, match="run_am"):
        m.maximize_kwargs(0.0, 10)


@pytest.mark.parametrize("bad, match", [
    ("lucent-proxy", "needs a slope"), ("lucent-proxy-x", "'x' is not a number"),
    ("horama-proxy--1", "finite and >= 0"), ("lucent-0.5", "unknown method 'lucent-0.5'"),
    ("horama-proxy-inf", "finite and >= 0"),
])
def test_bad_recipe_names_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        methods.parse(bad)


@pytest.mark.parametrize("build, match", [
    (lambda: recipes.Lucent(pad=-1), "Lucent pad must be >= 0, got -1"),
    (lambda: recipes.Lucent(sd=0.0), "Lucent sd must be > 0.0, got 0.0"),
    (lambda: recipes.Lucent(scales=()), "Lucent scales must be a non-empty tuple"),
    (lambda: recipes.Lucent(jitter=0), "Lucent jitter must be >= 1, got 0"),
    (lambda: recipes.Horama(box=(0.3, 0.2)), r"Horama box must have low <= high <= 1, got \(0.3, 0.2\)"),
    (lambda: recipes.Horama(values_range=(1.0, 1.0)), "a < b"),
    (lambda: recipes.Horama(crops=0), "Horama crops must be >= 1, got 0"),
    (lambda: recipes.Horama(noise=math.nan), "Horama noise must be finite, got nan"),
])
def test_bad_hyper_parameters_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_run_arguments_are_named(tiny8):
    f = _objective(tiny8)
    x0 = _starts(tiny8)
    with pytest.raises(ValueError, match="lr must be > 0.0, got -1"):
        recipes.run(recipes.Lucent(), f, x0, steps=2, lr=-1)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        recipes.run(recipes.Lucent(), f, x0, steps=0, lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        recipes.run(recipes.Horama(), f, x0, steps=2, lr=0.1, optimizer="sgd")
    with pytest.raises(ValueError, match=r"needs images \(C, H, W\)"):
        recipes.run(recipes.Lucent(), lambda x: x.sum(dim=1), torch.zeros(2, 5), steps=2, lr=0.1)
    with pytest.raises(ValueError, match="box"):
        recipes.run(recipes.Lucent(), f, x0 * 3, steps=2, lr=0.1)


def test_a_recipe_in_a_cnn_am_profile_is_a_config_error_when_bad(fashion_mnist_dir):
    raw = config.load_profile("cnn-am", "smoke")
    raw["methods"] = ["plain", "lucent-proxy-abc"]
    with pytest.raises(ConfigError, match="lucent-proxy-abc"):
        cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)


# ------------------------------------------------------------------------------------------ the runs


@pytest.mark.parametrize("name", RECIPE_METHODS)
@pytest.mark.parametrize("kind", ["logit", "channel"])
def test_attained_value_is_the_original_network_at_the_returned_image_in_the_box(tiny8, name, kind):
    f = _objective(tiny8, kind)
    x0 = _starts(tiny8)
    res = _run(name, f, x0)
    for image in (res.best_input, res.final_input):
        assert image.shape == x0.shape
        assert bool((image >= -1).all()) and bool((image <= 1).all())
    with torch.no_grad():  # recomputed with the plain network, no interception, no transform
        assert torch.equal(f(res.best_input), res.best_value)
        assert torch.equal(f(res.final_input), res.value)
        assert torch.equal(res.trace[-1], res.value)
    assert torch.equal(res.trace.max(dim=0).values, res.best_value)
    assert res.grad_evals == 6 and res.trace.shape == (7, 3)
    assert res.config["adapter"].startswith(methods.parse(name).recipe.name)


def test_a_different_box_holds_the_images(tiny8):
    f = _objective(tiny8)
    g = lambda x: f(2 * x - 1)  # noqa: E731  the same network on the box [0, 1]
    x0 = (_starts(tiny8) + 1) / 2
    res = recipes.run(recipes.Lucent(), g, x0, steps=4, lr=0.05, bounds=(0.0, 1.0))
    assert bool((res.best_input >= 0).all()) and bool((res.best_input <= 1).all())
    assert torch.equal(g(res.best_input).detach(), res.best_value)


@pytest.mark.parametrize("name", RECIPE_METHODS)
def test_a_seed_fixes_every_result(tiny8, name):
    f = _objective(tiny8)
    x0 = _starts(tiny8)
    before = torch.get_rng_state()
    a, b = _run(name, f, x0, seed=3), _run(name, f, x0, seed=3)
    assert torch.equal(torch.get_rng_state(), before)  # the transforms never touch the global RNG
    assert torch.equal(a.trace, b.trace) and torch.equal(a.best_input, b.best_input)
    c = _run(name, f, x0, seed=4)
    assert torch.equal(a.trace[0], c.trace[0])  # the start is a function of the suite's start alone
    assert not torch.equal(a.trace, c.trace)  # the transforms follow the seed


@pytest.mark.parametrize("name", ["lucent", "horama-proxy-0.5"])
def test_starts_are_independent_of_the_batch(tiny8, name):
    f = _objective(tiny8)
    x0 = _starts(tiny8, n=3)
    whole = _run(name, f, x0, optimizer="ascent", lr=0.5)
    alone = _run(name, f, x0[1:2], optimizer="ascent", lr=0.5)
    assert torch.allclose(whole.trace[:, 1], alone.trace[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("recipe", [recipes.Lucent(), recipes.Horama()])
def test_proxygrad_changes_the_gradient_not_the_forward_value(tiny8, recipe):
    f = _objective(tiny8)  # a logit: its gradient passes every rectifier of the network
    shape = tuple(tiny8.input_shape)
    z = recipe.initial(recipes.start_noise(_starts(tiny8), (-1.0, 1.0)))

    def forward_and_gradient(rule):
        z_in = z.clone().requires_grad_(True)
        s = recipe.image(z_in, shape)
        inputs = 2 * (recipe.transform(s, torch.Generator().manual_seed(5), 0) - recipe.space[0]) / (
            recipe.space[1] - recipe.space[0]) - 1
        if rule is None:
            out = f(inputs)
        else:
            with proxify(f, rule):
                out = f(inputs)
        (grad,) = torch.autograd.grad(out.sum(), z_in)
        return out.detach(), grad

    plain_value, plain_grad = forward_and_gradient(None)
    proxy_value, proxy_grad = forward_and_gradient(rules.slope(0.5))
    assert torch.equal(plain_value, proxy_value)
    assert not torch.equal(plain_grad, proxy_grad)
    # and in a run: the same start, values of the original network, a different path
    x0 = _starts(tiny8)
    plain = _run(recipe.name, f, x0, steps=8)
    proxy = _run(f"{recipe.name}-proxy-0.5", f, x0, steps=8)
    assert torch.equal(plain.trace[0], proxy.trace[0])
    assert not torch.equal(plain.trace, proxy.trace)
    with torch.no_grad():
        assert torch.equal(f(proxy.best_input), proxy.best_value)


def test_adapter_says_how_the_image_space_maps_into_the_box():
    assert recipes.adapter_label(recipes.Lucent(), (1, 8, 8), (-1.0, 1.0)) == (
        "lucent image space [0,1] -> box [-1,1] (affine); no colour decorrelation (C=1); "
        "transform sizes scaled by 8/128 (pad 1, jitter 1, 1); "
        "transformed image resized to 8x8; own start from the suite's start noise")
    assert "published transform sizes (pad 12, jitter 8, 4)" in recipes.adapter_label(
        recipes.Lucent(), (3, 128, 160), (-1.0, 1.0))
    assert recipes.adapter_label(recipes.Horama(), (3, 32, 32), (-1.0, 1.0)).startswith(
        "horama image space [-2.5,2.5] -> box [-1,1] (affine); colour recorrelation")
    assert "crop of 1.43-1.71 image sides, centre sd 0.857 (horama's fractions x 1280/224" in \
        recipes.adapter_label(recipes.Horama(), (1, 28, 28), (-1.0, 1.0))
    assert "published crop fractions of the image (side 0.25-0.3, centre sd 0.15)" in \
        recipes.adapter_label(recipes.Horama(image_size=224), (1, 28, 28), (-1.0, 1.0))


def test_horama_crop_keeps_its_size_relative_to_the_network_input():
    """horama crops 0.25-0.30 of a 1280-pixel canvas for a 224-pixel input: 1.43-1.71 inputs per crop."""
    low, high, sd = recipes.Horama().crop_geometry()
    assert (low, high, sd) == pytest.approx((0.25 * 1280 / 224, 0.30 * 1280 / 224, 0.15 * 1280 / 224))
    assert recipes.Horama(image_size=224).crop_geometry() == pytest.approx((0.25, 0.30, 0.15))
    with pytest.raises(ValueError, match="Horama image_size must be >= 1, got 0"):
        recipes.Horama(image_size=0)
    # a crop wider than the image sees it whole, shrunk, with zeros around: a constant image's transform is
    # the constant inside and 0 at the border (noise off)
    s = torch.full((1, 1, 28, 28), 2.0)
    y = recipes.Horama(noise=0.0, center_sd=0.0).transform(s, torch.Generator().manual_seed(0), 0)
    assert float(y[0, 0, 14, 14]) == pytest.approx(2.0) and float(y[0, 0, 0, 0]) == 0.0
    z = recipes.Horama(noise=0.0, center_sd=0.0, image_size=224).transform(s, torch.Generator().manual_seed(0), 0)
    assert torch.allclose(z, s)  # a crop inside a constant image is the constant


def test_rgb_images_stay_in_the_box_with_colour_mixing():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.LazyLinear(1))
    net(torch.zeros(1, 3, 12, 12))
    f = lambda x: net(x)[:, 0]  # noqa: E731
    x0 = torch.rand((2, 3, 12, 12), generator=torch.Generator().manual_seed(1)) * 2 - 1
    for recipe in (recipes.Lucent(), recipes.Horama()):
        res = recipes.run(recipe, f, x0, steps=3, lr=0.05, optimizer="adam")
        assert bool((res.best_input.abs() <= 1).all())
        assert torch.equal(f(res.best_input).detach(), res.best_value)


# ------------------------------------------------------------------------------------------ cnn-am machinery


def test_recipes_run_through_cnn_am_on_the_tests_sample_data(fashion_mnist_dir, tmp_path: Path):
    raw = config.load_profile("cnn-am", "smoke")
    raw.update(methods=["plain", *RECIPE_METHODS], fixed_methods=["plain"], claim_method="", steps=4, checkpoints=[2, 4], sweep=False,
               tuning={"adam": {"low": 0.05, "high": 0.05, "per_decade": 1, "min": 0.05, "max": 0.05}})
    raw["models"][0].update(certify=False, eval_units=1)
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    assert cnn_am.has_recipes(cfg)
    out = runner.run(cnn_am, cfg, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache",
                     data_dir=fashion_mnist_dir)
    df = store.read_csv(out)
    am = df[df["cell_kind"] == "am"]
    assert set(am["method"]) == {"plain", *RECIPE_METHODS}
    recipe_rows = am[am["method"] != "plain"]
    assert recipe_rows["method_adapter"].astype(str).str.contains("-> box").all()
    assert am.loc[am["method"] == "plain", "method_adapter"].isna().all()
    assert (recipe_rows["grad_evals"] == cfg.steps).all()
    assert (am["f_best"] >= am["f_start"]).all() and (am["f_best"] >= am[f"best_at_{cfg.steps}"]).all()
    for family in ("lucent", "horama"):  # the plain and ProxyGrad variants of a recipe share their start
        pair = am[am["method"].isin([family, f"{family}-proxy-0.5"])]
        assert (pair.groupby(["role", "unit", "start"])["f_start"].nunique() == 1).all()
    # f_best is the single-unit objective's value on the plain network at the recipe's best image, recomputed
    cell = next(c for c in cnn_am.cells(cfg, df) if c.params.get("role") == "evaluation"
                and c.params["method"].label == "lucent-proxy-0.5")
    rows = cnn_am.run_cell(cfg, cell, runner.RunContext())
    zm = cnn_am.load_model(cfg.models[0], cfg.seed)
    units = [cnn_am.unit_of(u) for u in cell.params["units"]]
    S = cfg.starts
    x0 = torch.cat([torch.rand((S, *zm.input_shape), generator=torch.Generator().manual_seed(
        cnn_am.seed_of(cfg.seed, "fmnist-tiny8", u.label))) * 2 - 1 for u in units])
    res = methods.run_am(methods.parse("lucent-proxy-0.5"), cnn_am.UnitBatch(zm.model, [u for u in units for _ in range(S)]),
                         x0, steps=cfg.steps, lr=cell.params["lr"], optimizer="adam", seed=cfg.seed, forward_slope=0.0)
    for i, u in enumerate(units):
        f_u = cnn_am.objective(zm, u.kind, u.layer, u.index)
        with torch.no_grad():
            plain_value = f_u(res.best_input[i * S:(i + 1) * S])
        assert bool((res.best_input.abs() <= 1).all())
        assert [r["f_best"] for r in rows if r["unit"] == u.label] == [float(v) for v in plain_value.double()]


def test_quick_standard_and_full_list_every_recipe_and_smoke_none(fashion_mnist_dir):
    assert not any(methods.parse(n).recipe for n in config.load_profile("cnn-am", "smoke")["methods"])
    for profile in ("quick", "standard", "full"):
        assert set(RECIPE_METHODS) <= set(config.load_profile("cnn-am", profile)["methods"])
    # in quick the recipes run on the VGG-BN networks with Adam; the small CNNs and the ResNet keep their methods
    cfg = cnn_am.parse_config(config.load_profile("cnn-am", "quick"), data_dir=fashion_mnist_dir, require_data=False)
    runs = {m.name: {(o, x.label) for o, x in m.runs(cfg)} for m in cfg.models}
    recipe_models = {name for name, pairs in runs.items() if any(methods.parse(x).recipe for _, x in pairs)}
    assert recipe_models == {"fmnist-vggbn-relu", "fmnist-vggbn-leaky"}
    assert runs["fmnist-vggbn-relu"] == {("adam", x) for x in ("plain", "proxy-0.5", *RECIPE_METHODS)}
    assert runs["fmnist-resnet-relu"] == {("adam", "plain"), ("adam", "proxy-0.5")}
    assert runs["fmnist-tiny8"] == {(o, x) for o in ("ascent", "adam") for x in ("plain", "proxy-0.5")}


def _with_model_subsets(fashion_mnist_dir, **subset):
    raw = config.load_profile("cnn-am", "smoke")
    raw["methods"] = ["plain", "proxy-0.5", "lucent"]
    raw["models"] = [{**raw["models"][0], **subset}]
    return cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)


def test_a_model_runs_the_subset_of_methods_and_optimizers_it_names(fashion_mnist_dir, tmp_path: Path):
    cfg = _with_model_subsets(fashion_mnist_dir, methods=["plain", "lucent"], certify=False, eval_units=1)
    assert [(o, x.label) for o, x in cfg.models[0].runs(cfg)] == [("adam", "plain"), ("adam", "lucent")]
    cfg = dataclasses.replace(cfg, steps=3, checkpoints=(3,))
    out = runner.run(cnn_am, cfg, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache",
                     data_dir=fashion_mnist_dir)
    df = store.read_csv(out)
    assert set(df.loc[df["cell_kind"] == "am", "method"]) == {"plain", "lucent"}
    # without subsets every (optimizer, method) pair runs, and the config hash is the one without the key
    full = _with_model_subsets(fashion_mnist_dir)
    assert [x.label for _, x in full.models[0].runs(full)] == ["plain", "proxy-0.5", "lucent"]
    assert "methods" not in config.to_jsonable(full.models[0])


@pytest.mark.parametrize("subset, match", [
    ({"methods": ["plain", "proxy-1.0"]}, r"models\[0\]\.methods: \['proxy-1.0'\] are not in the profile's methods"),
    ({"methods": ["proxy-0.5"]}, r"models\[0\]\.methods must include 'plain'"),
    ({"methods": ["plain", "lucent-x"]}, "lucent-x"),
    ({"optimizers": ["ascent"]}, r"optimizers must be a non-empty subset of the profile's optimizers \['adam'\], "
                                 r"got \['ascent'\]"),
    ({"optimizers": []}, "optimizers"),
])
def test_a_model_subset_outside_the_profile_is_a_config_error(fashion_mnist_dir, subset, match):
    with pytest.raises(ConfigError, match=match):
        _with_model_subsets(fashion_mnist_dir, **subset)


def test_toy_am_refuses_the_image_recipes_before_running():
    from benchmarks.experiments.toy_am import experiment as toy_am

    raw = config.load_profile("toy-am", "smoke")
    raw["methods"] = ["plain", "horama-proxy-0.5"]
    with pytest.raises(ConfigError, match="horama-proxy-0.5"):
        toy_am.parse_config(raw)


@pytest.mark.parametrize("side, sizes", [(8, (1, 1, 1)), (28, (3, 2, 1)), (64, (6, 4, 2)), (127, (12, 8, 4)),
                                         (128, (12, 8, 4)), (224, (12, 8, 4))])
def test_lucent_pixel_sizes_scale_with_the_image_below_its_128_pixel_default(side, sizes):
    """r = min(1, S / 128): round(12 r), max(1, round(8 r)), max(1, round(4 r)); published at S >= 128."""
    assert recipes.Lucent().sizes(side, side + 5) == sizes
    assert recipes.Lucent(reference_side=None).sizes(side, side) == (12, 8, 4)


def test_lucent_transform_pads_by_the_scaled_size():
    """On a 28-pixel image the padded border (pad_value 0.5) the transform sees is 3 pixels wide, not 12:
    with jitter {0, 1}, scale 1 and angle 0 forced, the corner pixel of a zero image stays 0.5 only in the pad."""
    recipe = recipes.Lucent(scales=(1.0,), angles=(0.0,), pad_value=0.5)
    s = torch.zeros(1, 1, 28, 28)
    y = recipe.transform(s, torch.Generator().manual_seed(0), 0)
    wide = recipes.Lucent(scales=(1.0,), angles=(0.0,), pad_value=0.5, reference_side=None)
    y_wide = wide.transform(s, torch.Generator().manual_seed(0), 0)
    # the resized 34-pixel padded image keeps a zero centre; the 52-pixel one (pad 12) shrinks the content more
    assert float(y[0, 0, 14, 14]) == 0.0 and float(y_wide[0, 0, 14, 14]) == 0.0
    assert float((y == 0).float().mean()) > float((y_wide == 0).float().mean())
    with pytest.raises(ValueError, match="Lucent reference_side must be >= 1, got 0"):
        recipes.Lucent(reference_side=0)


def test_bench_recipes_scores_the_original_logit():
    """bench_recipes' objective is the suite model's logit, and its plain score is the median of maximize's best values."""
    from benchmarks.perf import bench_recipes

    f, shape = bench_recipes.logit_objective("fmnist-tiny8", 3)
    loaded = zoo.load("fmnist-tiny8")
    x = torch.rand(2, *shape) * 2 - 1
    with torch.no_grad():
        expected = loaded.model.eval()(loaded.preprocess(x) if loaded.preprocess is not None else x)[:, 3]
        assert torch.equal(f(x), expected)
    got = bench_recipes.median_best("plain", f, shape, starts=3, steps=4, lr=0.05, seed=1)
    ref = proxygrad.maximize(f, shape=shape, starts=3, steps=4, lr=0.05, optimizer="adam", seed=1)
    assert got == float(ref.best_value.median())
