"""Plug-ins by import path: methods, models and toy families defined outside the suite.

Covers: resolution and its errors (exit 2 naming the spec, nothing written), the three method kinds
through ``methods.run_am`` (rule and schedule equal to the built-in runs, a full AM function evaluated
on the original f with its box, shape and budget checks), plug-in models through ``zoo.load``, plug-in
families (stated and certified optima), and records: plug-in rows beside built-in rows with the spec and
the plug-in's version, built-in-only records without the new column.
"""
from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from benchmarks.framework import am_function, methods, plugins, store
from benchmarks.framework.cli import main
from benchmarks.framework.schema import header

AM = "byo_example.am:signed_ascent"


def _module(tmp_path: Path, monkeypatch, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


# ------------------------------------------------------------------------------------------ resolution
def test_spec_syntax_and_resolution_errors_name_the_spec(tmp_path, monkeypatch):
    assert plugins.is_spec("a.b:c") and plugins.is_spec("a:b.c")
    assert not plugins.is_spec("proxy-0.5") and not plugins.is_spec("a:b:c") and not plugins.is_spec("C:\\x")
    with pytest.raises(plugins.PluginError, match="'no_such_mod_xyz:am'.*cannot import"):
        plugins.resolve("no_such_mod_xyz:am")
    _module(tmp_path, monkeypatch, "plug_bad", """
        CONSTANT = 3
        class Thing: pass
        def two_args(a, b): return a
        def am_wrong(f, x0, steps, lr): return x0
    """)
    with pytest.raises(plugins.PluginError, match="'plug_bad:missing'.*no attribute"):
        plugins.resolve("plug_bad:missing")
    for attr in ("CONSTANT", "Thing", "two_args", "am_wrong"):
        with pytest.raises(plugins.PluginError, match=f"plug_bad:{attr}"):
            plugins.method(f"plug_bad:{attr}")
    with pytest.raises(ValueError, match="methods: plug-in 'plug_bad:CONSTANT'"):
        methods.parse_all(["plain", "plug_bad:CONSTANT"])


def test_a_module_that_fails_on_import_is_named(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "plug_raises", "raise RuntimeError('broken on import')\n")
    with pytest.raises(plugins.PluginError, match="plug_raises.*RuntimeError: broken on import"):
        plugins.method("plug_raises:am")


def test_version_is_the_package_version_or_the_source_hash(tmp_path, monkeypatch, example_plugins):
    assert plugins.version(AM) == "0.1.0"  # byo_example.__version__
    _module(tmp_path, monkeypatch, "plug_noversion", "def am(f, x0, *, steps, lr, seed):\n    return x0\n")
    v = plugins.version("plug_noversion:am")
    assert v.startswith("sha256-") and len(v) == len("sha256-") + 16 and not plugins.is_spec(v)


@pytest.mark.parametrize("config_line, needle", [
    ('methods = ["plain", "no_such_mod_xyz:am"]', "no_such_mod_xyz:am"),
    ('methods = ["plain", "byo_example.toys:ramp"]', "byo_example.toys:ramp"),
    ('families = [{ name = "no_such_mod_xyz:fam", dims = [2] }]', "no_such_mod_xyz:fam"),
    ('families = [{ name = "byo_example.am:missing", dims = [2] }]', "byo_example.am:missing"),
])
def test_bad_plugin_in_a_profile_exits_2_before_writing(tmp_path, capsys, example_plugins, config_line, needle):
    key = config_line.split(" =")[0]
    lines = [ln for ln in _TOY.splitlines() if not ln.startswith(key + " =")]
    conf = tmp_path / "c.toml"
    conf.write_text("\n".join(lines + [config_line]) + "\n")
    out = tmp_path / "out"
    code = main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert not out.exists()


def test_bad_plugin_model_exits_2(tmp_path, capsys, example_plugins, fashion_mnist_dir):
    conf = tmp_path / "c.toml"
    conf.write_text(_CNN.replace("byo_example.models:tiny_cnn", "byo_example.models:nothing"))
    out = tmp_path / "out"
    code = main(["run", "cnn-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress",
                 "--data", str(fashion_mnist_dir)])
    assert code == 2
    assert "byo_example.models:nothing" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ methods
def _toy():
    import toy_functions

    f = toy_functions.get("dead_unit", dim=2, seed=0)
    g = torch.Generator().manual_seed(7)
    return f, -1 + 2 * torch.rand((3, 2), generator=g, dtype=torch.float64)


def test_rule_and_schedule_plugins_run_exactly_like_the_builtins(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "plug_rules", """
        from proxygrad import rules, schedules
        HALF = rules.slope(0.5)
        ANNEAL = schedules.linear_anneal(1.0, end=0.0, fraction=0.5)
        def first_ten(step):
            return rules.slope(0.5) if step < 10 else None
    """)
    f, x0 = _toy()
    kw = dict(steps=20, lr=0.05, optimizer="adam", seed=0, forward_slope=0.0)
    rule = methods.parse("plug_rules:HALF")
    assert rule.kind == "plugin-rule" and rule.label == "plug_rules:HALF"
    ref = methods.run_am(methods.parse("proxy-0.5"), f, x0, **kw)
    assert torch.equal(methods.run_am(rule, f, x0, **kw).trace, ref.trace)
    sched = methods.parse("plug_rules:ANNEAL")
    assert sched.kind == "plugin-schedule"
    assert torch.equal(methods.run_am(sched, f, x0, **kw).trace, methods.run_am(methods.parse("anneal"), f, x0, **kw).trace)
    assert methods.parse("plug_rules:first_ten").kind == "plugin-schedule"
    methods.run_am(methods.parse("plug_rules:first_ten"), f, x0, **kw)


def test_am_function_is_evaluated_on_the_original_f(example_plugins):
    f, x0 = _toy()
    m = methods.parse(AM)
    assert m.kind == "plugin-am" and m.columns()["method_version"] == "0.1.0"
    res = methods.run_am(m, f, x0, steps=12, lr=0.1, optimizer="adam", seed=3, forward_slope=0.0)
    assert res.trace.shape == (13, 3)
    with torch.no_grad():
        assert torch.equal(res.trace[0], f(x0)) and torch.equal(res.trace[-1], f(res.final_input))
        assert torch.equal(res.best_value, res.trace.max(dim=0).values)
        assert torch.equal(f(res.best_input), res.best_value)
    assert res.config["trace"] == "callback" and res.grad_evals == 12
    assert bool((res.final_input.abs() <= 1).all())


def test_am_function_without_callback_has_an_endpoint_trace(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "plug_am", """
        import torch
        def to_corner(f, x0, *, steps, lr, seed):
            return torch.ones_like(x0)
        def outside(f, x0, *, steps, lr, seed):
            return x0 * 2
        def wrong_shape(f, x0, *, steps, lr, seed):
            return x0[:1]
        def greedy(f, x0, *, steps, lr, seed):
            x = x0.clone().requires_grad_(True)
            for _ in range(steps + 1):
                f(x).sum().backward()
            return x0
        def random(f, x0, *, steps, lr, seed):
            return torch.rand_like(x0)
    """)
    f, x0 = _toy()
    kw = dict(steps=5, lr=0.1, optimizer="adam", seed=0, forward_slope=0.0)
    res = methods.run_am(methods.parse("plug_am:to_corner"), f, x0, **kw)
    assert res.config["trace"] == "endpoints" and res.grad_evals == 0
    with torch.no_grad():
        v0, v1 = f(x0), f(torch.ones_like(x0))
    assert torch.equal(res.trace[:5], v0.expand(5, 3)) and torch.equal(res.trace[5], v1)
    for name, needle in (("outside", "leaves the box"), ("wrong_shape", "has shape"), ("greedy", "budget")):
        with pytest.raises(ValueError, match=f"plug_am:{name}.*{needle}"):
            methods.run_am(methods.parse(f"plug_am:{name}"), f, x0, **kw)
    a = methods.run_am(methods.parse("plug_am:random"), f, x0, **kw)
    b = methods.run_am(methods.parse("plug_am:random"), f, x0, **kw)
    assert torch.equal(a.final_input, b.final_input), "the seed fixes a plug-in's use of torch's RNG"


def test_am_function_starts_are_maximizes_starts():
    import toy_functions
    from proxygrad import maximize

    f = toy_functions.get("dead_unit", dim=2, seed=0)
    x0 = am_function.starts(f, 4, (2,), 11, (-1.0, 1.0))
    res = maximize(f, starts=4, shape=(2,), seed=11, steps=1)
    with torch.no_grad():
        assert torch.equal(res.trace[0], f(x0))


# ------------------------------------------------------------------------------------------ models, families
def test_plugin_model_loads_through_the_zoo(example_plugins, tmp_path):
    from benchmarks.domain import zoo

    zm = zoo.load("byo_example.models:tiny_cnn")
    assert zm.source == "plugin" and zm.weights_label == "plugin:0.1.0" and zm.input_shape == (1, 8, 8)
    assert zm.dataset is None and zm.forward_slope == 0.0
    assert not any(p.requires_grad for p in zm.model.parameters())
    path = tmp_path / "w.pt"
    state = {k: torch.zeros_like(v) for k, v in zm.model.state_dict().items()}
    torch.save(state, path)
    zw = zoo.load("byo_example.models:tiny_cnn", str(path))
    assert zw.weights_label.startswith("plugin:0.1.0:file:w.pt:")
    assert all(float(p.abs().sum()) == 0 for p in zw.model.parameters())
    with pytest.raises(plugins.PluginError, match="byo_example.models:tiny_cnn.*'random-init' does not exist"):
        zoo.load("byo_example.models:tiny_cnn", "random-init")
    (tmp_path / "bad.pt").write_bytes(b"not a state dict")
    with pytest.raises(plugins.PluginError, match="cannot load weights file"):
        zoo.load("byo_example.models:tiny_cnn", str(tmp_path / "bad.pt"))


def test_plugin_family_stated_and_certified_optima_agree(example_plugins, tmp_path):
    stated = plugins.build_family("byo_example.toys:ramp", 3, 5, {"threshold": 0.5})
    certified = plugins.build_family("byo_example.toys:random_ramp", 3, 5, {"threshold": 0.5}, tmp_path)
    assert certified.certificate is not None and str(certified.certificate.status) == "optimal"
    assert math.isclose(certified.stated_optimum, stated.stated_optimum, rel_tol=1e-9)
    with pytest.raises(ValueError, match="threshold"):
        plugins.build_family("byo_example.toys:ramp", 3, 5, {"threshold": 1.5})


# ------------------------------------------------------------------------------------------ runs
_TOY = """
[p]
seed = 0
instances = 1
starts = 2
steps = 8
targets = [1e-1]
methods = ["plain", "proxy-0.5", "byo_example.am:signed_ascent"]
optimizers = [{ name = "adam", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }, { name = "byo_example.toys:ramp", dims = [3] }]
"""

_CNN = """
[p]
methods = ["plain", "byo_example.am:signed_ascent"]
optimizers = ["adam"]
starts = 2
steps = 5
lr = 0.05
seed = 0
dataset_limit = 32
dead_epsilon = 1e-3

[p.tuning]
adam = { low = 0.01, high = 0.1, per_decade = 1, min = 0.01, max = 1.0 }

[[p.models]]
name = "byo_example.models:tiny_cnn"
logits = [1, 2]
tune_units = 1
eval_units = 1
"""


def test_toy_am_records_hold_plugin_rows_beside_builtins(tmp_path, example_plugins):
    conf = tmp_path / "c.toml"
    conf.write_text(_TOY)
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    rec = store.load_records(tmp_path / "o")
    assert list(rec.columns[: len(header()) + 1]) == [*header(), "method_version"]
    assert set(rec["method"]) == {"plain", "proxy-0.5", AM}
    assert set(rec["family"]) == {"dead_unit", "ramp"}
    plug = rec[rec["method"] == AM]
    assert set(plug["method_kind"]) == {"plugin-am"} and set(plug["method_version"]) == {"0.1.0"}
    assert rec.loc[rec["method"] != AM, "method_version"].isna().all()
    assert (rec["f_best"] <= rec["f_star"]).all()
    assert store.read_meta(tmp_path / "o")["plugins"] == {AM: "0.1.0", "byo_example.toys:ramp": "0.1.0"}
    # built-in-only runs keep their header: no plug-in column
    conf.write_text(_TOY.replace(', "byo_example.am:signed_ascent"', "").replace(
        ', { name = "byo_example.toys:ramp", dims = [3] }', ""))
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 0
    assert "method_version" not in store.load_records(tmp_path / "b").columns
    assert "plugins" not in store.read_meta(tmp_path / "b")


def test_cnn_am_runs_a_plugin_model_and_method(tmp_path, example_plugins, fashion_mnist_dir):
    conf = tmp_path / "c.toml"
    conf.write_text(_CNN)
    assert main(["run", "cnn-am", "--profile", "p", "--config", str(conf), "--out", str(tmp_path / "o"),
                 "--no-progress", "--data", str(fashion_mnist_dir)]) == 0
    rec = store.load_records(tmp_path / "o")
    rec = rec[rec["cell_kind"] == "am"]  # the AM rows (survey rows name no method)
    assert set(rec["method"]) == {"plain", AM}
    assert set(rec["model"]) == {"byo_example.models:tiny_cnn"} and set(rec["weights"]) == {"plugin:0.1.0"}
    assert (rec["f_best"] >= rec["f_start"]).all()


# ------------------------------------------------------------------------------------------ done-when
OUTSIDE = '''
import torch
from torch import nn


def am(f, x0, *, steps, lr, seed):
    """Projected gradient ascent with the plain gradient, written outside the suite."""
    lo, hi = f.bounds
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(f(x).sum(), x)
        x = (x.detach() + lr * g).clamp(lo, hi)
    return x


def model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 4))
    net.input_shape = (1, 8, 8)
    return net
'''


def test_a_file_outside_the_repository_runs_through_the_smoke_profiles(tmp_path, monkeypatch, fashion_mnist_dir):
    import tomllib

    from benchmarks.framework.config import config_path

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "my_am.py").write_text(OUTSIDE)
    monkeypatch.syspath_prepend(str(outside))  # what PYTHONPATH=elsewhere does
    sys.modules.pop("my_am", None)

    def profile(experiment: str, add_model: bool) -> Path:
        """The suite's own smoke profile, with the plug-in method (and model) added by import path."""
        import re

        text = config_path(experiment).read_text()
        section = text[text.index("[smoke]"): text.index("[quick]")]
        methods = tomllib.loads(section)["smoke"]["methods"] + ["my_am:am"]
        section = re.sub(r"^methods = \[.*?\]", "methods = [" + ", ".join(f'"{m}"' for m in methods) + "]",
                         section, count=1, flags=re.S | re.M)
        if add_model:
            section += '\n[[smoke.models]]\nname = "my_am:model"\nlogits = [0, 2]\ntune_units = 1\neval_units = 1\n'
        assert tomllib.loads(section)["smoke"]["methods"] == methods
        conf = tmp_path / f"{experiment}.toml"
        conf.write_text(section)
        return conf

    for experiment, add_model in (("toy-am", False), ("cnn-am", True)):
        conf = profile(experiment, add_model)
        out = tmp_path / experiment
        assert main(["run", experiment, "--profile", "smoke", "--config", str(conf), "--out", str(out),
                     "--no-progress", "--data", str(fashion_mnist_dir)]) == 0
        rec = store.load_records(out)
        assert "my_am:am" in set(rec["method"]) and "plain" in set(rec["method"])
        plug = rec[rec["method"] == "my_am:am"]
        ev = rec[rec["role"] == "evaluation"]
        assert len(ev[ev["method"] == "my_am:am"]) == len(ev[ev["method"] == "plain"]) > 0, \
            "the plug-in is evaluated on every unit and start the built-ins are"
        assert set(plug["method_version"]) == {plugins.version("my_am:am")}
        if add_model:
            assert "my_am:model" in set(rec["model"])
        assert main(["report", str(out)]) == 0
