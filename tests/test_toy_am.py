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
    np.testing.assert_array_equal(r["best_at_20"], r["f_best"])
    np.testing.assert_array_equal(r["best_at_0"], r["f_start"])
    assert (r["best_at_16"] <= r["best_at_20"]).all() and (r["best_at_1"] >= r["best_at_0"]).all()
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
    assert {"units", "claim_B1", "claim_B2", "slope_sweep"} <= set(tables)
    un = tables["units"]
    assert len(un) == 2 * 2 * 3 and (un["instances"] == 2).all() and (un["starts"] == 6).all()
    assert ((un["attained_low"] <= un["attained"] + 1e-12) & (un["attained"] <= un["attained_high"] + 1e-12)).all()
    assert ((un["success_low"] <= un["success"]) & (un["success"] <= un["success_high"])).all()
    vs = tables["claim_B2"]
    assert set(vs["method"]) == {"redirected"} and (vs["p_holm"] >= vs["p"]).all()
    assert (vs["wins"] + vs["ties"] + vs["losses"] == vs["n"]).all() and (vs["n"] == 2).all()
    s = toy_am.summarize(records)
    g = records[(records["family"] == "dead_unit") & (records["method"] == "plain") & (records["optimizer"] == "adam")]
    assert s["dead_unit/plain/adam/mean_attained"] == pytest.approx(g.groupby("seed")["attained"].mean().mean())
    ok = (g["rel_gap"] <= 1e-3).groupby(g["seed"]).any().mean()
    assert s["dead_unit/plain/adam/success@0.001"] == ok
    claims = toy_am.claims(records)
    assert [c.key for c in claims][0] == "am-fails"
    st = next(c for c in claims if c.key == "beyond:straight-through")
    assert st.rationale.startswith("Untuned comparison") and st.rule == "majority"
    assert all(c.verdict in ("supported", "mixed", "contradicted", "inconclusive", "not tested") for c in claims)


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
    for name in ("units", "claim_B1"):
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    md = (out / "tables" / "claim_B1.md").read_text()
    assert md.startswith("| claim | method | reference | family | optimizer |") and "proxy-1.0" in md
    assert "\\begin{tabular}" in (out / "tables" / "units.tex").read_text()
    names = {p.name for p in (out / "figures").iterdir()}
    for stem in ("success_by_method", "attained_by_method", "ecdf_steps", "convergence", "attained_vs_slope",
                 "landscape_dead_unit", "landscape_race_of_patterns_leaky"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in (out / "figures").iterdir())


# ---- tuned protocol: tuning on disjoint instances, grid extension, pure selection, anytime, stuck/moved ----

TUNED = {**copy.deepcopy(RAW), "tuning_instances": 1, "steps": 16, "methods": ["plain", "proxy-0.5", "proxy-1.0",
                                                                             "switch-0.5"], "claim_method": "proxy-0.5",
         "optimizers": [{"name": "ascent", "lr": 0.05, "grid": {"low": 0.1, "high": 0.3, "min": 0.03, "max": 1.0}}]}


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    cfg = toy_am.parse_config(copy.deepcopy(TUNED))
    out = tmp_path_factory.mktemp("tuned") / "run"
    path = run(toy_am, cfg, out, progress=False)
    return cfg, store.read_csv(path), out


@pytest.mark.parametrize("mutate, needle", [
    (lambda r: r["optimizers"][0].update(grid={"low": 1.0, "high": 0.1}), "low=1.0, high=0.1"),
    (lambda r: r["optimizers"][0].update(grid={"low": 0.1, "high": 1.0, "per_decade": 0}), "per_decade must be >= 1"),
    (lambda r: r["optimizers"][0].update(grid={"low": -0.1, "high": 1.0}), "low must be >= 1e-06, got -0.1"),
    (lambda r: r["optimizers"][0].update(grid={"low": 0.1, "high": 1.0, "max": 0.5}), "max=0.5"),
    (lambda r: r["optimizers"][0].update(grid={"low": 0.1, "hi": 1.0}), "missing required key"),
    (lambda r: r["optimizers"][0].update(grid={"low": 0.1, "high": 1.0, "per_decade": 12, "min": 1e-6,
                                                  "max": 1e6}), "more than 64"),
    (lambda r: r["optimizers"][0].pop("lr") and r["optimizers"][0].pop("grid"),
     "needs a fixed lr, a tuning grid, or both"),
    (lambda r: r.update(tuning_instances=0), "tuning_instances must be >= 1"),
    (lambda r: r.update(tuning_dims="smallest"), "tuning_dims 'smallest'"),
])
def test_bad_tuning_config_is_named(mutate, needle):
    raw = copy.deepcopy(TUNED)
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        toy_am.parse_config(raw)
    assert needle in str(exc.value)


