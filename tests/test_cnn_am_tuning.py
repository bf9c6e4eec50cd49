"""cnn-am step sizes: one lr per unit group (the logits; each layer's channels), the lr sweep on the
evaluation units, the lr-regret table and the anytime comparison at lrs tuned for each budget."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.experiments.cnn_am import analysis
from benchmarks.experiments.cnn_am import experiment as cnn_am
from benchmarks.framework import config, runner, store
from benchmarks.framework.tuning import Grid

#: Tried indices -1..3, limits equal to them: no choice below extends the grid.
GRID = Grid(-1, 3, 3, -1, 3)


def _tuning_rows(best: dict[str, int], units_per_group: int = 2) -> pd.DataFrame:
    """Tuning records: every unit of group ``g`` peaks at grid index ``best[g]`` (value ``10 - |k - best|``
    scaled by the group, so groups differ by orders of magnitude)."""
    rows = []
    for gi, (group, peak) in enumerate(best.items()):
        for u in range(units_per_group):
            for k in range(GRID.k_lo, GRID.k_hi + 1):
                for s in range(2):
                    value = (10.0 - abs(k - peak)) * 10.0 ** (2 * gi) + 0.01 * s
                    rows.append({"layer": group, "unit": f"{group}={u}", "lr_index": k, "lr": GRID.lr(k),
                                 "start": s, "f_best": value, "best_at_16": value})
    return pd.DataFrame(rows)


def test_each_unit_group_gets_its_own_lr() -> None:
    rows = _tuning_rows({"logits": 0, "5": 2})
    choices = analysis.group_choices(rows, GRID, ["logits", "5"])
    assert choices["logits"].k == 0 and choices["5"].k == 2
    assert analysis.POOLED not in choices  # every group that needs a choice has tuning units
    # a group without tuning units takes the choice pooled over every tuning unit
    pooled = analysis.group_choices(rows, GRID, ["logits", "5", "8"])
    assert set(pooled) == {"logits", "5", analysis.POOLED}
    assert pooled[analysis.POOLED].k in (0, 1, 2)
    # a numeric layer name read back from CSV as a float is the same group
    as_float = rows.assign(layer=rows["layer"].map(lambda g: 5.0 if g == "5" else g))
    assert analysis.group_choices(as_float, GRID, ["logits", "5"])["5"].k == 2


def _record(role: str, unit: str, method: str, k: int, f_best: float, *, group: str = "logits",
            start: int = 0, f_start: float = 0.0, b16: float | None = None) -> dict:
    return {"cell_kind": "am", "role": role, "model": "m", "weights": "suite:x", "trained": True,
            "optimizer": "adam", "layer": group, "layer_depth": 1.0, "unit": unit, "method": method,
            "method_kind": "plain" if method == "plain" else "proxy", "method_slope": None if method == "plain" else 0.5,
            "claim_method": "proxy-0.5", "start_grad_zero": False, "start": start, "lr": GRID.lr(k),
            "lr_index": k, "lr_group": group if role == "evaluation" else "", "f_start": f_start, "f_best": f_best,
            "best_at_16": f_best if b16 is None else b16, "best_at_256": f_best, "dataset_max": 100.0,
            "upper_bound": math.nan, "incumbent": math.nan, "optimum": math.nan, "cert_status": "none"}


def test_lr_regret_is_the_gain_at_the_chosen_lr_over_the_best_tried_gain() -> None:
    # chosen index 0 (evaluation rows); the sweep shows u1 gaining 2 at k=0 but 4 at k=1 (ratio 0.5),
    # u2 best at k=0 (ratio 1), u3 never moving at any lr (no ratio, counted apart)
    sweep = {"u1": {-1: 1.0, 0: 2.0, 1: 4.0}, "u2": {-1: 1.0, 0: 3.0, 1: 3.0}, "u3": {-1: 0.0, 0: 0.0, 1: 0.0}}
    rows = [_record("sweep", u, "plain", k, v) for u, vals in sweep.items() for k, v in vals.items()]
    rows += [_record("evaluation", u, "plain", 0, sweep[u][0]) for u in sweep]
    rows += [_record("tuning", f"t{i}", "plain", k, 1.0 + (k == 0)) for i in range(2) for k in (-1, 0, 1)]
    table = analysis.lr_regret_table(pd.DataFrame(rows))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["units"] == 2 and row["units_unmoved"] == 1 and row["lrs_swept"] == 3
    assert row["median_ratio"] == pytest.approx(0.75) and row["min_ratio"] == pytest.approx(0.5)
    assert not row["ok"] and row["unit_group"] == "logits" and row["lr_decided_by"] == "logits"
    # in hindsight k=1 serves both moving units fully (ratios 1 and 1), k=0 only at median 0.75
    assert row["hindsight_lr"] == GRID.lr(1) and row["hindsight_median_ratio"] == pytest.approx(1.0)
    assert analysis.lr_regret_table(pd.DataFrame([r for r in rows if r["role"] != "sweep"])).empty


def test_anytime_reads_each_budget_at_the_lr_tuned_for_that_budget() -> None:
    # on the tuning units, 16 steps are best at k=1 and the full budget at k=0; on the evaluation units
    # the sweep at k=1 has the larger 16-step value for plain, the proxy is the same at both lrs
    rows = []
    for i in range(3):
        for method in ("plain", "proxy-0.5"):
            for k in (-1, 0, 1):
                rows.append(_record("tuning", f"t{i}", method, k, 5.0 - abs(k), b16=1.0 + k))
    for u in range(6):
        for method in ("plain", "proxy-0.5"):
            rows.append(_record("evaluation", f"u{u}", method, 0, 5.0, b16=1.0))
            for k in (-1, 0, 1):
                b16 = (1.0 + k) if method == "plain" else 1.5
                rows.append(_record("sweep", f"u{u}", method, k, 5.0 - abs(k), b16=b16))
    df = pd.DataFrame(rows)
    units = analysis.per_unit(df)
    tuned = analysis.budget_tuned_units(df, units, "proxy-0.5")
    at16 = tuned[tuned["budget"] == 16].set_index("method")
    assert set(at16.loc["plain", "lr_index"]) == {1} and set(at16.loc["plain", "V"]) == {2.0}
    at256 = tuned[tuned["budget"] == 256]
    assert set(at256["lr_index"]) == {0}
    table = analysis.anytime_table(df, units, "proxy-0.5").set_index("budget")
    assert table.loc[16, "lrs"] == "tuned for the budget"
    assert table.loc[16, "mean_diff"] == pytest.approx((1.5 - 2.0) / 100.0)  # reference: dataset max 100
    # the sweep rows enter the reference, never a unit's own value
    assert units[units["role"] == "sweep"].empty


def test_run_evaluates_each_group_at_its_own_choice_and_sweeps_every_tried_lr(tmp_path, fashion_mnist_dir) -> None:
    raw = config.load_profile("cnn-am", "smoke")
    raw["models"][0].update(logits=[0, 1, 2], layers=["1"], tune_units=4, eval_units=3, certify=False)
    raw.update(methods=["plain", "proxy-0.5"], fixed_optimizers=[])
    cfg = cnn_am.parse_config(raw, data_dir=fashion_mnist_dir)
    path = runner.run(cnn_am, cfg, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache",
                      data_dir=fashion_mnist_dir)
    df = analysis.am_records(store.read_csv(path))
    assert "fixed" not in set(df["role"])
    evaluation, sweep = df[df["role"] == "evaluation"], df[df["role"] == "sweep"]
    for (opt, method), tune in df[df["role"] == "tuning"].groupby(["optimizer", "method"]):
        ev = evaluation[(evaluation["optimizer"] == opt) & (evaluation["method"] == method)]
        choices = analysis.group_choices(tune, cfg.grid(opt), sorted(set(ev["layer"])))
        assert set(ev["layer"]) == {"logits", "1"} and set(ev["lr_group"]) <= {"logits", "1"}
        for row in ev.itertuples():
            assert row.lr_index == choices[row.lr_group].k and row.lr_group == row.layer
        sw = sweep[(sweep["optimizer"] == opt) & (sweep["method"] == method)]
        tried = set(tune["lr_index"])
        assert set(zip(sw["unit"], sw["lr_index"])) == {(u, k) for u in set(ev["unit"]) for k in tried}
        assert set(sw["start"]) == {0}
    assert not analysis.lr_regret_table(df).empty
