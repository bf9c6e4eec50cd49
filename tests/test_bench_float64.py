"""The float64 bench (benchmarks/perf/bench_float64.py, issue 32 item 3) runs end to end on a tiny setting;
no timing is asserted."""
from __future__ import annotations

import torch

from benchmarks.perf import bench_float64 as bench


def test_the_bench_runs_natively_on_a_tiny_setting():
    result = bench.measure(train_steps=2, am_steps=3, repeats=1, kinds=[], dataset="synthetic")
    assert result["settings"]["kinds"] == ["native"]
    for d in bench.DTYPES:
        for task in ("training", "am"):
            entry = result["dtypes"][d][task]
            assert entry["bit_identical"] and entry["repeats_identical"]  # one kernel set, one repetition
            assert entry["seconds_per_step"]["native"] > 0
    assert result["init_identical"] == {"native": True}
    lines = bench.markdown(result)
    assert lines[2].startswith("| task | dtype | bit-identical across kernel sets |")
    assert sum(ln.startswith("| training |") or ln.startswith("| AM |") for ln in lines) == 4


def test_differences_measure_against_native():
    setup = bench.training_setup(1, batch_size=4, dataset="synthetic")
    params = [torch.ones(3), torch.full((2,), -2.0)]
    ref = {"training": {"params": params, "loss": 1.0}, "u": {"f_best": torch.tensor([2.0, 4.0]),
                                                             "x_best": torch.zeros(2, 1)}}
    other = {"training": {"params": [params[0], params[1] + 1e-3], "loss": 1.5},
             "u": {"f_best": torch.tensor([2.0, 3.0]), "x_best": torch.full((2, 1), 0.25)}}
    d = bench.differences(ref, other)
    assert abs(d["training_params_rel"] - 5e-4) < 1e-6
    assert abs(d["training_loss_rel"] - 1 / 3) < 1e-6
    assert d["am_f_best_rel"] == 0.25 and d["am_image_abs"] == 0.25
    assert bench.differences(ref, ref) == {"training_params_rel": 0.0, "training_loss_rel": 0.0,
                                           "am_f_best_rel": 0.0, "am_image_abs": 0.0}
    assert setup["x"].shape == (4, 1, 28, 28) and setup["y"].shape == (4,)