def _instances(df: pd.DataFrame) -> set:
    return set(map(tuple, df[["family", "dim", "seed"]].drop_duplicates().itertuples(index=False)))


def test_tuning_and_evaluation_instances_are_disjoint(tuned_run):
    from benchmarks.framework import tuning

    cfg, r, _ = tuned_run
    assert set(r["role"]) == {"tuning", "evaluation", "fixed"}
    tu, ev, fx = (r[r["role"] == x] for x in ("tuning", "evaluation", "fixed"))
    tuning.disjoint(_instances(tu), _instances(ev))  # raises on overlap
    assert not set(tu["seed"]) & set(ev["seed"])
    assert _instances(ev) == _instances(fx)
    assert set(tu["seed"]) == set(toy_am.tuning_seeds(cfg)) and set(ev["seed"]) == set(toy_am.evaluation_seeds(cfg))
    with pytest.raises(ValueError, match="share"):
        tuning.disjoint(_instances(tu), _instances(tu))
    # the same starts for every role of an instance, and equal budgets for every method
    assert (r.groupby(["family", "dim", "seed", "start"])["f_start"].nunique() == 1).all()
    assert r.groupby("method")["grad_evals"].nunique().max() == 1 and (r["steps"] == 16).all()


def test_evaluation_runs_at_the_choice_made_from_tuning_records_only(tuned_run):
    cfg, r, _ = tuned_run
    tu, ev = r[r["role"] == "tuning"], r[r["role"] == "evaluation"]
    chosen = toy_am.choices(cfg, tu)
    assert all(c.final for c in chosen.values())
    for (method, o), c in chosen.items():
        m = method.label
        e = ev[(ev["method"] == m) & (ev["optimizer"] == o)]
        assert len(e) == cfg.starts * cfg.instances * 2
        assert (e["lr"] == c.lr).all() and (e["lr_index"] == c.k).all()
        tried = sorted(tu.loc[(tu["method"] == m) & (tu["optimizer"] == o), "lr_index"].unique())
        assert c.at_limit or tried[0] < c.k < tried[-1], (m, tried, c)  # never at an edge unless a limit stops it
        assert bool(e["lr_at_limit"].astype(str).eq("True").all()) == c.at_limit
    fx = r[r["role"] == "fixed"]
    assert (fx["lr"] == 0.05).all() and fx["lr_index"].isna().all()
    # records carry the tuning round; the evaluation rows are a function of (cfg, cell) only
    assert tu["tuning_round"].min() == 0
    cell = next(c for c in toy_am.cells(cfg, r) if c.key.startswith("eval."))
    rows = pd.DataFrame(toy_am.run_cell(cfg, cell, RunContext()))
    ref = r[(r["role"] == "evaluation") & (r["family"] == cell.params["family"]) & (r["seed"] == cell.params["seed"])]
    np.testing.assert_array_equal(rows["f_best"].to_numpy(), ref["f_best"].to_numpy())


def test_selection_is_a_pure_function_of_the_tuning_records(tuned_run):
    cfg, r, _ = tuned_run
    shuffled = r.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert toy_am.choices(cfg, r[r["role"] == "tuning"]) == toy_am.choices(cfg, shuffled[shuffled["role"] == "tuning"])
    assert toy_am.cells(cfg, r) == toy_am.cells(cfg, shuffled)
    # evaluation and fixed rows do not enter the choice
    noisy = r.copy()
    noisy.loc[noisy["role"] != "tuning", "f_best"] = -1.0
    assert toy_am.choices(cfg, noisy[noisy["role"] == "tuning"]) == toy_am.choices(cfg, r[r["role"] == "tuning"])


