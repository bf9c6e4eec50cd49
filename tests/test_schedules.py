"""Slope schedules: values at given steps, labels and argument checks."""
from __future__ import annotations

import math

import pytest

from proxygrad import rules, schedules


def test_constant_gives_the_same_entry_every_step() -> None:
    sched = schedules.constant(0.3)
    assert [sched.at(t, 5) for t in range(5)] == [0.3] * 5
    assert sched.label == "slope=0.3"
    assert schedules.constant(None).at(2, 5) is None
    assert schedules.constant(None).label == "plain"
    rule = rules.bsilu(1.67)
    assert schedules.constant(rule).at(0, 1) is rule
    assert schedules.constant(rule).label == rule.label


def test_linear_anneal_values() -> None:
    """s(t) = start + (end - start) * min(t / (fraction * T), 1): T=10, fraction=0.5 -> K=5."""
    sched = schedules.linear_anneal(1.0, 0.0, fraction=0.5)
    values = [sched.at(t, 10) for t in range(10)]
    expected = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert all(math.isclose(v, e, abs_tol=1e-12) for v, e in zip(values, expected))
    # anneal to a leaky forward slope over all steps: ends at 0.1 only after the last step
    leaky = schedules.linear_anneal(0.5, end=0.1, fraction=1.0)
    assert leaky.at(0, 4) == 0.5
    assert math.isclose(leaky.at(2, 4), 0.3)
    assert math.isclose(leaky.at(3, 4), 0.2)
    # fraction 0: the end value at once
    assert schedules.linear_anneal(1.0, 0.25, fraction=0.0).at(0, 8) == 0.25
    assert sched.label == "linear_anneal(1->0,fraction=0.5)"


def test_first_steps_switches_after_k_steps() -> None:
    sched = schedules.first_steps(1.0, steps=3)
    assert [sched.at(t, 6) for t in range(6)] == [1.0, 1.0, 1.0, None, None, None]
    to_slope = schedules.first_steps(rules.straight_through(), steps=1, then=0.2)
    assert to_slope.at(0, 3) == rules.straight_through()
    assert to_slope.at(1, 3) == 0.2
    assert to_slope.label == "first_steps(slope=1,1,then=slope=0.2)"  # straight_through() is slope(1.0)


def test_callable_and_coercion() -> None:
    sched = schedules.as_schedule(lambda t: None if t % 2 else 0.5)
    assert isinstance(sched, schedules.FromCallable)
    assert [sched.at(t, 4) for t in range(4)] == [0.5, None, 0.5, None]
    assert isinstance(schedules.as_schedule(0.1), schedules.Constant)
    assert isinstance(schedules.as_schedule(rules.redirected()), schedules.Constant)
    assert isinstance(schedules.as_schedule(None), schedules.Constant)
    keep = schedules.linear_anneal(1.0)
    assert schedules.as_schedule(keep) is keep


@pytest.mark.parametrize("make, bad", [
    (lambda: schedules.constant(-0.1), "-0.1"),
    (lambda: schedules.constant(float("nan")), "nan"),
    (lambda: schedules.constant("0.5"), "'0.5'"),
    (lambda: schedules.linear_anneal(1.0, fraction=1.5), "1.5"),
    (lambda: schedules.linear_anneal(float("inf")), "inf"),
    (lambda: schedules.first_steps(0.5, steps=-1), "-1"),
    (lambda: schedules.as_schedule(object()), "object"),
])
def test_bad_schedule_arguments_name_the_value(make, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        make()


def test_callable_bad_value_and_step_range() -> None:
    sched = schedules.from_callable(lambda t: -1.0)
    with pytest.raises(ValueError, match="step 0"):
        sched.at(0, 3)
    with pytest.raises(ValueError, match="step 3"):
        schedules.constant(0.5).at(3, 3)


def test_schedules_use_the_library_slope_validator(monkeypatch) -> None:
    """One slope validator: every schedule slope goes through ``rules.check_slope``."""
    seen: list[object] = []
    original = rules.check_slope

    def spy(value, name="backward_slope"):
        seen.append(value)
        return original(value, name)

    monkeypatch.setattr(schedules, "check_slope", spy)
    schedules.constant(0.25)
    schedules.linear_anneal(0.75, 0.5)
    schedules.first_steps(0.125, then=0.0625)
    assert seen == [0.25, 0.75, 0.5, 0.125, 0.0625]
    assert not hasattr(schedules, "_check_slope")
    with pytest.raises(ValueError, match="True"):
        schedules.linear_anneal(True)
