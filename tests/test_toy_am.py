"""The toy-am experiment on a tiny grid: config validation, record semantics, pairing, determinism,
analysis, figures, and a CLI run that is killed midway and resumed."""
from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("toy_functions")
pytest.importorskip("proxygrad.engine")

from benchmarks.framework import store  # noqa: E402
from benchmarks.framework.config import ConfigError  # noqa: E402
from benchmarks.experiments.toy_am import experiment as toy_am  # noqa: E402
from benchmarks.framework.cli import main  # noqa: E402
from benchmarks.framework import runner  # noqa: E402
from benchmarks.framework.runner import RunContext, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

RAW = {
    "seed": 0,
    "instances": 2,
    "starts": 3,
    "steps": 20,
    "targets": [1e-1, 1e-3],
    "methods": ["plain", "proxy-1.0", "redirected"],
    "optimizers": [{"name": "ascent", "lr": 0.05}, {"name": "adam", "lr": 0.05}],
    "families": [{"name": "dead_unit", "dims": [2]}, {"name": "race_of_patterns_leaky", "dims": [2]}],
}

TOML = """
[tiny]
seed = 0
instances = 3
starts = 3
steps = 25
targets = [1e-1, 1e-3]
methods = ["plain", "proxy-1.0", "bsilu"]
optimizers = [{ name = "ascent", lr = 0.05 }]
families = [{ name = "dead_unit", dims = [2] }, { name = "race_of_patterns_leaky", dims = [2] }]
"""


def deterministic(df: pd.DataFrame) -> pd.DataFrame:
    """Records without the wall-time column (the only one that is not a function of the config)."""
    return df.drop(columns=list(toy_am.TIMING_COLUMNS))


@pytest.fixture(scope="module")
def cfg():
    return toy_am.parse_config(copy.deepcopy(RAW))


