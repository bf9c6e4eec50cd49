"""Another project's CI: `check --config THEIR.toml --baseline THEIR.json` and `baseline --update`.

The example package (examples/byo_example) keeps its profiles and baseline outside the suite's own;
its smoke profiles run the suite's methods beside its plug-in method, model and toy family.
"""
from __future__ import annotations

import json

from benchmarks.framework import store
from benchmarks.framework.cli import main

AM = "byo_example.am:signed_ascent"


def test_example_smoke_profile_passes_its_own_baseline(example_plugins, capsys):
    code = main(["check", "toy-am", "--profile", "smoke", "--config", str(example_plugins / "configs" / "toy-am.toml"),
                 "--baseline", str(example_plugins / "baselines" / "toy-am-smoke.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "OK: toy-am/smoke" in out and "0 regression(s)" in out
    doc = json.loads((example_plugins / "baselines" / "toy-am-smoke.json").read_text())
    assert any(k.startswith(f"ramp/{AM}/") for k in doc["metrics"])


def test_example_cnn_smoke_profile_runs_plugins_beside_builtins(example_plugins, fashion_mnist_dir, tmp_path):
    out = tmp_path / "o"
    assert main(["run", "cnn-am", "--profile", "smoke", "--config", str(example_plugins / "configs" / "cnn-am.toml"),
                 "--out", str(out), "--no-progress", "--data", str(fashion_mnist_dir)]) == 0
    rec = store.load_records(out)
    assert set(rec["model"]) == {"fmnist-tiny8", "byo_example.models:tiny_cnn"}
    rec = rec[rec["cell_kind"] == "am"]  # the AM rows (survey and certificate rows name no method)
    assert set(rec["method"]) == {"plain", "proxy-0.5", AM}
    both = rec.groupby("model")["method"].nunique()
    assert (both == 3).all(), "every model is run by every method, the plug-in included"
    assert main(["report", str(out)]) == 0
    table = (out / "tables" / "attained.md").read_text()
    assert AM in table and "byo_example.models:tiny_cnn" in table


TOY = """
[p]
seed = 0
instances = 2
starts = 4
steps = STEPS
targets = [1e-1]
methods = ["plain", "proxy-0.5", "byo_example.am:signed_ascent"]
optimizers = [{ name = "adam", lr = 0.05 }]
families = [{ name = "byo_example.toys:ramp", dims = [3], params = { threshold = 0.3 } }]
"""


def test_check_exits_nonzero_with_a_per_metric_diff_when_a_metric_drops(example_plugins, tmp_path, capsys):
    conf, base = tmp_path / "their.toml", tmp_path / "their.json"
    conf.write_text(TOY.replace("STEPS", "30"))
    assert main(["baseline", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(base),
                 "--update"]) == 0
    assert f"wrote: {base}" in capsys.readouterr().out
    doc = json.loads(base.read_text())
    assert doc["generated_by"].endswith("--config their.toml --baseline their.json")
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(base)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
    conf.write_text(TOY.replace("STEPS", "1"))  # another config of the profile: refused before any run
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(base)]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and doc["config_hash"][:12] in err and "config changed" in err
    # the 1-step profile's own baseline, its metrics replaced by the 30-step ones: the values it claims
    # are more than the code attains at 1 step, as after a regression of the code
    low = tmp_path / "low.json"
    assert main(["baseline", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(low),
                 "--update"]) == 0
    low_doc = json.loads(low.read_text())
    low.write_text(json.dumps({**low_doc, "metrics": doc["metrics"]}))
    capsys.readouterr()
    assert main(["check", "toy-am", "--profile", "p", "--config", str(conf), "--baseline", str(low)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION ramp/proxy-0.5/adam/mean_attained" in out and "< baseline" in out
    assert "FAILED: toy-am/p" in out
