"""A user's own ImageNet-class network in cnn-am (issue 28 item 3): a torchvision architecture with a local
``weights`` file, ImageNet preprocessing at the declared ``input_size``, run with the practitioners' recipes
and plain AM through the experiment's machinery; every value is the network's own at the returned image."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks.domain import zoo
from benchmarks.framework import config, methods, runner, store
from benchmarks.experiments.cnn_am import experiment as cnn_am

ARCH = "squeezenet1_1"  # a small torchvision classifier (1.2 M parameters) keeps the test fast
SIDE = 32


def _profile(weights: Path) -> dict:
    raw = config.load_profile("cnn-am", "smoke")
    raw.update(methods=["plain", "lucent", "horama-proxy-0.5"], fixed_methods=["plain"], claim_method="",
               steps=3, checkpoints=[3], sweep=False,
               tuning={"adam": {"low": 0.05, "high": 0.05, "per_decade": 1, "min": 0.05, "max": 0.05}})
    raw.pop("certify_node_limit", None)
    raw["models"] = [{"name": ARCH, "weights": str(weights), "input_size": SIDE, "logits": [1, 9, 130],
                      "layers": ["features.3"], "tune_units": 1, "eval_units": 2}]
    return raw


def test_a_local_weights_file_runs_with_the_recipes_on_its_own_values(tmp_path: Path):
    saved = zoo.load(ARCH, seed=3).model  # a randomly initialized network, written as the user's file
    path = tmp_path / "my_net.pth"
    torch.save(saved.state_dict(), path)
    cfg = cnn_am.parse_config(_profile(path))
    out = runner.run(cnn_am, cfg, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache")
    df = store.read_csv(out)
    am = df[df["cell_kind"] == "am"]
    assert set(am["method"]) == {"plain", "lucent", "horama-proxy-0.5"}
    assert am["weights"].astype(str).str.startswith("file:my_net.pth:").all()
    assert pd.isna(am["dataset_max"]).all()  # no data set: the reference is the best value found
    recipe_rows = am[am["method"] != "plain"]
    labels = set(recipe_rows["method_adapter"].astype(str))
    assert any("colour decorrelation" in x for x in labels) and any("colour recorrelation" in x for x in labels)
    # the evaluation values are the network's own (ImageNet preprocessing, at 32x32) at the returned images
    zm = zoo.load(ARCH, str(path), input_size=SIDE, seed=cfg.seed)
    assert zm.preprocess is not None and zm.input_shape == (3, SIDE, SIDE)
    for v, v2 in zip(saved.state_dict().values(), zm.model.state_dict().values()):
        assert torch.equal(v, v2)
    cell = next(c for c in cnn_am.cells(cfg, df) if c.params.get("role") == "evaluation"
                and c.params["method"].label == "lucent")
    rows = cnn_am.run_cell(cfg, cell, runner.RunContext())
    units = [cnn_am.unit_of(u) for u in cell.params["units"]]
    S = cfg.starts
    x0 = torch.cat([torch.rand((S, *zm.input_shape), generator=torch.Generator().manual_seed(
        cnn_am.seed_of(cfg.seed, ARCH, u.label))) * 2 - 1 for u in units])
    res = methods.run_am(methods.parse("lucent"), cnn_am.UnitBatch(zm.model, [u for u in units for _ in range(S)],
                                                                   preprocess=zm.preprocess),
                         x0, steps=cfg.steps, lr=cell.params["lr"], optimizer="adam", seed=cfg.seed, forward_slope=0.0)
    for i, u in enumerate(units):
        f_u = cnn_am.objective(zm, u.kind, u.layer, u.index)
        with torch.no_grad():
            value = f_u(res.best_input[i * S:(i + 1) * S])
        assert [r["f_best"] for r in rows if r["unit"] == u.label] == [float(v) for v in value.double()]


def test_a_missing_local_weights_file_is_named_before_anything_is_written(tmp_path: Path):
    with pytest.raises(Exception, match="nothing.pth"):
        cfg = cnn_am.parse_config(_profile(tmp_path / "nothing.pth"))
        runner.run(cnn_am, cfg, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "run" / "records.csv").exists()