@pytest.fixture(scope="module")
def records(cfg):
    rows = [r for c in toy_am.cells(cfg) for r in runner.stamp(toy_am.NAME, toy_am.run_cell(cfg, c, RunContext()))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("mutate, needle", [
    (lambda r: r.update(colour=1), "unknown key 'toy-am.colour'"),
    (lambda r: r["families"][0].update(name="dead_units"), "did you mean 'dead_unit'"),
    (lambda r: r["families"][0].update(params={"treshold": 0.5}), "treshold"),
    (lambda r: r["families"][0].update(dims=[0]), "dims[0] must be >= 1"),
    (lambda r: r["families"][1].update(dims=[2, 99999]), "99999"),
    (lambda r: r["families"][1].update(label="a/b"), "label 'a/b'"),
    (lambda r: r["families"].append(dict(r["families"][0])), "label 'dead_unit' used twice"),
    (lambda r: r.update(methods=["plain", "proxy-x"]), "proxy-x"),
    (lambda r: r.update(methods=["proxy-1.0"]), "must include 'plain'"),
    (lambda r: r["optimizers"][0].update(name="sgd"), "optimizers[0].name 'sgd'"),
    (lambda r: r["optimizers"][0].update(lr=-1.0), "lr must be > 0"),
    (lambda r: r.update(steps=0), "steps must be >= 1"),
    (lambda r: r.update(starts=2.5), "starts must be an integer"),
    (lambda r: r.update(targets=[0.1, 2.0]), "targets[1] must be <= 1"),
    (lambda r: r.pop("instances"), "missing required key 'toy-am.instances'"),
])
def test_bad_config_is_named(mutate, needle):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        toy_am.parse_config(raw)
    assert needle in str(exc.value)


BAD_VALUES = [
    (lambda r: r["families"].append({"name": "random_mlp", "dims": [2], "params": {"widths": [-3]}}),
     "widths entry must be >= 1 and <= 4096, got -3"),
    (lambda r: r["families"].append({"name": "random_cnn", "dims": [2]}), "dim must be >= 4 for random_cnn"),
    (lambda r: r["families"].append({"name": "random_mlp", "dims": [2], "params": {"negative_slope": float("nan")}}),
     "negative_slope must lie in [0.0, 1.0), got nan"),
    (lambda r: r["families"][0].update(params={"negative_slope": float("nan")}), "negative_slope"),
    (lambda r: r.update(starts=10**12), "toy-am.starts must be <= 4096, got 1000000000000"),
    (lambda r: r.update(steps=2**63 - 1), f"toy-am.steps must be <= 100000, got {2**63 - 1}"),
    (lambda r: r.update(instances=10**9), "toy-am.instances must be <= 1000, got 1000000000"),
]


@pytest.mark.parametrize("mutate, needle", BAD_VALUES)
def test_bad_values_fail_validation_naming_key_and_value(mutate, needle):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        toy_am.parse_config(raw)
    assert needle in str(exc.value)


def _toml_value(v) -> str:
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return f'"{v}"' if isinstance(v, str) else repr(v)


@pytest.mark.parametrize("mutate, needle", BAD_VALUES)
def test_bad_values_exit_2_before_anything_is_written(mutate, needle, tmp_path, capsys):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    conf = tmp_path / "bad.toml"
    conf.write_text("[p]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in raw.items()))
    out = tmp_path / "out"
    assert main(["run", "toy-am", "--profile", "p", "--config", str(conf), "--out", str(out), "--no-progress"]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_records_never_exceed_f_star_not_even_by_one_ulp():
    """Runs that end on the argmax corner (dead_unit, deep_chain, d = 2 and 8, quick-sized batches):
    f_best <= f_star exactly, so gap >= 0 and attained <= 1 in every row."""
    raw = {**copy.deepcopy(RAW), "instances": 6, "starts": 16, "steps": 40,
           "methods": ["plain", "proxy-0.5", "proxy-1.0"], "optimizers": [{"name": "ascent", "lr": 0.1}],
           "families": [{"name": n, "dims": [2, 8]} for n in ("dead_unit", "dead_unit_leaky", "deep_chain")]}
    cfg = toy_am.parse_config(raw)
    r = pd.DataFrame([row for c in toy_am.cells(cfg) for row in toy_am.run_cell(cfg, c, RunContext())])
    assert (r["f_best"] == r["f_star"]).sum() > 100  # many runs reach the optimum exactly
    assert (r["f_best"] <= r["f_star"]).all(), r.loc[r["f_best"] > r["f_star"], ["family", "dim", "seed"]]
    assert (r["gap"] >= 0).all() and (r["attained"] <= 1).all()


def test_cells_are_instances_in_config_order(cfg):
    keys = [c.key for c in toy_am.cells(cfg)]
    assert keys == ["dead_unit.d2.s0", "dead_unit.d2.s1", "race_of_patterns_leaky.d2.s0",
                    "race_of_patterns_leaky.d2.s1"]


def test_rows_cover_the_grid_with_paired_starts(cfg, records):
    assert len(records) == 4 * 3 * 2 * 3  # cells x methods x optimizers x starts
    per_start = records.groupby(["family", "seed", "start"])["f_start"].nunique()
    assert (per_start == 1).all(), "every method and optimizer must start from the same x0"
    race = records[records["family"] == "race_of_patterns_leaky"]
    assert race.groupby("seed")["f_start"].nunique().min() == 3  # the starts of an instance differ


def test_record_semantics(records):
    r = records
    assert (r["f_best"] >= r["f_start"]).all()
    assert (r["f_best"] <= r["f_star"] + 1e-9).all(), "AM exceeded the certified optimum"
    assert (r["f_best"] <= r["f_star"]).all() and (r["gap"] >= 0).all() and (r["attained"] <= 1).all()
    np.testing.assert_array_equal(r["gap"], r["f_star"] - r["f_best"])
    scale = r["f_star"] - r["f_start"]
    expect = np.where(scale > 0, r["gap"] / scale.where(scale > 0, 1.0), 0.0)
    np.testing.assert_array_equal(r["rel_gap"], expect)
    np.testing.assert_array_equal(r["attained"], 1.0 - r["rel_gap"])
    np.testing.assert_array_equal(r["best@20"], r["f_best"])
    np.testing.assert_array_equal(r["best@0"], r["f_start"])
    assert (r["best@16"] <= r["best@20"]).all() and (r["best@1"] >= r["best@0"]).all()
    for tau, col in [(0.1, "steps_to_0.1"), (1e-3, "steps_to_0.001")]:
        reached = r[col].notna()
        assert (reached == (r["rel_gap"] <= tau)).all()
    assert (r["steps_to_0.1"].fillna(1e9) <= r["steps_to_0.001"].fillna(1e9)).all()
    # the leaky family's plain method is the autograd gradient with forward slope 0.01
    leaky_plain = r[(r["family"] == "race_of_patterns_leaky") & (r["method"] == "plain")]
    assert (leaky_plain["backward_slope"] == 0.01).all() and (leaky_plain["forward_slope"] == 0.01).all()
    assert (r["suite_version"] == r["suite_version"].iloc[0]).all()


def test_dead_unit_plain_is_stuck_and_value_is_the_original(records):
    """dead_unit: the unit is inactive at the usual starts, so plain ascent has zero gradient and stays."""
    d = records[(records["family"] == "dead_unit") & (records["method"] == "plain")]
    stuck = d[d["f_start"] == 0.0]
    assert len(stuck) > 0
    assert (stuck["f_best"] == 0.0).all()


def test_run_cell_is_bit_identical(cfg):
    cell = toy_am.cells(cfg)[2]
    a = pd.DataFrame(toy_am.run_cell(cfg, cell, RunContext()))
    b = pd.DataFrame(toy_am.run_cell(cfg, cell, RunContext()))
    pd.testing.assert_frame_equal(deterministic(a), deterministic(b), check_exact=True)


def test_analysis_tables_and_summary(records, tmp_path):
    tables = toy_am.analyze(records, tmp_path)
    assert set(tables) == {"rel_gap", "success", "vs_plain"}
    rg = tables["rel_gap"]
    assert len(rg) == 2 * 2 * 3
    assert ((rg["median_lo"] <= rg["median_rel_gap"] + 1e-12) | rg["median_lo"].isna()).all()
    vs = tables["vs_plain"]
    assert set(vs["method"]) == {"proxy-1.0", "redirected"} and (vs["p_holm"] >= vs["p"]).all()
    assert (vs["wins"] + vs["ties"] + vs["losses"] == vs["n"]).all()
    succ = tables["success"]
    assert ((succ["lo"] <= succ["rate"]) & (succ["rate"] <= succ["hi"])).all()
    s = toy_am.summarize(records)
    g = records[(records["family"] == "dead_unit") & (records["method"] == "plain") & (records["optimizer"] == "adam")]
    assert s["dead_unit/plain/adam/median_f_best_rel"] == float(np.median(g["attained"]))
    assert s["dead_unit/plain/adam/success@0.001"] == float((g["rel_gap"] <= 1e-3).mean())
    claims = toy_am.claims(records)
    assert [c.key for c in claims][:2] == ["am-fails", "slope-raises-maxima"]
    assert claims[1].rationale.startswith("Untuned comparison") and claims[1].rule == "majority-no-loss"
    assert all(c.verdict in ("reproduced", "partly reproduced", "not reproduced", "not tested") for c in claims)


def test_cli_run_killed_midway_resumes_to_identical_records_and_reports(tmp_path):
    conf = tmp_path / "toy.toml"
    conf.write_text(TOML)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "benchmarks", "run", "toy-am", "--profile", "tiny", "--config", str(conf),
           "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(store.finished_keys(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(store.finished_keys(out))
    assert 2 <= done < 6, done
    args = cmd[3:]
    assert main(args) == 2  # an existing run without --resume is refused
    assert main(args + ["--resume"]) == 0
    cfg = toy_am.parse_config(__import__("tomllib").loads(TOML)["tiny"])
    ref = tmp_path / "ref"
    run(toy_am, cfg, ref, progress=False)
    a, b = store.read_csv(out / "records.csv"), store.read_csv(ref / "records.csv")
    pd.testing.assert_frame_equal(deterministic(a), deterministic(b), check_exact=True)
    assert len(store.read_meta(out)["resumed_utc"]) == 1

    # report: tables and figures from the resumed run's records
    assert main(["report", str(out)]) == 0
    for name in ("rel_gap", "success", "vs_plain"):
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    md = (out / "tables" / "vs_plain.md").read_text()
    assert md.startswith("| family | optimizer | method |") and "proxy-1.0" in md
    assert "\\begin{tabular}" in (out / "tables" / "rel_gap.tex").read_text()
    names = {p.name for p in (out / "figures").iterdir()}
    for stem in ("rel_gap_by_method", "ecdf_steps", "convergence", "gap_vs_slope", "landscape_dead_unit",
                 "landscape_race_of_patterns_leaky"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in (out / "figures").iterdir())
