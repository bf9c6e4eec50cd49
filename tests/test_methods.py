"""Methods as values: one parser, labels as outputs, aliases, record columns."""
from __future__ import annotations

import math

import pytest

from benchmarks.framework import methods
from benchmarks.framework.methods import Method


@pytest.mark.parametrize("name, kind, slope", [
    ("plain", "plain", None), ("proxy-0.5", "proxy", 0.5), ("proxy-1", "proxy", 1.0),
    ("network-0.25", "network", 0.25), ("anneal", "anneal", None), ("anneal-2.0", "anneal", 2.0),
    ("redirected", "redirected", None), ("bsilu", "bsilu", None), ("nelu", "nelu", None),
    ("straight-through", "proxy", 1.0), ("proxy-0", "proxy", 0.0),
])
def test_parse_gives_kind_and_slope(name, kind, slope):
    m = methods.parse(name)
    assert (m.kind, m.slope) == (kind, slope)
    assert methods.parse(m.label) == m  # the label names the same value


def test_labels_of_the_configured_names_are_unchanged():
    for name in ["plain", "proxy-0.1", "proxy-0.3", "proxy-0.5", "proxy-1.0", "anneal", "network-0.5",
                 "network-0.1", "network-1.0", "redirected", "bsilu", "nelu", "proxy-0.25"]:
        assert methods.parse(name).label == name
    assert methods.parse("straight-through").label == "proxy-1.0"


def test_columns_carry_the_fields():
    assert Method("proxy", 0.5).columns() == {"method": "proxy-0.5", "method_kind": "proxy", "method_slope": 0.5}
    assert Method("plain").columns() == {"method": "plain", "method_kind": "plain", "method_slope": None}


@pytest.mark.parametrize("bad, match", [
    ("proxy", "needs a slope"), ("proxy-x", "'x' is not a number"), ("proxy--1", "finite and >= 0"),
    ("proxy-inf", "finite and >= 0"), ("proxy-nan", "finite and >= 0"), ("plain-0.5", "unknown method"),
    ("gradient", "unknown method 'gradient'"), (3, "must be a string"),
])
def test_bad_names_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        methods.parse(bad)


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="takes no slope"):
        Method("plain", 0.5)
    with pytest.raises(ValueError, match="unknown method kind"):
        Method("sgd")
    with pytest.raises(ValueError, match="finite"):
        Method("proxy", math.inf)


def test_parse_all_rejects_a_method_given_twice_through_an_alias():
    assert [m.label for m in methods.parse_all(["plain", "proxy-0.5"])] == ["plain", "proxy-0.5"]
    with pytest.raises(ValueError, match="methods: 'straight-through' repeats the method 'proxy-1.0'"):
        methods.parse_all(["proxy-1.0", "straight-through"])
    with pytest.raises(ValueError, match="methods: unknown method 'foo'"):
        methods.parse_all(["foo"])


def test_maximize_kwargs():
    from proxygrad import rules

    assert Method("plain").maximize_kwargs(0.0, 10) == {"backward_slope": None, "proxy": "mixed"}
    assert Method("proxy", 0.5).maximize_kwargs(0.0, 10)["backward_slope"] == rules.slope(0.5)
    assert Method("network", 0.25).maximize_kwargs(0.01, 10) == {"backward_slope": 0.25, "proxy": "network"}
    anneal = Method("anneal").maximize_kwargs(0.01, 100)["backward_slope"]
    assert anneal.at(0, 100) == 1.0 and anneal.at(99, 100) == 0.01
    red = Method("redirected").maximize_kwargs(0.0, 8)["backward_slope"]
    assert red.at(7, 8) == rules.redirected()
    with pytest.raises(ValueError, match="steps"):
        Method("plain").maximize_kwargs(0.0, 0)
    with pytest.raises(ValueError, match="forward_slope"):
        Method("plain").maximize_kwargs(-1.0, 10)


def test_straight_through_is_one_rule_with_slope_one():
    from proxygrad import rules

    assert rules.straight_through() == rules.slope(1.0)
    assert methods.parse("straight-through").maximize_kwargs(forward_slope=0.0, steps=5) == \
        methods.parse("proxy-1.0").maximize_kwargs(forward_slope=0.0, steps=5)


def test_switch_is_the_proxy_for_the_first_quarter_then_plain():
    from proxygrad import rules

    m = methods.parse("switch-0.5")
    assert (m.kind, m.slope, m.label) == ("switch", 0.5, "switch-0.5")
    sched = m.maximize_kwargs(0.0, 10)["backward_slope"]
    assert sched.at(0, 10) == rules.slope(0.5) and sched.at(2, 10) == rules.slope(0.5)
    assert sched.at(3, 10) is None and sched.at(9, 10) is None
    with pytest.raises(ValueError, match="needs a slope"):
        methods.parse("switch")


def test_run_am_measures_the_original_function():
    import torch

    f = lambda x: torch.relu(x[:, 0] - 0.5)  # noqa: E731
    x0 = torch.full((2, 1), -0.9)
    plain = methods.run_am(methods.parse("plain"), f, x0, steps=5, lr=0.5, optimizer="ascent", seed=0,
                           forward_slope=0.0)
    proxy = methods.run_am(methods.parse("proxy-1.0"), f, x0, steps=5, lr=0.5, optimizer="ascent", seed=0,
                           forward_slope=0.0)
    assert float(plain.trace.max()) == 0.0
    assert float(proxy.trace.max()) == pytest.approx(0.5)
