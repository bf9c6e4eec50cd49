"""Every registered experiment follows the experiment protocol."""
from __future__ import annotations

import types

import pytest

from benchmarks.framework import protocol
from benchmarks.framework.registry import EXPERIMENTS, load


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_registered_experiment_follows_the_protocol(name):
    module = load(name)
    assert isinstance(module, protocol.Experiment)
    assert protocol.check(module) is module and module.NAME == name


def test_check_names_what_is_missing():
    fake = types.ModuleType("fake_experiment")
    fake.NAME = "fake"
    with pytest.raises(TypeError, match=r"lacks \['TIMING_COLUMNS', 'BOUNDS'"):
        protocol.check(fake)
    fake.TIMING_COLUMNS = ["seconds"]
    fake.BOUNDS = {}
    for n in ("parse_config", "cells", "run_cell", "analyze", "figures", "summarize", "claims"):
        setattr(fake, n, lambda *a, **k: None)
    with pytest.raises(TypeError, match="TIMING_COLUMNS must be a tuple"):
        protocol.check(fake)
    fake.TIMING_COLUMNS = ()
    assert protocol.check(fake) is fake