def _fake_tuning_rows(cfg, value_of_k):
    """Tuning rows of every tuned pair at its initial grid, with f_best = value_of_k(method, k)."""
    rows = []
    for cell in toy_am.cells(cfg):
        if cell.params["role"] != "tuning":
            continue
        for method, o, k in cell.params["runs"]:
            for j in range(cfg.starts):
                rows.append({"role": "tuning", "tuning_round": 0, "family": cell.params["family"],
                             "dim": cell.params["dim"], "seed": cell.params["seed"], "method": method.label,
                             "optimizer": o, "lr_index": k, "start": j, "f_best": value_of_k(method.label, k)})
    return pd.DataFrame(rows)


def test_best_lr_at_the_grid_edge_extends_the_grid():
    cfg = toy_am.parse_config(copy.deepcopy(TUNED))
    grid = cfg.optimizers[0].grid
    assert grid.initial() == (-2, -1)
    # proxy-1.0 gets better with every larger lr: its best is the top edge; plain and switch peak inside
    done = _fake_tuning_rows(cfg, lambda m, k: float(k) if m == "proxy-1.0" else -abs(k + 1.5))
    first = toy_am.cells(cfg, done)
    new = first[len(toy_am.cells(cfg)):]
    assert [c.key for c in new] == ["tune.dead_unit.d2.s2.x1", "tune.race_of_patterns_leaky.d2.s2.x1"]
    runs = new[0].params["runs"]
    assert all(c.params["runs"] == runs and c.params["round"] == 1 for c in new)
    # proxy-1.0's best (k = -1) is the top edge: one index above; plain, proxy-0.5 and switch tie at both indices
    # (-abs(k + 1.5) is 0.5 at -2 and -1), so their block spans the range and extends both ways
    assert sorted((m.label, o, k) for m, o, k in runs) == sorted([("proxy-1.0", "ascent", 0), ("plain", "ascent", -3),
                                               ("plain", "ascent", 0), ("proxy-0.5", "ascent", -3),
                                               ("proxy-0.5", "ascent", 0), ("switch-0.5", "ascent", -3),
                                               ("switch-0.5", "ascent", 0)])
    assert not any(c.key.startswith("eval.") for c in first)  # no evaluation before every choice is final


def test_extension_stops_at_the_declared_limit_and_is_flagged():
    cfg = toy_am.parse_config(copy.deepcopy(TUNED))
    grid = cfg.optimizers[0].grid
    rows = []
    for k in range(grid.k_lo, grid.k_max + 1):  # tuning rows up to the hard limit, best at the top
        part = _fake_tuning_rows(cfg, lambda m, kk, k=k: float(k))
        part["lr_index"] = k
        rows.append(part)
    done = pd.concat(rows, ignore_index=True)
    done["tuning_round"] = 0
    chosen = toy_am.choices(cfg, done)
    assert all(c.final and c.at_limit and c.k == grid.k_max for c in chosen.values())
    ev = [c for c in toy_am.cells(cfg, done) if c.key.startswith("eval.")]
    assert ev and all(run[3] is True for c in ev for run in c.params["runs"])


def test_tuning_instances_of_random_families_are_not_certified():
    from benchmarks.experiments.toy_am.instances import build, build_for_tuning

    f, g = build_for_tuning("random_mlp", 8, 7, {}), build("random_mlp", 8, 7, {})
    assert f.certificate is None and g.certificate is not None
    x = draw = toy_am.draw_starts(g, "random_mlp", 8, 7, 32)
    import torch

    with torch.no_grad():
        np.testing.assert_array_equal(f(x).numpy(), g(draw).numpy())


