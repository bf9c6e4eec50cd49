"""The perf suite's goal table: figures without a goal, and the CUDA line (benchmarks/perf/conftest.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch


def _perf_conftest():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "conftest.py"
    spec = importlib.util.spec_from_file_location("perf_conftest_goals", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_figure_without_goal_is_printed_but_never_met_or_missed():
    pc = _perf_conftest()
    assert pc.check_ratio(("sugar", "test_a", "key", None), "b.py FIGURES[0]") == ("sugar", "test_a", "key", None)
    declared = [("b.py", "extra", ("sugar", "test_a", "key", None)),
                ("b.py", "extra", ("op", "test_a", "op", 1.05)),
                ("b.py", "extra", ("op slow", "test_a", "slow", 1.05))]
    rows = pc.figure_rows(declared, {}, {("b.py", "test_a"): {"key": 3.5, "op": 0.97, "slow": 1.06}})
    assert rows == [("sugar", "3.5x", "no goal", "-"), ("op", "0.97x", "<= 1.05x", "yes"),
                    ("op slow", "1.06x", "<= 1.05x", "NO")]


def test_cuda_line_says_what_was_measured():
    note = _perf_conftest().cuda_note()
    if torch.cuda.is_available():
        assert "CPU only" in note
    else:
        assert "no GPU" in note and "no CUDA figures" in note
