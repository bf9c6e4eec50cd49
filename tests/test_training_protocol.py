"""The training claim's protocol (issue 27): selection on validation only, diverged runs apart, intervals
inside [0, 1], the comparisons the claim needs, the matched-lr runs, and profiles that keep their records."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import config, stats, store
from benchmarks.framework.config import ConfigError
from benchmarks.framework.meta import REPO_ROOT
from benchmarks.experiments.training import analysis as ana
from benchmarks.experiments.training import comparisons as cmp
from benchmarks.experiments.training import experiment as exp
from benchmarks.experiments.training.selection import best_conventional

QUICK = REPO_ROOT / "results" / "quick" / "training"
ACC_INTERVALS = (("test_acc_low", "test_acc_high"), ("val_acc_low", "val_acc_high"), ("rate_low", "rate_high"))


def _records(final: dict[str, list[float]], tune_val: dict[str, float], *, arch: str = "small_cnn",
             diverged: dict[str, list[int]] | None = None, epochs: int = 2) -> pd.DataFrame:
    """Records of one (dataset, arch): per variant one tuning run (seed 100, last-epoch validation accuracy
    ``tune_val[variant]``) and final runs with test accuracies ``final[variant]`` (a seed in
    ``diverged[variant]`` diverged: NaN accuracies, chance in the ITT line)."""
    from benchmarks.framework import methods

    rows = []
    for variant, accs in final.items():
        activation, label = variant.split("/")
        common = {"dataset": "fashion-mnist", "arch": arch, **methods.parse(label).columns(), "variant": variant,
                  "activation": activation, "num_classes": 10, "lr": 0.1, "lr_k": -2, "dead_fraction": 0.1,
                  "seconds": 1.0, "train_loss": 0.5}
        for ep in range(1, epochs + 1):
            rows.append({**common, "role": "tune", "seed": 100, "epoch": ep, "diverged": False,
                         "val_acc": tune_val[variant], "test_acc": math.nan})
        for seed, acc in enumerate(accs):
            div = seed in (diverged or {}).get(variant, [])
            for ep in range(1, epochs + 1):
                rows.append({**common, "role": "final", "seed": seed, "epoch": ep, "diverged": div,
                             "val_acc": math.nan if div and ep == epochs else acc - 0.01 * (epochs - ep),
                             "test_acc": acc if ep == epochs and not div else math.nan})
    return pd.DataFrame(rows)


FINAL = {"relu/plain": [0.88, 0.89, 0.885, 0.887, 0.884], "relu/proxy-0.3": [0.89, 0.895, 0.894, 0.893, 0.892],
         "leaky/plain": [0.90, 0.91, 0.905, 0.906, 0.904], "leaky/proxy-0.3": [0.90, 0.905, 0.91, 0.907, 0.903]}
TUNE = {"relu/plain": 0.80, "relu/proxy-0.3": 0.81, "leaky/plain": 0.79, "leaky/proxy-0.3": 0.82}


def test_best_conventional_is_chosen_on_validation_never_on_test():
    rec = _records(FINAL, TUNE)
    chosen = best_conventional(rec)
    assert chosen["best_conventional"].tolist() == ["relu/plain"]  # higher tuning score, lower test accuracy
    rows = ana.claim_rows(rec)
    best = rows[rows["comparison"] == cmp.BEST]
    assert set(best["reference_variant"]) == {"relu/plain"}
    # permuting the test accuracies of the final runs (across variants and seeds) changes no choice
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffled = rec.copy()
        last = shuffled["test_acc"].notna()
        shuffled.loc[last, "test_acc"] = rng.permutation(shuffled.loc[last, "test_acc"].to_numpy())
        assert best_conventional(shuffled).equals(chosen)
        again = ana.claim_rows(shuffled)
        assert set(again[again["comparison"] == cmp.BEST]["reference_variant"]) == {"relu/plain"}
    # permuting the validation accuracies of the tuning runs does change it
    swapped = rec.copy()
    tune = swapped["role"] == "tune"
    swapped.loc[tune & (swapped["variant"] == "relu/plain"), "val_acc"] = TUNE["leaky/plain"]
    swapped.loc[tune & (swapped["variant"] == "leaky/plain"), "val_acc"] = TUNE["relu/plain"]
    assert best_conventional(swapped)["best_conventional"].tolist() == ["leaky/plain"]
    # exact ties go to the first conventional variant in config order
    tied = rec.assign(val_acc=np.where(rec["role"] == "tune", 0.8, rec["val_acc"]))
    assert best_conventional(tied)["best_conventional"].tolist() == ["relu/plain"]


def test_the_claim_has_each_comparison_as_its_own_test():
    rec = _records(FINAL, TUNE)
    t = ana.claim_table(rec)
    got = {(r.activation, r.comparison, r.reference_variant) for r in t.itertuples()}
    assert got == {("relu", cmp.SAME, "relu/plain"), ("leaky", cmp.SAME, "leaky/plain"),
                   ("relu", cmp.BEST, "relu/plain"), ("leaky", cmp.BEST, "relu/plain")}
    row = t[(t["activation"] == "leaky") & (t["comparison"] == cmp.SAME)].iloc[0]
    d = np.array(FINAL["leaky/proxy-0.3"]) - np.array(FINAL["leaky/plain"])
    ci = stats.mean_ci(d)
    assert row["mean_diff"] == pytest.approx(d.mean()) and row["n"] == 5
    assert (row["diff_low"], row["diff_high"]) == pytest.approx((ci.low, ci.high))
    assert (t["family_size"] == 4).all() and (t["p_holm"] >= t["p"]).all()
    claim = exp.claims(rec)[0]
    assert claim.id == "C3" and claim.method == cmp.PROXY and len(claim.table) == 4
    assert "Best conventional variant" in claim.rationale and "never on test data" in claim.rationale


def test_diverged_runs_are_excluded_counted_and_enter_the_itt_line_at_chance():
    rec = _records(FINAL, TUNE, diverged={"leaky/proxy-0.3": [1, 3]})
    t = ana.claim_table(rec).set_index(["activation", "comparison"])
    itt = ana.claim_table(rec, itt=True).set_index(["activation", "comparison"])
    assert t.loc[("leaky", cmp.SAME), "n"] == 3 and itt.loc[("leaky", cmp.SAME), "n"] == 5
    kept = [0, 2, 4]
    d = np.array(FINAL["leaky/proxy-0.3"])[kept] - np.array(FINAL["leaky/plain"])[kept]
    assert t.loc[("leaky", cmp.SAME), "mean_diff"] == pytest.approx(d.mean())
    d_itt = np.where(np.isin(range(5), [1, 3]), 0.1, FINAL["leaky/proxy-0.3"]) - np.array(FINAL["leaky/plain"])
    assert itt.loc[("leaky", cmp.SAME), "mean_diff"] == pytest.approx(d_itt.mean())
    fin = ana.final_accuracy(rec).set_index("variant")
    assert fin.loc["leaky/proxy-0.3", "diverged_runs"] == 2 and fin.loc["leaky/proxy-0.3", "runs_used"] == 3
    assert fin.loc["leaky/proxy-0.3", "test_acc_mean"] == pytest.approx(np.mean(np.array(FINAL["leaky/proxy-0.3"])[kept]))
    div = ana.analyze(rec, None)["divergence"].set_index("variant")
    assert div.loc["leaky/proxy-0.3", "diverged_seeds"] == "1 3"
    mech = ana.mechanism_table(rec).set_index("variant")
    assert set(mech.loc["leaky/proxy-0.3", "diverged_runs"]) == {2}
    text = exp.claims(rec)[0].rationale
    assert "small_cnn/leaky/proxy-0.3: 2 of 5" in text and "Intention to treat" in text


def test_every_accuracy_interval_lies_in_the_unit_interval(tmp_path):
    extreme = {"relu/plain": [0.1, 0.99, 0.12], "relu/proxy-0.3": [0.98, 0.1, 0.99], "leaky/plain": [0.5, 0.97, 0.11],
               "leaky/proxy-0.3": [0.11, 0.12, 0.99]}
    wide = stats.mean_ci(extreme["relu/plain"])
    assert wide.low < 0 and wide.high > 1  # the plain t interval leaves the range here
    sets = [_records(extreme, TUNE, diverged={"leaky/proxy-0.3": [0]})]
    if (QUICK / "records.csv").is_file():
        sets.append(store.load_records(QUICK))
    checked = 0
    for rec in sets:
        tables = {**ana.analyze(rec, tmp_path), "curves": ana.curves(rec)}
        for name, t in tables.items():
            for low, high in ACC_INTERVALS:
                if low in t.columns:
                    lo, hi = t[low].to_numpy(float), t[high].to_numpy(float)
                    ok = np.isfinite(lo)
                    assert ((lo[ok] >= 0) & (hi[ok] <= 1) & (lo[ok] <= hi[ok])).all(), (name, low)
                    checked += int(ok.sum())
    assert checked > 10
    assert stats.bounded_mean_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="outside"):
        stats.bounded_mean_ci([0.5, 1.5])


def test_quick_claim_is_a_smoke_scale_view():
    if not (QUICK / "records.csv").is_file():
        pytest.skip("no committed quick records")
    claim = exp.claims(store.load_records(QUICK))[0]
    assert claim.verdict == "inconclusive" and claim.rationale.startswith("Smoke-scale view")
    assert "inconclusive unless its power allows more" in claim.rationale
    # leaky/proxy-0.3 diverged on every final seed: no main test is left for it, and the claim says so
    assert "the main tests lack: small_cnn/leaky/proxy-0.3 vs leaky/plain" in claim.rationale
    assert set(claim.table["activation"]) == {"relu"}


def test_committed_quick_run_keeps_its_config_hash_and_cells(all_data_dir):
    """The quick profile's config hash and cell list are those of the committed run: its records stay
    reproducible from the code (the new options are left out of the hash while unused)."""
    if not (QUICK / "meta.json").is_file():
        pytest.skip("no committed quick run")
    meta = json.loads((QUICK / "meta.json").read_text())
    cfg = exp.parse_config(config.load_profile("training", "quick"), data_dir=all_data_dir)
    assert config.config_hash(cfg) == meta["config_hash"]
    records = store.load_records(QUICK)
    assert [c.key for c in exp.cells(cfg, records)] == meta["cells"]
    assert "matched_lr_k" not in records.columns


def _smoke(**patch):
    small = {"train_limit": 64, "val_size": 48, "probe_size": 32, "test_limit": 32, "epochs": 2, "batch_size": 32}
    return exp.parse_config({**config.load_profile("training", "smoke"), **small, **patch})


def test_matched_cells_are_listed_once_per_variant_seed_and_lr():
    cfg = _smoke(activations=["relu", "leaky"], methods=["plain", "proxy-0.3"], matched_lr=0.1)
    km = cfg.lr_grid.k_hi  # the initial range's top, 0.1 = 10^(-2/2)
    assert cfg.lr_grid.lr(cfg.matched_lr_k) == 0.1 and cfg.matched_lr_k == km
    assert config.config_hash(cfg) != config.config_hash(_smoke(activations=["relu", "leaky"],
                                                                 methods=["plain", "proxy-0.3"]))
    ks = cfg.lr_grid.initial()
    # every variant peaks at the middle lr (an interior choice, below the matched lr)
    scores = {k: 0.5 + (0.2 if k == ks[1] else 0.0) for k in ks}
    rows = _tune_rows(cfg, scores).to_dict("records")
    cells = exp.cells(cfg, pd.DataFrame(rows))
    matched = [c for c in cells if c.params["role"] == "matched"]
    final = [c for c in cells if c.params["role"] == "final"]
    assert len(final) == len(exp.variants(cfg)) * len(cfg.seeds)
    assert len(matched) == len(exp.variants(cfg)) * len(cfg.seeds)  # chosen k = ks[1] != km: all need runs
    assert {c.params["lr_k"] for c in matched} == {km} and len({c.key for c in cells}) == len(cells)
    assert all(".matched.k" in c.key for c in matched)
    # a variant whose chosen lr is the matched lr gets no matched cells: its final runs are its matched runs
    top = [{**r, "val_acc": 0.9 if r["lr_k"] == km else 0.5} for r in rows]
    top += [{**r, "lr_k": km + 1, "val_acc": 0.1} for r in rows if r["lr_k"] == km]
    cells = exp.cells(cfg, pd.DataFrame(top))
    assert not [c for c in cells if c.params["role"] == "matched"]
    assert {c.params["lr_k"] for c in cells if c.params["role"] == "final"} == {km}


@pytest.mark.parametrize("value, needle", [(0.05, "training.matched_lr = 0.05 is not a point of the lr grid"),
                                           (10.0, "training.matched_lr = 10.0 lies outside the lr_grid's min..max"),
                                           (-0.1, "training.matched_lr")])
def test_matched_lr_off_the_grid_is_a_config_error(value, needle):
    with pytest.raises(ConfigError) as exc:
        _smoke(matched_lr=value)
    assert needle in str(exc.value)


def test_standard_profiles_declare_the_protocol(all_data_dir):
    std = exp.parse_config(config.load_profile("training", "standard"), data_dir=all_data_dir)
    assert std.train_limit is None and len(std.seeds) == 10 and len(std.tune_seeds) >= 3
    assert not set(std.seeds) & set(std.tune_seeds) and set(std.archs) == {"small_cnn", "deep_cnn"}
    assert {m.label for m in std.methods} == {"plain", "proxy-0.3"} and std.matched_lr_k is not None
    assert std.lr_schedule == "cosine" and std.momentum > 0
    sec = exp.parse_config(config.load_profile("training", "secondary"), data_dir=all_data_dir)
    assert {m.kind for m in sec.methods} >= {"plain", "bsilu", "nelu"} and sec.seeds == std.seeds
    assert (sec.epochs, sec.train_limit, sec.val_size) == (std.epochs, std.train_limit, std.val_size)


def _with_matched(rec: pd.DataFrame, km: int, matched: dict[str, list[float]], chosen_at_km: tuple[str, ...] = ()
                  ) -> pd.DataFrame:
    """``rec`` plus matched runs at grid index ``km`` (test accuracies ``matched``; validation = test - 0.01),
    tuning runs at ``km`` (score 0.7), and the ``matched_lr_k`` column; variants in ``chosen_at_km`` have
    their final runs moved to ``km`` instead (their final runs are their matched runs)."""
    rec = rec.copy()
    rec.loc[rec["variant"].isin(chosen_at_km), "lr_k"] = km
    extra = []
    for v, accs in matched.items():
        if v in chosen_at_km:
            continue
        proto = rec[(rec["variant"] == v) & (rec["role"] == "final")]
        for seed, acc in enumerate(accs):
            for _, r in proto[proto["seed"] == seed].iterrows():
                last = r["epoch"] == proto["epoch"].max()
                extra.append({**r.to_dict(), "role": "matched", "lr_k": km, "lr": 0.0316,
                              "val_acc": acc - 0.01, "test_acc": acc if last else math.nan})
        t = rec[(rec["variant"] == v) & (rec["role"] == "tune")]
        extra += [{**r.to_dict(), "lr_k": km, "lr": 0.0316, "val_acc": 0.7} for _, r in t.iterrows()]
    return pd.concat([rec, pd.DataFrame(extra)], ignore_index=True).assign(matched_lr_k=km)


def test_matched_lr_claim_and_the_rank_check():
    matched = {"relu/plain": [0.86, 0.87, 0.865, 0.867, 0.864], "relu/proxy-0.3": [0.89, 0.895, 0.894, 0.893, 0.892],
               "leaky/plain": [0.85, 0.86, 0.855, 0.856, 0.854], "leaky/proxy-0.3": [0.93, 0.935, 0.94, 0.937, 0.933]}
    rec = _with_matched(_records(FINAL, TUNE), -3, matched, chosen_at_km=("relu/proxy-0.3",))
    runs = ana.matched_accuracy(rec).set_index("variant")
    assert runs.loc["relu/proxy-0.3", "seeds"] == 5  # its final runs, at the matched lr
    assert runs.loc["relu/plain", "test_acc_mean"] == pytest.approx(np.mean(matched["relu/plain"]))
    tables = ana.analyze(rec, None)
    assert {"matched_accuracy", "claim_B9", "claim_B9_itt", "rank_check"} <= set(tables)
    b9 = tables["claim_B9"]
    assert set(b9["comparison"]) == {cmp.SAME} and len(b9) == 2
    row = b9[b9["activation"] == "relu"].iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean(np.array(FINAL["relu/proxy-0.3"]) - np.array(matched["relu/plain"])))
    claims = exp.claims(rec)
    assert [c.id for c in claims] == ["C3", "B9"] and claims[1].key == "beyond:training-matched-lr"
    assert "Matched-lr comparison" in claims[1].rationale
    rc = tables["rank_check"].set_index("variant")
    assert "relu/proxy-0.3" not in rc.index  # one lr only at the full schedule
    # relu/plain: tuning 0.80 at its chosen lr > 0.7 at the matched lr, and the full schedule agrees
    assert bool(rc.loc["relu/plain", "agree"]) and bool(rc.loc["leaky/plain", "agree"])
    # leaky/proxy: the final seeds' validation is higher at the matched lr, tuning said otherwise
    assert not bool(rc.loc["leaky/proxy-0.3", "agree"])


def test_tune_epochs_shortens_only_the_tuning_runs(tmp_path):
    from benchmarks.framework.runner import RunContext

    with pytest.raises(ConfigError, match="tune_epochs = 3 exceeds epochs = 2"):
        _smoke(tune_epochs=3)
    cfg = _smoke(activations=["relu"], methods=["plain"], tune_epochs=1, seeds=[0])
    assert (cfg.epochs_of("tune"), cfg.epochs_of("final"), cfg.epochs_of("matched")) == (1, 2, 2)
    assert config.config_hash(cfg) != config.config_hash(_smoke(activations=["relu"], methods=["plain"], seeds=[0]))
    rows = exp.run_cell(cfg, exp.cells(cfg)[0], RunContext(out_dir=tmp_path))
    assert [r["epoch"] for r in rows] == [1]
    assert all(r["schedule_epochs"] == 2 for r in rows)


def test_a_tuning_run_is_the_first_epochs_of_a_final_run():
    """A tuning run follows the final runs' lr schedule, cut short: its first epoch equals a final run's first
    epoch bit for bit (same seed, lr and batches), so a lr that diverges early in a final run diverges in
    tuning too. Its own shorter cosine schedule (the old protocol) would anneal within the epoch and differ."""
    import torch
    from torch.utils.data import TensorDataset

    from benchmarks.domain import training

    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g))

    def run(**kw):
        model = training.build_seeded(3, "small_cnn", activation="relu", num_classes=10, in_channels=1,
                                      input_size=28)
        return training.train(model, data, data, lr=0.05, batch_size=16, seed=3, **kw)

    final = run(epochs=3)
    prefix = run(epochs=1, schedule_epochs=3)
    own = run(epochs=1)
    keys = ("train_loss", "train_acc", "test_loss", "test_acc", "lr")
    assert [prefix[0][k] for k in keys] == [final[0][k] for k in keys]
    assert own[0]["train_loss"] != final[0]["train_loss"]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="schedule_epochs"):
            run(epochs=1, schedule_epochs=bad)


def _tune_rows(cfg, scores: dict[int, float]) -> pd.DataFrame:
    rows = []
    for a, m in exp.variants(cfg):
        for k, v in scores.items():
            for s in cfg.tune_seeds:
                rows.append({"dataset": "synthetic", "arch": "small_cnn", "activation": a, "method": m.label,
                             "role": "tune", "lr_k": k, "seed": s, "epoch": 2, "val_acc": v, "diverged": False})
    return pd.DataFrame(rows)


def test_reference_runs_are_the_baseline_at_its_chosen_lr_on_the_tuning_seeds(tmp_path):
    from benchmarks.framework.runner import RunContext

    with pytest.raises(ConfigError, match="reference_epochs = 2 must exceed epochs = 2"):
        _smoke(reference_epochs=2)
    plain = _smoke(activations=["relu", "leaky"], methods=["plain", "proxy-0.3"], tune_seeds=[100, 101])
    cfg = _smoke(activations=["relu", "leaky"], methods=["plain", "proxy-0.3"], tune_seeds=[100, 101],
                 reference_epochs=4)
    assert config.config_hash(cfg) != config.config_hash(plain)
    assert (cfg.epochs_of("reference"), cfg.schedule_of("reference"), cfg.schedule_of("tune")) == (4, 4, 2)
    ks = cfg.lr_grid.initial()
    cells = exp.cells(cfg, _tune_rows(cfg, {k: 0.5 + (0.2 if k == ks[1] else 0.0) for k in ks}))
    ref = [c for c in cells if c.params["role"] == "reference"]
    assert [(c.params["activation"], c.params["method"].label) for c in ref] == [("relu", "plain")] * 2
    assert sorted(c.params["seed"] for c in ref) == [100, 101] and {c.params["lr_k"] for c in ref} == {ks[1]}
    assert not [c for c in exp.cells(plain, _tune_rows(plain, {k: 0.5 + (0.2 if k == ks[1] else 0.0) for k in ks}))
                if c.params["role"] == "reference"]
    one = _smoke(activations=["relu"], methods=["plain"], tune_seeds=[100], seeds=[0], reference_epochs=3)
    peaked = {k: 0.5 + (0.2 if k == ks[1] else 0.0) for k in ks}
    cell = [c for c in exp.cells(one, _tune_rows(one, peaked)) if c.params["role"] == "reference"][0]
    rows = exp.run_cell(one, cell, RunContext(out_dir=tmp_path))
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["schedule_epochs"] == 3 for r in rows)
    assert all(r["n_test"] == 0 and math.isnan(r["test_acc"]) for r in rows)  # validation only, never the test split


def _with_reference(rec: pd.DataFrame, vals: list[float], variant: str = "relu/plain") -> pd.DataFrame:
    proto = rec[(rec["variant"] == variant) & (rec["role"] == "tune")].iloc[-1].to_dict()
    extra = [{**proto, "role": "reference", "seed": 100 + i, "epoch": 4, "val_acc": v, "diverged": False}
             for i, v in enumerate(vals)]
    return pd.concat([rec, pd.DataFrame(extra)], ignore_index=True)


def test_the_plateau_is_measured_against_the_reference_runs():
    from benchmarks.experiments.training.plateau import PLATEAU_GAIN, plateau_table

    rec = _records(FINAL, TUNE)  # relu/plain final validation after the last epoch = its test accuracies
    last = float(np.mean(FINAL["relu/plain"]))
    near = plateau_table(_with_reference(rec, [last + 0.004, last + 0.006, last + 0.005])).set_index("variant")
    row = near.loc["relu/plain"]
    assert row["plateau_rule"] == "reference" and row["reference_runs"] == 3 and row["reference_epochs"] == 4
    assert row["gap_to_reference"] == pytest.approx(0.005)
    ci = stats.welch_diff_ci([last + 0.004, last + 0.006, last + 0.005], FINAL["relu/plain"])
    assert (row["gap_low"], row["gap_high"]) == pytest.approx((ci.low, ci.high))
    assert bool(row["on_plateau"])
    # the other variants have no reference: they keep the late-gain rule (final curve +0.01 per epoch)
    assert near.loc["leaky/plain", "plateau_rule"] == "late gain" and not bool(near.loc["leaky/plain", "on_plateau"])
    far = plateau_table(_with_reference(rec, [last + PLATEAU_GAIN + 0.001] * 3)).set_index("variant")
    assert not bool(far.loc["relu/plain", "on_plateau"])
    assert "reference runs of 4 epochs" in ana.stopping_note(_with_reference(rec, [last + 0.005] * 3))


def test_welch_interval_matches_scipy():
    from scipy import stats as sps

    a, b = [0.91, 0.912, 0.915, 0.909], [0.90, 0.905, 0.899, 0.902, 0.901, 0.904]
    ci = stats.welch_diff_ci(a, b)
    res = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (ci.low, ci.high) == pytest.approx((res.low, res.high))
    assert ci.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert math.isnan(stats.welch_diff_ci([0.9], b).low) and stats.welch_diff_ci([0.9, 0.9], [0.8, 0.8]).low == \
        pytest.approx(0.1)


def test_a_standard_shaped_run_end_to_end(tmp_path, all_data_dir):
    """The standard protocol at toy scale on the tests' Fashion-MNIST sample: tuning (one short epoch), final
    and matched runs, resume, tables, figures, claims C3 and B9 and their report section."""
    from benchmarks.framework.artifacts import report_run
    from benchmarks.framework.report import ExperimentResult, render_report
    from benchmarks.framework.runner import run

    raw = {**config.load_profile("training", "standard"), "train_limit": 32, "val_size": 24, "probe_size": 16,
           "test_limit": 32, "epochs": 2, "tune_epochs": 1, "reference_epochs": 3, "batch_size": 16, "seeds": [0, 1, 2],
           "tune_seeds": [100], "archs": ["small_cnn"],
           "lr_grid": {"low": 0.01, "high": 0.1, "per_decade": 2, "min": 0.001, "max": 1.0}, "matched_lr": 0.1}
    cfg = exp.parse_config(raw, data_dir=all_data_dir)
    out = tmp_path / "run"
    path = run("training", cfg, out, profile="standard", progress=False, data_dir=all_data_dir)
    df = store.load_records(out)
    tune, tested = df[df["role"] == "tune"], df[df["role"].isin(["final", "matched"])]
    ref = df[df["role"] == "reference"]
    assert tune["epoch"].max() == 1 and tested["epoch"].max() == 2 and (df["matched_lr_k"] == cfg.matched_lr_k).all()
    assert ref["epoch"].max() == 3 and set(ref["variant"]) == {"relu/plain"} and ref["test_acc"].isna().all()
    per = tested.groupby(["variant", "seed", "lr_k"])["role"].nunique()
    assert (per == 1).all()  # one run per (variant, seed, lr)
    at_km = tested[tested["lr_k"] == cfg.matched_lr_k].groupby("variant")["seed"].nunique()
    assert set(at_km.index) == set(df["variant"]) and (at_km == 3).all()  # every variant has its matched runs
    before = path.read_bytes()
    run("training", cfg, out, profile="standard", progress=False, resume=True, data_dir=all_data_dir)
    assert path.read_bytes() == before
    written, _ = report_run(out)
    names = {p.stem for p in written}
    assert {"claim_C3", "claim_B9", "stability", "divergence", "plateau", "rank_check", "best_conventional",
            "matched_accuracy"} <= names
    assert any(n.startswith("mechanism_matched_") for n in names) and "paired" in names
    plateau = pd.read_csv(out / "tables" / "plateau.csv").set_index("variant")
    assert plateau.loc["relu/plain", "plateau_rule"] == "reference"
    claims = exp.claims(df)
    assert [c.id for c in claims] == ["C3", "B9"]
    assert all(c.verdict in ("supported", "contradicted", "mixed", "inconclusive", "not tested") for c in claims)
    text = render_report([ExperimentResult("training", "ran", claims=tuple(claims))], {"profile": "standard"})
    assert "C3" in text and "B9" in text