def test_tuned_analysis_anytime_stuck_moved_and_claims(tuned_run, tmp_path):
    from benchmarks.experiments.toy_am import analysis, figures
    from benchmarks.framework import compare

    cfg, r, _ = tuned_run
    tables = toy_am.analyze(r, tmp_path)
    assert {"units", "vs_plain_untuned", "lr_choice", "lr_sensitivity", "anytime", "stuck_moved"} <= set(tables)
    lc = tables["lr_choice"]
    assert set(lc["method"]) == {"plain", "proxy-0.5", "proxy-1.0", "switch-0.5"} and (lc["points"] >= 2).all()
    assert "p_holm" not in tables["anytime"].columns and "p_holm" not in tables["stuck_moved"].columns
    # stuck: the plain gradient is zero at every start (recorded before any method ran)
    ev = r[r["role"] == "evaluation"]
    st = analysis.stuck_table(ev)
    for row in st.itertuples():
        p = ev[(ev["family"] == row.family) & (ev["seed"] == row.seed)]
        assert row.stuck == bool(p["start_grad_zero"].astype(bool).all())
    assert st["stuck"].any()  # dead_unit: the plain gradient is zero at the usual starts
    sm = tables["stuck_moved"]
    assert set(sm["part"]) <= {compare.STUCK, compare.MOVED}
    # the derived best-of: per start, the better of plain and proxy at half the budget
    d = analysis.best_of_rows(ev, "proxy-1.0", 16)
    keys = ["family", "dim", "seed", "start"]
    p = ev[ev["method"] == "plain"].set_index(keys)["best_at_8"]
    q = ev[ev["method"] == "proxy-1.0"].set_index(keys)["best_at_8"]
    np.testing.assert_array_equal(d.set_index(keys)["best_at_16"].sort_index(), np.maximum(p, q).sort_index())
    assert analysis.best_of_rows(ev, "proxy-1.0", 15).empty
    cl = {c.key: c for c in toy_am.claims(r)}
    assert {"am-fails", "beyond:straight-through", "beyond:switch"} <= set(cl)
    c = cl["beyond:straight-through"]
    assert c.rationale.startswith("Tuned comparison") and c.rule == "majority"
    assert "units per test" in c.rationale and "Unit of replication" in c.rationale
    names = {p.name for p in figures.lr_sensitivity(r, tmp_path) + figures.anytime(r, tmp_path)}
    assert {"lr_sensitivity.png", "lr_sensitivity.pdf"} <= names


def test_quick_profile_declares_the_tuned_protocol():
    from benchmarks.framework.config import load_profile

    cfg = toy_am.parse_config(load_profile("toy-am", "quick"))
    assert {o.name for o in cfg.optimizers} == {"ascent", "adam"}
    assert all(o.grid is not None for o in cfg.optimizers) and cfg.tuning_instances >= 1
    assert cfg.steps == 256 and {16, 64, 128, 256} <= set(toy_am.checkpoints(cfg.steps))
    assert _methods_labels(cfg) >= {"plain", "proxy-0.1", "proxy-0.3", "proxy-0.5", "proxy-0.7", "proxy-1.0"}
    assert cfg.claim_method == "proxy-0.5" and cfg.baselines
    # the unit of replication: at least 20 evaluation instances and 5 tuning instances per family
    for fam in cfg.families:
        assert cfg.instances * len(fam.dims) >= 20 and cfg.tuning_instances * len(fam.dims) >= 5
    assert all(o.grid.per_decade >= 3 for o in cfg.optimizers)
    assert not set(toy_am.tuning_seeds(cfg)) & set(toy_am.evaluation_seeds(cfg))


def _methods_labels(cfg) -> set:
    return {m.label for m in cfg.methods}


# ---- observed trajectories: recorded while the run happens, read (never re-run) by the landscape figure ----

@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    cfg = toy_am.parse_config(copy.deepcopy(RAW))
    out = tmp_path_factory.mktemp("observed") / "run"
    run(toy_am, cfg, out, progress=False)
    return cfg, out


