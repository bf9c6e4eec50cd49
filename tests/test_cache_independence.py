"""Records are a pure function of code and config: a cold cache and a warm cache give the same records.

For the smoke profile of every experiment: a run with an empty cache directory, then a second run that
finds the first run's cache (certificates, dataset maxima) already filled. Every column but the
experiment's declared ``TIMING_COLUMNS`` must be identical, bit for bit.
"""
from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.framework import config, runner, store
from benchmarks.framework.registry import EXPERIMENTS, load


def _run(name: str, out, cache, data_dir) -> pd.DataFrame:
    module = load(name)
    cfg = module.parse_config(config.load_profile(name, "smoke"), data_dir=data_dir)
    path = runner.run(module, cfg, out, profile="smoke", progress=False, cache_dir=cache, data_dir=data_dir)
    return store.read_csv(path).drop(columns=list(module.TIMING_COLUMNS))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_cold_and_warm_cache_give_identical_records(name, tmp_path, all_data_dir):
    cache = tmp_path / "cache"
    cold = _run(name, tmp_path / "cold", cache, all_data_dir)
    filled = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []
    warm = _run(name, tmp_path / "warm", cache, all_data_dir)
    assert len(cold) > 0
    pd.testing.assert_frame_equal(cold, warm, check_exact=True)
    if name == "cnn-am":  # the smoke profile certifies units: the second run really read a warm cache
        assert filled, "the cold run left no cache entries, so the warm run tested nothing"