def test_trajectories_are_the_iterates_of_the_run_itself(observed_run) -> None:
    import torch

    from benchmarks.framework import arrays
    from benchmarks.experiments.toy_am.instances import build, draw_starts

    cfg, out = observed_run
    records = store.load_records(out)
    observed = records[records["arrays"].fillna("").astype(str) != ""]
    # exactly the cells of the first evaluation seed of each 2-D family record arrays
    assert set(observed["seed"]) == {cfg.seed} and set(observed["dim"]) == {2}
    assert (records.loc[records["seed"] != cfg.seed, "arrays"].fillna("").astype(str) == "").all()
    for name, cell_rows in observed.groupby("arrays"):
        z = arrays.read_verified(out, name)
        row = cell_rows.iloc[0]
        f = build(row["family_name"], 2, cfg.seed, {})
        x0 = draw_starts(f, row["family"], 2, cfg.seed, cfg.starts).numpy().astype(np.float32)
        assert z["trajectories"].shape == (cell_rows["array_row"].nunique(), cfg.steps + 1, cfg.starts, 2)
        for _, r in cell_rows.iterrows():
            traj = z["trajectories"][int(r["array_row"])][:, int(r["start"])]      # [T+1, 2]
            assert np.array_equal(traj[0], x0[int(r["start"])])
            assert np.all(np.abs(traj) <= 1.0)
            with torch.no_grad():
                vals = f(torch.from_numpy(traj.astype(np.float64))).numpy()
            # float32 iterates: the best value along the recorded path is the record's f_best up to rounding
            assert abs(vals.max() - r["f_best"]) <= 1e-5 * (1 + abs(r["f_best"]))
        assert z["landscape"].shape == (toy_am.LANDSCAPE_POINTS, toy_am.LANDSCAPE_POINTS)
        assert np.array_equal(z["argmax"], f.argmax.double().numpy().reshape(-1))


def test_landscape_figures_read_the_recorded_trajectories_and_never_rerun_am(observed_run, tmp_path,
                                                                              monkeypatch) -> None:
    import shutil

    import proxygrad
    from benchmarks.framework import methods
    from benchmarks.experiments.toy_am import figures

    def refuse(*args, **kwargs):
        raise AssertionError("a figure re-ran AM")

    monkeypatch.setattr(methods, "run_am", refuse)
    monkeypatch.setattr(proxygrad, "maximize", refuse)
    _, out = observed_run
    records = store.load_records(out)
    made = figures.landscapes(records, tmp_path / "figs")
    assert {p.name for p in made} >= {"landscape_dead_unit.png", "landscape_race_of_patterns_leaky.png"}
    # a run directory without array files (records.csv and meta.json only): no landscapes, no re-run
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in (store.RECORDS, store.META):
        shutil.copy(out / name, bare / name)
    assert figures.landscapes(store.load_records(bare), tmp_path / "bare-figs") == []
    # a committed run keeps records.csv, meta.json and the array files only: meta.json vouches for them
    committed = tmp_path / "committed"
    (committed / store.CELLS).mkdir(parents=True)
    for name in (store.RECORDS, store.META):
        shutil.copy(out / name, committed / name)
    for npz in (out / store.CELLS).glob("*.npz"):
        shutil.copy(npz, committed / store.CELLS / npz.name)
    again = figures.landscapes(store.load_records(committed), tmp_path / "committed-figs")
    assert sorted(p.name for p in again) == sorted(p.name for p in made)
    npz = next((committed / store.CELLS).glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:-1])
    with pytest.raises(store.RunDirError, match="truncated or damaged"):
        figures.landscapes(store.load_records(committed), tmp_path / "committed-figs")
    shutil.copy(npz.with_name(npz.name), committed / store.CELLS / "stray.npz")
    records_c = store.load_records(committed)
    records_c.loc[records_c["arrays"].astype(str) != "", "arrays"] = "stray.npz"
    with pytest.raises(store.RunDirError, match="vouched for by neither"):
        figures.landscapes(records_c, tmp_path / "committed-figs")
    # a damaged array file is named, never used
    name = str(records.loc[records["arrays"].fillna("").astype(str) != "", "arrays"].iloc[0])
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    p = damaged / store.CELLS / name
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(store.RunDirError, match="npz|incomplete|damaged"):
        figures.landscapes(_with_run_dir(store.read_csv(out / store.RECORDS), damaged), tmp_path / "damaged-figs")


def _with_run_dir(records: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    records.attrs["run_dir"] = str(run_dir)
    return records
